package io.batchpilot.metrics;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;
import static io.batchpilot.jooq.Tables.QUOTA_LIMITS;

import io.batchpilot.batch.BatchDelivery;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.embeddings.EmbeddingConfig;
import io.batchpilot.files.FileSourceConfig;
import io.batchpilot.files.FileValidatorConfig;
import io.batchpilot.files.ImagePreprocessorConfig;
import io.batchpilot.gemini.GeminiConfig;
import io.batchpilot.limiter.QuotaGateConfig;
import io.batchpilot.maintenance.MaintenanceConfig;
import io.batchpilot.notify.NotifierConfig;
import io.batchpilot.pipeline.Backoff;
import io.batchpilot.pipeline.ReceiptProcessor;
import io.batchpilot.session.NewFile;
import io.batchpilot.session.NewSession;
import io.batchpilot.session.Progress;
import io.batchpilot.session.Sessions;
import io.batchpilot.simulator.Fault;
import io.batchpilot.simulator.FaultPlan;
import io.batchpilot.simulator.GeminiSimulator;
import io.batchpilot.simulator.ModelLimits;
import io.batchpilot.simulator.SimulatorConfig;
import io.batchpilot.simulator.SyntheticReceipts;
import io.batchpilot.store.JobKind;
import io.batchpilot.store.JobState;
import io.batchpilot.store.Jobs;
import io.batchpilot.store.Jooq;
import io.batchpilot.testing.Eventually;
import io.batchpilot.worker.WorkerConfig;
import io.batchpilot.worker.WorkerProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import org.jooq.DSLContext;

/**
 * A small real run: the Gemini simulator with faults (503s, and a 2 s quota window tight enough to
 * answer some calls with a 429) and a fleet of {@link WorkerProcess}es against a test database.
 * One batch of good receipts and one invalid file is processed to the end, embeddings included;
 * a second session waits paused, as an admin would leave one. Each worker's metrics are then
 * reported, so the snapshot table holds what the run measured.
 */
final class SimulatedRun implements AutoCloseable {

  static final String MODEL = "gemini-2.5-flash";
  static final String KEY = "test-key-for-the-simulator";
  static final int GOOD_FILES = 12;
  /** Each answer's thinking, as the recorded Google response had (gemini-fixtures/200-generate-content.json). */
  static final long THOUGHTS_TOKENS = 438;
  static final String INVALID_FILE = "empty.png";
  private static final Duration DEADLINE = Duration.ofSeconds(60);

  final GeminiSimulator simulator;
  final List<WorkerProcess> workers = new ArrayList<>();
  final UUID session;
  final UUID pausedSession;

  private SimulatedRun(GeminiSimulator simulator, UUID session, UUID pausedSession) {
    this.simulator = simulator;
    this.session = session;
    this.pausedSession = pausedSession;
  }

