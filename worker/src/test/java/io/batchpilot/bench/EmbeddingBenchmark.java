package io.batchpilot.bench;

import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.db.testing.TestPostgres;
import io.batchpilot.embeddings.ClaimedEmbedding;
import io.batchpilot.embeddings.EmbeddingBatcher;
import io.batchpilot.embeddings.EmbeddingConfig;
import io.batchpilot.embeddings.EmbeddingOutcome;
import io.batchpilot.embeddings.EmbeddingQueue;
import io.batchpilot.embeddings.ExtractedFiles;
import io.batchpilot.embeddings.ReceiptResult;
import io.batchpilot.embeddings.ReceiptText;
import io.batchpilot.embeddings.SettableClock;
import io.batchpilot.gemini.EmbeddingOptions;
import io.batchpilot.gemini.GeminiClient;
import io.batchpilot.gemini.GeminiConfig;
import io.batchpilot.gemini.TokenCounter;
import io.batchpilot.limiter.Admission;
import io.batchpilot.limiter.Permit;
import io.batchpilot.limiter.QuotaGate;
import io.batchpilot.limiter.QuotaGateConfig;
import io.batchpilot.metrics.Metrics;
import io.batchpilot.simulator.GeminiSimulator;
import io.batchpilot.simulator.LatencyDistribution;
import io.batchpilot.simulator.RecordedRequest;
import io.batchpilot.simulator.SimulatorConfig;
import io.batchpilot.store.Jooq;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import javax.sql.DataSource;
import org.jooq.DSLContext;

/**
 * Requests and input tokens to embed 1,000 extracted receipts: batched ({@link EmbeddingBatcher}, up
 * to 100 texts per batchEmbedContents) against one embedContent call per receipt, both through the
 * quota gate and the same storage, against the Gemini simulator (20 ms per call), side by side in
 * one run, {@code bench.rounds} times (median wall time). Also the least time each needs under the
 * free tier's limits for gemini-embedding-001 (100 requests and 30,000 input tokens a minute). Run:
 * {@code ./mvnw -q -pl worker -am test-compile exec:java -Dexec.classpathScope=test
 * -Dexec.mainClass=io.batchpilot.bench.EmbeddingBenchmark} (env BATCHPILOT_TEST_DATABASE_URL).
 */
public final class EmbeddingBenchmark {

  private static final int RECEIPTS = Integer.getInteger("bench.receipts", 1000);
  private static final int ROUNDS = Integer.getInteger("bench.rounds", 3);
  private static final String MODEL = EmbeddingConfig.MODEL.defaultValue();
  private static final double FREE_TIER_RPM = 100;
  private static final double FREE_TIER_TPM = 30_000;

  private EmbeddingBenchmark() {}

  private record Run(long requests, long inputTokens, long wallMillis) {}

  public static void main(String[] args) throws Exception {
    try (TestDatabase db = TestPostgres.get().createDatabase(true);
        GeminiSimulator simulator = GeminiSimulator.start(SimulatorConfig.defaults()
            .withLatency(LatencyDistribution.fixed(Duration.ofMillis(20))));
        GeminiClient gemini = new GeminiClient(GeminiConfig.of(simulator.baseUrl(), "bench-key"))) {
      DataSource dataSource = db.dataSource();
      DSLContext dsl = Jooq.using(dataSource);
      // A paid tier's room, so neither way waits on the gate and the counts alone differ.
      dsl.execute("UPDATE public.quota_limits SET requests_per_minute = 100000, input_tokens_per_minute = 100000000,"
          + " requests_per_day = NULL, max_in_flight = 1000 WHERE model = ?", MODEL);
      QuotaGate gate = new QuotaGate(dataSource, QuotaGateConfig.defaults());
      ExtractedFiles.completed(dataSource, null, RECEIPTS);

      List<Run> batched = new ArrayList<>();
      List<Run> single = new ArrayList<>();
      for (int round = 0; round < ROUNDS; round++) {
        reset(dsl, simulator);
        batched.add(batched(dataSource, gemini, gate, simulator));
        reset(dsl, simulator);
        single.add(onePerReceipt(dataSource, gemini, gate, simulator));
      }

      Run b = batched.get(0);
      Run s = single.get(0);
      System.out.printf(Locale.ROOT, "embedding %d receipts, simulator at 20 ms per call, %d rounds (median wall time)%n",
          RECEIPTS, ROUNDS);
      System.out.println("| way | requests | input tokens | requests per 1,000 receipts | wall time (ms) "
          + "| least time at free-tier limits (min) |");
      System.out.println("|---|---:|---:|---:|---:|---:|");
      row("batched, 100 per batchEmbedContents", b, median(batched));
      row("one embedContent per receipt", s, median(single));
      System.out.printf(Locale.ROOT, "requests: %.0fx fewer batched; tokens: %.2f (batched / single); wall time: %.1fx%n",
          (double) s.requests() / b.requests(), (double) b.inputTokens() / s.inputTokens(),
          (double) median(single) / median(batched));
    }
  }

