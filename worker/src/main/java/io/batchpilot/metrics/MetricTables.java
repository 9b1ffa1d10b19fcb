package io.batchpilot.metrics;

import static io.batchpilot.jooq.Tables.BATCHPILOT_ADAPTIVE_FACTOR_CHANGES;
import static io.batchpilot.jooq.Tables.BATCHPILOT_METRIC_SNAPSHOTS;
import static io.batchpilot.jooq.Tables.BATCHPILOT_USAGE_PER_MINUTE;
import static io.batchpilot.jooq.Tables.BATCHPILOT_WORKER_HEARTBEATS;

import java.time.OffsetDateTime;
import java.util.List;
import org.jooq.Field;
import org.jooq.Table;

/** The metrics tables that maintenance's Retention prunes, each with the time column to prune by. */
public final class MetricTables {

  /** A table whose rows older than the retention go, judged by {@code time}. */
  public record Pruned(Table<?> table, Field<OffsetDateTime> time) {}

  /** Snapshots pile up fastest (one row per metric per worker every few seconds). */
  public static final Pruned SNAPSHOTS = new Pruned(BATCHPILOT_METRIC_SNAPSHOTS, BATCHPILOT_METRIC_SNAPSHOTS.TAKEN_AT);
  /** Workers not seen for longer than the retention. */
  public static final Pruned HEARTBEATS = new Pruned(BATCHPILOT_WORKER_HEARTBEATS, BATCHPILOT_WORKER_HEARTBEATS.LAST_SEEN_AT);
  /** The per-minute usage rollup feeds the cost dashboard by day: keep it longer than the snapshots. */
  public static final Pruned USAGE = new Pruned(BATCHPILOT_USAGE_PER_MINUTE, BATCHPILOT_USAGE_PER_MINUTE.MINUTE);

  /**
   * The adaptive factor's history. Prune with care: the quota dashboard draws the factor from the
   * last change before each minute, so keep at least each model's latest row (Retention may skip
   * this table: it grows by one row per 429-blocked period only).
   */
  public static final Pruned ADAPTIVE_FACTOR = new Pruned(BATCHPILOT_ADAPTIVE_FACTOR_CHANGES,
      BATCHPILOT_ADAPTIVE_FACTOR_CHANGES.CHANGED_AT);

  /** What Retention prunes by age alone. */
  public static final List<Pruned> ALL = List.of(SNAPSHOTS, HEARTBEATS, USAGE);

  private MetricTables() {}
}
