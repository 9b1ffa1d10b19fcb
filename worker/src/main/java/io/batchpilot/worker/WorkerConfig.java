package io.batchpilot.worker;

import io.batchpilot.notify.NotifierConfig;
import io.batchpilot.settings.Durations;
import io.batchpilot.settings.WholeNumbers;
import java.time.Duration;
import java.util.Map;

/**
 * One worker's settings, checked when the worker is built. Each is documented once, in the README
 * (section "Worker settings"), with its default and its environment variable.
 *
 * @param concurrency      files in flight at once (threads); default {@value #DEFAULT_CONCURRENCY}
 * @param claimBatch       at most this many files per claim; default {@value #DEFAULT_CLAIM_BATCH}
 * @param claimCooldown    the least time between two claims of a busy worker: files that finish
 *                         meanwhile are claimed for together, one round trip instead of one each
 * @param lease            how long a claim holds a file without a heartbeat
 * @param heartbeat        how often the leases of in-flight files are extended; under lease / 2
 * @param completionBatch  at most this many outcomes per write; default {@value #DEFAULT_COMPLETION_BATCH}
 * @param shutdownGrace    how long in-flight files may take to finish after a stop
 */
public record WorkerConfig(
    int concurrency,
    int claimBatch,
    Duration claimCooldown,
    Duration lease,
    Duration heartbeat,
    int completionBatch,
    Duration shutdownGrace,
    NotifierConfig notifier) {

  public static final int DEFAULT_CONCURRENCY = 16;
  public static final int DEFAULT_CLAIM_BATCH = 64;
  public static final Duration DEFAULT_CLAIM_COOLDOWN = Duration.ofMillis(5);
  /** Beyond this a busy worker's threads would idle waiting for the next claim. */
  public static final Duration MAX_CLAIM_COOLDOWN = Duration.ofSeconds(1);
  public static final Duration DEFAULT_LEASE = Duration.ofSeconds(60);
  public static final Duration DEFAULT_HEARTBEAT = Duration.ofSeconds(15);
  public static final int DEFAULT_COMPLETION_BATCH = 200;
  public static final Duration DEFAULT_SHUTDOWN_GRACE = Duration.ofSeconds(30);

  public static WorkerConfig defaults() {
    return new WorkerConfig(DEFAULT_CONCURRENCY, DEFAULT_CLAIM_BATCH, DEFAULT_CLAIM_COOLDOWN, DEFAULT_LEASE, DEFAULT_HEARTBEAT,
        DEFAULT_COMPLETION_BATCH, DEFAULT_SHUTDOWN_GRACE,
        NotifierConfig.defaults());
  }

  /**
   * Reads the variables of the README's "Worker settings" (durations with their unit, such as 5ms or
   * 60s); unset ones take their defaults.
   */
  public static WorkerConfig fromEnvironment(Map<String, String> env) {
    WorkerConfig d = defaults();
    NotifierConfig notifier = d.notifier;
    return new WorkerConfig(
        WholeNumbers.intFromEnvironment(env, "BATCHPILOT_CONCURRENCY", d.concurrency),
        WholeNumbers.intFromEnvironment(env, "BATCHPILOT_CLAIM_BATCH", d.claimBatch),
        Durations.fromEnvironment(env, "BATCHPILOT_CLAIM_COOLDOWN", d.claimCooldown),
        Durations.fromEnvironment(env, "BATCHPILOT_LEASE", d.lease),
        Durations.fromEnvironment(env, "BATCHPILOT_HEARTBEAT", d.heartbeat),
        WholeNumbers.intFromEnvironment(env, "BATCHPILOT_COMPLETION_BATCH", d.completionBatch),
        Durations.fromEnvironment(env, "BATCHPILOT_SHUTDOWN_GRACE", d.shutdownGrace),
        new NotifierConfig(Durations.fromEnvironment(env, "BATCHPILOT_POLL_INTERVAL", notifier.pollInterval()),
            notifier.reconnectMin(), notifier.reconnectMax()));
  }

  public WorkerConfig {
    if (concurrency < 1 || concurrency > 1000) {
      throw new IllegalArgumentException("BATCHPILOT_CONCURRENCY must be between 1 and 1000, was " + concurrency);
    }
    if (claimBatch < 1) {
      throw new IllegalArgumentException("BATCHPILOT_CLAIM_BATCH must be at least 1, was " + claimBatch);
    }
    if (completionBatch < 1) {
      throw new IllegalArgumentException("BATCHPILOT_COMPLETION_BATCH must be at least 1, was " + completionBatch);
    }
    if (claimCooldown == null || claimCooldown.isNegative() || claimCooldown.compareTo(MAX_CLAIM_COOLDOWN) > 0) {
      throw new IllegalArgumentException("BATCHPILOT_CLAIM_COOLDOWN must be between 0 and " + MAX_CLAIM_COOLDOWN.toMillis()
          + " ms, was " + claimCooldown);
    }
    positive("BATCHPILOT_LEASE", lease);
    positive("BATCHPILOT_HEARTBEAT", heartbeat);
    if (shutdownGrace == null || shutdownGrace.isNegative()) {
      throw new IllegalArgumentException("BATCHPILOT_SHUTDOWN_GRACE must be zero or more, was " + shutdownGrace);
    }
    if (heartbeat.multipliedBy(2).compareTo(lease) >= 0) {
      throw new IllegalArgumentException("BATCHPILOT_HEARTBEAT (" + heartbeat + ") must be under half of BATCHPILOT_LEASE ("
          + lease + "), so one late heartbeat does not lose the lease");
    }
    if (notifier == null) {
      throw new IllegalArgumentException("notifier settings are missing");
    }
  }

  private static void positive(String setting, Duration value) {
    if (value == null || value.isNegative() || value.isZero()) {
      throw new IllegalArgumentException(setting + " must be a positive duration, was " + value);
    }
  }

  public WorkerConfig withConcurrency(int value) {
    return new WorkerConfig(value, claimBatch, claimCooldown, lease, heartbeat, completionBatch, shutdownGrace, notifier);
  }

  public WorkerConfig withLease(Duration newLease, Duration newHeartbeat) {
    return new WorkerConfig(concurrency, claimBatch, claimCooldown, newLease, newHeartbeat, completionBatch, shutdownGrace, notifier);
  }

  public WorkerConfig withClaimCooldown(Duration value) {
    return new WorkerConfig(concurrency, claimBatch, value, lease, heartbeat, completionBatch, shutdownGrace, notifier);
  }

  public WorkerConfig withShutdownGrace(Duration value) {
    return new WorkerConfig(concurrency, claimBatch, claimCooldown, lease, heartbeat, completionBatch, value, notifier);
  }

  public WorkerConfig withNotifier(NotifierConfig value) {
    return new WorkerConfig(concurrency, claimBatch, claimCooldown, lease, heartbeat, completionBatch, shutdownGrace, value);
  }
}
