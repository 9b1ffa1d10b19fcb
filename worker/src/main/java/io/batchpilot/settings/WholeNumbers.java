package io.batchpilot.settings;

import java.util.Map;

/**
 * Whole-number settings from the environment, as {@link Durations} reads durations: unset or blank
 * takes the default, and a value that cannot be read is refused with a message naming the variable.
 */
public final class WholeNumbers {

  private WholeNumbers() {}

  /** The environment variable {@code name} as a long, or {@code fallback} when it is unset or blank. */
  public static long fromEnvironment(Map<String, String> env, String name, long fallback) {
    String value = env.get(name);
    if (value == null || value.isBlank()) {
      return fallback;
    }
    try {
      return Long.parseLong(value.strip());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + " must be a whole number, was '" + value + "'", e);
    }
  }

  /** As {@link #fromEnvironment}, for a setting held in an int: a larger value is refused, never wrapped. */
  public static int intFromEnvironment(Map<String, String> env, String name, int fallback) {
    long value = fromEnvironment(env, name, fallback);
    if (value != (int) value) {
      throw new IllegalArgumentException(name + " must be at most " + Integer.MAX_VALUE + ", was " + value);
    }
    return (int) value;
  }
}
