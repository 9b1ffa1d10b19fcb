package io.batchpilot.worker;

import com.zaxxer.hikari.HikariDataSource;
import io.batchpilot.db.ConnectionPools;
import io.batchpilot.db.DatabaseUrl;
import io.batchpilot.files.DuplicateFinder;
import io.batchpilot.files.FileSource;
import io.batchpilot.files.FileSourceConfig;
import io.batchpilot.files.FileValidator;
import io.batchpilot.files.FileValidatorConfig;
import io.batchpilot.files.ImagePreprocessor;
import io.batchpilot.files.ImagePreprocessorConfig;
import io.batchpilot.gemini.GeminiClient;
import io.batchpilot.gemini.GeminiConfig;
import io.batchpilot.limiter.QuotaGate;
import io.batchpilot.limiter.QuotaGateConfig;
import io.batchpilot.maintenance.MaintenanceConfig;
import io.batchpilot.maintenance.MaintenanceService;
import io.batchpilot.pipeline.ReceiptProcessor;
import java.util.List;
import okhttp3.OkHttpClient;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One fleet member, whole: its connection pool, the worker (claim, process, complete), and the
 * maintenance duties it runs when elected leader. The command line and the demo start it; tests
 * start several in one JVM.
 */
public final class WorkerProcess implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(WorkerProcess.class);

  /** Everything a fleet member is configured by; each part validates itself. */
  public record Settings(DatabaseUrl database, GeminiConfig gemini, FileSourceConfig files,
                         FileValidatorConfig validation, ImagePreprocessorConfig images, QuotaGateConfig gate,
                         ReceiptProcessor.Config processing, WorkerConfig worker, MaintenanceConfig maintenance) {

    /** Connections: claims, heartbeats, completions and maintenance share them; the LISTEN one is separate. */
    int poolSize() {
      return Math.min(20, 4 + worker.concurrency() / 4);
    }
  }

  private final HikariDataSource pool;
  private final GeminiClient gemini;
  private final Worker worker;
  private final MaintenanceService maintenance;

  private WorkerProcess(HikariDataSource pool, GeminiClient gemini, Worker worker, MaintenanceService maintenance) {
    this.pool = pool;
    this.gemini = gemini;
    this.worker = worker;
    this.maintenance = maintenance;
  }

  public static WorkerProcess start(Settings settings) {
    HikariDataSource pool = ConnectionPools.open(settings.database(), settings.poolSize(), "batchpilot-worker");
    GeminiClient gemini = new GeminiClient(settings.gemini());
    try {
      OkHttpClient http = new OkHttpClient();
      ReceiptProcessor processor = new ReceiptProcessor(
          new FileSource(settings.files(), http),
          new FileValidator(settings.validation()),
          new DuplicateFinder(pool),
          new ImagePreprocessor(settings.images()),
          new QuotaGate(pool, settings.gate()),
          gemini,
          settings.processing());
      Worker worker = new Worker(settings.worker(), pool, settings.database(), processor);
      MaintenanceService maintenance = new MaintenanceService(pool, worker.id(), settings.maintenance(), List.of());
      worker.start();
      maintenance.start();
      log.info("worker {} started: concurrency {}, Gemini at {}", worker.id(), settings.worker().concurrency(),
          settings.gemini().baseUrl());
      return new WorkerProcess(pool, gemini, worker, maintenance);
    } catch (RuntimeException e) {
      gemini.close();
      pool.close();
      throw e;
    }
  }

  public Worker worker() {
    return worker;
  }

  /** Stops claiming, lets files in flight finish within the grace period, then closes everything. */
  @Override
  public void close() throws InterruptedException {
    try {
      worker.close();
    } finally {
      maintenance.close();
      gemini.close();
      pool.close();
    }
  }
}
