package io.batchpilot.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.Migrator;
import io.batchpilot.db.Release;
import io.batchpilot.db.SupabaseMigrationFile;
import io.batchpilot.db.testing.FixtureRelease;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.db.testing.TestPostgres;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `batchpilot supabase-migration` without the Supabase CLI (SupabaseCliPushTest pushes for real). */
class SupabaseMigrationCommandTest {

  @Test
  void anEmptyFolderGetsTheInstallAndThenNothingNew(@TempDir Path project) throws Exception {
    Path migrations = project.resolve("supabase/migrations");
    CliRun first = CliRun.of("supabase-migration", migrations.toString(), "--database-url=");
    assertEquals(ExitCode.OK, first.exitCode(), first.err());
    List<Path> files = list(migrations);
    assertEquals(1, files.size());
    assertTrue(files.get(0).getFileName().toString().matches("\\d{14}_batchpilot_" + Release.current().name() + "\\.sql"),
        files.toString());
    assertEquals(SupabaseMigrationFile.render(), Files.readString(files.get(0)));

    CliRun second = CliRun.of("supabase-migration", migrations.toString(), "--database-url=");
    assertEquals(ExitCode.OK, second.exitCode(), second.err());
    assertTrue(second.out().startsWith("nothing to write: " + migrations + " already has batchpilot "
        + Release.current().name()), second.out());
    assertEquals(files, list(migrations));
  }

  @Test
  void theFileIsNewerThanAFutureDatedMigrationOfTheProject(@TempDir Path migrations) throws Exception {
    Files.writeString(migrations.resolve("20991231235959_app.sql"), "select 1;");
    CliRun run = CliRun.of("supabase-migration", migrations.toString(), "--database-url=");
    assertEquals(ExitCode.OK, run.exitCode(), run.err());
    assertTrue(Files.exists(migrations.resolve("21000101000000_batchpilot_" + Release.current().name() + ".sql")),
        list(migrations).toString());
  }

  @Test
  void theInstalledReleaseIsReadFromTheDatabaseWhenOneIsGiven(@TempDir Path project) throws Exception {
    try (TestDatabase db = TestPostgres.get().createDatabase(false)) {
      new Migrator(db.dataSource()).migrate();
      Path migrations = project.resolve("migrations");
      CliRun same = CliRun.of("supabase-migration", migrations.toString(), "--database-url", db.url().withCredentials());
      assertEquals(ExitCode.OK, same.exitCode(), same.err());
      assertTrue(same.out().startsWith("nothing to write: the database"), same.out());
      assertTrue(list(migrations).isEmpty());

      FixtureRelease.create(project.resolve("next"));
      CliRun upgrade = CliRun.of("supabase-migration", migrations.toString(), "--database-url", db.url().withCredentials(),
          "--release-folder", project.resolve("next").toString());
      assertEquals(ExitCode.OK, upgrade.exitCode(), upgrade.err());
      String text = Files.readString(list(migrations).get(0));
      assertTrue(text.startsWith("-- batchpilot release " + FixtureRelease.NAME + " schema 4\n"), text.substring(0, 60));
      assertTrue(text.contains("-- ==== V4__fixture.sql ====") && !text.contains("-- ==== V1__baseline.sql ====")
          && !text.contains("-- ==== V2__session_progress.sql ===="));
    }
  }

  @Test
  void aHandEditedBatchpilotFileIsAUsageErrorThatSaysWhatToDo(@TempDir Path migrations) throws Exception {
    Files.writeString(migrations.resolve("20260101000000_batchpilot_0.1.0.sql"), "-- my own edits\n");
    CliRun run = CliRun.of("supabase-migration", migrations.toString(), "--database-url=");
    assertEquals(ExitCode.USAGE, run.exitCode());
    assertTrue(run.err().contains("20260101000000_batchpilot_0.1.0.sql") && run.err().contains("--database-url"), run.err());
  }

  @Test
  void aNewerInstalledReleaseIsRefused(@TempDir Path migrations) throws Exception {
    Files.writeString(migrations.resolve("20260101000000_batchpilot_9.0.0.sql"), "-- batchpilot release 9.0.0 schema 4\n");
    CliRun run = CliRun.of("supabase-migration", migrations.toString(), "--database-url=");
    assertEquals(ExitCode.USAGE, run.exitCode());
    assertTrue(run.err().contains("use batchpilot 9.0.0 or later"), run.err());
    assertEquals(1, list(migrations).size());
  }

  private static List<Path> list(Path folder) throws Exception {
    if (!Files.isDirectory(folder)) {
      return List.of();
    }
    try (Stream<Path> files = Files.list(folder)) {
      return files.sorted().toList();
    }
  }
}