  /** Runs the batch to its end with {@code fleet} workers, which keep running until {@link #close()}. */
  static SimulatedRun run(TestDatabase db, Path root, int fleet) throws IOException {
    DSLContext dsl = Jooq.using(db.dataSource());
    // The gate lets everything through, so only the simulator's tight window answers 429s (and the
    // free tier's seeded 20 requests a day would park the model partway through the run).
    dsl.update(QUOTA_LIMITS).set(QUOTA_LIMITS.REQUESTS_PER_MINUTE, 1_000_000)
        .set(QUOTA_LIMITS.INPUT_TOKENS_PER_MINUTE, 1_000_000_000L).set(QUOTA_LIMITS.MAX_IN_FLIGHT, 1000)
        .set(QUOTA_LIMITS.REQUESTS_PER_DAY, (Integer) null)
        .where(QUOTA_LIMITS.MODEL.in(MODEL, EmbeddingConfig.MODEL.defaultValue())).execute();

    Sessions sessions = new Sessions(db.dataSource());
    List<NewFile> files = new ArrayList<>();
    for (int i = 0; i < GOOD_FILES; i++) {
      files.add(write(root, "r" + i + ".png", SyntheticReceipts.png(7000 + i, 300, 1.4)));
    }
    files.add(write(root, INVALID_FILE, new byte[0]));
    UUID session = sessions.submit(new NewSession("metrics run", null, null, MODEL, 50, "adaptive"), files);
    // Faults and 429s: enough attempts that no good file runs out of them.
    dsl.update(BATCH_UPLOAD_FILES).set(BATCH_UPLOAD_FILES.MAX_ATTEMPTS, 10)
        .where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session)).execute();
    UUID paused = sessions.submit(new NewSession("paused run", null, null, MODEL, 50, "adaptive"),
        List.of(write(root, "later.png", SyntheticReceipts.png(7999, 300, 1.4))));
    sessions.pause(paused);

    GeminiSimulator simulator = GeminiSimulator.start(SimulatorConfig.defaults()
        .withApiKeys(Set.of(KEY))
        .withWindow(Duration.ofSeconds(2))
        .withModelLimits(MODEL, new ModelLimits(6, 0, 0))
        .withFaults(FaultPlan.NONE.with(Fault.OVERLOADED, 0.25))
        .withThoughtsTokens(THOUGHTS_TOKENS)
        .withSeed(11));
    SimulatedRun run = new SimulatedRun(simulator, session, paused);
    try {
      for (int i = 0; i < fleet; i++) {
        run.workers.add(WorkerProcess.start(settings(db, root, simulator)));
      }
      Eventually.await("the batch finished", DEADLINE, () -> {
        Progress p = sessions.progress(session);
        return p.completed() + p.failed() == files.size();
      });
      Eventually.await("its receipts embedded", DEADLINE, () -> dsl.fetchCount(Jobs.JOBS, Jobs.BATCH_SESSION_ID.eq(session).and(Jobs.kindIs(JobKind.EMBEDDING))
              .and(Jobs.stateIs(JobState.AVAILABLE).or(Jobs.stateIs(JobState.RUNNING)))) == 0);
      run.workers.forEach(WorkerProcess::reportMetrics);
      return run;
    } catch (RuntimeException | Error e) {
      run.close();
      throw e;
    }
  }

  private static WorkerProcess.Settings settings(TestDatabase db, Path root, GeminiSimulator simulator) {
    Backoff fast = new Backoff(Duration.ofMillis(50), Duration.ofMillis(500));
    return new WorkerProcess.Settings(db.url(),
        GeminiConfig.of(simulator.baseUrl(), KEY),
        FileSourceConfig.defaults().withLocalRoot(root),
        FileValidatorConfig.defaults(),
        ImagePreprocessorConfig.defaults(),
        QuotaGateConfig.defaults(),
        new ReceiptProcessor.Config(Duration.ofSeconds(5), fast),
        WorkerConfig.defaults().withConcurrency(4)
            .withNotifier(new NotifierConfig(Duration.ofMillis(300), Duration.ofMillis(50), Duration.ofSeconds(1))),
        MaintenanceConfig.defaults(),
        EmbeddingConfig.defaults().withBackoff(fast).withLinger(Duration.ofMillis(200)),
        BatchDelivery.Config.defaults());
  }

  private static NewFile write(Path root, String name, byte[] bytes) throws IOException {
    Path path = root.resolve(name);
    Files.write(path, bytes);
    return NewFile.at(name, "image/png", path.toUri().toString());
  }

  /** Stops one worker now (it writes a last snapshot and marks its heartbeat stopped). */
  void stop(WorkerProcess worker) throws InterruptedException {
    workers.remove(worker);
    worker.close();
  }

  /** Stops the workers still running (each writes a last snapshot), then the simulator. */
  @Override
  public void close() {
    try {
      for (WorkerProcess worker : workers) {
        try {
          worker.close();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    } finally {
      simulator.close();
    }
  }
}
