package io.batchpilot.notify;

import io.batchpilot.settings.Range;
import io.batchpilot.settings.Setting;
import java.time.Duration;

/**
 * @param pollInterval     how often the worker looks for work without being told (the backstop for
 *                         a notification lost while reconnecting): {@link #POLL_INTERVAL}
 * @param reconnectMin     the first wait before reconnecting a broken LISTEN connection
 * @param reconnectMax     the longest wait between reconnect attempts (the wait doubles up to it)
 */
public record NotifierConfig(Duration pollInterval, Duration reconnectMin, Duration reconnectMax) {

  public static final Setting<Duration> POLL_INTERVAL = Setting.duration("BATCHPILOT_POLL_INTERVAL", "5s",
      Range.above(Duration.ZERO), "the backstop: look for work this often even without a notification");
  public static final Duration DEFAULT_RECONNECT_MIN = Duration.ofMillis(250);
  public static final Duration DEFAULT_RECONNECT_MAX = Duration.ofSeconds(30);

  public static NotifierConfig defaults() {
    return new NotifierConfig(POLL_INTERVAL.defaultValue(), DEFAULT_RECONNECT_MIN, DEFAULT_RECONNECT_MAX);
  }

  public NotifierConfig {
    POLL_INTERVAL.check(pollInterval);
    positive("reconnect minimum wait", reconnectMin);
    positive("reconnect maximum wait", reconnectMax);
    if (reconnectMax.compareTo(reconnectMin) < 0) {
      throw new IllegalArgumentException("reconnect maximum wait (" + reconnectMax
          + ") must be at least the minimum (" + reconnectMin + ")");
    }
  }

  private static void positive(String setting, Duration value) {
    if (value == null || value.isNegative() || value.isZero()) {
      throw new IllegalArgumentException(setting + " must be a positive duration, was " + value);
    }
  }
}
