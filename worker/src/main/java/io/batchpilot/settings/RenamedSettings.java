package io.batchpilot.settings;

import java.util.Collection;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Names that carried a unit before every duration carried its own ({@link Setting#formerly}): set,
 * each is refused with the name that replaced it, so a deployment never runs on a default it did not
 * choose.
 */
public final class RenamedSettings {

  private RenamedSettings() {}

  /** Refuses {@code env} when it sets a former name of one of {@code settings}, naming each and its replacement. */
  public static void refuse(Map<String, String> env, Collection<? extends Setting<?>> settings) {
    String found = settings.stream()
        .filter(s -> s.formerName().filter(env::containsKey).isPresent())
        .map(s -> s.formerName().orElseThrow() + " is now " + s.name())
        .sorted()
        .collect(Collectors.joining("; "));
    if (!found.isEmpty()) {
      throw new IllegalArgumentException(found + ": set the new name with its unit (like 500ms, 60s or 7d) and unset "
          + "the old one");
    }
  }
}
