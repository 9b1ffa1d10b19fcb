package io.batchpilot.maintenance;

import io.batchpilot.settings.Durations;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;

/**
 * How often the maintenance leader does each duty, and how long rows are kept. Validated when
 * built; each message names the setting.
 *
 * @param leaderTerm how long a leader's term lasts without renewal: the longest a dead leader
 *     goes unreplaced
 * @param electionInterval how often every worker tries to take (or the leader renews) the
 *     leadership; shorter than the term
 * @param rescueInterval how often expired leases are rescued
 * @param finaliseInterval how often finished sessions are ended
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
    Duration finaliseInterval,
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
  public static final Duration DEFAULT_FINALISE_INTERVAL = Duration.ofSeconds(2);
  public static final Duration DEFAULT_ETA_INTERVAL = Duration.ofSeconds(5);
  public static final Duration DEFAULT_ETA_WINDOW = Duration.ofSeconds(60);
  public static final Duration DEFAULT_RETENTION_INTERVAL = Duration.ofMinutes(10);
  /** A month of ledger and usage: the cost dashboard reads spend by day. */
  public static final Duration DEFAULT_LEDGER_RETENTION = Duration.ofDays(30);
  /** Snapshots are many (every metric of every worker every few seconds) and read for recent hours. */
  public static final Duration DEFAULT_METRICS_RETENTION = Duration.ofDays(3);
  /** An hour: a large file over a slow phone connection still makes it; a closed tab is noticed the same day. */
  public static final Duration DEFAULT_UPLOAD_TIMEOUT = Duration.ofMinutes(60);
  public static final Duration MIN_UPLOAD_TIMEOUT = Duration.ofMinutes(1);
  public static final Duration MAX_UPLOAD_TIMEOUT = Duration.ofDays(7);
  /** River rescues and deletes in batches of a thousand-odd rows; so do we. */
  public static final int DEFAULT_BATCH_SIZE = 1000;

  public static final String ENV_LEDGER_RETENTION = "BATCHPILOT_LEDGER_RETENTION";
  public static final String ENV_METRICS_RETENTION = "BATCHPILOT_METRICS_RETENTION";
  public static final String ENV_UPLOAD_TIMEOUT = "BATCHPILOT_UPLOAD_TIMEOUT";

  public MaintenanceConfig {
    positive("leaderTerm", leaderTerm);
    positive("electionInterval", electionInterval);
    positive("rescueInterval", rescueInterval);
    positive("finaliseInterval", finaliseInterval);
    positive("etaInterval", etaInterval);
    positive("etaWindow", etaWindow);
    positive("retentionInterval", retentionInterval);
    positive(ENV_LEDGER_RETENTION, ledgerRetention);
    positive(ENV_METRICS_RETENTION, metricsRetention);
    if (electionInterval.multipliedBy(2).compareTo(leaderTerm) > 0) {
      throw new IllegalArgumentException("electionInterval (" + electionInterval + ") must be at most"
          + " half of leaderTerm (" + leaderTerm + "), so a leader renews before its term ends");
    }
    if (uploadTimeout == null || uploadTimeout.compareTo(MIN_UPLOAD_TIMEOUT) < 0
        || uploadTimeout.compareTo(MAX_UPLOAD_TIMEOUT) > 0) {
      throw new IllegalArgumentException(ENV_UPLOAD_TIMEOUT + " must be between 1m and " + MAX_UPLOAD_TIMEOUT.toMinutes()
          + "m (7 days); got " + uploadTimeout);
    }
    if (batchSize < 1) {
      throw new IllegalArgumentException("batchSize must be at least 1; got " + batchSize);
    }
  }

  public static MaintenanceConfig defaults() {
    return new MaintenanceConfig(DEFAULT_LEADER_TERM, DEFAULT_ELECTION_INTERVAL, DEFAULT_RESCUE_INTERVAL,
        DEFAULT_FINALISE_INTERVAL, DEFAULT_ETA_INTERVAL, DEFAULT_ETA_WINDOW, DEFAULT_RETENTION_INTERVAL,
        DEFAULT_LEDGER_RETENTION, DEFAULT_METRICS_RETENTION, DEFAULT_UPLOAD_TIMEOUT, DEFAULT_BATCH_SIZE);
  }

  /** The defaults, with the retentions and the upload timeout from the environment when set. */
  public static MaintenanceConfig fromEnvironment(Map<String, String> env) {
    MaintenanceConfig d = defaults();
    return new MaintenanceConfig(d.leaderTerm, d.electionInterval, d.rescueInterval, d.finaliseInterval,
        d.etaInterval, d.etaWindow, d.retentionInterval, Durations.fromEnvironment(env, ENV_LEDGER_RETENTION, d.ledgerRetention),
        Durations.fromEnvironment(env, ENV_METRICS_RETENTION, d.metricsRetention),
        Durations.fromEnvironment(env, ENV_UPLOAD_TIMEOUT, d.uploadTimeout), d.batchSize);
  }

  private static void positive(String name, Duration value) {
    if (value == null || value.isNegative() || value.isZero()) {
      throw new IllegalArgumentException(name + " must be a positive duration; got " + value);
    }
  }
}
