package io.batchpilot.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.testing.FixtureRelease;
import io.batchpilot.db.testing.SchemaSnapshot;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.db.testing.TestPostgres;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.List;
import org.flywaydb.core.Flyway;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MigrationTest {

  @Test
  void appliesToAnEmptyDatabaseAndASecondRunChangesNothing() throws Exception {
    try (TestDatabase db = TestPostgres.get().createDatabase(false)) {
      Migrator.Result first = new Migrator(db.dataSource()).migrate();
      assertTrue(first.compatibilityApplied(), "plain PostgreSQL needs the compatibility schema");
      assertTrue(first.migrationsApplied() >= 1);
      List<String> afterFirst = SchemaSnapshot.of(db.dataSource());
      assertTrue(afterFirst.contains("relation public.batch_upload_files r rls=true"), afterFirst::toString);

      Installation.Installed installed = installed(db);
      assertEquals(Release.current().name(), installed.release());
      assertEquals(Release.current().schemaVersion(), installed.schemaVersion());
      assertEquals(Release.current().name(), first.release());

      Migrator.Result second = new Migrator(db.dataSource()).migrate();
      assertEquals(0, second.migrationsApplied());
      assertEquals(first.schemaVersion(), second.schemaVersion());
      assertEquals(afterFirst, SchemaSnapshot.of(db.dataSource()));
      assertEquals(installed, installed(db), "a second run records nothing new, not even the time");
    }
  }

  @Test
  void everyRepeatableMigrationRunsAgainAndChangesNothing() throws Exception {
    try (TestDatabase db = TestPostgres.get().createDatabase(false)) {
      new Migrator(db.dataSource()).migrate();
      List<String> installed = SchemaSnapshot.of(db.dataSource());
      Release release = Release.current();
      try (Connection c = db.connect(); Statement s = c.createStatement()) {
        for (String repeatable : release.repeatables()) {
          s.execute(release.read(repeatable));
        }
      }
      assertEquals(installed, SchemaSnapshot.of(db.dataSource()));
    }
  }

  @Test
  void flywayUpgradesToANextReleaseAndRecordsIt(@TempDir Path folder) throws Exception {
    try (TestDatabase db = TestPostgres.get().createDatabase(false)) {
      new Migrator(db.dataSource()).migrate();
      Release next = FixtureRelease.create(folder);

      Migrator.Result upgraded = new Migrator(db.dataSource(), next).migrate();

      assertEquals(2, upgraded.migrationsApplied(), "V4__fixture.sql and the changed R__10_common.sql");
      assertEquals("4", upgraded.schemaVersion());
      Installation.Installed installed = installed(db);
      assertEquals(FixtureRelease.NAME, installed.release());
      assertEquals(4, installed.schemaVersion());
      try (Connection c = db.connect(); Statement s = c.createStatement();
           ResultSet rs = s.executeQuery("SELECT batchpilot_private.fixture_release(), "
               + "(SELECT count(*) FROM information_schema.columns WHERE table_name = 'batchpilot_leader' AND column_name = 'fixture_note')")) {
        rs.next();
        assertEquals(FixtureRelease.NAME, rs.getString(1));
        assertEquals(1, rs.getInt(2));
      }
    }
  }

  @Test
  void compatibilitySchemaIsSkippedWhereSupabaseProvidesAuth() throws Exception {
    try (TestDatabase db = supabaseLike()) {
      Migrator.Result result = new Migrator(db.dataSource()).migrate();

      assertFalse(result.compatibilityApplied());
      assertTrue(result.migrationsApplied() >= 1);
      try (Connection c = db.dataSource().getConnection(); Statement s = c.createStatement();
           ResultSet rs = s.executeQuery("SELECT to_regclass('public." + Migrator.COMPAT_HISTORY_TABLE + "') IS NULL")) {
        rs.next();
        assertTrue(rs.getBoolean(1), "the compatibility history table must not be created on Supabase");
      }

      List<String> afterFirst = SchemaSnapshot.of(db.dataSource());
      Migrator.Result second = new Migrator(db.dataSource()).migrate();
      assertFalse(second.compatibilityApplied());
      assertEquals(0, second.migrationsApplied());
      assertEquals(afterFirst, SchemaSnapshot.of(db.dataSource()));
    }
  }

  @Test
  void supabaseCliFileBuildsTheSameSchemaAsFlyway() throws Exception {
    try (TestDatabase viaFlyway = supabaseLike(); TestDatabase viaCli = supabaseLike()) {
      new Migrator(viaFlyway.dataSource()).migrate();
      // What `supabase db push` does: run the file as one script.
      try (Connection c = viaCli.connect(); Statement s = c.createStatement()) {
        s.execute(SupabaseMigrationFile.render());
      }
      List<String> expected = SchemaSnapshot.of(viaFlyway.dataSource()).stream()
          .filter(line -> !line.contains(Migrator.HISTORY_TABLE)).toList();
      assertEquals(expected, SchemaSnapshot.of(viaCli.dataSource()));
      Installation.Installed flyway = installed(viaFlyway);
      Installation.Installed cli = installed(viaCli);
      assertEquals(flyway.release(), cli.release());
      assertEquals(flyway.schemaVersion(), cli.schemaVersion());
    }
  }

  private static Installation.Installed installed(TestDatabase db) throws Exception {
    try (Connection c = db.connect()) {
      return Installation.read(c).orElseThrow(() -> new AssertionError("no batchpilot_private.installation row"));
    }
  }

  /** A fresh database with what Supabase provides, made by someone other than batchpilot. */
  private static TestDatabase supabaseLike() {
    TestDatabase db = TestPostgres.get().createDatabase(false);
    Flyway.configure().dataSource(db.dataSource()).locations(Migrator.COMPAT_MIGRATIONS)
        .table("supabase_own_history").placeholderReplacement(false).load().migrate();
    return db;
  }
}
