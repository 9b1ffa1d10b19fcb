package io.batchpilot.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.SupabaseMigrationFile;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.db.testing.TestPostgres;
import java.net.ServerSocket;
import org.junit.jupiter.api.Test;

class MigrateCommandTest {

  @Test
  void migratesAnEmptyDatabaseOnceAndThenChangesNothing() {
    try (TestDatabase db = TestPostgres.get().createDatabase(false)) {
      CliRun first = CliRun.of("migrate", "--database-url", db.url().withCredentials());
      assertEquals(ExitCode.OK, first.exitCode(), first.err());
      assertTrue(first.out().contains("migrations applied") || first.out().contains("migration applied"), first.out());
      assertFalse(first.out().contains("(0 migrations"), first.out());

      CliRun second = CliRun.of("migrate", "--database-url", db.url().withCredentials());
      assertEquals(ExitCode.OK, second.exitCode(), second.err());
      assertTrue(second.out().contains("(0 migrations applied"), second.out());
    }
  }

  @Test
  void migrateSaysInPlainWordsWhetherRealtimeCanWorkOnThisServer() throws Exception {
    try (TestDatabase db = TestPostgres.get().createDatabase(false)) {
      String walLevel;
      try (var connection = db.connect(); var statement = connection.createStatement();
           var rs = statement.executeQuery("SHOW wal_level")) {
        rs.next();
        walLevel = rs.getString(1);
      }
      CliRun run = CliRun.of("migrate", "--database-url", db.url().withCredentials());
      assertEquals(ExitCode.OK, run.exitCode(), run.err());
      boolean noted = run.out().contains("note: Realtime (live progress in frontends) needs wal_level=logical and this "
          + "server has " + walLevel);
      assertEquals(!"logical".equals(walLevel), noted, run.out());
    }
  }

  @Test
  void printSupabaseWritesTheSupabaseCliFileWithoutADatabase() {
    CliRun run = CliRun.of("migrate", "--print-supabase");
    assertEquals(ExitCode.OK, run.exitCode(), run.err());
    assertEquals(SupabaseMigrationFile.render(), run.out());
  }

  @Test
  void malformedDatabaseUrlIsAUsageErrorThatNamesTheSettingAndHidesThePassword() {
    CliRun run = CliRun.of("migrate", "--database-url", "mysql://admin:s3cret-canary@db:3306/app");
    assertEquals(ExitCode.USAGE, run.exitCode());
    assertTrue(run.err().contains("DATABASE_URL"), run.err());
    assertTrue(run.err().contains("postgresql://"), "the message shows the expected form: " + run.err());
    assertFalse(run.err().contains("s3cret-canary"), run.err());
  }

  @Test
  void missingDatabaseUrlIsAUsageErrorThatSaysHowToSetIt() {
    CliRun run = CliRun.of("migrate", "--database-url", "");
    assertEquals(ExitCode.USAGE, run.exitCode());
    assertTrue(run.err().contains("DATABASE_URL is not set"), run.err());
  }

  @Test
  void unreachableDatabaseIsUnavailableNotACrash() throws Exception {
    int closedPort;
    try (ServerSocket socket = new ServerSocket(0)) {
      closedPort = socket.getLocalPort();
    }
    CliRun run = CliRun.of("migrate", "--database-url",
        "postgresql://postgres:s3cret-canary@127.0.0.1:" + closedPort + "/postgres");
    assertEquals(ExitCode.UNAVAILABLE, run.exitCode(), run.err());
    assertTrue(run.err().contains("cannot connect to postgresql://postgres:****@127.0.0.1:" + closedPort), run.err());
    assertFalse(run.err().contains("s3cret-canary"), run.err());
  }
}
