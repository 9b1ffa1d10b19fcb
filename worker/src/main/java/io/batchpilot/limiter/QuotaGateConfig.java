package io.batchpilot.limiter;

import io.batchpilot.settings.Durations;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;

/**
 * Settings of the Java side of the gate; the limits themselves are rows of {@code quota_limits}.
 *
 * @param maxJitter the most added at random to each wait, so a fleet released at one instant does
 *     not ask again in lockstep (default {@value #DEFAULT_MAX_JITTER_MS} ms, 0 to 10 s;
 *     {@code BATCHPILOT_QUOTA_MAX_JITTER})
 */
public record QuotaGateConfig(Duration maxJitter) {

  public static final long DEFAULT_MAX_JITTER_MS = 20;
  static final Duration MAX_JITTER_CEILING = Duration.ofSeconds(10);

  public QuotaGateConfig {
    Objects.requireNonNull(maxJitter, "maxJitter");
    if (maxJitter.isNegative() || maxJitter.compareTo(MAX_JITTER_CEILING) > 0) {
      throw new IllegalArgumentException("quota gate setting maxJitter (BATCHPILOT_QUOTA_MAX_JITTER) must be "
          + "between 0 and " + MAX_JITTER_CEILING.toMillis() + " ms, got " + maxJitter.toMillis() + " ms");
    }
  }

  public static final String MAX_JITTER_VARIABLE = "BATCHPILOT_QUOTA_MAX_JITTER";

  public static QuotaGateConfig defaults() {
    return new QuotaGateConfig(Duration.ofMillis(DEFAULT_MAX_JITTER_MS));
  }

  /** Reads {@value #MAX_JITTER_VARIABLE} (a duration), defaulting what is unset. */
  public static QuotaGateConfig fromEnvironment(Map<String, String> env) {
    return new QuotaGateConfig(Durations.fromEnvironment(env, MAX_JITTER_VARIABLE, defaults().maxJitter()));
  }
}
