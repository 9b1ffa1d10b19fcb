package io.batchpilot.maintenance;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_SESSIONS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.jooq.tables.records.BatchUploadSessionsRecord;
import io.batchpilot.store.Jooq;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.UUID;
import org.jooq.DSLContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(PostgresExtension.class)
class SessionProgressTest {

  private static BatchUploadSessionsRecord session(DSLContext dsl, UUID id) {
    return dsl.selectFrom(BATCH_UPLOAD_SESSIONS).where(BATCH_UPLOAD_SESSIONS.ID.eq(id)).fetchOne();
  }

  private static UUID sessionWith(MaintenanceRows rows, String status, int total, String... fileStatuses) {
    UUID session = rows.session(status, total);
    for (String fileStatus : fileStatuses) {
      rows.file(session, fileStatus);
    }
    return session;
  }

  @Test
  void sessionsWithNothingLeftCompleteAndOnlyAllFailedOnesFail(TestDatabase db) {
    DSLContext dsl = Jooq.using(db.dataSource());
    MaintenanceRows rows = new MaintenanceRows(dsl);
    UUID mixed = sessionWith(rows, "processing", 3, "completed", "completed", "failed");
    UUID allFailed = sessionWith(rows, "processing", 2, "failed", "failed");
    UUID failedAndSkipped = sessionWith(rows, "processing", 2, "failed", "skipped");
    UUID allSkipped = sessionWith(rows, "processing", 1, "skipped");
    UUID stillRegistering = sessionWith(rows, "processing", 3, "completed", "completed");
    UUID stillPending = sessionWith(rows, "processing", 2, "completed", "pending");
    UUID stillProcessing = sessionWith(rows, "processing", 2, "completed", "processing");
    UUID stillUploading = sessionWith(rows, "processing", 2, "completed", "uploading");
    UUID paused = sessionWith(rows, "paused", 1, "completed");
    UUID started = sessionWith(rows, "processing", 1, "completed");
    OffsetDateTime startedAt = OffsetDateTime.of(2026, 1, 2, 3, 4, 5, 0, ZoneOffset.UTC);
    dsl.update(BATCH_UPLOAD_SESSIONS).set(BATCH_UPLOAD_SESSIONS.STARTED_AT, startedAt)
        .where(BATCH_UPLOAD_SESSIONS.ID.eq(started)).execute();

    UUID neverClaimedAllSkipped = sessionWith(rows, "pending", 2, "skipped", "skipped");
    UUID emptyPending = sessionWith(rows, "pending", 0);
    UUID pendingStillRegistering = sessionWith(rows, "pending", 2, "skipped");
    UUID pendingWithWork = sessionWith(rows, "pending", 2, "skipped", "pending");

    SessionProgress rounds = new SessionProgress(db.dataSource());
    assertEquals(new SessionProgress.Result(4, 2, 0), rounds.runOnce());
    assertEquals("completed", session(dsl, neverClaimedAllSkipped).getStatus(),
        "a session whose every file was skipped before any claim ends too");
    assertNotNull(session(dsl, neverClaimedAllSkipped).getCompletedAt());
    for (UUID open : new UUID[] {emptyPending, pendingStillRegistering, pendingWithWork}) {
      assertEquals("pending", session(dsl, open).getStatus());
    }

    BatchUploadSessionsRecord completed = session(dsl, mixed);
    assertEquals("completed", completed.getStatus());
    assertNotNull(completed.getCompletedAt());
    assertNotNull(completed.getStartedAt(), "a session that never recorded its start gets one");
    assertNull(completed.getErrorMessage());
    assertEquals("completed", session(dsl, allSkipped).getStatus());
    assertEquals(startedAt.toInstant(), session(dsl, started).getStartedAt().toInstant());

    BatchUploadSessionsRecord failed = session(dsl, allFailed);
    assertEquals("failed", failed.getStatus());
    assertEquals("every file failed (2 of them), so nothing was extracted: each file's error_message"
        + " says why", failed.getErrorMessage());
    assertNotNull(failed.getCompletedAt());
    assertEquals("failed", session(dsl, failedAndSkipped).getStatus());

    for (UUID open : new UUID[] {stillRegistering, stillPending, stillProcessing, stillUploading}) {
      assertEquals("processing", session(dsl, open).getStatus());
      assertNull(session(dsl, open).getCompletedAt());
    }
    assertEquals("paused", session(dsl, paused).getStatus());

    assertEquals(new SessionProgress.Result(0, 0, 0), rounds.runOnce(), "nothing is ended twice");

    rows.file(stillRegistering, "completed");
    assertEquals(new SessionProgress.Result(1, 0, 0), rounds.runOnce());
    assertEquals("completed", session(dsl, stillRegistering).getStatus());
  }
}
