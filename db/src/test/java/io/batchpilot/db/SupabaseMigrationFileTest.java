package io.batchpilot.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.SupabaseMigrationFile.Installed;
import io.batchpilot.db.testing.FixtureRelease;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SupabaseMigrationFileTest {

  private static final String REGENERATE =
      "./mvnw -q -pl db clean compile && java -cp db/target/classes io.batchpilot.db.SupabaseMigrationFile db";

  @Test
  void committedSupabaseFileIsTheInstallOfThisRelease() throws Exception {
    Optional<Path> committed = SupabaseMigrationFile.committed(Path.of("."));
    assertTrue(committed.isPresent(), "db/supabase/migrations has no *_batchpilot_" + Release.current().name()
        + ".sql: regenerate it with " + REGENERATE);
    assertEquals(1, SupabaseMigrationFile.batchpilotFiles(Path.of(".").resolve(SupabaseMigrationFile.COMMITTED_DIR)).size(),
        "db/supabase/migrations must hold one batchpilot file, this release's install");
    assertEquals(SupabaseMigrationFile.render(), Files.readString(committed.get(), StandardCharsets.UTF_8),
        committed.get() + " has drifted from the Flyway migrations: regenerate it with " + REGENERATE);
  }

  @Test
  void installHasEveryMigrationInFlywayOrderThenTheInstallationRecord() {
    Release release = Release.current();
    String rendered = SupabaseMigrationFile.install(release);
    assertTrue(rendered.startsWith("-- batchpilot release " + release.name() + " schema " + release.schemaVersion() + "\n"),
        rendered.substring(0, 80));
    int last = -1;
    for (String name : release.migrations()) {
      int at = rendered.indexOf("-- ==== " + name + " ====");
      assertTrue(at > last, name + " missing or out of order");
      last = at;
    }
    assertTrue(rendered.indexOf(Installation.recordStatement(release)) > last, "the installation record comes last");
    assertEquals("V1__baseline.sql", release.migrations().get(0));
    assertEquals("V2__session_progress.sql", release.migrations().get(1));
    assertEquals("V3__jobs.sql", release.migrations().get(2));
    assertTrue(release.migrations().get(3).startsWith("R__10_"), release.migrations().toString());
  }

  @Test
  void upgradeHoldsTheNewVersionedMigrationsEveryRepeatableAndTheRecord(@TempDir Path folder) {
    Release next = FixtureRelease.create(folder);
    assertEquals(4, next.schemaVersion());

    String upgrade = SupabaseMigrationFile.upgrade(next, new Installed(Release.current().name(), 3)).orElseThrow();

    assertTrue(upgrade.startsWith("-- batchpilot release " + FixtureRelease.NAME + " schema 4\n"), upgrade.substring(0, 80));
    assertFalse(upgrade.contains("-- ==== V1__baseline.sql ===="), "the baseline is installed already");
    assertFalse(upgrade.contains("-- ==== V2__session_progress.sql ===="), "so is 0.2.0's V2");
    assertFalse(upgrade.contains("-- ==== V3__jobs.sql ===="), "and this release's V3");
    assertTrue(upgrade.contains("-- ==== V4__fixture.sql ===="));
    for (String repeatable : next.repeatables()) {
      assertTrue(upgrade.contains("-- ==== " + repeatable + " ===="), repeatable);
    }
    assertTrue(upgrade.contains("batchpilot_private.fixture_release()"));
    assertTrue(upgrade.endsWith(Installation.recordStatement(next)));
  }

  @Test
  void upgradeFromTheSameReleaseIsNothing(@TempDir Path folder) {
    Release next = FixtureRelease.create(folder);
    assertEquals(Optional.empty(), SupabaseMigrationFile.upgrade(next, new Installed(FixtureRelease.NAME, 4)));
  }

  @Test
  void aNewerInstalledReleaseIsRefusedWithWhatToUse() {
    IllegalStateException refused = assertThrows(IllegalStateException.class,
        () -> SupabaseMigrationFile.upgrade(Release.current(), new Installed("9.0.0", 1)));
    assertTrue(refused.getMessage().contains("use batchpilot 9.0.0 or later"), refused.getMessage());
    assertThrows(IllegalStateException.class,
        () -> SupabaseMigrationFile.upgrade(Release.current(), new Installed(Release.current().name(), 7)));
  }

  @Test
  void releasesCompareAsSemanticVersions() {
    assertTrue(SupabaseMigrationFile.compareReleases("0.3.0", "0.4.0-test") < 0);
    assertTrue(SupabaseMigrationFile.compareReleases("0.4.0-test", "0.4.0") < 0);
    assertTrue(SupabaseMigrationFile.compareReleases("0.10.0", "0.9.1") > 0);
    assertEquals(0, SupabaseMigrationFile.compareReleases("1.2.3", "1.2.3"));
  }

  @Test
  void theNewestFileOfAFolderSaysWhatItInstalls(@TempDir Path folder) throws Exception {
    assertEquals(Optional.empty(), SupabaseMigrationFile.newestIn(folder.resolve("missing")));
    Files.writeString(folder.resolve("20990101000000_the_projects_own.sql"), "select 1;");
    assertEquals(Optional.empty(), SupabaseMigrationFile.newestIn(folder));

    Files.writeString(folder.resolve(SupabaseMigrationFile.fileName(Release.current(), Instant.parse("2026-01-01T00:00:00Z"))),
        SupabaseMigrationFile.render());
    Release next = FixtureRelease.create(Files.createDirectories(folder.resolve("next")));
    String nextName = SupabaseMigrationFile.fileName(next, Instant.parse("2026-12-24T17:05:09Z"));
    assertEquals("20261224170509_batchpilot_0.4.0-test.sql", nextName);
    Files.writeString(folder.resolve(nextName),
        SupabaseMigrationFile.upgrade(next, new Installed(Release.current().name(), 2)).orElseThrow());

    assertEquals(Optional.of(new Installed(FixtureRelease.NAME, 4)), SupabaseMigrationFile.newestIn(folder));
  }

  @Test
  void aBatchpilotNamedFileWithoutTheHeaderIsAClearError(@TempDir Path folder) throws Exception {
    Files.writeString(folder.resolve("20260101000000_batchpilot_0.1.0.sql"), "-- edited by hand\n");
    IllegalStateException refused = assertThrows(IllegalStateException.class, () -> SupabaseMigrationFile.newestIn(folder));
    assertTrue(refused.getMessage().contains("--database-url"), refused.getMessage());
  }
}
