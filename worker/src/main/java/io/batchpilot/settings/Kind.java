package io.batchpilot.settings;

import java.net.URI;
import java.net.URISyntaxException;
import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * What a setting's text is: how it is read, how a value is written back (in docs/settings.md and
 * messages), and the form a person should write, said so that it fits after "must be".
 *
 * <p>A parser refuses text by throwing {@link IllegalArgumentException}; its message, when it has
 * one, replaces the form in the refusal (for text that has the form but not a value it can hold).
 */
public record Kind<T>(String form, Function<String, T> parser, Function<T, String> writer) {

  public static final Kind<Duration> DURATION = new Kind<>(Durations.FORM, Durations::parse, Durations::format);

  public static final Kind<Long> WHOLE_NUMBER = new Kind<>("a whole number", Kind::wholeNumber, String::valueOf);

  /** A whole number held in an int: a larger one is refused, never wrapped. */
  public static final Kind<Integer> INT = new Kind<>("a whole number", text -> {
    long value = wholeNumber(text);
    if (value != (int) value) {
      throw new IllegalArgumentException("a whole number of at most " + Integer.MAX_VALUE);
    }
    return (int) value;
  }, String::valueOf);

  /** {@code true} or {@code false}, in any case: {@link Boolean#parseBoolean} would read "yes" as false. */
  public static final Kind<Boolean> TRUE_OR_FALSE = new Kind<>("true or false", text ->
      switch (text.toLowerCase(Locale.ROOT)) {
        case "true" -> true;
        case "false" -> false;
        default -> throw new IllegalArgumentException();
      }, String::valueOf);

  /** Entries separated by commas, each stripped; empty entries are dropped. */
  public static final Kind<Set<String>> LIST = new Kind<>("a comma-separated list", text ->
      Arrays.stream(text.split(",")).map(String::strip).filter(s -> !s.isEmpty())
          .collect(Collectors.toUnmodifiableSet()), values -> String.join(",", values));

  /** A URL as {@link URI} reads it; the component says which schemes and hosts it takes. */
  public static final Kind<URI> URL = new Kind<>("a URL", text -> {
    try {
      return new URI(text);
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException();
    }
  }, URI::toString);

  public Kind {
    if (form == null || form.isBlank() || parser == null || writer == null) {
      throw new IllegalArgumentException("a kind needs a form, a parser and a writer");
    }
  }

  /** Text taken as it is (stripped), in the {@code form} given; the component checks what it means. */
  public static Kind<String> text(String form) {
    return new Kind<>(form, Function.identity(), Function.identity());
  }

  /** One of {@code values}, written as {@code name} writes each (as the database and the docs spell it). */
  @SafeVarargs
  public static <E> Kind<E> oneOf(Function<E, String> name, E... values) {
    String[] names = Arrays.stream(values).map(name).toArray(String[]::new);
    String last = names[names.length - 1];
    String form = names.length == 1 ? last : names.length == 2 ? names[0] + " or " + last
        : "one of " + String.join(", ", Arrays.copyOf(names, names.length - 1)) + " or " + last;
    return new Kind<>(form, text -> {
      for (E value : values) {
        if (name.apply(value).equals(text)) {
          return value;
        }
      }
      throw new IllegalArgumentException();
    }, name);
  }

  T parse(String text) {
    return parser.apply(text);
  }

  String write(T value) {
    return writer.apply(value);
  }

  private static long wholeNumber(String text) {
    if (!text.matches("-?\\d+")) {
      throw new IllegalArgumentException();
    }
    try {
      return Long.parseLong(text);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("a whole number of at most " + Long.MAX_VALUE);
    }
  }
}
