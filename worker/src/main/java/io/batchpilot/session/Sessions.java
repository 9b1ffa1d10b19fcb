package io.batchpilot.session;

import static io.batchpilot.jooq.Tables.BATCHPILOT_SESSION_BATCH_JOBS;
import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;
import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_SESSIONS;

import io.batchpilot.jooq.tables.records.BatchUploadFilesRecord;
import io.batchpilot.jooq.tables.records.BatchUploadSessionsRecord;
import io.batchpilot.store.JobKind;
import io.batchpilot.store.Jobs;
import io.batchpilot.store.Jooq;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.OffsetDateTime;
import java.util.List;
import java.util.UUID;
import javax.sql.DataSource;
import org.jooq.DSLContext;
import org.jooq.Field;
import org.jooq.InsertValuesStep10;
import org.jooq.Record;
import org.jooq.SelectOnConditionStep;
import org.jooq.Table;
import org.jooq.impl.DSL;

/**
 * Creating and steering batch sessions. Each change is one statement (cancel: one transaction),
 * and the database's triggers keep the counters true and wake the workers (a resume, new files).
 */
public final class Sessions {

  /** Files go in by the thousand: one statement each, well under PostgreSQL's 65,535 parameters. */
  private static final int INSERT_CHUNK = 1000;

  /** Each session's exact counters and totals (the V2 migration's private table). */
  private static final Table<?> PROGRESS = DSL.table("batchpilot_private.session_progress").as("p");
  private static final List<Field<?>> EXACT = List.of("files_pending", "files_processing", "files_completed",
          "files_failed", "files_skipped", "total_api_calls", "total_tokens_used", "total_thinking_tokens",
          "rate_limit_hits", "total_processing_time_ms").stream()
      .<Field<?>>map(column -> DSL.field(DSL.name("p", column)).as("exact_" + column))
      .toList();

  private final DSLContext dsl;

  public Sessions(DataSource dataSource) {
    this.dsl = Jooq.using(dataSource);
  }

  /**
   * Registers a session and its files, in one transaction. The session starts 'pending' and turns
   * 'processing' when a worker claims its first file.
   */
  public UUID submit(NewSession session, List<NewFile> files) {
    return dsl.transactionResult(tx -> {
      DSLContext t = tx.dsl();
      UUID id = t.insertInto(BATCH_UPLOAD_SESSIONS)
          .set(BATCH_UPLOAD_SESSIONS.SESSION_NAME, session.name())
          .set(BATCH_UPLOAD_SESSIONS.USER_ID, session.userId())
          .set(BATCH_UPLOAD_SESSIONS.TEAM_ID, session.teamId())
          .set(BATCH_UPLOAD_SESSIONS.MODEL, session.model())
          .set(BATCH_UPLOAD_SESSIONS.MAX_CONCURRENT, session.maxConcurrent())
          .set(BATCH_UPLOAD_SESSIONS.PROCESSING_STRATEGY, session.processingStrategy())
          .set(BATCH_UPLOAD_SESSIONS.DELIVERY, session.delivery().sqlName())
          .set(BATCH_UPLOAD_SESSIONS.INTERACTIVE_FALLBACK, session.interactiveFallback())
          .set(BATCH_UPLOAD_SESSIONS.TOTAL_FILES, files.size())
          .returning(BATCH_UPLOAD_SESSIONS.ID)
          .fetchOne(BATCH_UPLOAD_SESSIONS.ID);
      for (int from = 0; from < files.size(); from += INSERT_CHUNK) {
        List<NewFile> chunk = files.subList(from, Math.min(files.size(), from + INSERT_CHUNK));
        InsertValuesStep10<BatchUploadFilesRecord, UUID, String, String, Long, Integer, String, String, String, UUID, String> insert =
            t.insertInto(BATCH_UPLOAD_FILES, BATCH_UPLOAD_FILES.BATCH_SESSION_ID, BATCH_UPLOAD_FILES.ORIGINAL_FILENAME,
                BATCH_UPLOAD_FILES.FILE_TYPE, BATCH_UPLOAD_FILES.FILE_SIZE_BYTES, BATCH_UPLOAD_FILES.UPLOAD_ORDER,
                BATCH_UPLOAD_FILES.STORAGE_BUCKET, BATCH_UPLOAD_FILES.STORAGE_PATH, BATCH_UPLOAD_FILES.SOURCE_URL,
                BATCH_UPLOAD_FILES.RECEIPT_ID, BATCH_UPLOAD_FILES.STATUS);
        for (int i = 0; i < chunk.size(); i++) {
          NewFile f = chunk.get(i);
          insert = insert.values(id, f.originalFilename(), f.fileType(), f.fileSizeBytes(), from + i,
              f.storageBucket(), f.storagePath(), f.sourceUrl(), f.receiptId(), "pending");
        }
        insert.execute();
      }
      return id;
    });
  }

