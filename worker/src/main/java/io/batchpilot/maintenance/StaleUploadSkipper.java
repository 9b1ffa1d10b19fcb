package io.batchpilot.maintenance;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;
import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_SESSIONS;
import static org.jooq.impl.DSL.inline;
import static org.jooq.impl.DSL.select;

import io.batchpilot.store.Jooq;
import java.time.Duration;
import javax.sql.DataSource;
import org.jooq.DSLContext;

/**
 * Skips files left {@code uploading} longer than the upload timeout since their row last changed:
 * the frontend registered them and never said the bytes were in Storage (a tab closed mid-upload,
 * a lost network). Without this their session would wait for them forever; skipped, with
 * {@code upload_failed} and a message saying why, the progress round can end it. Found through
 * the sessions' {@code files_uploading} counter, so no statement scans finished files; a batch of
 * files per statement.
 */
public final class StaleUploadSkipper {

  private final DSLContext dsl;
  private final Duration timeout;
  private final int batchSize;

  public StaleUploadSkipper(DataSource dataSource, Duration timeout, int batchSize) {
    if (timeout == null || timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException(MaintenanceConfig.UPLOAD_TIMEOUT.name() + " must be a positive duration; got " + timeout);
    }
    if (batchSize < 1) {
      throw new IllegalArgumentException("the upload skip batch size must be at least 1; got " + batchSize);
    }
    this.dsl = Jooq.using(dataSource);
    this.timeout = timeout;
    this.batchSize = batchSize;
  }

  /** Skips every file whose upload timed out, a batch per statement; returns how many. */
  public int runOnce() {
    int total = 0;
    int batch;
    do {
      batch = skipBatch();
      total += batch;
    } while (batch == batchSize);
    return total;
  }

  private int skipBatch() {
    var file = BATCH_UPLOAD_FILES;
    var session = BATCH_UPLOAD_SESSIONS;
    return dsl.update(file)
        .set(file.STATUS, inline("skipped"))
        .set(file.ERROR_TYPE, inline("upload_failed"))
        .set(file.ERROR_MESSAGE, inline("the upload did not finish: this file stayed uploading for over " + describe(timeout)
            + " (" + MaintenanceConfig.UPLOAD_TIMEOUT.name() + ") without its bytes reaching Storage, probably because the"
            + " page was closed mid-upload, so it was skipped and its session can finish; upload it again"))
        .where(file.ID.in(select(file.ID).from(file)
            .where(file.BATCH_SESSION_ID.in(select(session.ID).from(session).where(session.FILES_UPLOADING.gt(0))))
            .and(file.STATUS.eq("uploading"))
            .and(file.UPDATED_AT.lt(DatabaseClock.minus(timeout)))
            .limit(batchSize)
            .forUpdate().skipLocked()))
        .and(file.STATUS.eq("uploading"))
        .execute();
  }

  private static String describe(Duration d) {
    return d.toSecondsPart() == 0 && d.toMillisPart() == 0 ? d.toMinutes() + " minutes" : d.toMillis() + " ms";
  }
}
