package io.batchpilot.settings;

import java.math.BigDecimal;
import java.time.Duration;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The one way a setting writes a duration: a number and its unit, {@code 500ms}, {@code 60s} (or
 * {@code 1.5s}), {@code 2m}, {@code 1h}, {@code 7d}. A bare number is refused: {@code 60} could
 * mean seconds or milliseconds.
 */
public final class Durations {

  private static final Pattern FORM = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*(ms|s|m|h|d)");

  private Durations() {}

  /** {@code text} as a duration; a bad one is refused with a message naming {@code setting}. */
  public static Duration parse(String setting, String text) {
    Matcher m = FORM.matcher(text.strip());
    if (!m.matches()) {
      throw new IllegalArgumentException(setting + " must be a duration with its unit, like 500ms, 60s, 2m, 1h or 7d; got '"
          + text + "'");
    }
    BigDecimal millisPerUnit = BigDecimal.valueOf(switch (m.group(2)) {
      case "ms" -> 1L;
      case "s" -> 1_000L;
      case "m" -> 60_000L;
      case "h" -> 3_600_000L;
      default -> 86_400_000L;
    });
    try {
      return Duration.ofMillis(new BigDecimal(m.group(1)).multiply(millisPerUnit).setScale(0, java.math.RoundingMode.HALF_UP)
          .longValueExact());
    } catch (ArithmeticException e) {
      throw new IllegalArgumentException(setting + " is too long: '" + text + "'", e);
    }
  }

  /** The variable {@code name} as a duration, or {@code fallback} when it is unset or blank. */
  public static Duration fromEnvironment(Map<String, String> env, String name, Duration fallback) {
    String value = env.get(name);
    return value == null || value.isBlank() ? fallback : parse(name, value);
  }
}
