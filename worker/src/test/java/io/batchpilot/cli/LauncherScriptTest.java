package io.batchpilot.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The ./batchpilot script's class-data-sharing bookkeeping, with a stand-in `java` that writes an
 * archive when asked to record one: the archive is recorded once per jar, and again in a copied checkout.
 */
class LauncherScriptTest {

  private static final Path SCRIPT = Path.of("..", "batchpilot").toAbsolutePath().normalize();

  /** Records each call in calls.log; "records" an archive as the JVM would on ArchiveClassesAtExit. */
  private static final String FAKE_JAVA = """
      #!/usr/bin/env bash
      echo "$*" >>"$(dirname "$0")/../calls.log"
      for a in "$@"; do
        case "$a" in -XX:ArchiveClassesAtExit=*) echo archive >"${a#-XX:ArchiveClassesAtExit=}" ;; esac
      done
      """;

  private static Path checkout(Path dir) throws IOException {
    Files.createDirectories(dir.resolve("worker/target"));
    Files.copy(SCRIPT, dir.resolve("batchpilot"), StandardCopyOption.COPY_ATTRIBUTES);
    Files.writeString(dir.resolve("worker/target/batchpilot.jar"), "jar");
    return dir;
  }

  private static String run(Path checkout, Path fakeJdk) throws Exception {
    ProcessBuilder builder = new ProcessBuilder("bash", checkout.resolve("batchpilot").toString(), "status")
        .redirectErrorStream(true);
    builder.environment().put("PATH", fakeJdk.resolve("bin") + ":/usr/bin:/bin");
    builder.environment().remove("BATCHPILOT_CDS");
    Process process = builder.start();
    String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(process.waitFor(30, TimeUnit.SECONDS));
    assertEquals(0, process.exitValue(), output);
    return output;
  }

  private static long trainings(Path fakeJdk) throws IOException {
    Path log = fakeJdk.resolve("calls.log");
    try (Stream<String> lines = Files.exists(log) ? Files.lines(log) : Stream.empty()) {
      return lines.filter(l -> l.contains("-XX:ArchiveClassesAtExit=")).count();
    }
  }

  @Test
  void theArchiveIsRecordedOncePerJarAndAgainInACopiedCheckout(@TempDir Path temp) throws Exception {
    Path jdk = Files.createDirectories(temp.resolve("jdk/bin"));
    Files.writeString(jdk.resolve("java"), FAKE_JAVA);
    Files.setPosixFilePermissions(jdk.resolve("java"), PosixFilePermissions.fromString("rwxr-xr-x"));
    Path fakeJdk = jdk.getParent();
    Path first = checkout(temp.resolve("first"));

    assertTrue(run(first, fakeJdk).contains("recording the class-data-sharing archive"));
    assertEquals(1, trainings(fakeJdk));
    String second = run(first, fakeJdk);
    assertFalse(second.contains("recording"), second);
    assertEquals(1, trainings(fakeJdk), "the same jar is not trained again");
    List<String> calls = Files.readAllLines(fakeJdk.resolve("calls.log"));
    assertTrue(calls.get(calls.size() - 1).contains("-XX:SharedArchiveFile=" + first.resolve("worker/target/batchpilot.jsa")),
        "the archive is used: " + calls);

    // A copy keeps the files' times (cp -a, rsync -a), but the archive names the old jar's path.
    Path copy = temp.resolve("copy");
    try (Stream<Path> walk = Files.walk(first)) {
      for (Path p : walk.toList()) {
        Path target = copy.resolve(first.relativize(p).toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(target);
        } else {
          Files.copy(p, target, StandardCopyOption.COPY_ATTRIBUTES);
        }
      }
    }
    assertTrue(run(copy, fakeJdk).contains("recording the class-data-sharing archive"));
    assertEquals(2, trainings(fakeJdk));
    assertFalse(run(copy, fakeJdk).contains("recording"));
    assertEquals(2, trainings(fakeJdk));
  }
}
