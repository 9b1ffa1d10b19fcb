package io.batchpilot.maintenance;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;
import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_SESSIONS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.jooq.tables.records.BatchUploadFilesRecord;
import io.batchpilot.store.Jooq;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;
import org.jooq.DSLContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(PostgresExtension.class)
class StaleUploadSkipperTest {

  private static BatchUploadFilesRecord file(DSLContext dsl, UUID id) {
    return dsl.selectFrom(BATCH_UPLOAD_FILES).where(BATCH_UPLOAD_FILES.ID.eq(id)).fetchOne();
  }

  @Test
  void aFileLeftUploadingPastTheTimeoutIsSkippedWithWhySoItsSessionFinishes(TestDatabase db) {
    DSLContext dsl = Jooq.using(db.dataSource());
    MaintenanceRows rows = new MaintenanceRows(dsl);
    UUID abandoned = rows.session("pending", 1);
    UUID tabClosed = rows.uploading(abandoned, 61);
    UUID mixed = rows.session("processing", 2);
    UUID stale = rows.uploading(mixed, 90);
    UUID fresh = rows.uploading(mixed, 5);
    UUID oldButPending = rows.file(mixed, "pending");
    dsl.execute("update public.batch_upload_files set updated_at = clock_timestamp() - interval '2 hours' where id = ?",
        oldButPending);

    StaleUploadSkipper skipper = new StaleUploadSkipper(db.dataSource(), Duration.ofMinutes(60), 1000);
    assertEquals(2, skipper.runOnce());

    for (UUID skipped : new UUID[] {tabClosed, stale}) {
      BatchUploadFilesRecord f = file(dsl, skipped);
      assertEquals("skipped", f.getStatus());
      assertEquals("upload_failed", f.getErrorType());
      assertEquals("the upload did not finish: this file stayed uploading for over 60 minutes (BATCHPILOT_UPLOAD_TIMEOUT)"
          + " without its bytes reaching Storage, probably because the page was closed mid-upload, so it was skipped and"
          + " its session can finish; upload it again", f.getErrorMessage());
    }
    assertEquals("uploading", file(dsl, fresh).getStatus(), "an upload within the timeout goes on");
    assertEquals("pending", file(dsl, oldButPending).getStatus());
    assertEquals(1, dsl.fetchValue(BATCH_UPLOAD_SESSIONS.FILES_SKIPPED, BATCH_UPLOAD_SESSIONS.ID.eq(mixed)));
    assertEquals(0, skipper.runOnce(), "nothing is skipped twice");

    new SessionProgress(db.dataSource()).runOnce(); // the class's other tests leave sessions of their own
    assertEquals("completed", dsl.fetchValue(BATCH_UPLOAD_SESSIONS.STATUS, BATCH_UPLOAD_SESSIONS.ID.eq(abandoned)));
    assertEquals("processing", dsl.fetchValue(BATCH_UPLOAD_SESSIONS.STATUS, BATCH_UPLOAD_SESSIONS.ID.eq(mixed)));
  }

  @Test
  void manyStaleFilesAreSkippedABatchPerStatementUntilNoneIsLeft(TestDatabase db) {
    DSLContext dsl = Jooq.using(db.dataSource());
    MaintenanceRows rows = new MaintenanceRows(dsl);
    UUID session = rows.session("pending", 5);
    for (int i = 0; i < 5; i++) {
      rows.uploading(session, 30);
    }
    assertEquals(0, new StaleUploadSkipper(db.dataSource(), Duration.ofMinutes(31), 2).runOnce());
    assertEquals(5, new StaleUploadSkipper(db.dataSource(), Duration.ofMinutes(29), 2).runOnce());
    assertEquals(0, dsl.fetchValue(BATCH_UPLOAD_SESSIONS.FILES_UPLOADING, BATCH_UPLOAD_SESSIONS.ID.eq(session)));
  }

  @Test
  void theTimeoutSettingIsReadWithItsUnitAndBoundedByName() {
    assertEquals(MaintenanceConfig.UPLOAD_TIMEOUT.defaultValue(), MaintenanceConfig.fromEnvironment(Map.of()).uploadTimeout());
    assertEquals(Duration.ofMinutes(90),
        MaintenanceConfig.fromEnvironment(Map.of("BATCHPILOT_UPLOAD_TIMEOUT", "90m")).uploadTimeout());
    IllegalArgumentException tooShort = assertThrows(IllegalArgumentException.class,
        () -> MaintenanceConfig.fromEnvironment(Map.of("BATCHPILOT_UPLOAD_TIMEOUT", "30s")));
    assertEquals("BATCHPILOT_UPLOAD_TIMEOUT must be between 1m and 7d; got '30s'", tooShort.getMessage());
    IllegalArgumentException bare = assertThrows(IllegalArgumentException.class,
        () -> MaintenanceConfig.fromEnvironment(Map.of("BATCHPILOT_UPLOAD_TIMEOUT", "60")));
    assertEquals("BATCHPILOT_UPLOAD_TIMEOUT must be a duration with its unit, like 500ms, 60s, 2m, 1h or 7d; got '60'",
        bare.getMessage());
  }
}
