package io.batchpilot.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.db.testing.TestPostgres;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** batchpilot_grafana reads the reporting views and nothing else. */
@ExtendWith(PostgresExtension.class)
class GrafanaRoleTest {

  private static final List<String> VIEWS = List.of("worker_heartbeats", "metric_snapshots", "usage_per_minute",
      "active_sessions", "quota_usage_per_minute", "quota_limits", "adaptive_factor_changes", "model_prices");

  @Test
  void readsEveryReportingViewAndCannotLogInUntilGivenAPassword(TestDatabase db) throws SQLException {
    try (Connection c = db.connect(); Statement s = c.createStatement()) {
      try (ResultSet rs = s.executeQuery("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'batchpilot_grafana'")) {
        assertTrue(rs.next(), "the migration creates batchpilot_grafana");
        assertFalse(rs.getBoolean(1), "NOLOGIN until an admin gives it a password");
      }
      s.execute("SET ROLE batchpilot_grafana");
      for (String view : VIEWS) {
        s.executeQuery("SELECT * FROM batchpilot_reporting." + view + " LIMIT 1").close();
      }
    }
  }

  @Test
  void cannotReadTheTablesBehindTheViewsNorWriteAnything(TestDatabase db) throws SQLException {
    List<String> refused = List.of(
        "SELECT * FROM public.batch_upload_files",
        "SELECT * FROM public.batch_upload_sessions",
        "SELECT * FROM public.api_quota_tracking",
        "SELECT * FROM public.receipts",
        "SELECT * FROM public.batchpilot_metric_snapshots",
        "SELECT * FROM public.batchpilot_model_prices",
        "SELECT * FROM public.quota_limits",
        "SELECT * FROM public.quota_permits",
        "SELECT public.batchpilot_acquire_quota('gemini', 'gemini-2.5-flash', 1, 'adaptive')",
        "UPDATE batchpilot_reporting.model_prices SET input_usd_per_million = 0",
        "INSERT INTO batchpilot_reporting.worker_heartbeats (worker_id, host, version) VALUES ('x', 'y', 'z')",
        "DELETE FROM batchpilot_reporting.metric_snapshots");
    try (Connection c = db.connect(); Statement s = c.createStatement()) {
      s.execute("SET ROLE batchpilot_grafana");
      for (String sql : refused) {
        SQLException e = assertThrows(SQLException.class, () -> s.execute(sql), sql);
        assertEquals("42501", e.getSQLState(), sql + ": " + e.getMessage());
      }
    }
  }

  @Test
  void rollbackKeepsTheRoleWhileAnotherDatabaseStillUsesIt() throws Exception {
    try (TestDatabase other = TestPostgres.get().createDatabase(true);
         Connection c = other.connect(); Statement s = c.createStatement()) {
      s.execute(rollbackSql());
      try (ResultSet rs = s.executeQuery("SELECT to_regnamespace('batchpilot_reporting') IS NULL,"
          + " EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'batchpilot_grafana')")) {
        rs.next();
        assertTrue(rs.getBoolean(1), "rollback removes the reporting schema");
        assertTrue(rs.getBoolean(2), "the template and this class's database still grant the role something");
      }
    }
  }

  private static String rollbackSql() throws IOException {
    try (var in = GrafanaRoleTest.class.getClassLoader().getResourceAsStream("batchpilot/rollback.sql")) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }
}
