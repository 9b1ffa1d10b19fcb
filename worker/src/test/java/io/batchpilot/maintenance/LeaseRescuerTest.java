package io.batchpilot.maintenance;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;
import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_SESSIONS;
import static io.batchpilot.jooq.Tables.QUOTA_PERMITS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.impossibl.postgres.api.jdbc.PGConnection;
import com.impossibl.postgres.api.jdbc.PGNotificationListener;
import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.jooq.tables.records.BatchUploadFilesRecord;
import io.batchpilot.jooq.tables.records.BatchUploadSessionsRecord;
import io.batchpilot.session.Sessions;
import io.batchpilot.store.JobState;
import io.batchpilot.store.Jobs;
import io.batchpilot.store.Jooq;
import io.batchpilot.testing.JobRow;
import java.sql.Connection;
import java.sql.Statement;
import java.util.UUID;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.jooq.DSLContext;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(PostgresExtension.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LeaseRescuerTest {

  private TestDatabase db;
  private DSLContext dsl;
  private MaintenanceRows rows;

  @BeforeAll
  void setUp(TestDatabase db) {
    this.db = db;
    this.dsl = Jooq.using(db.dataSource());
    this.rows = new MaintenanceRows(dsl);
  }

  private BatchUploadFilesRecord file(UUID id) {
    return dsl.selectFrom(BATCH_UPLOAD_FILES).where(BATCH_UPLOAD_FILES.ID.eq(id)).fetchOne();
  }

  @Test
  void expiredLeasesAreDueAgainAtOnceWithTheirAttemptCounted() {
    UUID session = rows.session("processing", 5);
    UUID first = rows.leased(session, 1, 5, 60);
    UUID second = rows.leased(session, 3, 5, 1);
    UUID last = rows.leased(session, 5, 5, 30);
    UUID alive = rows.leased(session, 1, 5, -300);
    UUID cancelledSession = rows.session("cancelled", 1);
    UUID ofCancelled = rows.leased(cancelledSession, 1, 5, 10);

    LeaseRescuer.Result result = new LeaseRescuer(db.dataSource(), 100).runOnce();

    assertEquals(new LeaseRescuer.Result(2, 1, 1), result);
    for (UUID id : new UUID[] {first, second}) {
      BatchUploadFilesRecord f = file(id);
      assertEquals("processing", f.getStatus(), "the published row is left alone");
      assertEquals("pending", JobRow.extraction(dsl, f.getId()).status());
      assertNull(JobRow.extraction(dsl, f.getId()).claimedBy());
      assertNull(JobRow.extraction(dsl, f.getId()).leaseExpiresAt());
      assertNull(f.getErrorType());
      assertTrue(dsl.fetchOne("select scheduled_at <= clock_timestamp()"
          + " and scheduled_at > clock_timestamp() - interval '1 minute' from batchpilot_private.jobs"
          + " where file_id = ?", id).get(0, Boolean.class), "due now, not an hour ago");
    }
    assertEquals(1, JobRow.extraction(dsl, file(first).getId()).attempts());
    assertEquals(3, JobRow.extraction(dsl, file(second).getId()).attempts());

    BatchUploadFilesRecord failed = file(last);
    assertEquals("failed", failed.getStatus());
    assertEquals("lease_expired", failed.getErrorType());
    assertEquals("the worker processing this file stopped before finishing it (its lease expired) on"
        + " attempt 5 of 5: set it back to pending to try again", failed.getErrorMessage());
    assertTrue(failed.getProcessingCompletedAt() != null);

    assertEquals("processing", file(alive).getStatus());
    assertEquals("worker-dead", JobRow.extraction(dsl, file(alive).getId()).claimedBy());
    assertEquals("skipped", file(ofCancelled).getStatus());

    BatchUploadSessionsRecord counters = dsl.selectFrom(BATCH_UPLOAD_SESSIONS)
        .where(BATCH_UPLOAD_SESSIONS.ID.eq(session)).fetchOne();
    assertEquals(0, counters.getFilesPending());
    assertEquals(3, counters.getFilesProcessing(), "two due again and one alive: all started");
    assertEquals(1, counters.getFilesFailed());

    assertEquals(new LeaseRescuer.Result(0, 0, 0), new LeaseRescuer(db.dataSource(), 100).runOnce());
  }

  @Test
  void manyExpiredLeasesAreRescuedInBatchesByOneRun() {
    UUID session = rows.session("processing", 7);
    for (int i = 0; i < 7; i++) {
      rows.leased(session, 1, 5, 5);
    }

    assertEquals(new LeaseRescuer.Result(7, 0, 0), new LeaseRescuer(db.dataSource(), 3).runOnce());
    assertEquals(7, dsl.fetchCount(Jobs.JOBS,
        Jobs.BATCH_SESSION_ID.eq(session).and(Jobs.stateIs(JobState.AVAILABLE))));
  }

  @Test
  void rescuedFilesWakeTheFleet() throws Exception {
    UUID session = rows.session("processing", 1);
    rows.leased(session, 1, 5, 5);
    LinkedBlockingQueue<String> payloads = new LinkedBlockingQueue<>();
    try (Connection listener = db.connect()) {
      listener.unwrap(PGConnection.class).addNotificationListener("batchpilot_work",
          new PGNotificationListener() {
            @Override
            public void notification(int processId, String channel, String payload) {
              payloads.add(payload);
            }
          });
      try (Statement statement = listener.createStatement()) {
        statement.execute("LISTEN batchpilot_work");
      }

      assertNull(payloads.poll(200, TimeUnit.MILLISECONDS), "nothing before the rescue");

      assertEquals(1, new LeaseRescuer(db.dataSource(), 100).runOnce().pending());

      // The wake-up names no session: any role may LISTEN.
      assertEquals("", payloads.poll(30, TimeUnit.SECONDS), "the rescue woke the fleet");
    }
  }

  @Test
  void callsInFlightOfARescuedFileEndTheirPermitsAndCountInTheSession() {
    dsl.execute("insert into public.quota_limits (provider, model, requests_per_minute, input_tokens_per_minute)"
        + " values ('gemini', 'rescue-permits', 100, 100000) on conflict do nothing");
    UUID session = rows.session("processing", 2);
    UUID killedMidCall = rows.leased(session, 1, 5, 5);
    UUID alive = rows.leased(session, 1, 5, -300);
    // Two calls of the dead worker's file (a retry after a 503, say) and one of a live worker's.
    for (UUID file : new UUID[] {killedMidCall, killedMidCall, alive}) {
      assertTrue(dsl.fetchOne("select granted from public.batchpilot_acquire_quota('gemini', 'rescue-permits', 10,"
          + " 'aggressive', 60000, ?)", file).get(0, Boolean.class));
    }

    assertEquals(1, new LeaseRescuer(db.dataSource(), 100).runOnce().pending());

    assertEquals(0, dsl.fetchCount(QUOTA_PERMITS, QUOTA_PERMITS.FILE_ID.eq(killedMidCall)),
        "the dead worker's permits no longer count as in flight");
    assertEquals(1, dsl.fetchCount(QUOTA_PERMITS, QUOTA_PERMITS.FILE_ID.eq(alive)));
    assertEquals(2, new Sessions(db.dataSource()).progress(session).apiCalls(),
        "the killed worker's two calls are counted; the live one's is its worker's to report");
  }
}
