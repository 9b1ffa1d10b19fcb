package io.batchpilot.settings;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * One setting, declared once beside the component that uses it: its environment variable, its
 * default, the values it accepts and a line that says what it does. It is read here, and only here
 * ({@link #from}, {@link #find}); docs/settings.md is generated from the declarations.
 *
 * <p>Unset or blank takes the default. A value that cannot be read, or lies outside the range, is
 * refused with a message that names the variable, shows the value and says what it must be.
 *
 * @param whenUnset what happens when it is unset, as the docs say it: the default as written, or
 *     for a setting without one, what its absence means ("required", "no local files")
 * @param formerName the name it had before (with a unit in it); set, it is refused naming this one
 * @param secret whether its value must never appear in a message
 */
public record Setting<T>(
    String name,
    Kind<T> kind,
    Optional<T> byDefault,
    String whenUnset,
    Optional<Range<T>> range,
    String text,
    Optional<String> formerName,
    boolean secret) {

  public Setting {
    Objects.requireNonNull(kind, "kind");
    Objects.requireNonNull(byDefault, "byDefault");
    Objects.requireNonNull(range, "range");
    Objects.requireNonNull(formerName, "formerName");
    if (name == null || !name.matches("[A-Z][A-Z0-9_]*")) {
      throw new IllegalArgumentException("a setting's name is an environment variable, got '" + name + "'");
    }
    if (name.matches(".*_(MS|MILLIS|SECONDS|MINUTES|HOURS|DAYS)$")) {
      throw new IllegalArgumentException(name + ": a name never carries a unit, the value does (like 60s)");
    }
    if (whenUnset == null || whenUnset.isBlank() || text == null || text.isBlank() || text.contains("\n")) {
      throw new IllegalArgumentException(name + " needs what unset means and one line of text");
    }
    byDefault.ifPresent(value -> check(name, kind, range, value));
  }

  /** A duration with its unit; {@code byDefault} is written as a person would write it, such as "60s". */
  public static Setting<Duration> duration(String name, String byDefault, Range<Duration> range, String text) {
    return new Setting<>(name, Kind.DURATION, Optional.of(Durations.parse(name, byDefault)), byDefault,
        Optional.of(range), text, Optional.empty(), false);
  }

  public static Setting<Integer> integer(String name, int byDefault, Range<Integer> range, String text) {
    return new Setting<>(name, Kind.INT, Optional.of(byDefault), String.valueOf(byDefault), Optional.of(range), text,
        Optional.empty(), false);
  }

  public static Setting<Long> wholeNumber(String name, long byDefault, Range<Long> range, String text) {
    return new Setting<>(name, Kind.WHOLE_NUMBER, Optional.of(byDefault), String.valueOf(byDefault), Optional.of(range),
        text, Optional.empty(), false);
  }

  /** A setting of any kind with a default and no range beyond its kind's form. */
  public static <T> Setting<T> of(String name, Kind<T> kind, T byDefault, String text) {
    return new Setting<>(name, kind, Optional.of(byDefault), kind.write(byDefault), Optional.empty(), text,
        Optional.empty(), false);
  }

  /** A setting without a default: {@code whenUnset} says what its absence means. */
  public static <T> Setting<T> optional(String name, Kind<T> kind, String whenUnset, String text) {
    return new Setting<>(name, kind, Optional.empty(), whenUnset, Optional.empty(), text, Optional.empty(), false);
  }

  /** This setting, refusing {@code oldName} (the name it had with a unit in it) with a message naming this one. */
  public Setting<T> formerly(String oldName) {
    return new Setting<>(name, kind, byDefault, whenUnset, range, text, Optional.of(oldName), secret);
  }

  /** This setting, whose value never appears in a message (a key). */
  public Setting<T> keptSecret() {
    return new Setting<>(name, kind, byDefault, whenUnset, range, text, formerName, true);
  }

  /** The value in {@code env}, or the default when it is unset or blank. */
  public T from(Map<String, String> env) {
    return find(env).or(() -> byDefault).orElseThrow(() -> new IllegalStateException(
        name + " has no default: read it with find"));
  }

  /** The value in {@code env}, or empty when it is unset or blank (the default is not applied). */
  public Optional<T> find(Map<String, String> env) {
    RenamedSettings.refuse(env, List.of(this));
    String value = env.get(name);
    if (value == null || value.isBlank()) {
      return Optional.empty();
    }
    String stripped = value.strip();
    T parsed;
    try {
      parsed = kind.parse(stripped);
    } catch (IllegalArgumentException e) {
      throw refusal(e.getMessage() == null ? kind.form() : e.getMessage(), value);
    }
    if (range.isPresent() && !range.get().contains(parsed)) {
      throw refusal(range.get().requirement(kind::write), value);
    }
    return Optional.of(parsed);
  }

  /**
   * {@code value} when it lies in this setting's range; otherwise refused naming the setting. For
   * components built in code (tests, the demo), so they meet the same bounds as a value read.
   */
  public T check(T value) {
    return check(name, kind, range, value);
  }

  /** The default, for components built in code; a setting without one has none to give. */
  public T defaultValue() {
    return byDefault.orElseThrow(() -> new IllegalStateException(name + " has no default"));
  }

  /** The range as docs/settings.md writes it, or the kind's form when the kind is all there is to say. */
  public String rangeText() {
    return range.map(r -> r.text(kind::write)).orElse(kind.form());
  }

  private IllegalArgumentException refusal(String mustBe, String value) {
    return new IllegalArgumentException(name + " must be " + mustBe
        + (secret ? " (the value is secret, so not shown)" : "; got '" + value + "'"));
  }

  private static <T> T check(String name, Kind<T> kind, Optional<Range<T>> range, T value) {
    if (value == null) {
      throw new IllegalArgumentException(name + " is missing");
    }
    if (range.isPresent() && !range.get().contains(value)) {
      throw new IllegalArgumentException(name + " must be " + range.get().requirement(kind::write) + "; got "
          + kind.write(value));
    }
    return value;
  }
}
