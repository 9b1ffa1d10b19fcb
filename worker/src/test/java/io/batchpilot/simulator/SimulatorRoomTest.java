package io.batchpilot.simulator;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The simulator is a room of its own beside the Gemini client: it shares no code with the client
 * (its token counts and answers are its own, so reconciling measures something), and the worker
 * reaches it only from the command line (demo, simulate).
 */
class SimulatorRoomTest {

  private static final Path MAIN = Path.of("src/main/java/io/batchpilot").toAbsolutePath();

  @Test
  void theSimulatorUsesNothingOfOursButTheSettingsReader() throws IOException {
    Map<String, String> found = imports(MAIN.resolve("simulator"), l -> !l.contains("io.batchpilot.simulator.")
        && !l.contains("io.batchpilot.settings."));
    assertEquals(Map.of(), found, "the simulator may use io.batchpilot.settings only");
  }

  @Test
  void onlyTheCommandLineReachesTheSimulator() throws IOException {
    Map<String, String> found = new TreeMap<>();
    try (Stream<Path> rooms = Files.list(MAIN)) {
      for (Path room : rooms.filter(Files::isDirectory).toList()) {
        String name = room.getFileName().toString();
        if (!name.equals("simulator") && !name.equals("cli")) {
          found.putAll(imports(room, l -> l.contains("io.batchpilot.simulator.")));
        }
      }
    }
    assertEquals(Map.of(), found, "only io.batchpilot.cli starts the simulator");
  }

  /** The import lines of ours under {@code dir} that {@code matches}, by file. */
  private static Map<String, String> imports(Path dir, java.util.function.Predicate<String> matches) throws IOException {
    Map<String, String> found = new TreeMap<>();
    try (Stream<Path> files = Files.walk(dir)) {
      for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
        for (String line : Files.readAllLines(f)) {
          if ((line.startsWith("import io.batchpilot.") || line.startsWith("import static io.batchpilot.")) && matches.test(line)) {
            found.put(MAIN.relativize(f) + ": " + line, line);
          }
        }
      }
    }
    return found;
  }
}
