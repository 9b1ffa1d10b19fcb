package io.batchpilot.maintenance;

import io.batchpilot.settings.Range;
import io.batchpilot.settings.Setting;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * How often the maintenance leader does each duty, and how long rows are kept. Validated when
 * built; each message names the setting. The retentions and the upload timeout are settings
 * (declared below); the intervals are fixed.
 *
 * @param leaderTerm how long a leader's term lasts without renewal: the longest a dead leader
 *     goes unreplaced
 * @param electionInterval how often every worker tries to take (or the leader renews) the
 *     leadership; shorter than the term
 * @param rescueInterval how often expired leases are rescued
 * @param progressInterval how often finished sessions are ended and running sessions' progress
 *     left unpublished reaches their rows (what Realtime sends)
 * @param etaInterval how often session ETAs are recomputed
 * @param etaWindow the recent past whose finished files measure the fleet's pace
 * @param retentionInterval how often old rows are pruned
 * @param ledgerRetention how long the quota ledger (api_quota_tracking) and the usage rollup are kept
 * @param metricsRetention how long metric snapshots and the heartbeats of gone workers are kept
 * @param uploadTimeout how long a file may stay {@code uploading} (since its row last changed)
 *     before it is skipped so its session can finish
 * @param batchSize rows per rescue or delete statement
 */
public record MaintenanceConfig(
    Duration leaderTerm,
    Duration electionInterval,
    Duration rescueInterval,
    Duration progressInterval,
    Duration etaInterval,
    Duration etaWindow,
    Duration retentionInterval,
    Duration ledgerRetention,
    Duration metricsRetention,
    Duration uploadTimeout,
    int batchSize) {

  public static final Duration DEFAULT_LEADER_TERM = Duration.ofSeconds(5);
  public static final Duration DEFAULT_ELECTION_INTERVAL = Duration.ofSeconds(1);
  public static final Duration DEFAULT_RESCUE_INTERVAL = Duration.ofSeconds(5);
  /** Realtime subscribers see a running session's counters move about once a second. */
  public static final Duration DEFAULT_PROGRESS_INTERVAL = Duration.ofSeconds(1);
  public static final Duration DEFAULT_ETA_INTERVAL = Duration.ofSeconds(5);
  public static final Duration DEFAULT_ETA_WINDOW = Duration.ofSeconds(60);
  public static final Duration DEFAULT_RETENTION_INTERVAL = Duration.ofMinutes(10);
  /** A month of ledger and usage: the cost dashboard reads spend by day. */
  public static final Setting<Duration> LEDGER_RETENTION = Setting.duration("BATCHPILOT_LEDGER_RETENTION", "30d",
      Range.above(Duration.ZERO), "how long the quota ledger (`api_quota_tracking`) and the usage rollup are kept")
      .formerly("BATCHPILOT_LEDGER_RETENTION_DAYS");
  /** Snapshots are many (every metric of every worker every few seconds) and read for recent hours. */
  public static final Setting<Duration> METRICS_RETENTION = Setting.duration("BATCHPILOT_METRICS_RETENTION", "3d",
      Range.above(Duration.ZERO), "how long metric snapshots and the heartbeats of gone workers are kept")
      .formerly("BATCHPILOT_METRICS_RETENTION_DAYS");
  /** An hour: a large file over a slow phone connection still makes it; a closed tab is noticed the same day. */
  public static final Setting<Duration> UPLOAD_TIMEOUT = Setting.duration("BATCHPILOT_UPLOAD_TIMEOUT", "60m",
      Range.between(Duration.ofMinutes(1), Duration.ofDays(7)),
      "a file still `uploading` this long after its row last changed (a page closed mid-upload) is skipped, so its "
          + "session finishes");
  public static final List<Setting<?>> SETTINGS = List.of(LEDGER_RETENTION, METRICS_RETENTION, UPLOAD_TIMEOUT);
  /** River rescues and deletes in batches of a thousand-odd rows; so do we. */
  public static final int DEFAULT_BATCH_SIZE = 1000;

  public MaintenanceConfig {
    positive("leaderTerm", leaderTerm);
    positive("electionInterval", electionInterval);
    positive("rescueInterval", rescueInterval);
    positive("progressInterval", progressInterval);
    positive("etaInterval", etaInterval);
    positive("etaWindow", etaWindow);
    positive("retentionInterval", retentionInterval);
    LEDGER_RETENTION.check(ledgerRetention);
    METRICS_RETENTION.check(metricsRetention);
    if (electionInterval.multipliedBy(2).compareTo(leaderTerm) > 0) {
      throw new IllegalArgumentException("electionInterval (" + electionInterval + ") must be at most"
          + " half of leaderTerm (" + leaderTerm + "), so a leader renews before its term ends");
    }
    UPLOAD_TIMEOUT.check(uploadTimeout);
    if (batchSize < 1) {
      throw new IllegalArgumentException("batchSize must be at least 1; got " + batchSize);
    }
  }

  public static MaintenanceConfig defaults() {
    return new MaintenanceConfig(DEFAULT_LEADER_TERM, DEFAULT_ELECTION_INTERVAL, DEFAULT_RESCUE_INTERVAL,
        DEFAULT_PROGRESS_INTERVAL, DEFAULT_ETA_INTERVAL, DEFAULT_ETA_WINDOW, DEFAULT_RETENTION_INTERVAL,
        LEDGER_RETENTION.defaultValue(), METRICS_RETENTION.defaultValue(), UPLOAD_TIMEOUT.defaultValue(),
        DEFAULT_BATCH_SIZE);
  }

  /** The defaults, with the retentions and the upload timeout from the environment when set. */
  public static MaintenanceConfig fromEnvironment(Map<String, String> env) {
    MaintenanceConfig d = defaults();
    return new MaintenanceConfig(d.leaderTerm, d.electionInterval, d.rescueInterval, d.progressInterval,
        d.etaInterval, d.etaWindow, d.retentionInterval, LEDGER_RETENTION.from(env), METRICS_RETENTION.from(env),
        UPLOAD_TIMEOUT.from(env), d.batchSize);
  }

  private static void positive(String name, Duration value) {
    if (value == null || value.isNegative() || value.isZero()) {
      throw new IllegalArgumentException(name + " must be a positive duration; got " + value);
    }
  }
}
