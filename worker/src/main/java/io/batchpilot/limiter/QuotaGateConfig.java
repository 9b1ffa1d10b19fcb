package io.batchpilot.limiter;

import io.batchpilot.settings.Range;
import io.batchpilot.settings.Setting;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * Settings of the Java side of the gate; the limits themselves are rows of {@code quota_limits}.
 *
 * @param maxJitter the most added at random to each wait, so a fleet released at one instant does
 *     not ask again in lockstep ({@link #MAX_JITTER})
 */
public record QuotaGateConfig(Duration maxJitter) {

  public static final Setting<Duration> MAX_JITTER = Setting.duration("BATCHPILOT_QUOTA_MAX_JITTER", "20ms",
      Range.between(Duration.ZERO, Duration.ofSeconds(10)),
      "the most added at random to each wait at the gate, so a fleet released at one instant does not ask again "
          + "in lockstep").formerly("BATCHPILOT_QUOTA_MAX_JITTER_MS");
  public static final List<Setting<?>> SETTINGS = List.of(MAX_JITTER);

  public QuotaGateConfig {
    MAX_JITTER.check(maxJitter);
  }

  public static QuotaGateConfig defaults() {
    return new QuotaGateConfig(MAX_JITTER.defaultValue());
  }

  /** Reads {@link #MAX_JITTER}, defaulting it when unset. */
  public static QuotaGateConfig fromEnvironment(Map<String, String> env) {
    return new QuotaGateConfig(MAX_JITTER.from(env));
  }
}
