package io.batchpilot.testing;

import io.batchpilot.store.JobKind;
import io.batchpilot.store.JobState;
import io.batchpilot.store.Jobs;
import java.time.OffsetDateTime;
import java.util.UUID;
import org.jooq.DSLContext;
import org.jooq.Record;
import org.jooq.impl.DSL;

/** A file's job of one kind in {@code batchpilot_private.jobs}, as tests read it. */
public record JobRow(JobState state, int attempts, int maxAttempts, OffsetDateTime scheduledAt, String claimedBy,
                     OffsetDateTime leaseExpiresAt, String errorType, String errorMessage, OffsetDateTime finishedAt) {

  /** The extraction job of {@code file}. */
  public static JobRow extraction(DSLContext dsl, UUID file) {
    return of(dsl, file, JobKind.EXTRACTION);
  }

  /** The embedding job of {@code file}, or null before its extraction completed. */
  public static JobRow embedding(DSLContext dsl, UUID file) {
    return of(dsl, file, JobKind.EMBEDDING);
  }

  /** The state in the words a file's status uses: pending, processing, completed, failed, skipped. */
  public String status() {
    return switch (state) {
      case AVAILABLE -> "pending";
      case RUNNING -> "processing";
      case CANCELLED -> "skipped";
      default -> state.sqlName();
    };
  }

  private static JobRow of(DSLContext dsl, UUID file, JobKind kind) {
    Record r = dsl.fetchOne("SELECT state::text AS state, attempts, max_attempts, scheduled_at, claimed_by, lease_expires_at,"
        + " error_type, error_message, finished_at FROM batchpilot_private.jobs WHERE file_id = ? AND kind = ?::batchpilot_private.job_kind",
        file, kind.sqlName());
    if (r == null) {
      return null;
    }
    return new JobRow(JobState.fromSqlName(r.get("state", String.class)), r.get("attempts", Integer.class),
        r.get("max_attempts", Integer.class), r.get("scheduled_at", OffsetDateTime.class), r.get("claimed_by", String.class),
        r.get("lease_expires_at", OffsetDateTime.class), r.get("error_type", String.class),
        r.get("error_message", String.class), r.get("finished_at", OffsetDateTime.class));
  }
}
