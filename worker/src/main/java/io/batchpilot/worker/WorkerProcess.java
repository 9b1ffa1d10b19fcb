package io.batchpilot.worker;

import com.zaxxer.hikari.HikariDataSource;
import io.batchpilot.db.ConnectionPools;
import io.batchpilot.db.DatabaseUrl;
import io.batchpilot.db.Migrator;
import io.batchpilot.embeddings.EmbeddingBatcher;
import io.batchpilot.embeddings.EmbeddingConfig;
import io.batchpilot.files.DuplicateFinder;
import io.batchpilot.files.FileSource;
import io.batchpilot.files.FileSourceConfig;
import io.batchpilot.files.FileValidator;
import io.batchpilot.files.FileValidatorConfig;
import io.batchpilot.files.ImagePreprocessor;
import io.batchpilot.files.ImagePreprocessorConfig;
import io.batchpilot.batch.BatchDelivery;
import io.batchpilot.batch.BatchJobs;
import io.batchpilot.gemini.GeminiBatchClient;
import io.batchpilot.gemini.GeminiClient;
import io.batchpilot.pipeline.Completer;
import io.batchpilot.gemini.GeminiConfig;
import io.batchpilot.limiter.QuotaGate;
import io.batchpilot.limiter.QuotaGateConfig;
import io.batchpilot.maintenance.MaintenanceConfig;
import io.batchpilot.maintenance.MaintenanceService;
import io.batchpilot.metrics.MetricTables;
import io.batchpilot.metrics.Metrics;
import io.batchpilot.metrics.MetricsConfig;
import io.batchpilot.metrics.PostgresReporter;
import io.batchpilot.pipeline.ReceiptProcessor;
import io.batchpilot.session.Sessions;
import io.batchpilot.store.Jooq;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import okhttp3.OkHttpClient;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One fleet member, whole: its connection pool, the worker (claim, process, complete), the
 * embedding batcher, the metrics reporter, and the maintenance duties it runs when elected leader. The command line and the demo start it; tests
 * start several in one JVM.
 */
