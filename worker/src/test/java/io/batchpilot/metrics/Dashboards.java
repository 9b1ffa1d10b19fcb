package io.batchpilot.metrics;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/** The repository's grafana/ folder as the tests read it (the demo's spend test reads it too). */
public final class Dashboards {

  /** Tests run in worker/, so the repository root is one folder up. */
  static final Path GRAFANA = Path.of("..", "grafana").toAbsolutePath().normalize();
  static final Path DASHBOARDS = GRAFANA.resolve("dashboards");
  static final Path PROVISIONING = GRAFANA.resolve("provisioning");

  /** One query of one panel. */
  public record PanelQuery(String dashboard, String panel, String format, String rawSql, List<String> namedFields,
      JsonNode datasource, Duration defaultRange) {
    @Override
    public String toString() {
      return dashboard + " / " + panel;
    }
  }

  private Dashboards() {}

  /** A dashboard's default range, "now-6h" or "now-30d", as the duration it reaches back. */
  static Duration relativeRange(String from, Path file) {
    Matcher m = Pattern.compile("now-(\\d+)([mhd])").matcher(from);
    if (!m.matches()) {
      throw new IllegalArgumentException(file + ": time.from must be now-<n>m|h|d, got " + from);
    }
    long n = Long.parseLong(m.group(1));
    return switch (m.group(2)) {
      case "m" -> Duration.ofMinutes(n);
      case "h" -> Duration.ofHours(n);
      default -> Duration.ofDays(n);
    };
  }

  static List<Path> files() {
    try (Stream<Path> files = Files.list(DASHBOARDS)) {
      return files.filter(p -> p.toString().endsWith(".json")).sorted().toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static JsonNode read(Path file) {
    try {
      return new ObjectMapper().readTree(file.toFile());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read dashboard " + file, e);
    }
  }

  public static List<PanelQuery> queries() {
    List<PanelQuery> queries = new ArrayList<>();
    for (Path file : files()) {
      JsonNode dashboard = read(file);
      Duration range = relativeRange(dashboard.path("time").path("from").asText(), file);
      for (JsonNode panel : dashboard.path("panels")) {
        List<String> named = new ArrayList<>();
        for (JsonNode override : panel.path("fieldConfig").path("overrides")) {
          if (override.path("matcher").path("id").asText().equals("byName")) {
            named.add(override.path("matcher").path("options").asText());
          }
        }
        for (JsonNode target : panel.path("targets")) {
          queries.add(new PanelQuery(file.getFileName().toString(), panel.path("title").asText(),
              target.path("format").asText("time_series"), target.path("rawSql").asText(), named,
              target.path("datasource"), range));
        }
      }
    }
    return queries;
  }
}
