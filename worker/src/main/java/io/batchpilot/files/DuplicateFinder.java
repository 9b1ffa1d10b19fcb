package io.batchpilot.files;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;
import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_SESSIONS;
import static org.jooq.impl.DSL.coalesce;
import static org.jooq.impl.DSL.when;

import io.batchpilot.jooq.tables.BatchUploadFiles;
import io.batchpilot.jooq.tables.BatchUploadSessions;
import io.batchpilot.store.JobKind;
import io.batchpilot.store.JobState;
import io.batchpilot.store.Jobs;
import io.batchpilot.store.Jooq;
import java.nio.ByteBuffer;
import java.util.Objects;
import java.util.Optional;
import java.util.UUID;
import javax.sql.DataSource;
import org.jooq.DSLContext;
import org.jooq.JSONB;
import org.jooq.Record2;
import org.jooq.Select;

/**
 * Finds a completed file with the same content as this one, for the same model, whose result this
 * file may reuse instead of calling Gemini again: one from the same team, or, for a personal
 * session, one of the same user's personal sessions. Results never cross from one team or user to
 * another. It also finds an identical file still in flight, so the second of two waits for the first.
 */
public final class DuplicateFinder {

  /** The earlier file and its result. */
  public record Duplicate(UUID fileId, JSONB result) {
    public Duplicate {
      Objects.requireNonNull(fileId, "fileId");
      Objects.requireNonNull(result, "result");
    }
  }

  /** The first key of the two-key advisory lock on a content hash, so it meets no other lock of the project's. */
  private static final int CONTENT_LOCK_CLASS = 0x62700c5a;

  private final DSLContext dsl;

  public DuplicateFinder(DataSource dataSource) {
    this.dsl = Jooq.using(dataSource);
  }

  /**
   * The earliest completed file, other than {@code fileId}, whose content has this SHA-256 and
   * that ran on the same model (the file's own, else its session's) for the same owner. One query,
   * on the index of completed files by content and model.
   */
  public Optional<Duplicate> find(UUID fileId, byte[] sha256) {
    return query(fileId, sha256).fetchOptional(r -> new Duplicate(r.value1(), r.value2()));
  }

  /**
   * Records this file's SHA-256 on its extraction job, and returns an identical file (same content, model and
   * owner, as {@link #find} matches them) that a worker is processing and recorded first: this one
   * should wait for that result rather than call Gemini for the same bytes. Files with the same
   * content take turns on a transaction-scoped advisory lock (safe through any pooler), so of two
   * that arrive together exactly one goes ahead.
   */
  public Optional<UUID> inFlight(UUID fileId, byte[] sha256) {
    return dsl.transactionResult(tx -> {
      DSLContext t = tx.dsl();
      t.execute("SELECT 1 FROM pg_advisory_xact_lock(?, ?)", CONTENT_LOCK_CLASS, ByteBuffer.wrap(sha256).getInt());
      Optional<UUID> earlier = matching(t, fileId, sha256, false).fetchOptional(Record2::value1);
      t.update(Jobs.JOBS)
          .set(Jobs.CONTENT_SHA256, sha256)
          .where(Jobs.FILE_ID.eq(fileId))
          .and(Jobs.kindIs(JobKind.EXTRACTION))
          .and(Jobs.CONTENT_SHA256.isDistinctFrom(sha256))
          .execute();
      return earlier;
    });
  }

  /** The query {@link #find} runs; tests EXPLAIN it. */
  Select<Record2<UUID, JSONB>> query(UUID fileId, byte[] sha256) {
    return matching(dsl, fileId, sha256, true);
  }

  /** Completed files with this content, or ({@code completed} false) files whose extraction is in flight with it. */
  private static Select<Record2<UUID, JSONB>> matching(DSLContext dsl, UUID fileId, byte[] sha256, boolean completed) {
    BatchUploadFiles me = BATCH_UPLOAD_FILES.as("me");
    BatchUploadSessions mySession = BATCH_UPLOAD_SESSIONS.as("my_session");
    BatchUploadFiles earlier = BATCH_UPLOAD_FILES.as("earlier");
    BatchUploadSessions theirSession = BATCH_UPLOAD_SESSIONS.as("their_session");
    var candidates = completed
        ? dsl.select(earlier.ID, earlier.RESULT)
            .from(me)
            .join(mySession).on(mySession.ID.eq(me.BATCH_SESSION_ID))
            .join(earlier).on(earlier.CONTENT_SHA256.eq(sha256)
                .and(earlier.STATUS.eq("completed"))
                .and(earlier.RESULT.isNotNull())
                .and(earlier.ID.ne(me.ID)))
        : dsl.select(earlier.ID, earlier.RESULT)
            .from(me)
            .join(mySession).on(mySession.ID.eq(me.BATCH_SESSION_ID))
            .join(Jobs.JOBS).on(Jobs.CONTENT_SHA256.eq(sha256)
                .and(Jobs.kindIs(JobKind.EXTRACTION))
                .and(Jobs.stateIs(JobState.RUNNING))
                .and(Jobs.FILE_ID.ne(me.ID)))
            .join(earlier).on(earlier.ID.eq(Jobs.FILE_ID));
    return candidates
        .join(theirSession).on(theirSession.ID.eq(earlier.BATCH_SESSION_ID))
        .where(me.ID.eq(fileId))
        .and(coalesce(earlier.MODEL, theirSession.MODEL).eq(coalesce(me.MODEL, mySession.MODEL)))
        .and(when(mySession.TEAM_ID.isNotNull(), theirSession.TEAM_ID.eq(mySession.TEAM_ID))
            .otherwise(theirSession.TEAM_ID.isNull()
                .and(theirSession.USER_ID.isNotDistinctFrom(mySession.USER_ID))))
        .orderBy(completed ? earlier.PROCESSING_COMPLETED_AT.asc().nullsLast() : earlier.PROCESSING_STARTED_AT.asc().nullsLast(),
            earlier.ID)
        .limit(1);
  }
}