public final class WorkerProcess implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(WorkerProcess.class);

  /** Everything a fleet member is configured by; each part validates itself. */
  public record Settings(DatabaseUrl database, GeminiConfig gemini, FileSourceConfig files,
                         FileValidatorConfig validation, ImagePreprocessorConfig images, QuotaGateConfig gate,
                         ReceiptProcessor.Config processing, WorkerConfig worker, MaintenanceConfig maintenance,
                         EmbeddingConfig embeddings, BatchDelivery.Config batch) {

    /** The same with Batch Mode delivery configured by {@code value}. */
    public Settings withBatch(BatchDelivery.Config value) {
      return new Settings(database, gemini, files, validation, images, gate, processing, worker, maintenance,
          embeddings, value);
    }

    /** Connections: claims, heartbeats, completions and maintenance share them; the LISTEN one is separate. */
    int poolSize() {
      return Math.min(20, 4 + worker.concurrency() / 4);
    }
  }

  private final HikariDataSource pool;
  private final HttpClients http;
  private final QuotaGate gate;
  private final Worker worker;
  private final MaintenanceService maintenance;
  private final PostgresReporter reporter;
  private final EmbeddingBatcher embeddings;
  private final BatchDelivery batches;
  private final Metrics metrics;

  private WorkerProcess(HikariDataSource pool, HttpClients http, QuotaGate gate, Worker worker,
                        MaintenanceService maintenance, PostgresReporter reporter, EmbeddingBatcher embeddings,
                        BatchDelivery batches, Metrics metrics) {
    this.pool = pool;
    this.http = http;
    this.gate = gate;
    this.worker = worker;
    this.maintenance = maintenance;
    this.reporter = reporter;
    this.embeddings = embeddings;
    this.batches = batches;
    this.metrics = metrics;
  }

  /**
   * Starts claiming as early as it can: the HTTP clients build, and jOOQ initialises, on other
   * threads while the pool connects, and maintenance and the metrics reporter are built and started after the worker,
   * since the first claim needs neither.
   */
  public static WorkerProcess start(Settings settings) {
    CompletableFuture<HttpClients> clients = CompletableFuture.supplyAsync(() -> HttpClients.build(settings.gemini()),
        WorkerProcess::startThread);
    // What the first claim does next, made ready while the pool connects: loaded classes are shared.
    CompletableFuture.runAsync(Jooq::warmUp, WorkerProcess::startThread);
    HikariDataSource pool;
    try {
      pool = ConnectionPools.open(settings.database(), settings.poolSize(), "batchpilot-worker");
    } catch (RuntimeException e) {
      clients.thenAccept(HttpClients::close);
      throw e;
    }
    HttpClients http = null;
    QuotaGate gate = null;
    Worker worker = null;
    try {
      http = join(clients);
      GeminiClient gemini = http.gemini();
      // A database that answers but was never migrated: say so before any claim fails on a missing table.
      new Migrator(pool).requireMigrated();
      // The gate's permits live as long as the worker's files: the worker's heartbeat extends both.
      gate = new QuotaGate(pool, settings.gate(), settings.worker().lease());
      Metrics metrics = new Metrics();
      FileSource files = new FileSource(settings.files(), http.files());
      int abandoned = files.deleteAbandonedCopies();
      if (abandoned > 0) {
        log.info("deleted {} temporary copies of files left by workers that were killed", abandoned);
      }
      ReceiptProcessor processor = new ReceiptProcessor(
          files,
          new FileValidator(settings.validation(), settings.images().maxLongestSide()),
          new DuplicateFinder(pool),
          new ImagePreprocessor(settings.images()),
          gate,
          gemini,
          settings.processing(),
          metrics);
      worker = new Worker(settings.worker(), pool, settings.database(), processor, metrics, gate);
      // Checks the embedding dimensions against the schema before any claim: a mismatch stops here.
      EmbeddingBatcher embeddings = new EmbeddingBatcher(settings.embeddings(), pool, gemini, gate, worker.id(),
          Clock.systemUTC(), metrics);
      worker.start();
      MaintenanceService maintenance = new MaintenanceService(pool, worker.id(), settings.maintenance(),
          MetricTables.retention(settings.maintenance().metricsRetention(), settings.maintenance().ledgerRetention()));
      metrics.inFlight(worker::inFlight);
      Sessions sessions = new Sessions(pool);
      metrics.backlog(sessions::backlog);
      MetricsConfig reporting = MetricsConfig.forThisProcess(version());
      PostgresReporter reporter = new PostgresReporter(metrics, pool,
          new MetricsConfig(worker.id(), reporting.host(), reporting.version(), reporting.reportInterval()));
      maintenance.start();
      reporter.start();
      embeddings.start();
      BatchDelivery batches = new BatchDelivery(settings.batch(), new BatchJobs(pool), processor, http.batches(),
          new Completer(pool, settings.worker().completionBatch(), "batchpilot-batch-completer", metrics), worker.id(),
          settings.worker().fairShare());
      batches.start();
      log.info("worker {} started: concurrency {}, Gemini at {}", worker.id(), settings.worker().concurrency(),
          settings.gemini().baseUrl());
      return new WorkerProcess(pool, http, gate, worker, maintenance, reporter, embeddings, batches, metrics);
    } catch (RuntimeException e) {
      stopQuietly(worker);
      closeQuietly(gate);
      if (http != null) {
        http.close();
      }
      pool.close();
      throw e;
    }
  }

  /** The HTTP clients: Gemini's (interactive and Batch Mode), and the one that fetches files by URL. */
  private record HttpClients(GeminiClient gemini, GeminiBatchClient batches, OkHttpClient files) {
    static HttpClients build(GeminiConfig config) {
      return new HttpClients(new GeminiClient(config), new GeminiBatchClient(config), new OkHttpClient());
    }

    void close() {
      gemini.close();
      batches.close();
    }
  }

  private static void startThread(Runnable task) {
    Thread thread = new Thread(task, "batchpilot-startup");
    thread.setDaemon(true);
    thread.start();
  }

  private static <T> T join(CompletableFuture<T> future) {
    try {
      return future.join();
    } catch (CompletionException e) {
      if (e.getCause() instanceof RuntimeException cause) {
        throw cause;
      }
      throw e;
    }
  }

  private static void stopQuietly(Worker worker) {
    if (worker == null) {
      return;
    }
    try {
      worker.stop();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static void closeQuietly(QuotaGate gate) {
    if (gate == null) {
      return;
    }
    try {
      gate.close();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static String version() {
    String version = WorkerProcess.class.getPackage().getImplementationVersion();
    return version == null ? "development" : version;
  }

  public Worker worker() {
    return worker;
  }

  /** What this process measured (one registry for all its parts). */
  public Metrics metrics() {
    return metrics;
  }

  /** Writes a metrics snapshot and heartbeat now, as the reporter's schedule would (tests use it instead of waiting). */
  public void reportMetrics() {
    reporter.report();
  }

  /**
   * Past the worker's own stop: the rest (permits, the metrics heartbeat, leadership) gets this long,
   * then is left to its leases, so a stop with the database gone still ends.
   */
  public static final Duration CLOSE_REST = Duration.ofSeconds(1);

  /** The longest {@link #close} takes: the grace period, the worker's overrun, then the rest. */
  public static Duration longestClose(WorkerConfig config) {
    return config.shutdownGrace().plus(Worker.STOP_OVERRUN).plus(CLOSE_REST);
  }

  /** Stops claiming, lets files in flight finish within the grace period, then closes everything. */
  @Override
  public void close() throws InterruptedException {
    try {
      worker.close();
    } finally {
      Thread rest = new Thread(() -> {
        embeddings.close();
        batches.close();
        // After the files in flight: their permits are ended before the pool closes.
        closeQuietly(gate);
        reporter.stop();
        maintenance.close();
        http.close();
        pool.close();
      }, "batchpilot-close");
      rest.setDaemon(true);
      rest.start();
      rest.join(CLOSE_REST.toMillis());
      if (rest.isAlive()) {
        log.warn("worker {}: permits, the metrics heartbeat and the leadership could not be ended within {} "
            + "(is the database reachable?); their leases end them", worker.id(), CLOSE_REST);
      }
    }
  }
}
