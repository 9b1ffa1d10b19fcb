package io.batchpilot.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.maintenance.Retention;
import io.batchpilot.store.Jooq;
import java.time.Duration;
import java.util.Map;
import org.jooq.DSLContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Maintenance's retention, given the metrics tables, prunes old rows and keeps live ones. */
@ExtendWith(PostgresExtension.class)
class MetricTablesTest {

  @Test
  void retentionPrunesOldSnapshotsSilentWorkersAndOldUsageButKeepsTheRest(TestDatabase db) {
    DSLContext dsl = Jooq.using(db.dataSource());
    dsl.execute("INSERT INTO public.batchpilot_metric_snapshots (taken_at, worker_id, name, kind, count)"
        + " VALUES (now() - interval '8 days', 'w', 'claim', 'timer', 1), (now() - interval '1 hour', 'w', 'claim', 'timer', 2)");
    dsl.execute("INSERT INTO public.batchpilot_worker_heartbeats (worker_id, host, version, last_seen_at)"
        + " VALUES ('gone', 'h', 'v', now() - interval '8 days'), ('alive', 'h', 'v', now())");
    dsl.execute("INSERT INTO public.batchpilot_usage_per_minute (minute, model, shard, files_completed)"
        + " VALUES (date_trunc('minute', now() - interval '8 days'), 'm', 0, 1),"
        + "        (date_trunc('minute', now() - interval '100 days'), 'm', 0, 1)");

    Map<String, Integer> deleted = new Retention(db.dataSource(),
        MetricTables.retention(Duration.ofDays(7), Duration.ofDays(90)), 100).runOnce();

    assertEquals(Map.of("batchpilot_metric_snapshots", 1, "batchpilot_worker_heartbeats", 1,
        "batchpilot_usage_per_minute", 1), deleted);
    assertEquals("alive", dsl.fetchValue("SELECT string_agg(worker_id, ',') FROM public.batchpilot_worker_heartbeats"));
    assertEquals(1, dsl.fetchCount(dsl.selectFrom("public.batchpilot_usage_per_minute")));
  }
}