  /** No new claims; files in flight finish. Returns false when the session was not running. */
  public boolean pause(UUID sessionId) {
    return dsl.update(BATCH_UPLOAD_SESSIONS)
        .set(BATCH_UPLOAD_SESSIONS.STATUS, "paused")
        .where(BATCH_UPLOAD_SESSIONS.ID.eq(sessionId))
        .and(BATCH_UPLOAD_SESSIONS.STATUS.in("pending", "processing"))
        .execute() == 1;
  }

  /**
   * Claims resume; the status change wakes every worker (the session table's trigger). A paused session resumes,
   * and so does one a refused API key stopped (failed, its files still waiting) once the key is
   * fixed: its error is cleared. False for any other session.
   */
  public boolean resume(UUID sessionId) {
    return dsl.update(BATCH_UPLOAD_SESSIONS)
        .set(BATCH_UPLOAD_SESSIONS.STATUS, "processing")
        .set(BATCH_UPLOAD_SESSIONS.COMPLETED_AT, (OffsetDateTime) null)
        .set(BATCH_UPLOAD_SESSIONS.ERROR_MESSAGE, DSL.when(BATCH_UPLOAD_SESSIONS.STATUS.eq("failed"), DSL.inline((String) null))
            .otherwise(BATCH_UPLOAD_SESSIONS.ERROR_MESSAGE))
        .where(BATCH_UPLOAD_SESSIONS.ID.eq(sessionId))
        .and(BATCH_UPLOAD_SESSIONS.STATUS.eq("paused")
            .or(BATCH_UPLOAD_SESSIONS.STATUS.eq("failed").and(BATCH_UPLOAD_SESSIONS.FILES_PENDING.gt(0))))
        .execute() == 1;
  }

  /**
   * Ends the session: the database skips the files not yet started (a trigger, as for a
   * frontend's cancel), files in flight finish. Returns how many files were skipped, or -1 when
   * the session had already ended.
   */
  public int cancel(UUID sessionId) {
    return dsl.transactionResult(tx -> {
      DSLContext t = tx.dsl();
      boolean open = t.selectOne()
          .from(BATCH_UPLOAD_SESSIONS)
          .where(BATCH_UPLOAD_SESSIONS.ID.eq(sessionId))
          .and(BATCH_UPLOAD_SESSIONS.STATUS.in("pending", "processing", "paused"))
          .forUpdate()
          .fetchOptional().isPresent();
      if (!open) {
        return -1;
      }
      int skippedBefore = exactSkipped(t, sessionId);
      t.update(BATCH_UPLOAD_SESSIONS)
          .set(BATCH_UPLOAD_SESSIONS.STATUS, "cancelled")
          .where(BATCH_UPLOAD_SESSIONS.ID.eq(sessionId))
          .execute();
      return exactSkipped(t, sessionId) - skippedBefore;
    });
  }

  /** The session's skipped files now: its exact counter, not the row's copy published a moment ago. */
  private static int exactSkipped(DSLContext t, UUID sessionId) {
    return ((Number) t.fetchValue("SELECT files_skipped FROM batchpilot_private.session_progress WHERE session_id = ?",
        sessionId)).intValue();
  }

  /**
   * Where the session is now: its row, with the exact counters and totals of its progress row
   * (the row's own copy, what Realtime sends, is published about once a second while it runs).
   */
  public Progress progress(UUID sessionId) {
    return withExactProgress()
        .where(BATCH_UPLOAD_SESSIONS.ID.eq(sessionId))
        .fetchOptional(Sessions::progressOf)
        .orElseThrow(() -> new IllegalArgumentException("no batch session " + sessionId
            + ": check the id (batchpilot status lists the sessions)"));
  }

  /** Files waiting in sessions that are not over: read from the sessions' counters, not the file table. */
  public long backlog() {
    return dsl.select(DSL.coalesce(DSL.sum(BATCH_UPLOAD_SESSIONS.FILES_PENDING), java.math.BigDecimal.ZERO))
        .from(BATCH_UPLOAD_SESSIONS)
        .where(BATCH_UPLOAD_SESSIONS.STATUS.in("pending", "processing", "paused"))
        .fetchOne().value1().longValue();
  }

