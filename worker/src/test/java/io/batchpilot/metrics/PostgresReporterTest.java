package io.batchpilot.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.codahale.metrics.Clock;
import com.codahale.metrics.MetricRegistry;
import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.store.Jooq;
import java.time.Duration;
import java.util.List;
import org.jooq.DSLContext;
import org.jooq.Record;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(PostgresExtension.class)
class PostgresReporterTest {

  private static final String MODEL = "gemini-2.5-flash";

  private static MetricsConfig config(String worker) {
    return new MetricsConfig(worker, "host-a", "0.1.0-test", Duration.ofSeconds(5));
  }

  private static List<Record> callRows(DSLContext dsl, String worker) {
    return dsl.fetch("SELECT count, delta, p50, p99, kind, tags->>'model' AS model, tags->>'outcome' AS outcome"
        + " FROM public.batchpilot_metric_snapshots WHERE worker_id = ? AND name = 'gemini.call' ORDER BY count", worker);
  }

  @Test
  void eachSnapshotCarriesTheCountTheChangeSinceTheLastOneAndLastMinutePercentilesInMilliseconds(TestDatabase db) {
    DSLContext dsl = Jooq.using(db.dataSource());
    Metrics metrics = new Metrics(new MetricRegistry(), Clock.defaultClock());
    metrics.inFlight(() -> 7);
    PostgresReporter reporter = new PostgresReporter(metrics, db.dataSource(), config("w-counts"));
    reporter.start();
    try {
      for (int i = 0; i < 3; i++) {
        metrics.geminiCall(MODEL, Metrics.OK, Duration.ofMillis(250).toNanos());
      }
      reporter.report();
      metrics.geminiCall(MODEL, Metrics.OK, Duration.ofMillis(250).toNanos());
      metrics.geminiCall(MODEL, Metrics.OK, Duration.ofMillis(250).toNanos());
      reporter.report();

      List<Record> rows = callRows(dsl, "w-counts");
      assertTrue(rows.size() >= 2, rows::toString);
      assertEquals(3L, rows.get(0).get("count", Long.class));
      assertEquals(3L, rows.get(0).get("delta", Long.class));
      assertEquals(5L, rows.get(1).get("count", Long.class));
      assertEquals(2L, rows.get(1).get("delta", Long.class));
      assertEquals(250.0, rows.get(1).get("p50", Double.class), 0.001);
      assertEquals("timer", rows.get(1).get("kind", String.class));
      assertEquals(MODEL, rows.get(1).get("model", String.class));
      assertEquals(Metrics.OK, rows.get(1).get("outcome", String.class));

      Record heartbeat = dsl.fetchOne("SELECT in_flight, host, version, stopped_at, last_seen_at >= started_at AS fresh"
          + " FROM public.batchpilot_worker_heartbeats WHERE worker_id = 'w-counts'");
      assertEquals(7, heartbeat.get("in_flight", Integer.class));
      assertEquals("host-a", heartbeat.get("host", String.class));
      assertTrue(heartbeat.get("fresh", Boolean.class));
      assertNull(heartbeat.get("stopped_at"));
    } finally {
      reporter.close();
    }
  }

  @Test
  void aSnapshotThatCouldNotBeWrittenLosesNoEvents(TestDatabase db) {
    DSLContext dsl = Jooq.using(db.dataSource());
    Metrics metrics = new Metrics();
    PostgresReporter reporter = new PostgresReporter(metrics, db.dataSource(), config("w-outage"));
    reporter.start();
    try {
      metrics.fileFailed(MODEL, "invalid_file");
      reporter.report();
      // The database refuses the next write (the table is away), as during an outage.
      dsl.execute("ALTER TABLE public.batchpilot_metric_snapshots RENAME TO batchpilot_metric_snapshots_away");
      try {
        metrics.fileFailed(MODEL, "invalid_file");
        metrics.fileFailed(MODEL, "invalid_file");
        reporter.report();
      } finally {
        dsl.execute("ALTER TABLE public.batchpilot_metric_snapshots_away RENAME TO batchpilot_metric_snapshots");
      }
      metrics.fileFailed(MODEL, "invalid_file");
      reporter.report();

      List<Long> deltas = dsl.fetch("SELECT delta FROM public.batchpilot_metric_snapshots WHERE worker_id = 'w-outage'"
          + " AND name = 'files.failed' AND tags = '{\"model\": \"gemini-2.5-flash\", \"error_type\": \"invalid_file\"}'"
          + " ORDER BY count").getValues(0, Long.class);
      assertEquals(List.of(1L, 3L), deltas, "the failed snapshot's two events arrive with the next one");
    } finally {
      reporter.close();
    }
  }

  @Test
  void aCleanStopMarksTheWorkerStoppedAndARestartRevivesIt(TestDatabase db) {
    DSLContext dsl = Jooq.using(db.dataSource());
    PostgresReporter first = new PostgresReporter(new Metrics(), db.dataSource(), config("w-restart"));
    first.start();
    first.close();
    assertNotNull(dsl.fetchValue("SELECT stopped_at FROM public.batchpilot_worker_heartbeats WHERE worker_id = 'w-restart'"));

    PostgresReporter second = new PostgresReporter(new Metrics(), db.dataSource(), config("w-restart"));
    second.start();
    try {
      Record row = dsl.fetchOne("SELECT stopped_at, in_flight FROM public.batchpilot_worker_heartbeats WHERE worker_id = 'w-restart'");
      assertNull(row.get("stopped_at"));
      assertEquals(0, row.get("in_flight", Integer.class));
    } finally {
      second.close();
    }
  }

  @Test
  void badSettingsAreRefusedNamingTheSetting() {
    var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
        () -> config("w").withReportInterval(Duration.ofMillis(10)));
    assertTrue(e.getMessage().contains("metrics.reportInterval"), e.getMessage());
    var blank = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
        () -> new MetricsConfig(" ", "h", "v", Duration.ofSeconds(5)));
    assertTrue(blank.getMessage().contains("metrics.workerId"), blank.getMessage());
    assertFalse(MetricsConfig.forThisProcess("1").workerId().isBlank());
  }
}
