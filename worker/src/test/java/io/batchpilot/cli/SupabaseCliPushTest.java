package io.batchpilot.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.batchpilot.db.DatabaseUrl;
import io.batchpilot.db.Migrator;
import io.batchpilot.db.Release;
import io.batchpilot.db.testing.FixtureRelease;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.db.testing.TestPostgres;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.flywaydb.core.Flyway;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The adoption path, with the real Supabase CLI ({@value #CLI_VERSION} from npm, installed once into
 * {@code ~/.cache/batchpilot/}): `supabase db push --db-url … --yes` into a database shaped like a
 * Supabase project whose app has its own tables (the issue's receipts shape) and its own, newer
 * migration; then team members submit a batch through RLS and a worker completes it into the app's
 * receipts ({@link MembersBatch}); then an upgrade to a next release; then a push with nothing new. Skipped, saying why,
 * where npm or npx is missing.
 */
class SupabaseCliPushTest {

  static final String CLI_VERSION = "2.117.0";
  private static final Path CLI_HOME = Path.of(System.getProperty("user.home"), ".cache", "batchpilot",
      "supabase-cli-" + CLI_VERSION);

  @BeforeAll
  static void installTheSupabaseCli() throws Exception {
    Assumptions.assumeTrue(onPath("npm") && onPath("npx"),
        "npm/npx are not on PATH: install Node.js 20+ to run the Supabase CLI test");
    if (Files.isExecutable(CLI_HOME.resolve("node_modules/.bin/supabase"))) {
      return;
    }
    Files.createDirectories(CLI_HOME);
    Result npm = run(CLI_HOME, 300, "npm", "i", "-E", "--no-audit", "--no-fund", "supabase@" + CLI_VERSION);
    if (npm.code != 0) {
      fail("npm i -E supabase@" + CLI_VERSION + " in " + CLI_HOME + " failed (is the npm registry reachable?):\n" + npm.output);
    }
  }

  @Test
  void pushInstallsAfterTheProjectsNewerMigrationThenUpgradesThenHasNothingNew(@TempDir Path project) throws Exception {
    try (TestDatabase db = supabaseShapedProject()) {
      Path migrations = Files.createDirectories(project.resolve("supabase/migrations"));
      String cliUrl = new DatabaseUrl(db.url().host(), db.url().port(), db.url().database(), db.url().user(),
          db.url().password(), "disable").withCredentials();

      // The project's own migration, pushed already: later than the seed's 20250717000003 file.
      Files.writeString(migrations.resolve("20260101000000_app_notes.sql"),
          "CREATE TABLE public.app_notes (id bigint PRIMARY KEY, receipt_id uuid REFERENCES public.receipts (id));\n");
      assertPushed(push(project, cliUrl), "20260101000000_app_notes.sql");

      // What a fixed-name file older than that meets: the CLI refuses it without --include-all.
      Path old = migrations.resolve("20250717000003_batch_upload_optimization.sql");
      Files.writeString(old, Release.current().read("V1__baseline.sql"));
      Result refused = run(project, 120, "npx", "--prefix", CLI_HOME.toString(), "supabase", "db", "push",
          "--db-url", cliUrl, "--yes", "--dry-run");
      assertTrue(refused.code != 0 && refused.output.contains("--include-all"), refused.output);
      Files.delete(old);

      // (a) the install, named with the current time: a plain push applies it.
      CliRun install = CliRun.of("supabase-migration", migrations.toString(), "--database-url=");
      assertEquals(ExitCode.OK, install.exitCode(), install.err());
      assertTrue(install.out().contains("the whole install of batchpilot " + Release.current().name()), install.out());
      Path installFile = onlyNewBatchpilotFile(migrations, List.of());
      assertPushed(push(project, cliUrl), installFile.getFileName().toString());
      assertInstalled(db, Release.current().name(), Release.current().schemaVersion());
      assertEquals(1, count(db, "SELECT count(*) FROM pg_tables WHERE tablename = 'batch_upload_files'"));

      // The app at work on what the CLI installed: members submit through RLS, a worker fills their receipts.
      MembersBatch.run(db);

      // (b) a next release, generated from the database's record: an upgrade file applies on top.
      Release next = FixtureRelease.create(project.resolve("next-release"));
      CliRun upgrade = CliRun.of("supabase-migration", migrations.toString(), "--database-url", db.url().withCredentials(),
          "--release-folder", project.resolve("next-release").toString());
      assertEquals(ExitCode.OK, upgrade.exitCode(), upgrade.err());
      assertTrue(upgrade.out().contains("the upgrade from batchpilot " + Release.current().name() + " (schema " + Release.current().schemaVersion() + ") to "
          + FixtureRelease.NAME + " (schema 4)"), upgrade.out());
      Path upgradeFile = onlyNewBatchpilotFile(migrations, List.of(installFile));
      assertTrue(upgradeFile.getFileName().toString().endsWith("_batchpilot_" + next.name() + ".sql"), upgradeFile.toString());
      assertTrue(upgradeFile.getFileName().toString().compareTo(installFile.getFileName().toString()) > 0,
          "the upgrade must be newer than the install: " + upgradeFile.getFileName());
      assertPushed(push(project, cliUrl), upgradeFile.getFileName().toString());
      assertInstalled(db, FixtureRelease.NAME, 4);
      assertEquals(1, count(db, "SELECT count(*) FROM pg_proc WHERE proname = 'fixture_release'"));
      assertEquals(1, count(db, "SELECT count(*) FROM information_schema.columns"
          + " WHERE table_name = 'batchpilot_leader' AND column_name = 'fixture_note'"));

      // (c) a second push applies nothing.
      int recorded = count(db, "SELECT count(*) FROM supabase_migrations.schema_migrations");
      Result again = push(project, cliUrl);
      assertEquals(0, again.code, again.output);
      assertTrue(again.output.contains("Remote database is up to date"), again.output);
      assertEquals(recorded, count(db, "SELECT count(*) FROM supabase_migrations.schema_migrations"));

      // (d) generating again writes nothing, whether the folder or the database is asked.
      for (String[] source : List.of(new String[] {"--database-url="}, new String[] {"--database-url", db.url().withCredentials()})) {
        List<String> args = new ArrayList<>(List.of("supabase-migration", migrations.toString(),
            "--release-folder", project.resolve("next-release").toString()));
        args.addAll(List.of(source));
        CliRun nothing = CliRun.of(args.toArray(String[]::new));
        assertEquals(ExitCode.OK, nothing.exitCode(), nothing.err());
        assertTrue(nothing.out().startsWith("nothing to write"), nothing.out());
      }
      assertEquals(3, listing(migrations).size(), listing(migrations).toString());
    }
  }

  /**
   * What Supabase provides (made by "Supabase", not batchpilot) and the design document's app: its own
   * teams, team_members and receipts (id, user_id, team_id, merchant, date, total, currency,
   * image_url, processing_status, created_at, updated_at), as the compatibility schema has them.
   */
  private static TestDatabase supabaseShapedProject() throws Exception {
    TestDatabase db = TestPostgres.get().createDatabase(false);
    Flyway.configure().dataSource(db.dataSource()).locations(Migrator.COMPAT_MIGRATIONS)
        .table("supabase_own_history").placeholderReplacement(false).load().migrate();
    return db;
  }

  private static Result push(Path project, String url) throws Exception {
    return run(project, 180, "npx", "--prefix", CLI_HOME.toString(), "supabase", "db", "push", "--db-url", url, "--yes");
  }

  private static void assertPushed(Result push, String file) {
    assertEquals(0, push.code, push.output);
    assertTrue(push.output.contains("Applying migration " + file), push.output);
  }

  private static void assertInstalled(TestDatabase db, String release, int schemaVersion) throws Exception {
    try (Connection c = db.connect(); Statement s = c.createStatement();
         ResultSet rs = s.executeQuery("SELECT release, schema_version FROM batchpilot_private.installed_release()")) {
      assertTrue(rs.next(), "no installation row");
      assertEquals(release, rs.getString(1));
      assertEquals(schemaVersion, rs.getInt(2));
    }
  }

  private static int count(TestDatabase db, String sql) throws Exception {
    try (Connection c = db.connect(); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
      rs.next();
      return rs.getInt(1);
    }
  }

  private static Path onlyNewBatchpilotFile(Path migrations, List<Path> known) throws IOException {
    List<Path> fresh = listing(migrations).stream()
        .filter(p -> p.getFileName().toString().matches("\\d{14}_batchpilot_.+\\.sql") && !known.contains(p)).toList();
    assertEquals(1, fresh.size(), fresh.toString());
    return fresh.get(0);
  }

  private static List<Path> listing(Path folder) throws IOException {
    try (Stream<Path> files = Files.list(folder)) {
      return files.sorted().toList();
    }
  }

  private record Result(int code, String output) {}

  private static Result run(Path dir, int timeoutSeconds, String... command) throws Exception {
    ProcessBuilder builder = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true);
    // The CLI's telemetry and update check would reach for the internet.
    builder.environment().put("DO_NOT_TRACK", "1");
    builder.environment().put("SUPABASE_TELEMETRY_DISABLED", "1");
    Process process = builder.start();
    process.getOutputStream().close();
    byte[] output = process.getInputStream().readAllBytes();
    if (!process.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
      process.destroyForcibly();
      fail(String.join(" ", command) + " did not finish in " + timeoutSeconds + " s");
    }
    return new Result(process.exitValue(), new String(output, StandardCharsets.UTF_8));
  }

  private static boolean onPath(String command) {
    String path = System.getenv("PATH");
    if (path == null) {
      return false;
    }
    for (String dir : path.split(File.pathSeparator)) {
      if (Files.isExecutable(Path.of(dir, command))) {
        return true;
      }
    }
    return false;
  }
}
