package io.batchpilot.settings;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Every setting, grouped by area, and the Markdown reference written from them (docs/settings.md).
 * A name appears once; an area says in a line what its settings are for.
 *
 * @param preamble the Markdown before the first area (title and how settings are read)
 */
public record SettingsReference(String preamble, List<Area> areas) {

  /** The settings of one part of the product, in the order the reference lists them. */
  public record Area(String title, String about, List<Setting<?>> settings) {
    public Area {
      settings = List.copyOf(settings);
      if (settings.isEmpty()) {
        throw new IllegalArgumentException("area " + title + " has no settings");
      }
    }
  }

  public SettingsReference {
    areas = List.copyOf(areas);
    Set<String> names = new HashSet<>();
    for (Setting<?> setting : all(areas)) {
      if (!names.add(setting.name())) {
        throw new IllegalArgumentException(setting.name() + " is declared twice: a setting is declared once");
      }
      setting.formerName().filter(old -> !names.add(old)).ifPresent(old -> {
        throw new IllegalArgumentException(old + " is both a setting and a former name");
      });
    }
  }

  public List<Setting<?>> all() {
    return all(areas);
  }

  /** The reference as Markdown: per area a table of name, default, range and what it does; then the renamed ones. */
  public String markdown() {
    StringBuilder out = new StringBuilder(preamble.strip()).append("\n");
    for (Area area : areas) {
      out.append("\n## ").append(area.title()).append("\n\n").append(area.about().strip()).append("\n\n")
          .append("| Variable | Default | Range | What it does |\n|---|---|---|---|\n");
      for (Setting<?> s : area.settings()) {
        out.append("| `").append(s.name()).append("` | ").append(cell(defaultText(s))).append(" | ")
            .append(cell(s.rangeText())).append(" | ").append(cell(s.text())).append(" |\n");
      }
    }
    List<Setting<?>> renamed = all().stream().filter(s -> s.formerName().isPresent()).toList();
    if (!renamed.isEmpty()) {
      out.append("\n## Renamed settings\n\nA name that carried a unit is refused at startup, naming its successor, "
          + "which takes the unit in its value.\n\n| Former name | Now |\n|---|---|\n");
      renamed.stream().sorted(java.util.Comparator.comparing(s -> s.formerName().orElseThrow()))
          .forEach(s -> out.append("| `").append(s.formerName().orElseThrow()).append("` | `").append(s.name())
              .append("` |\n"));
    }
    return out.toString();
  }

  private static String defaultText(Setting<?> s) {
    return s.byDefault().isPresent() ? "`" + s.whenUnset() + "`" : s.whenUnset();
  }

  private static String cell(String text) {
    return text.replace("|", "\\|");
  }

  private static List<Setting<?>> all(List<Area> areas) {
    return areas.stream().flatMap(a -> a.settings().stream()).collect(Collectors.toList());
  }
}
