package io.batchpilot.metrics;

import java.util.Collections;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * A metric's name and tags, and how they are spelled as one Dropwizard registry name:
 * {@code gemini.call{model=gemini-2.5-flash,outcome=ok}}. The reporter parses the name back, so
 * names and tag values are restricted to characters that cannot break that spelling.
 */
public record MetricKey(String name, SortedMap<String, String> tags) {

  private static final Pattern NAME = Pattern.compile("[a-z][a-z0-9_.]*");
  private static final Pattern TAG_KEY = Pattern.compile("[a-z][a-z0-9_]*");
  private static final Pattern TAG_VALUE = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.:/-]*");

  public MetricKey {
    if (!NAME.matcher(name).matches()) {
      throw new IllegalArgumentException("metric name '" + name + "' must match " + NAME.pattern());
    }
    tags.forEach((key, value) -> {
      if (!TAG_KEY.matcher(key).matches()) {
        throw new IllegalArgumentException("tag '" + key + "' of metric " + name + " must match " + TAG_KEY.pattern());
      }
      if (value == null || !TAG_VALUE.matcher(value).matches()) {
        throw new IllegalArgumentException("tag " + key + "='" + value + "' of metric " + name
            + " must match " + TAG_VALUE.pattern());
      }
    });
    tags = Collections.unmodifiableSortedMap(new TreeMap<>(tags));
  }

  public static MetricKey of(String name) {
    return new MetricKey(name, new TreeMap<>());
  }

  public static MetricKey of(String name, String key, String value) {
    return new MetricKey(name, new TreeMap<>(Map.of(key, value)));
  }

  public static MetricKey of(String name, String key1, String value1, String key2, String value2) {
    return new MetricKey(name, new TreeMap<>(Map.of(key1, value1, key2, value2)));
  }

  /** The registry name. */
  public String registryName() {
    if (tags.isEmpty()) {
      return name;
    }
    StringBuilder out = new StringBuilder(name).append('{');
    tags.forEach((key, value) -> out.append(key).append('=').append(value).append(','));
    out.setCharAt(out.length() - 1, '}');
    return out.toString();
  }

  /** Reads a registry name written by {@link #registryName()}. */
  public static MetricKey parse(String registryName) {
    int brace = registryName.indexOf('{');
    if (brace < 0) {
      return of(registryName);
    }
    if (!registryName.endsWith("}")) {
      throw new IllegalArgumentException("metric '" + registryName + "' has an unclosed tag list");
    }
    TreeMap<String, String> tags = new TreeMap<>();
    for (String pair : registryName.substring(brace + 1, registryName.length() - 1).split(",")) {
      int equals = pair.indexOf('=');
      if (equals <= 0) {
        throw new IllegalArgumentException("metric '" + registryName + "' has a tag without a value: " + pair);
      }
      tags.put(pair.substring(0, equals), pair.substring(equals + 1));
    }
    return new MetricKey(registryName.substring(0, brace), tags);
  }

  @Override
  public String toString() {
    return registryName();
  }
}
