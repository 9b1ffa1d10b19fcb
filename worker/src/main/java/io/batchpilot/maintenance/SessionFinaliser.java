package io.batchpilot.maintenance;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_SESSIONS;
import static org.jooq.impl.DSL.coalesce;
import static org.jooq.impl.DSL.inline;
import static org.jooq.impl.DSL.when;

import io.batchpilot.store.Jooq;
import java.time.OffsetDateTime;
import java.util.List;
import javax.sql.DataSource;
import org.jooq.Condition;
import org.jooq.DSLContext;
import org.jooq.Field;

/**
 * Ends processing sessions (and pending ones whose every file was skipped before any claim) that
 * have nothing left to do: no file uploading, pending or processing,
 * and at least {@code total_files} files finished (completed, failed or skipped), so a session
 * whose frontend is still registering files is not ended early. It completes, unless nothing could
 * be done (every finished file failed, none completed): then it fails, saying so. Paused sessions
 * wait for their resume. One statement ends every such session; the counters it reads are kept
 * true by the file table's counter triggers.
 */
public final class SessionFinaliser {

  /** How many sessions a runOnce ended, by how. */
  public record Result(int completed, int failed) {
    public int total() {
      return completed + failed;
    }
  }

  private final DSLContext dsl;

  public SessionFinaliser(DataSource dataSource) {
    this.dsl = Jooq.using(dataSource);
  }

  public Result runOnce() {
    var session = BATCH_UPLOAD_SESSIONS;
    Field<OffsetDateTime> now = DatabaseClock.now();
    Field<Integer> finished = session.FILES_COMPLETED.plus(session.FILES_FAILED).plus(session.FILES_SKIPPED);
    Condition nothingDone = session.FILES_COMPLETED.eq(0).and(session.FILES_FAILED.gt(0));
    List<String> ended = dsl.update(session)
        .set(session.STATUS, when(nothingDone, inline("failed")).otherwise(inline("completed")))
        .set(session.COMPLETED_AT, now)
        .set(session.STARTED_AT, coalesce(session.STARTED_AT, now))
        .set(session.ESTIMATED_COMPLETION_AT, (OffsetDateTime) null)
        .set(session.ERROR_MESSAGE, when(nothingDone,
            inline("every file failed (").concat(session.FILES_FAILED.cast(String.class))
                .concat(inline(" of them), so nothing was extracted: each file's error_message says why")))
            .otherwise(session.ERROR_MESSAGE))
        .set(session.LAST_ERROR_AT, when(nothingDone, now).otherwise(session.LAST_ERROR_AT))
        // A pending session was never claimed: every file was skipped before a worker saw it (its
        // uploads failed or timed out). It needs one finished file, so an empty one is left alone.
        .where(session.STATUS.eq("processing")
            .or(session.STATUS.eq("pending").and(finished.gt(0))))
        .and(session.FILES_UPLOADING.plus(session.FILES_PENDING).plus(session.FILES_PROCESSING).eq(0))
        .and(finished.ge(session.TOTAL_FILES))
        .returning(session.STATUS)
        .fetch(session.STATUS);
    int failed = (int) ended.stream().filter("failed"::equals).count();
    return new Result(ended.size() - failed, failed);
  }
}
