package io.batchpilot.maintenance;

import static io.batchpilot.jooq.Tables.API_QUOTA_TRACKING;
import static org.jooq.impl.DSL.field;
import static org.jooq.impl.DSL.name;
import static org.jooq.impl.DSL.select;

import io.batchpilot.store.Jooq;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import javax.sql.DataSource;
import org.jooq.DSLContext;
import org.jooq.impl.DSL;
import org.jooq.impl.SQLDataType;
import org.jooq.Field;
import org.jooq.Table;

/**
 * Deletes rows older than their retention: the quota ledger ({@code api_quota_tracking}, by its
 * minute) and whatever time-stamped tables it is given (the metrics tables). Deletes in batches,
 * by the table's time column, so no statement holds locks for long.
 */
public final class Retention {

  /** A table whose rows go once {@code time} is older than {@code keep}. */
  public record Target(Table<?> table, Field<OffsetDateTime> time, Duration keep) {
    public Target {
      Objects.requireNonNull(table, "table");
      Objects.requireNonNull(time, "time");
      if (keep.isNegative() || keep.isZero()) {
        throw new IllegalArgumentException("retention of " + table.getName() + " must be positive; got " + keep);
      }
    }
  }

  /** The quota ledger, kept for {@code keep}. */
  public static Target ledger(Duration keep) {
    return new Target(API_QUOTA_TRACKING, API_QUOTA_TRACKING.TIME_WINDOW, keep);
  }

  /**
   * Ended Gemini batch jobs (with their file lists), kept for {@code keep}; a live job has no
   * ended_at and is never pruned.
   */
  public static Target endedBatchJobs(Duration keep) {
    // Plain SQL: the factory renders no schema (the generated tables are public's).
    return new Target(DSL.table("batchpilot_private.batch_jobs"),
        DSL.field(DSL.name("ended_at"), SQLDataType.TIMESTAMPWITHTIMEZONE), keep);
  }

  private final DSLContext dsl;
  private final List<Target> targets;
  private final int batchSize;

  public Retention(DataSource dataSource, List<Target> targets, int batchSize) {
    if (batchSize < 1) {
      throw new IllegalArgumentException("the retention batch size must be at least 1; got " + batchSize);
    }
    this.dsl = Jooq.using(dataSource);
    this.targets = List.copyOf(targets);
    this.batchSize = batchSize;
  }

  /** Rows deleted, by table name, in the order of the targets. */
  public Map<String, Integer> runOnce() {
    Map<String, Integer> deleted = new LinkedHashMap<>();
    for (Target target : targets) {
      int total = 0;
      int batch;
      do {
        batch = deleteBatch(target);
        total += batch;
      } while (batch == batchSize);
      deleted.merge(target.table().getName(), total, Integer::sum);
    }
    return deleted;
  }

  private int deleteBatch(Target target) {
    // ctid picks the exact rows the inner select found, so a batch is bounded without a key.
    Field<Object> ctid = field(name("ctid"));
    return dsl.deleteFrom(target.table())
        .where(ctid.in(select(ctid).from(target.table())
            .where(target.time().lt(DatabaseClock.minus(target.keep())))
            .limit(batchSize)))
        .execute();
  }

  public List<Target> targets() {
    return new ArrayList<>(targets);
  }
}
