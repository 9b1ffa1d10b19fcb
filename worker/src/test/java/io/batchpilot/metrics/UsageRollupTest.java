package io.batchpilot.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.store.Jooq;
import org.jooq.DSLContext;
import org.jooq.Record;
import org.jooq.Result;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The per-minute usage rollup always equals what the file table says, by team and model. */
@ExtendWith(PostgresExtension.class)
class UsageRollupTest {

  @BeforeAll
  static void fill(TestDatabase db) {
    ReportingFixture.fill(db.dataSource());
  }

  @Test
  void rollupEqualsTheFilesAfterClaimsRetriesCompletionsFailuresAndSkips(TestDatabase db) {
    DSLContext dsl = Jooq.using(db.dataSource());
    String byFiles = "SELECT s.team_id, CASE WHEN s.team_id IS NULL THEN s.user_id END AS user_id, f.model,"
        + " count(*) FILTER (WHERE f.status = 'completed') AS completed,"
        + " count(*) FILTER (WHERE f.status = 'failed') AS failed,"
        + " count(*) FILTER (WHERE f.status = 'skipped') AS skipped,"
        + " sum(f.api_calls_made) AS calls, sum(coalesce(f.input_tokens, 0)) AS input, sum(coalesce(f.output_tokens, 0)) AS output,"
        + " sum(coalesce(f.thinking_tokens, 0)) AS thinking"
        + " FROM public.batch_upload_files f JOIN public.batch_upload_sessions s ON s.id = f.batch_session_id"
        + " GROUP BY 1, 2, 3 ORDER BY 3, 1, 2";
    String byRollup = "SELECT team_id, user_id, model, sum(files_completed) AS completed, sum(files_failed) AS failed,"
        + " sum(files_skipped) AS skipped, sum(api_calls) AS calls, sum(input_tokens) AS input, sum(output_tokens) AS output,"
        + " sum(thinking_tokens) AS thinking FROM public.batchpilot_usage_per_minute GROUP BY 1, 2, 3 ORDER BY 3, 1, 2";
    Result<Record> files = dsl.fetch(byFiles);
    Result<Record> rollup = dsl.fetch(byRollup);
    assertEquals(3, files.size(), files::toString);
    assertEquals(files.format(), rollup.format());
  }

  @Test
  void retriesAreCountedOnlyWhenAnAttemptFailedBackToPending(TestDatabase db) {
    DSLContext dsl = Jooq.using(db.dataSource());
    // The fixture retried 3 files with rate_limited; its claims (pending -> processing) are no retries.
    assertEquals(3L, dsl.fetchValue("SELECT sum(files_retried) FROM public.batchpilot_usage_per_minute", Long.class));
  }
}
