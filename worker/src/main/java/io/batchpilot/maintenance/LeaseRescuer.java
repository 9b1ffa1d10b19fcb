package io.batchpilot.maintenance;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;
import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_SESSIONS;
import static org.jooq.impl.DSL.inline;
import static org.jooq.impl.DSL.select;
import static org.jooq.impl.DSL.when;

import io.batchpilot.store.Jooq;
import java.time.OffsetDateTime;
import java.util.List;
import java.util.UUID;
import javax.sql.DataSource;
import org.jooq.Condition;
import org.jooq.DSLContext;
import org.jooq.Field;
import org.jooq.Record2;
import org.jooq.impl.DSL;

/**
 * Takes back files whose worker stopped renewing their lease (it crashed, hung or lost the
 * database): back to pending and due at once, or failed with {@code lease_expired} when that was
 * their last allowed attempt (the claim already counted it), or skipped if their session was
 * cancelled meanwhile. Up to a batch of files per statement; the file table's trigger sends the NOTIFY that
 * wakes the fleet for the pending ones. In the same transaction, the quota permits of the calls
 * those files had in flight end, and those calls count in their sessions' {@code total_api_calls}
 * (their worker never reported them).
 */
public final class LeaseRescuer {

  /** How many files a runOnce took back, by what they became. */
  public record Result(int pending, int failed, int skipped) {
    public int total() {
      return pending + failed + skipped;
    }
  }

  private final DSLContext dsl;
  private final int batchSize;

  public LeaseRescuer(DataSource dataSource, int batchSize) {
    if (batchSize < 1) {
      throw new IllegalArgumentException("the rescue batch size must be at least 1; got " + batchSize);
    }
    this.dsl = Jooq.using(dataSource);
    this.batchSize = batchSize;
  }

  /** Rescues every file whose lease has passed, a batch per statement, until none is left. */
  public Result runOnce() {
    int pending = 0;
    int failed = 0;
    int skipped = 0;
    while (true) {
      List<String> statuses = rescueBatch();
      for (String status : statuses) {
        switch (status) {
          case "pending" -> pending++;
          case "failed" -> failed++;
          default -> skipped++;
        }
      }
      if (statuses.size() < batchSize) {
        return new Result(pending, failed, skipped);
      }
    }
  }

  private List<String> rescueBatch() {
    return dsl.transactionResult(tx -> {
      DSLContext inTx = DSL.using(tx);
      List<Record2<UUID, String>> rescued = rescueFiles(inTx);
      if (!rescued.isEmpty()) {
        // ARRAY[?, ...] with one bind per id: the driver does not bind a uuid[] through jOOQ.
        Field<?>[] ids = rescued.stream().map(r -> DSL.val(r.value1())).toArray(Field[]::new);
        inTx.select(DSL.field("batchpilot_private.end_permits_of_files({0}::uuid[])", Integer.class,
                DSL.array(ids)))
            .fetch();
      }
      return rescued.stream().map(Record2::value2).toList();
    });
  }

  private List<Record2<UUID, String>> rescueFiles(DSLContext dsl) {
    var file = BATCH_UPLOAD_FILES;
    var session = BATCH_UPLOAD_SESSIONS;
    Field<OffsetDateTime> now = DatabaseClock.now();
    Condition cancelled = session.STATUS.eq("cancelled");
    Condition exhausted = file.ATTEMPTS.ge(file.MAX_ATTEMPTS);
    Condition retried = cancelled.not().and(exhausted.not());
    return dsl.update(file)
        .set(file.STATUS, when(cancelled, inline("skipped")).when(exhausted, inline("failed")).otherwise(inline("pending")))
        .set(file.CLAIMED_BY, (String) null)
        .set(file.LEASE_EXPIRES_AT, (OffsetDateTime) null)
        .set(file.NEXT_ATTEMPT_AT, when(retried, now).otherwise(file.NEXT_ATTEMPT_AT))
        .set(file.PROCESSING_COMPLETED_AT, when(retried, file.PROCESSING_COMPLETED_AT).otherwise(now))
        .set(file.ERROR_TYPE, when(cancelled.not().and(exhausted), inline("lease_expired")).otherwise(file.ERROR_TYPE))
        .set(file.ERROR_MESSAGE, when(cancelled.not().and(exhausted),
            inline("the worker processing this file stopped before finishing it (its lease expired) on")
                .concat(inline(" attempt ")).concat(file.ATTEMPTS.cast(String.class))
                .concat(inline(" of ")).concat(file.MAX_ATTEMPTS.cast(String.class))
                .concat(inline(": set it back to pending to try again")))
            .otherwise(file.ERROR_MESSAGE))
        .from(session)
        .where(session.ID.eq(file.BATCH_SESSION_ID))
        .and(file.ID.in(select(file.ID).from(file)
            .where(file.STATUS.eq("processing"))
            .and(file.LEASE_EXPIRES_AT.lt(now))
            .orderBy(file.LEASE_EXPIRES_AT)
            .limit(batchSize)
            .forUpdate().skipLocked()))
        .returningResult(file.ID, file.STATUS)
        .fetch();
  }
}
