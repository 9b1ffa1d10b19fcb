package io.batchpilot.codegen;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The committed jOOQ classes under worker/src/generated/java must be what the migrations generate.
 * Regenerate them with {@code ./mvnw -pl codegen -am verify -Dbatchpilot.codegen.write=true}.
 */
@ExtendWith(PostgresExtension.class)
class GeneratedCodeTest {

  private static final Path COMMITTED = Path.of(System.getProperty("batchpilot.codegen.target",
      "../worker/src/generated/java"));

  @Test
  void committedJooqClassesMatchTheMigratedSchema(TestDatabase db, @TempDir Path fresh) throws Exception {
    if (Boolean.getBoolean("batchpilot.codegen.write")) {
      JooqGenerator.generate(db.url(), COMMITTED);
      return;
    }
    JooqGenerator.generate(db.url(), fresh);
    Map<String, String> expected = read(fresh);
    assertTrue(expected.size() > 3, "the generator produced almost nothing: " + expected.keySet());
    assertEquals(expected, read(COMMITTED),
        "worker/src/generated/java has drifted from the migrations: regenerate with "
            + "./mvnw -pl codegen -am verify -Dbatchpilot.codegen.write=true");
  }

  private static Map<String, String> read(Path root) throws IOException {
    Map<String, String> files = new TreeMap<>();
    if (!Files.isDirectory(root)) {
      return files;
    }
    try (Stream<Path> walk = Files.walk(root)) {
      for (Path p : walk.filter(Files::isRegularFile).toList()) {
        files.put(root.relativize(p).toString(), Files.readString(p));
      }
    }
    return files;
  }
}
