package io.batchpilot.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.impossibl.postgres.api.jdbc.PGSQLExceptionInfo;
import io.batchpilot.db.testing.SchemaSnapshot;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.db.testing.TestPostgres;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.flywaydb.core.Flyway;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * {@code rollback.sql} removes everything the migration added and nothing of the project's own, on a
 * database shaped like a Supabase project (the compatibility schema stands in for Supabase's).
 */
class RollbackTest {

  private static final String ROLLBACK = "batchpilot/rollback.sql";

  /** The project's own objects, some built on the tables batchpilot references. */
  private static final String PROJECT_OBJECTS = """
      CREATE VIEW public.receipt_totals AS SELECT team_id, sum(total) AS total FROM public.receipts GROUP BY team_id;
      CREATE FUNCTION public.receipt_count() RETURNS bigint LANGUAGE sql STABLE AS 'SELECT count(*) FROM public.receipts';
      CREATE POLICY receipts_owner ON public.receipts FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()));
      CREATE TABLE public.notes (id bigint PRIMARY KEY, receipt_id uuid REFERENCES public.receipts (id));
      ALTER PUBLICATION supabase_realtime ADD TABLE public.receipts;
      """;

  @Test
  void rollbackLeavesTheSchemaAsItWasBeforeTheMigration() throws Exception {
    try (TestDatabase db = supabaseLikeProject()) {
      List<String> before = SchemaSnapshot.of(db.dataSource());
      new Migrator(db.dataSource()).migrate();
      assertNotEquals(before, SchemaSnapshot.of(db.dataSource()), "the migration must have added something");

      try (Connection c = db.connect(); Statement s = c.createStatement()) {
        s.execute(rollbackSql());
      }

      assertEquals(before, SchemaSnapshot.of(db.dataSource()));
      try (Connection c = db.connect(); Statement s = c.createStatement();
           ResultSet rs = s.executeQuery("SELECT count(*) FROM public.receipt_totals")) {
        assertTrue(rs.next(), "the project's own view survives");
      }
    }
  }

  @Test
  void rollbackRefusesToDropWhatTheProjectBuiltOnBatchpilotAndChangesNothing() throws Exception {
    try (TestDatabase db = supabaseLikeProject()) {
      new Migrator(db.dataSource()).migrate();
      try (Connection c = db.connect(); Statement s = c.createStatement()) {
        s.execute("CREATE VIEW public.my_batch_report AS SELECT id, status FROM public.batch_upload_sessions");
      }
      List<String> migrated = SchemaSnapshot.of(db.dataSource());

      try (Connection c = db.connect(); Statement s = c.createStatement()) {
        SQLException refused = assertThrows(SQLException.class, () -> s.execute(rollbackSql()));
        // PostgreSQL names the dependant in the error's DETAIL field, as psql shows it.
        String detail = ((PGSQLExceptionInfo) refused).getDetail();
        assertTrue(String.valueOf(detail).contains("view my_batch_report depends on table batch_upload_sessions"),
            "the error must name the project's dependant object: " + refused.getMessage() + " / " + detail);
      }

      assertEquals(migrated, SchemaSnapshot.of(db.dataSource()), "a refused rollback changes nothing");
    }
  }

  @Test
  void rollbackRunsWithPsql() throws Exception {
    Assumptions.assumeTrue(onPath("psql"), "psql is not installed");
    try (TestDatabase db = supabaseLikeProject()) {
      List<String> before = SchemaSnapshot.of(db.dataSource());
      new Migrator(db.dataSource()).migrate();
      Path file = Files.createTempFile("rollback", ".sql");
      try {
        Files.writeString(file, rollbackSql());
        DatabaseUrl url = db.url();
        ProcessBuilder psql = new ProcessBuilder("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
            "-h", url.host(), "-p", String.valueOf(url.port()), "-U", url.user(), "-d", url.database(),
            "-f", file.toString()).redirectErrorStream(true);
        if (url.password() != null) {
          psql.environment().put("PGPASSWORD", url.password());
        }
        Process process = psql.start();
        String output = new String(process.getInputStream().readAllBytes());
        assertTrue(process.waitFor(60, TimeUnit.SECONDS), "psql did not finish");
        assertEquals(0, process.exitValue(), output);
      } finally {
        Files.deleteIfExists(file);
      }
      assertEquals(before, SchemaSnapshot.of(db.dataSource()));
    }
  }

  /** A fresh database with what Supabase provides (made by "Supabase", not by us) and the project's own objects. */
  private static TestDatabase supabaseLikeProject() throws SQLException {
    TestDatabase db = TestPostgres.get().createDatabase(false);
    Flyway.configure().dataSource(db.dataSource()).locations(Migrator.COMPAT_MIGRATIONS)
        .table("supabase_own_history").placeholderReplacement(false).load().migrate();
    try (Connection c = db.connect(); Statement s = c.createStatement()) {
      s.execute(PROJECT_OBJECTS);
    }
    return db;
  }

  private static String rollbackSql() throws IOException {
    try (var in = RollbackTest.class.getClassLoader().getResourceAsStream(ROLLBACK)) {
      return new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    }
  }

  private static boolean onPath(String command) {
    String path = System.getenv("PATH");
    if (path == null) {
      return false;
    }
    for (String dir : path.split(java.io.File.pathSeparator)) {
      if (Files.isExecutable(Path.of(dir, command))) {
        return true;
      }
    }
    return false;
  }
}
