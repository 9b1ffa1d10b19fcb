package io.batchpilot.maintenance;

import static io.batchpilot.jooq.Tables.API_QUOTA_TRACKING;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.store.Jooq;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jooq.DSLContext;
import org.jooq.Field;
import org.jooq.Table;
import org.jooq.impl.DSL;
import org.jooq.impl.SQLDataType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(PostgresExtension.class)
class RetentionTest {

  @Test
  void rowsOlderThanTheirRetentionGoInBatchesAndNewerOnesStay(TestDatabase db) {
    DSLContext dsl = Jooq.using(db.dataSource());
    // The ledger: one row per model and minute, 3 of 5 older than 30 days.
    for (int daysAgo : new int[] {45, 40, 31, 29, 0}) {
      dsl.execute("insert into public.api_quota_tracking (api_provider, model, quota_type, time_window, quota_limit)"
          + " values ('gemini', 'gemini-2.5-flash', 'requests',"
          + " date_trunc('minute', clock_timestamp() - make_interval(days => ?)), 10)", daysAgo);
    }
    // A metrics-like table, 7 of 9 rows older than 3 days.
    dsl.execute("create table public.test_snapshots (taken_at timestamptz not null)");
    dsl.execute("insert into public.test_snapshots select clock_timestamp() - make_interval(days => d)"
        + " from unnest(array[4, 4, 5, 6, 7, 10, 30, 2, 0]) d");
    Table<?> snapshots = DSL.table(DSL.name("public", "test_snapshots"));
    Field<OffsetDateTime> takenAt = DSL.field(DSL.name("taken_at"), SQLDataType.TIMESTAMPWITHTIMEZONE);

    Retention retention = new Retention(db.dataSource(), List.of(
        Retention.ledger(Duration.ofDays(30)),
        new Retention.Target(snapshots, takenAt, Duration.ofDays(3))), 2);

    Map<String, Integer> expected = new LinkedHashMap<>();
    expected.put("api_quota_tracking", 3);
    expected.put("test_snapshots", 7);
    assertEquals(expected, retention.runOnce());
    assertEquals(2, dsl.fetchCount(API_QUOTA_TRACKING));
    assertEquals(2, dsl.fetchCount(snapshots));

    assertEquals(Map.of("api_quota_tracking", 0, "test_snapshots", 0), retention.runOnce());
  }

  @Test
  void endedBatchJobsGoWithTheirFileListsAfterTheirRetentionAndLiveOnesStayHoweverOld(TestDatabase db) {
    DSLContext dsl = Jooq.using(db.dataSource());
    dsl.execute("insert into batchpilot_private.batch_jobs (provider, model, state, created_at, ended_at) values "
        + "('gemini', 'gemini-2.5-flash', 'succeeded', now() - interval '40 days', now() - interval '40 days'), "
        + "('gemini', 'gemini-2.5-flash', 'expired', now() - interval '2 days', now() - interval '1 day'), "
        + "('gemini', 'gemini-2.5-flash', 'running', now() - interval '40 days', null)");
    Retention retention = new Retention(db.dataSource(), List.of(Retention.endedBatchJobs(Duration.ofDays(30))), 10);
    assertEquals(Map.of("batchpilot_private.batch_jobs", 1), retention.runOnce());
    assertEquals(List.of("expired", "running"), dsl.fetch("select state::text from batchpilot_private.batch_jobs order by 1")
        .getValues(0, String.class));
  }
}
