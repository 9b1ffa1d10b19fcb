package io.batchpilot.testing;

import static io.batchpilot.jooq.Tables.QUOTA_LIMITS;

import io.batchpilot.batch.BatchDelivery;
import io.batchpilot.db.DatabaseUrl;
import io.batchpilot.embeddings.EmbeddingConfig;
import io.batchpilot.files.FileSourceConfig;
import io.batchpilot.files.FileValidatorConfig;
import io.batchpilot.files.ImagePreprocessorConfig;
import io.batchpilot.gemini.GeminiConfig;
import io.batchpilot.simulator.GeminiSimulator;
import io.batchpilot.simulator.LatencyDistribution;
import io.batchpilot.simulator.ModelLimits;
import io.batchpilot.simulator.SimulatorConfig;
import io.batchpilot.simulator.SyntheticReceipts;
import io.batchpilot.limiter.QuotaGateConfig;
import io.batchpilot.maintenance.MaintenanceConfig;
import io.batchpilot.pipeline.ReceiptProcessor;
import io.batchpilot.session.NewFile;
import io.batchpilot.store.Jooq;
import io.batchpilot.worker.WorkerConfig;
import io.batchpilot.worker.WorkerProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import javax.sql.DataSource;

/**
 * Whole fleet members ({@link WorkerProcess}: claim, gate, Gemini client, complete, maintenance)
 * against the Gemini simulator, with a quota whose window is compressed to seconds so that the
 * gate, not the workers, sets the pace: the steady quota that ETA and fairness are judged under.
 */
public final class SimulatedFleet implements AutoCloseable {

  private static final String KEY = "simulated-fleet-key";
  /** Small enough that a 2 s window is not eaten by the margin, large enough for arrival spread. */
  private static final int SAFETY_MARGIN_MS = 100;

  /** {@code requests} per {@code window} for {@code model}, in the gate and in the simulator alike. */
  public record Quota(String model, int requests, Duration window) {

    /** The pace the gate admits at: the window plus its safety margin holds {@code requests}. */
    public double requestsPerSecond() {
      return requests * 1000.0 / (window.toMillis() + SAFETY_MARGIN_MS);
    }
  }

  private final GeminiSimulator simulator;
  private final List<WorkerProcess> members;

  private SimulatedFleet(GeminiSimulator simulator, List<WorkerProcess> members) {
    this.simulator = simulator;
    this.members = members;
  }

  /** Defines the quota, starts the simulator, then {@code workers} fleet members reading files under {@code folder}. */
  public static SimulatedFleet start(DataSource dataSource, DatabaseUrl url, Path folder, Quota quota, int workers,
                                     WorkerConfig worker) throws IOException {
    Jooq.using(dataSource).insertInto(QUOTA_LIMITS)
        .set(QUOTA_LIMITS.PROVIDER, "gemini").set(QUOTA_LIMITS.MODEL, quota.model())
        .set(QUOTA_LIMITS.REQUESTS_PER_MINUTE, quota.requests())
        .set(QUOTA_LIMITS.INPUT_TOKENS_PER_MINUTE, 1_000_000_000L)
        .set(QUOTA_LIMITS.MAX_IN_FLIGHT, 1000)
        .set(QUOTA_LIMITS.WINDOW_MS, (int) quota.window().toMillis())
        .set(QUOTA_LIMITS.BUCKETS_PER_WINDOW, 100)
        .set(QUOTA_LIMITS.SAFETY_MARGIN_MS, SAFETY_MARGIN_MS)
        .execute();
    GeminiSimulator simulator = GeminiSimulator.start(SimulatorConfig.defaults()
        .withApiKeys(Set.of(KEY))
        .withWindow(quota.window())
        .withModelLimits(quota.model(), new ModelLimits(quota.requests(), 0, 0))
        .withLatency(LatencyDistribution.uniform(Duration.ofMillis(50), Duration.ofMillis(150))));
    List<WorkerProcess> members = new ArrayList<>();
    SimulatedFleet fleet = new SimulatedFleet(simulator, members);
    try {
      for (int i = 0; i < workers; i++) {
        members.add(WorkerProcess.start(new WorkerProcess.Settings(url,
            GeminiConfig.of(simulator.baseUrl(), KEY),
            FileSourceConfig.defaults().withLocalRoot(folder),
            FileValidatorConfig.defaults(),
            ImagePreprocessorConfig.defaults(),
            QuotaGateConfig.defaults(),
            ReceiptProcessor.Config.defaults(),
            worker,
            MaintenanceConfig.defaults(),
            EmbeddingConfig.defaults(),
            BatchDelivery.Config.defaults())));
      }
    } catch (RuntimeException e) {
      fleet.close();
      throw e;
    }
    return fleet;
  }

  /** {@code n} receipts with distinct content (no duplicate skips its call), written under {@code folder}. */
  public static List<NewFile> receipts(Path folder, String prefix, long firstSeed, int n) throws IOException {
    List<NewFile> files = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      Path path = folder.resolve(prefix + "-" + i + ".png");
      Files.write(path, SyntheticReceipts.png(firstSeed + i, 300, 1.4));
      files.add(NewFile.at(path.getFileName().toString(), "image/png", path.toUri().toString()));
    }
    return files;
  }

  public GeminiSimulator simulator() {
    return simulator;
  }

  @Override
  public void close() {
    for (WorkerProcess member : members) {
      try {
        member.close();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    simulator.close();
  }
}
