package io.batchpilot.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every panel of every dashboard, run the way Grafana runs it: the SQL from the JSON, macros
 * expanded as Grafana's PostgreSQL data source expands them, as the read-only role, against a
 * database filled by a real run ({@link SimulatedRun}: two workers against the simulator, with
 * 503s, 429s, an invalid file and embeddings; one worker then stopped, one still running). A panel
 * that errors, returns nothing, lacks the columns it displays, or (for time series) has no sorted
 * {@code time} first, fails here.
 */
@ExtendWith(PostgresExtension.class)
class DashboardQueriesTest {

  private static final Set<Integer> NUMERIC = Set.of(Types.BIGINT, Types.INTEGER, Types.SMALLINT, Types.NUMERIC,
      Types.DECIMAL, Types.DOUBLE, Types.REAL, Types.FLOAT);
  private static final Set<Integer> TIMESTAMP = Set.of(Types.TIMESTAMP, Types.TIMESTAMP_WITH_TIMEZONE);

  /** Tables whose rows pile up with time (or sessions, with their history of finished ones). */
  private static final List<String> GROWING_TABLES = List.of("batchpilot_metric_snapshots",
      "batchpilot_usage_per_minute", "api_quota_tracking", "batch_upload_sessions");

  @TempDir
  static Path root;

  private static SimulatedRun run;

  @BeforeAll
  static void run(TestDatabase db) throws Exception {
    run = SimulatedRun.run(db, root, 2);
    run.stop(run.workers.get(0));
  }

  @AfterAll
  static void stopRun() {
    if (run != null) {
      run.close();
    }
  }

  @Test
  void everyDashboardHasPanelsWithQueries() {
    List<String> names = Dashboards.files().stream().map(p -> p.getFileName().toString()).toList();
    assertEquals(List.of("cost.json", "fleet.json", "latency.json", "quota.json", "sessions.json"), names);
    for (var query : Dashboards.queries()) {
      assertFalse(query.rawSql().isBlank(), query + " has no SQL");
      assertEquals("batchpilot", query.datasource().path("uid").asText(), query + " must use the provisioned data source");
    }
  }

  @TestFactory
  Stream<DynamicTest> everyPanelRunsAsGrafanaAndReturnsWhatItShows(TestDatabase db) throws SQLException {
    Instant now = databaseNow(db);
    return Dashboards.queries().stream().map(query -> DynamicTest.dynamicTest(query.toString(),
        () -> check(db, query, openedNow(query, now).expand(query.rawSql()))));
  }

  /**
   * The plan of every panel: never the file table (dashboards refresh every few seconds, the file
   * table holds millions of rows), and with sequential scans priced out, an index reaches the rows
   * of every table that grows with time, so refreshing does not get slower as history piles up.
   */
  @TestFactory
  Stream<DynamicTest> panelsReadRollupsNotTheFileTableAndFindTheirRowsByIndex(TestDatabase db) throws SQLException {
    Instant now = databaseNow(db);
    return Dashboards.queries().stream().map(query -> DynamicTest.dynamicTest(query.toString(), () -> {
      GrafanaMacros macros = openedNow(query, now);
      try (Connection c = db.connect(); Statement s = c.createStatement()) {
        s.execute("SET enable_seqscan = off");
        try (ResultSet plan = s.executeQuery("EXPLAIN (FORMAT JSON) " + macros.expand(query.rawSql()))) {
          plan.next();
          String json = plan.getString(1);
          assertFalse(json.contains("\"Relation Name\": \"batch_upload_files\""),
              query + " reads batch_upload_files on every refresh: read the rollup, snapshots or sessions instead");
          for (String growing : GROWING_TABLES) {
            assertFalse(json.matches("(?s).*\"Node Type\": \"Seq Scan\",[^}]*\"Relation Name\": \"" + growing + "\".*"),
                query + " scans all of " + growing + ": no index fits its filter\n" + json);
          }
        }
      }
    }));
  }

  private static void check(TestDatabase db, Dashboards.PanelQuery query, String sql) throws SQLException {
    try (Connection c = db.connect(); Statement s = c.createStatement()) {
      s.execute("SET ROLE batchpilot_grafana");
      try (ResultSet rs = s.executeQuery(sql)) {
        ResultSetMetaData meta = rs.getMetaData();
        List<String> columns = new ArrayList<>();
        for (int i = 1; i <= meta.getColumnCount(); i++) {
          columns.add(meta.getColumnLabel(i));
        }
        for (String named : query.namedFields()) {
          assertTrue(columns.contains(named), query + " styles field '" + named + "' but returns " + columns);
        }
        if (query.format().equals("time_series")) {
          assertEquals("time", columns.get(0), query + ": a time series needs the time column first, got " + columns);
          int timeType = meta.getColumnType(1);
          assertTrue(NUMERIC.contains(timeType) || TIMESTAMP.contains(timeType), query + ": time must be a number or timestamp");
          boolean hasValue = false;
          for (int i = 2; i <= meta.getColumnCount(); i++) {
            hasValue |= NUMERIC.contains(meta.getColumnType(i));
          }
          assertTrue(hasValue, query + " returns no numeric value column: " + columns);
        } else {
          assertEquals("table", query.format(), query + ": unknown format");
        }
        int rows = 0;
        double previous = Double.NEGATIVE_INFINITY;
        while (rs.next()) {
          rows++;
          if (query.format().equals("time_series")) {
            double time = TIMESTAMP.contains(meta.getColumnType(1))
                ? rs.getTimestamp(1).getTime() / 1000.0 : rs.getDouble(1);
            if (time < previous) {
              fail(query + ": time is not sorted (" + time + " after " + previous + ")");
            }
            previous = time;
          }
        }
        assertTrue(rows > 0, query + " returned no rows from a database filled by a run:\n" + sql);
      }
    }
  }

  /** The dashboard as an admin opens it: its default range, ending now. */
  private static GrafanaMacros openedNow(Dashboards.PanelQuery query, Instant now) {
    return new GrafanaMacros(now.minus(query.defaultRange()), now);
  }

  private static Instant databaseNow(TestDatabase db) throws SQLException {
    try (Connection c = db.connect(); Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT now()")) {
      rs.next();
      return rs.getTimestamp(1).toInstant();
    }
  }
}
