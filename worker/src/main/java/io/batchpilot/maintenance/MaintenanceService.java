package io.batchpilot.maintenance;

import io.batchpilot.session.EtaEstimator;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs on every worker; does maintenance only while this worker is the elected leader. Each duty
 * ticks on its own interval and checks the leadership at every tick, so a worker that loses it
 * stops within one tick, and one that wins it starts at the next.
 */
public final class MaintenanceService implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(MaintenanceService.class);

  private final MaintenanceConfig config;
  private final LeaderElector elector;
  private final LeaseRescuer rescuer;
  private final StaleUploadSkipper uploads;
  private final SessionProgress progress;
  private final EtaEstimator eta;
  private final Retention retention;
  private ScheduledExecutorService duties;

  /**
   * @param metricTables tables besides the quota ledger that retention prunes, each with its own
   *     keep (the metrics package lists them)
   */
  public MaintenanceService(DataSource dataSource, String workerId, MaintenanceConfig config,
      List<Retention.Target> metricTables) {
    this.config = config;
    this.elector = new LeaderElector(dataSource, workerId, config.leaderTerm(), config.electionInterval());
    this.rescuer = new LeaseRescuer(dataSource, config.batchSize());
    this.uploads = new StaleUploadSkipper(dataSource, config.uploadTimeout(), config.batchSize());
    this.progress = new SessionProgress(dataSource);
    this.eta = new EtaEstimator(dataSource);
    List<Retention.Target> pruned = new ArrayList<>();
    pruned.add(Retention.ledger(config.ledgerRetention()));
    pruned.add(Retention.endedBatchJobs(config.ledgerRetention()));
    pruned.addAll(metricTables);
    this.retention = new Retention(dataSource, pruned, config.batchSize());
  }

  public synchronized void start() {
    if (duties != null) {
      return;
    }
    elector.start();
    duties = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread thread = new Thread(r, "batchpilot-maintenance");
      thread.setDaemon(true);
      return thread;
    });
    schedule("lease rescue", config.rescueInterval(), () -> {
      LeaseRescuer.Result r = rescuer.runOnce();
      return r.total() == 0 ? null : "rescued " + r.pending() + " files, failed " + r.failed()
          + " whose attempts ran out, skipped " + r.skipped() + " of cancelled sessions";
    });
    schedule("upload timeout", config.rescueInterval(), () -> {
      int skipped = uploads.runOnce();
      return skipped == 0 ? null : "skipped " + skipped + " files left uploading past " + config.uploadTimeout();
    });
    schedule("session progress", config.progressInterval(), () -> {
      SessionProgress.Result r = progress.runOnce();
      return r.ended() == 0 ? null : "completed " + r.completed() + " sessions, failed " + r.failed();
    });
    schedule("ETA", config.etaInterval(), () -> {
      eta.runOnce(config.etaWindow());
      return null;
    });
    schedule("retention", config.retentionInterval(), () -> {
      var deleted = retention.runOnce();
      return deleted.values().stream().allMatch(n -> n == 0) ? null : "deleted old rows " + deleted;
    });
  }

  private void schedule(String duty, Duration every, Supplier<String> run) {
    duties.scheduleWithFixedDelay(() -> {
      if (!elector.isLeader()) {
        return;
      }
      try {
        String done = run.get();
        if (done != null) {
          log.info("{}: {}", duty, done);
        }
      } catch (RuntimeException e) {
        log.warn("{} failed; it runs again in {}: {}", duty, every, e.getMessage(), e);
      }
    }, every.toNanos(), every.toNanos(), TimeUnit.NANOSECONDS);
  }

  public LeaderElector elector() {
    return elector;
  }

  /** Stops the duties and resigns the leadership, so another worker takes over at once. */
  @Override
  public void close() {
    ScheduledExecutorService stopping;
    synchronized (this) {
      stopping = duties;
      duties = null;
    }
    if (stopping != null) {
      stopping.shutdown();
      try {
        if (!stopping.awaitTermination(30, TimeUnit.SECONDS)) {
          stopping.shutdownNow();
        }
      } catch (InterruptedException e) {
        stopping.shutdownNow();
        Thread.currentThread().interrupt();
      }
    }
    elector.close();
  }
}
