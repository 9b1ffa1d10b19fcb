package io.batchpilot.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.db.testing.TestPostgres;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The packaged jar, run as a newcomer runs it: `java -jar batchpilot.jar demo`. */
class DemoJarIT {

  private static final Path JAR = Path.of("target", "batchpilot.jar");

  @Test
  void demoCompletesEveryReceiptAccuratelyWithoutA429() throws Exception {
    assertTrue(Files.exists(JAR), JAR + " is built by the package phase");
    try (TestDatabase db = TestPostgres.get().createDatabase(false)) {
      Path output = Files.createTempFile("demo-", ".out");
      Process demo = new ProcessBuilder(List.of(
          Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-jar", JAR.toString(),
          "demo", "--files", "10", "--rpm", "6", "--database-url", db.url().withCredentials()))
          .redirectErrorStream(true)
          .redirectOutput(output.toFile())
          .start();
      boolean ended = demo.waitFor(5, TimeUnit.MINUTES);
      String printed = Files.readString(output, StandardCharsets.UTF_8);
      if (!ended) {
        demo.destroyForcibly();
      }
      assertTrue(ended, "the demo did not end in 5 minutes:\n" + printed);
      assertEquals(0, demo.exitValue(), printed);
      assertTrue(printed.contains("files completed      10 of 10"), printed);
      assertTrue(printed.contains("files failed         0"), printed);
      assertTrue(printed.contains("429s received        0"), printed);
      assertTrue(printed.contains("10 of 10 completed match the ground truth (100%)"), printed);
      assertTrue(printed.contains("searchable           10 of 10 receipts embedded"), printed);
      // 10 requests at 6 a minute: the gate had to hold the last four back for a window.
      assertTrue(printed.contains("quota utilisation    100% of the per-minute request limit"), printed);
      Files.deleteIfExists(output);
    }
  }
}