  /** The most recently created sessions, newest first. */
  public List<Progress> recent(int limit) {
    return withExactProgress()
        .orderBy(BATCH_UPLOAD_SESSIONS.CREATED_AT.desc(), BATCH_UPLOAD_SESSIONS.ID)
        .limit(limit)
        .fetch(Sessions::progressOf);
  }

  /** Sessions whose id starts with {@code prefix} (lower-case hex, dashes as printed), at most {@code limit}. */
  public List<UUID> idsStartingWith(String prefix, int limit) {
    return dsl.select(BATCH_UPLOAD_SESSIONS.ID).from(BATCH_UPLOAD_SESSIONS)
        .where(BATCH_UPLOAD_SESSIONS.ID.cast(String.class).startsWith(prefix))
        .orderBy(BATCH_UPLOAD_SESSIONS.ID)
        .limit(limit)
        .fetch(BATCH_UPLOAD_SESSIONS.ID);
  }

  /** The session's files in upload order; {@code onlyFailed} keeps those that failed. */
  public List<FileStatus> files(UUID sessionId, boolean onlyFailed) {
    return dsl.select(BATCH_UPLOAD_FILES.ORIGINAL_FILENAME, BATCH_UPLOAD_FILES.STATUS,
            DSL.coalesce(Jobs.ATTEMPTS, DSL.inline(0)), BATCH_UPLOAD_FILES.ERROR_TYPE, BATCH_UPLOAD_FILES.ERROR_MESSAGE)
        .from(BATCH_UPLOAD_FILES)
        .leftJoin(Jobs.JOBS).on(Jobs.FILE_ID.eq(BATCH_UPLOAD_FILES.ID)).and(Jobs.kindIs(JobKind.EXTRACTION))
        .where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(sessionId))
        .and(onlyFailed ? BATCH_UPLOAD_FILES.STATUS.eq("failed") : DSL.noCondition())
        .orderBy(BATCH_UPLOAD_FILES.UPLOAD_ORDER, BATCH_UPLOAD_FILES.ID)
        .fetch(r -> new FileStatus(r.value1(), r.value2(), r.value3(), r.value4(), r.value5()));
  }

  /** The session's Gemini batch jobs, newest first; none for an interactive session. */
  public List<BatchJobStatus> batchJobs(UUID sessionId) {
    var j = BATCHPILOT_SESSION_BATCH_JOBS(sessionId);
    return dsl.selectFrom(j)
        .orderBy(j.CREATED_AT.desc(), j.JOB_ID)
        .fetch(r -> new BatchJobStatus(r.getJobId(), r.getName(), r.getModel(), BatchJobState.fromSqlName(r.getState()), r.getFiles(),
            r.getFilesAtGoogle(), r.getCreatedAt(), r.getSubmittedAt(), r.getEndedAt(), r.getDueBy(), r.getErrorMessage()));
  }

  private SelectOnConditionStep<Record> withExactProgress() {
    return dsl.select(BATCH_UPLOAD_SESSIONS.fields()).select(EXACT)
        .from(BATCH_UPLOAD_SESSIONS)
        .join(PROGRESS).on(DSL.field(DSL.name("p", "session_id"), UUID.class).eq(BATCH_UPLOAD_SESSIONS.ID));
  }

  private static Progress progressOf(Record r) {
    BatchUploadSessionsRecord s = r.into(BATCH_UPLOAD_SESSIONS);
    int completed = exact(r, "files_completed", Integer.class);
    int failed = exact(r, "files_failed", Integer.class);
    BigDecimal averageMs = completed + failed == 0 ? null
        : BigDecimal.valueOf(exact(r, "total_processing_time_ms", Long.class))
            .divide(BigDecimal.valueOf(completed + failed), 2, RoundingMode.HALF_UP);
    return new Progress(s.getId(), s.getStatus(), s.getTotalFiles(), exact(r, "files_pending", Integer.class),
        exact(r, "files_processing", Integer.class), completed, failed, exact(r, "files_skipped", Integer.class),
        exact(r, "total_api_calls", Integer.class), exact(r, "total_tokens_used", Long.class),
        exact(r, "total_thinking_tokens", Long.class), exact(r, "rate_limit_hits", Integer.class), averageMs,
        s.getStartedAt(), s.getCompletedAt(), s.getEstimatedCompletionAt(), s.getErrorMessage(), s.getSessionName(),
        s.getCreatedAt(), Delivery.fromSqlName(s.getDelivery()), s.getInteractiveFallback());
  }

  private static <T> T exact(Record r, String column, Class<T> type) {
    return r.get("exact_" + column, type);
  }
}
