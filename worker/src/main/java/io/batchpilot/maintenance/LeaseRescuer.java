package io.batchpilot.maintenance;

import io.batchpilot.store.JobState;
import io.batchpilot.store.Jooq;
import java.util.List;
import javax.sql.DataSource;
import org.jooq.DSLContext;
import org.jooq.impl.DSL;

/**
 * Takes back jobs of every kind (extractions and embeddings) whose worker stopped renewing their
 * lease (it crashed, hung or lost the database), through {@code batchpilot_private.rescue_jobs}:
 * due again at once, or failed with {@code lease_expired} when that was their last allowed attempt
 * (the claim already counted it; a failed extraction fails its file), or, for an extraction whose
 * session was cancelled meanwhile, cancelled and its file skipped. Up to a batch of jobs per
 * statement; the job table's trigger sends the NOTIFY that wakes the fleet for the due ones. In the
 * same transaction, the quota permits of the calls those files had in flight end, and those calls
 * count in their sessions' {@code total_api_calls} (their worker never reported them).
 */
public final class LeaseRescuer {

  /** How many jobs a runOnce took back, by what they became: due again (pending), failed, skipped. */
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

  /** Rescues every job whose lease has passed, a batch per statement, until none is left. */
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
    return dsl.fetch("SELECT state::text FROM batchpilot_private.rescue_jobs(?)", batchSize)
        .map(r -> switch (JobState.fromSqlName(r.get(0, String.class))) {
          case AVAILABLE -> "pending";
          case FAILED -> "failed";
          default -> "skipped";
        });
  }
}
