package io.batchpilot.worker;

import io.batchpilot.notify.NotifierConfig;
import io.batchpilot.pipeline.FairShare;
import io.batchpilot.settings.Kind;
import io.batchpilot.settings.Range;
import io.batchpilot.settings.Setting;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * One worker's settings, checked when the worker is built; each is declared below, once, with its
 * environment variable, default, range and text (docs/settings.md is generated from them).
 *
 * @param concurrency      files in flight at once (threads)
 * @param claimBatch       at most this many files per claim
 * @param claimCooldown    the least time between two claims of a busy worker: files that finish
 *                         meanwhile are claimed for together, one round trip instead of one each
 * @param lease            how long a claim holds a file without a heartbeat
 * @param heartbeat        how often the leases of in-flight files are extended; under lease / 2
 * @param completionBatch  at most this many outcomes per write
 * @param shutdownGrace    how long in-flight files may take to finish after a stop
 * @param fairShare        who gets an equal share of the fleet: each team (and each of its sessions
 *                         within the team's share), or each session
 */
public record WorkerConfig(
    int concurrency,
    int claimBatch,
    Duration claimCooldown,
    Duration lease,
    Duration heartbeat,
    int completionBatch,
    Duration shutdownGrace,
    FairShare fairShare,
    NotifierConfig notifier) {

  public static final Setting<Integer> CONCURRENCY = Setting.integer("BATCHPILOT_CONCURRENCY", 16, Range.between(1, 1000),
      "files in flight at once per worker (a fixed thread pool); `worker --concurrency` wins over it");
  public static final Setting<Integer> CLAIM_BATCH = Setting.integer("BATCHPILOT_CLAIM_BATCH", 64, Range.atLeast(1),
      "most files taken by one claim");
  /** At most a second: beyond it a busy worker's threads would idle waiting for the next claim. */
  public static final Setting<Duration> CLAIM_COOLDOWN = Setting.duration("BATCHPILOT_CLAIM_COOLDOWN", "5ms",
      Range.between(Duration.ZERO, Duration.ofSeconds(1)),
      "least time between two claims of a busy worker: files finishing meanwhile share one claim; an idle worker "
          + "claims at once");
  public static final Setting<Duration> LEASE = Setting.duration("BATCHPILOT_LEASE", "60s", Range.above(Duration.ZERO),
      "how long a claim holds a file without a heartbeat; a dead worker's files come back after it");
  public static final Setting<Duration> HEARTBEAT = Setting.duration("BATCHPILOT_HEARTBEAT", "15s",
      Range.above(Duration.ZERO), "how often in-flight leases are extended; must be under half the lease");
  public static final Setting<Integer> COMPLETION_BATCH = Setting.integer("BATCHPILOT_COMPLETION_BATCH", 200,
      Range.atLeast(1), "most outcomes written in one transaction");
  public static final Setting<Duration> SHUTDOWN_GRACE = Setting.duration("BATCHPILOT_SHUTDOWN_GRACE", "30s",
      Range.atLeast(Duration.ZERO), "how long in-flight files may finish after SIGTERM");
  public static final Setting<FairShare> FAIR_SHARE = Setting.of("BATCHPILOT_FAIR_SHARE",
      Kind.oneOf(FairShare::sqlName, FairShare.values()), FairShare.TEAM,
      "who shares the quota equally: team (each team or personal owner, and its sessions within that share) or "
          + "session; set the same on every worker");

  /** This record's settings, and the notifier's it reads, in the order docs/settings.md lists them. */
  public static final List<Setting<?>> SETTINGS = List.of(CONCURRENCY, CLAIM_BATCH, CLAIM_COOLDOWN, LEASE, HEARTBEAT,
      COMPLETION_BATCH, SHUTDOWN_GRACE, FAIR_SHARE, NotifierConfig.POLL_INTERVAL);

  public static WorkerConfig defaults() {
    return new WorkerConfig(CONCURRENCY.defaultValue(), CLAIM_BATCH.defaultValue(), CLAIM_COOLDOWN.defaultValue(),
        LEASE.defaultValue(), HEARTBEAT.defaultValue(), COMPLETION_BATCH.defaultValue(), SHUTDOWN_GRACE.defaultValue(),
        FAIR_SHARE.defaultValue(), NotifierConfig.defaults());
  }

  /** Reads the settings declared above; unset ones take their defaults. */
  public static WorkerConfig fromEnvironment(Map<String, String> env) {
    NotifierConfig notifier = NotifierConfig.defaults();
    return new WorkerConfig(CONCURRENCY.from(env), CLAIM_BATCH.from(env), CLAIM_COOLDOWN.from(env), LEASE.from(env),
        HEARTBEAT.from(env), COMPLETION_BATCH.from(env), SHUTDOWN_GRACE.from(env), FAIR_SHARE.from(env),
        new NotifierConfig(NotifierConfig.POLL_INTERVAL.from(env), notifier.reconnectMin(), notifier.reconnectMax()));
  }

  public WorkerConfig {
    CONCURRENCY.check(concurrency);
    CLAIM_BATCH.check(claimBatch);
    COMPLETION_BATCH.check(completionBatch);
    CLAIM_COOLDOWN.check(claimCooldown);
    LEASE.check(lease);
    HEARTBEAT.check(heartbeat);
    SHUTDOWN_GRACE.check(shutdownGrace);
    if (heartbeat.multipliedBy(2).compareTo(lease) >= 0) {
      throw new IllegalArgumentException(HEARTBEAT.name() + " (" + heartbeat + ") must be under half of " + LEASE.name()
          + " (" + lease + "), so one late heartbeat does not lose the lease");
    }
    if (notifier == null || fairShare == null) {
      throw new IllegalArgumentException("notifier settings or the fair share are missing");
    }
  }

  public WorkerConfig withConcurrency(int value) {
    return new WorkerConfig(value, claimBatch, claimCooldown, lease, heartbeat, completionBatch, shutdownGrace, fairShare, notifier);
  }

  public WorkerConfig withLease(Duration newLease, Duration newHeartbeat) {
    return new WorkerConfig(concurrency, claimBatch, claimCooldown, newLease, newHeartbeat, completionBatch, shutdownGrace, fairShare, notifier);
  }

  public WorkerConfig withClaimCooldown(Duration value) {
    return new WorkerConfig(concurrency, claimBatch, value, lease, heartbeat, completionBatch, shutdownGrace, fairShare, notifier);
  }

  public WorkerConfig withShutdownGrace(Duration value) {
    return new WorkerConfig(concurrency, claimBatch, claimCooldown, lease, heartbeat, completionBatch, value, fairShare, notifier);
  }

  public WorkerConfig withFairShare(FairShare value) {
    return new WorkerConfig(concurrency, claimBatch, claimCooldown, lease, heartbeat, completionBatch, shutdownGrace, value, notifier);
  }

  public WorkerConfig withNotifier(NotifierConfig value) {
    return new WorkerConfig(concurrency, claimBatch, claimCooldown, lease, heartbeat, completionBatch, shutdownGrace, fairShare, value);
  }
}
