package io.batchpilot.settings;

import java.util.Comparator;
import java.util.function.Function;

/**
 * The values a setting accepts: a lower bound (inclusive, or exclusive for "more than") and an
 * optional upper bound (inclusive).
 */
public record Range<T>(T min, boolean minExcluded, T max, Comparator<? super T> order) {

  public Range {
    if (min == null || order == null) {
      throw new IllegalArgumentException("a range needs a lower bound and an order");
    }
    if (max != null && order.compare(max, min) < 0) {
      throw new IllegalArgumentException("a range's upper bound " + max + " is below its lower bound " + min);
    }
  }

  public static <T extends Comparable<? super T>> Range<T> between(T min, T max) {
    return new Range<>(min, false, max, Comparator.naturalOrder());
  }

  public static <T extends Comparable<? super T>> Range<T> atLeast(T min) {
    return new Range<>(min, false, null, Comparator.naturalOrder());
  }

  public static <T extends Comparable<? super T>> Range<T> above(T min) {
    return new Range<>(min, true, null, Comparator.naturalOrder());
  }

  public boolean contains(T value) {
    int fromMin = order.compare(value, min);
    return (minExcluded ? fromMin > 0 : fromMin >= 0) && (max == null || order.compare(value, max) <= 0);
  }

  /** As docs/settings.md writes it: "1 to 1000", "at least 1", "more than 0s". */
  String text(Function<T, String> writer) {
    if (max != null) {
      return writer.apply(min) + " to " + writer.apply(max);
    }
    return (minExcluded ? "more than " : "at least ") + writer.apply(min);
  }

  /** As a refusal says it, after "must be": "between 1 and 1000", "at least 1", "more than 0s". */
  String requirement(Function<T, String> writer) {
    return max == null ? text(writer) : "between " + writer.apply(min) + " and " + writer.apply(max);
  }
}
