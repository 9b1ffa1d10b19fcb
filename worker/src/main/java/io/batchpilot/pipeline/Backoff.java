package io.batchpilot.pipeline;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Exponential backoff with full jitter (a uniform delay in [0, min(cap, base x 2^(attempt-1))]),
 * so that files failing together do not come back together. A server's own delay wins.
 */
public record Backoff(Duration base, Duration cap) {

  public static final Duration DEFAULT_BASE = Duration.ofSeconds(1);
  public static final Duration DEFAULT_CAP = Duration.ofMinutes(5);

  public static Backoff defaults() {
    return new Backoff(DEFAULT_BASE, DEFAULT_CAP);
  }

  public Backoff {
    if (base.isNegative() || base.isZero()) {
      throw new IllegalArgumentException("retry backoff base must be positive, was " + base);
    }
    if (cap.compareTo(base) < 0) {
      throw new IllegalArgumentException("retry backoff cap (" + cap + ") must be at least its base (" + base + ")");
    }
  }

  /** The delay before the next try after the {@code attempt}-th (1-based) failed. */
  public Duration delay(int attempt) {
    int doublings = Math.min(Math.max(attempt - 1, 0), 30);
    long ceiling = Math.min(cap.toMillis(), base.toMillis() << doublings);
    return Duration.ofMillis(ThreadLocalRandom.current().nextLong(ceiling + 1));
  }
}
