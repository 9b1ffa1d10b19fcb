package io.batchpilot.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.batchpilot.db.DatabaseUrl;
import io.batchpilot.settings.Setting;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** docs/settings.md is what the declarations generate, and the declarations are what the code reads. */
class SettingsDocTest {

  private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();

  @Test
  void docsSettingsIsWhatTheDeclarationsGenerate() throws IOException {
    Path file = ROOT.resolve(SettingsDoc.FILE);
    List<String> committed = Files.exists(file) ? Files.readAllLines(file) : List.of();
    List<String> generated = SettingsDoc.REFERENCE.markdown().lines().toList();
    if (!committed.equals(generated)) {
      int line = 0;
      while (line < Math.min(committed.size(), generated.size()) && committed.get(line).equals(generated.get(line))) {
        line++;
      }
      fail("docs/settings.md differs from the settings' declarations at line " + (line + 1) + ":\n  file:      "
          + (line < committed.size() ? committed.get(line) : "(end)") + "\n  generated: "
          + (line < generated.size() ? generated.get(line) : "(end)")
          + "\nregenerate it from the checkout's root with " + SettingsDoc.REGENERATE);
    }
  }

  @Test
  void everyVariableAWorkerReadsIsDeclaredAndEveryDeclaredOneIsRead() {
    Set<String> read = new TreeSet<>();
    Map<String, String> env = new HashMap<>(Map.of("GEMINI_API_KEY", "test-key")) {
      @Override
      public String get(Object key) {
        read.add((String) key);
        return super.get(key);
      }
    };
    WorkerSettings.from(DatabaseUrl.parse("DATABASE_URL", "postgresql://u@127.0.0.1:5432/postgres"), env);
    Set<String> declared = WorkerSettings.AREAS.stream().flatMap(a -> a.settings().stream()).map(Setting::name)
        .collect(Collectors.toCollection(TreeSet::new));
    assertEquals(declared, read);
  }

  @Test
  void noSourceReadsAVariableOfOursByNameButASetting() throws IOException {
    Pattern byName = Pattern.compile("(getenv|\\.get|getOrDefault|containsKey)\\(\"(BATCHPILOT|GEMINI|SUPABASE|DATABASE)_");
    Map<String, String> found = new TreeMap<>();
    Path main = ROOT.resolve("worker/src/main/java");
    try (Stream<Path> files = Files.walk(main)) {
      for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
        List<String> lines = Files.readAllLines(f);
        for (int i = 0; i < lines.size(); i++) {
          if (byName.matcher(lines.get(i)).find()) {
            found.put(main.relativize(f) + ":" + (i + 1), lines.get(i).strip());
          }
        }
      }
    }
    assertEquals(Map.of(), found, "read these through their Setting's from or find");
  }

  @Test
  void theSettingsPackageDependsOnNoOtherPackageOfOurs() throws IOException {
    Path settings = ROOT.resolve("worker/src/main/java/io/batchpilot/settings");
    Map<String, String> found = new TreeMap<>();
    try (Stream<Path> files = Files.list(settings)) {
      for (Path f : files.toList()) {
        Files.readAllLines(f).stream().filter(l -> l.startsWith("import io.batchpilot.")
            || l.startsWith("import static io.batchpilot.")).forEach(l -> found.put(f.getFileName() + ": " + l, l));
      }
    }
    assertEquals(Map.of(), found, "io.batchpilot.settings sits at the bottom: every component uses it, it uses none");
  }

  @Test
  void theScriptAndLogbackReadTheNamesAndDefaultsDeclaredForThem() throws IOException {
    String script = Files.readString(ROOT.resolve("batchpilot"));
    assertTrue(script.contains("${" + SettingsDoc.CDS.name() + ":-" + SettingsDoc.CDS.defaultValue() + "}"),
        "./batchpilot does not read " + SettingsDoc.CDS.name() + " with its declared default");
    assertTrue(script.contains("${" + SettingsDoc.JAVA_OPTS.name() + ":-}"),
        "./batchpilot does not read " + SettingsDoc.JAVA_OPTS.name());
    String logback = Files.readString(ROOT.resolve("worker/src/main/resources/logback.xml"));
    Matcher level = Pattern.compile("\\$\\{" + Main.LOG_LEVEL.name() + ":-(\\w+)}").matcher(logback);
    assertTrue(level.find(), "logback.xml does not read " + Main.LOG_LEVEL.name());
    assertEquals(Main.LOG_LEVEL.defaultValue(), level.group(1));
  }
}
