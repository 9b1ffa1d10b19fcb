package io.batchpilot.db.testing;

import io.batchpilot.db.Release;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A next release for upgrade tests, built from this build's release in a folder: release
 * {@value #NAME}, schema 4 (a {@code V4__fixture.sql} that adds {@code batchpilot_leader.fixture_note})
 * and a changed repeatable ({@code R__10_common.sql} also defines
 * {@code batchpilot_private.fixture_release()}).
 */
public final class FixtureRelease {

  public static final String NAME = "0.4.0-test";

  private FixtureRelease() {}

  /** Writes the fixture into {@code folder} (release.properties, migration/) and reads it. */
  public static Release create(Path folder) {
    Release current = Release.current();
    try {
      Path migrations = Files.createDirectories(folder.resolve("migration"));
      for (String name : current.migrations()) {
        String text = current.read(name);
        if (name.equals("R__10_common.sql")) {
          text = text + resource("R__10_common.append.sql");
        }
        Files.writeString(migrations.resolve(name), text, StandardCharsets.UTF_8);
      }
      Files.writeString(migrations.resolve("V4__fixture.sql"), resource("V4__fixture.sql"), StandardCharsets.UTF_8);
      Files.writeString(folder.resolve("release.properties"), "release=" + NAME + "\n", StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return Release.of(folder);
  }

  private static String resource(String name) throws IOException {
    try (InputStream in = FixtureRelease.class.getClassLoader().getResourceAsStream("fixture-release/" + name)) {
      if (in == null) {
        throw new IllegalStateException("fixture-release/" + name + " is not on the test classpath");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }
}
