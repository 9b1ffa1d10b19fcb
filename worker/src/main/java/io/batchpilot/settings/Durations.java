package io.batchpilot.settings;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The one way a setting writes a duration: a number and its unit, {@code 500ms}, {@code 60s} (or
 * {@code 1.5s}), {@code 2m}, {@code 1h}, {@code 7d}. A bare number is refused: {@code 60} could
 * mean seconds or milliseconds.
 */
public final class Durations {

  /** The form, as messages and docs/settings.md say it. */
  public static final String FORM = "a duration with its unit, like 500ms, 60s, 2m, 1h or 7d";

  private static final Pattern SYNTAX = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*(ms|s|m|h|d)");
  private static final String[] UNITS = {"d", "h", "m", "s"};
  private static final long[] MILLIS_PER_UNIT = {86_400_000L, 3_600_000L, 60_000L, 1_000L};

  private Durations() {}

  /** {@code text} as a duration; a bad one is refused with a message naming {@code setting}. */
  public static Duration parse(String setting, String text) {
    try {
      return parse(text);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(setting + " must be " + e.getMessage() + "; got '" + text + "'", e);
    }
  }

  /**
   * {@code text} as a duration, for declarations and {@link Kind#DURATION}; a bad one is refused
   * with a message that says what was expected (it fits after "must be").
   */
  public static Duration parse(String text) {
    Matcher m = SYNTAX.matcher(text.strip());
    if (!m.matches()) {
      throw new IllegalArgumentException(FORM);
    }
    BigDecimal millisPerUnit = BigDecimal.valueOf(switch (m.group(2)) {
      case "ms" -> 1L;
      case "s" -> 1_000L;
      case "m" -> 60_000L;
      case "h" -> 3_600_000L;
      default -> 86_400_000L;
    });
    try {
      return Duration.ofMillis(new BigDecimal(m.group(1)).multiply(millisPerUnit).setScale(0, RoundingMode.HALF_UP)
          .longValueExact());
    } catch (ArithmeticException e) {
      throw new IllegalArgumentException("a duration of at most " + Long.MAX_VALUE + "ms");
    }
  }

  /** {@code value} as a setting writes it, in the largest unit that holds it exactly: 60s is 1m. */
  public static String format(Duration value) {
    long millis = value.toMillis();
    if (millis == 0) {
      return "0s";
    }
    for (int i = 0; i < UNITS.length; i++) {
      if (millis % MILLIS_PER_UNIT[i] == 0) {
        return millis / MILLIS_PER_UNIT[i] + UNITS[i];
      }
    }
    return millis + "ms";
  }
}
