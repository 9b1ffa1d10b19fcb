package io.batchpilot.metrics;

import static io.batchpilot.jooq.Tables.BATCHPILOT_METRIC_SNAPSHOTS;
import static io.batchpilot.jooq.Tables.BATCHPILOT_USAGE_PER_MINUTE;
import static io.batchpilot.jooq.Tables.BATCHPILOT_WORKER_HEARTBEATS;

import io.batchpilot.maintenance.Retention;
import java.time.Duration;
import java.util.List;

/**
 * The metrics tables that maintenance's {@link Retention} prunes, each by its time column. The
 * adaptive factor's history ({@code batchpilot_adaptive_factor_changes}) is not among them: it
 * grows by one row per 429-blocked period, and the quota dashboard needs each model's last change.
 */
public final class MetricTables {

  private MetricTables() {}

  /**
   * @param metricsKeep how long snapshots, and the heartbeats of workers gone silent, are kept
   * @param usageKeep   how long the per-minute usage rollup is kept: it is the cost history, so
   *                    keep it as long as the quota ledger or longer
   */
  public static List<Retention.Target> retention(Duration metricsKeep, Duration usageKeep) {
    return List.of(
        new Retention.Target(BATCHPILOT_METRIC_SNAPSHOTS, BATCHPILOT_METRIC_SNAPSHOTS.TAKEN_AT, metricsKeep),
        new Retention.Target(BATCHPILOT_WORKER_HEARTBEATS, BATCHPILOT_WORKER_HEARTBEATS.LAST_SEEN_AT, metricsKeep),
        new Retention.Target(BATCHPILOT_USAGE_PER_MINUTE, BATCHPILOT_USAGE_PER_MINUTE.MINUTE, usageKeep));
  }
}