  private static Run batched(DataSource dataSource, GeminiClient gemini, QuotaGate gate, GeminiSimulator simulator) {
    SettableClock clock = new SettableClock();
    EmbeddingConfig config = EmbeddingConfig.defaults();
    EmbeddingBatcher batcher = new EmbeddingBatcher(config, dataSource, gemini, gate, "bench-batched", clock, new Metrics());
    EmbeddingQueue queue = new EmbeddingQueue(dataSource);
    long start = System.nanoTime();
    do {
      batcher.runOnce();
      clock.advance(config.linger()); // the last partial batch goes after its linger
    } while (queue.anyDue());
    long wall = (System.nanoTime() - start) / 1_000_000;
    return measured(simulator, wall);
  }

  /** The seed's way: every receipt its own claim, acquisition, embedContent call and write. */
  private static Run onePerReceipt(DataSource dataSource, GeminiClient gemini, QuotaGate gate,
      GeminiSimulator simulator) throws Exception {
    EmbeddingQueue queue = new EmbeddingQueue(dataSource);
    EmbeddingOptions options = new EmbeddingOptions(EmbeddingOptions.TaskType.RETRIEVAL_DOCUMENT,
        EmbeddingConfig.DIMENSIONS.defaultValue());
    long start = System.nanoTime();
    for (List<ClaimedEmbedding> claimed = queue.claim("bench-single", 1, 1, Duration.ofMinutes(5));
        !claimed.isEmpty(); claimed = queue.claim("bench-single", 1, 1, Duration.ofMinutes(5))) {
      ClaimedEmbedding c = claimed.get(0);
      String text = ReceiptText.render(ReceiptResult.read(c.result()));
      Admission admission = gate.acquire(EmbeddingConfig.PROVIDER, MODEL, TokenCounter.DEFAULT.textTokens(text),
          EmbeddingConfig.defaults().strategy());
      Permit permit = ((Admission.Granted) admission).permit();
      try {
        float[] vector = gemini.embed(MODEL, text, options);
        queue.record(List.of(EmbeddingOutcome.completed(c, MODEL, options.taskType().name(), text, vector)));
      } finally {
        gate.release(permit);
      }
    }
    long wall = (System.nanoTime() - start) / 1_000_000;
    return measured(simulator, wall);
  }

  private static Run measured(GeminiSimulator simulator, long wallMillis) {
    List<RecordedRequest> calls = simulator.requests().stream().filter(RecordedRequest::metered).toList();
    return new Run(calls.size(), calls.stream().mapToLong(RecordedRequest::inputTokens).sum(), wallMillis);
  }

  private static void reset(DSLContext dsl, GeminiSimulator simulator) {
    dsl.execute("DELETE FROM public.receipt_embeddings");
    dsl.execute("UPDATE batchpilot_private.jobs SET state = 'available', attempts = 0, scheduled_at = clock_timestamp(),"
        + " claimed_by = NULL, lease_expires_at = NULL, finished_at = NULL WHERE kind = 'embedding'");
    dsl.execute("DELETE FROM public.quota_permits");
    dsl.execute("DELETE FROM public.quota_permit_releases");
    dsl.execute("UPDATE public.quota_limits SET ring_bucket = NULL, window_requests = 0, window_input_tokens = 0,"
        + " permits_granted = 0");
    simulator.log().clear();
  }

  private static void row(String way, Run run, long medianWall) {
    double minutes = Math.max(run.requests() / FREE_TIER_RPM, run.inputTokens() / FREE_TIER_TPM);
    System.out.printf(Locale.ROOT, "| %s | %d | %d | %.0f | %d | %.1f |%n", way, run.requests(), run.inputTokens(),
        run.requests() * 1000.0 / RECEIPTS, medianWall, minutes);
  }

  private static long median(List<Run> runs) {
    List<Long> walls = new ArrayList<>(runs.stream().map(Run::wallMillis).toList());
    Collections.sort(walls);
    return walls.get(walls.size() / 2);
  }
}
