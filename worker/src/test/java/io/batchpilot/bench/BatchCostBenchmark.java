package io.batchpilot.bench;

import static io.batchpilot.jooq.Tables.QUOTA_LIMITS;

import io.batchpilot.batch.BatchDelivery;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.db.testing.TestPostgres;
import io.batchpilot.embeddings.EmbeddingConfig;
import io.batchpilot.files.FileSourceConfig;
import io.batchpilot.files.FileValidatorConfig;
import io.batchpilot.files.ImagePreprocessorConfig;
import io.batchpilot.gemini.GeminiConfig;
import io.batchpilot.limiter.QuotaGateConfig;
import io.batchpilot.maintenance.MaintenanceConfig;
import io.batchpilot.pipeline.ReceiptProcessor;
import io.batchpilot.session.NewFile;
import io.batchpilot.session.NewSession;
import io.batchpilot.session.Progress;
import io.batchpilot.session.Sessions;
import io.batchpilot.simulator.BatchConfig;
import io.batchpilot.simulator.GeminiSimulator;
import io.batchpilot.simulator.LatencyDistribution;
import io.batchpilot.simulator.SimulatedBatches;
import io.batchpilot.simulator.SimulatorConfig;
import io.batchpilot.store.Jooq;
import io.batchpilot.testing.SimulatedFleet;
import io.batchpilot.worker.WorkerConfig;
import io.batchpilot.worker.WorkerProcess;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.UUID;
import org.jooq.DSLContext;
import org.jooq.Record;

/**
 * What 1,000 receipts cost, interactive against Gemini Batch Mode, side by side in one run: the
 * same receipts submitted once as an interactive session and once as a batch session (each in a
 * fresh database, so neither finds the other's files as duplicates), processed by two whole fleet
 * members ({@link WorkerProcess}) against the simulator, which answers with the recorded fixture's
 * 438 thinking tokens. Spend is read where the dashboards read it,
 * {@code batchpilot_reporting.usage_per_minute.spend_usd}; tokens from the same view. Each run
 * also checks the bill against the files' rows, the simulator's own token counts and the price table,
 * and says so if they disagree. The simulator's batch jobs wait seconds, not Google's hours, so the
 * wall time of Batch Mode here says how much our side costs, not how long Google takes.
 *
 * <p>Arguments: receipts (default 1000), runs (default 3; the order of the deliveries alternates).
 */
public final class BatchCostBenchmark {

  private static final String MODEL = "gemini-2.5-flash";
  private static final String KEY = "batch-cost-bench-key";
  /** Each answer's thinking, as the recorded Google response had (gemini-fixtures/200-generate-content.json). */
  private static final long THOUGHTS_TOKENS = 438;
  private static final int WORKERS = 2;
  private static final int THREADS = 8;
  /** Google's target is 24 h; compressed so a run takes seconds. */
  private static final Duration BATCH_PENDING = Duration.ofSeconds(2);
  private static final Duration BATCH_RUNNING = Duration.ofSeconds(3);
  /** Look for due files every 100 ms, send at once, look at a job every 100–300 ms (BatchDeliveryTest's). */
  private static final BatchDelivery.Config FAST_BATCH = new BatchDelivery.Config(Duration.ofMillis(100), 1000,
      Duration.ZERO, Duration.ofMillis(100), Duration.ofMillis(300));
  private static final Duration DEADLINE = Duration.ofMinutes(10);

  private enum Delivery { interactive, batch }

  /** One delivery's run, per 1,000 completed receipts where it says so. */
  private record Measured(Delivery delivery, int completed, double inputPer1000, double outputPer1000,
                          double thinkingPer1000, BigDecimal spend, double spendPer1000, double wallSeconds,
                          double buildingSeconds, double atGoogleSeconds, String sentAs, List<String> problems) {}

  public static void main(String[] args) throws Exception {
    int receipts = args.length > 0 ? Integer.parseInt(args[0]) : 1000;
    int runs = args.length > 1 ? Integer.parseInt(args[1]) : 3;
    System.out.printf(Locale.ROOT, "%d receipts (300 px PNG) per delivery, %s, %d workers x %d threads, simulator latency"
            + " 50-150 ms, %d thinking tokens an answer, batch jobs pending %d s + running %d s (compressed), %d runs%n%n",
        receipts, MODEL, WORKERS, THREADS, THOUGHTS_TOKENS, BATCH_PENDING.toSeconds(), BATCH_RUNNING.toSeconds(), runs);
    System.out.println("| run | delivery | sent as | files completed | input tokens / 1,000 | output tokens / 1,000"
        + " | thinking tokens / 1,000 | spend USD | spend USD / 1,000 receipts | wall s | of which building the job,"
        + " sent to completed s |");
    System.out.println("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    Path folder = Files.createTempDirectory("batch-cost-bench");
    List<Measured> interactive = new ArrayList<>();
    List<Measured> batch = new ArrayList<>();
    List<String> problems = new ArrayList<>();
    try {
      List<NewFile> files = SimulatedFleet.receipts(folder, "receipt", 90_000L, receipts);
      for (int r = 0; r < runs; r++) {
        Delivery[] order = r % 2 == 0
            ? new Delivery[] {Delivery.interactive, Delivery.batch}
            : new Delivery[] {Delivery.batch, Delivery.interactive};
        for (Delivery delivery : order) {
          Measured m = measure(folder, files, delivery, r);
          (delivery == Delivery.interactive ? interactive : batch).add(m);
          System.out.printf(Locale.ROOT, "| %d | %s | %s | %,d | %,.0f | %,.0f | %,.0f | %.6f | %.4f | %.1f | %s |%n",
              r + 1, delivery, m.sentAs(), m.completed(), m.inputPer1000(), m.outputPer1000(), m.thinkingPer1000(),
              m.spend(), m.spendPer1000(), m.wallSeconds(), jobTimes(m.buildingSeconds(), m.atGoogleSeconds()));
          String where = "run " + (r + 1) + ", " + delivery + ": ";
          m.problems().forEach(p -> problems.add(where + p));
        }
      }
    } finally {
      deleteAll(folder);
    }

    double[] ratios = new double[runs];
    for (int r = 0; r < runs; r++) {
      ratios[r] = batch.get(r).spendPer1000() / interactive.get(r).spendPer1000();
    }
    System.out.printf(Locale.ROOT, "%n| delivery | sent as | files completed | input tokens / 1,000 | output tokens / 1,000"
        + " | thinking tokens / 1,000 | spend USD / 1,000 receipts | batch / interactive | wall s | of which building the job,"
        + " sent to completed s |%n");
    System.out.println("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    printMedian(interactive, "1.00");
    printMedian(batch, String.format(Locale.ROOT, "%.2f", PipelineThroughputBenchmark.median(ratios)));
    System.out.printf(Locale.ROOT, "%n(medians of %d runs; wall s from the workers' start to the session's last file)%n", runs);
    if (problems.isEmpty()) {
      System.out.println("checks: every run's bill agrees with its files' rows, the simulator's token counts and the prices");
    } else {
      problems.forEach(p -> System.out.println("PROBLEM " + p));
    }
  }

  private static void printMedian(List<Measured> runs, String ratio) {
    System.out.printf(Locale.ROOT, "| %s | %s | %,.0f | %,.0f | %,.0f | %,.0f | %.4f | %s | %.1f | %s |%n",
        runs.get(0).delivery(), runs.get(runs.size() - 1).sentAs(), median(runs, m -> m.completed()), median(runs, Measured::inputPer1000), median(runs, Measured::outputPer1000),
        median(runs, Measured::thinkingPer1000), median(runs, Measured::spendPer1000), ratio,
        median(runs, Measured::wallSeconds),
        jobTimes(median(runs, Measured::buildingSeconds), median(runs, Measured::atGoogleSeconds)));
  }

  private static String jobTimes(double building, double atGoogle) {
    return Double.isNaN(building) ? "-" : String.format(Locale.ROOT, "%.1f, %.1f", building, atGoogle);
  }

  private static double median(List<Measured> runs, java.util.function.ToDoubleFunction<Measured> value) {
    return PipelineThroughputBenchmark.median(runs.stream().mapToDouble(value).toArray());
  }

  private static Measured measure(Path folder, List<NewFile> files, Delivery delivery, int run) throws Exception {
    try (TestDatabase db = TestPostgres.get().createDatabase(true)) {
      DSLContext dsl = Jooq.using(db.dataSource());
      // The gate lets everything through (the seeded free tier's 20 requests a day would park the
      // model after 20 files): this measures what the work costs, not how long the quota makes it take.
      dsl.update(QUOTA_LIMITS).set(QUOTA_LIMITS.REQUESTS_PER_MINUTE, 1_000_000)
          .set(QUOTA_LIMITS.INPUT_TOKENS_PER_MINUTE, 1_000_000_000L).set(QUOTA_LIMITS.MAX_IN_FLIGHT, 1000)
          .set(QUOTA_LIMITS.REQUESTS_PER_DAY, (Integer) null)
          .where(QUOTA_LIMITS.MODEL.in(MODEL, EmbeddingConfig.MODEL.defaultValue())).execute();
      Sessions sessions = new Sessions(db.dataSource());
      UUID session = sessions.submit(new NewSession("cost " + delivery, null, null, MODEL, 1000, "aggressive"), files);
      if (delivery == Delivery.batch) {
        dsl.execute("UPDATE public.batch_upload_sessions SET delivery = 'batch' WHERE id = ?", session);
      }
      try (GeminiSimulator simulator = GeminiSimulator.start(SimulatorConfig.defaults()
          .withApiKeys(Set.of(KEY))
          .withLatency(LatencyDistribution.uniform(Duration.ofMillis(50), Duration.ofMillis(150)))
          .withThoughtsTokens(THOUGHTS_TOKENS)
          .withBatch(BatchConfig.DEFAULTS.withDelays(BATCH_PENDING, BATCH_RUNNING))
          .withSeed(100 + run))) {
        List<WorkerProcess> fleet = new ArrayList<>();
        long start = System.nanoTime();
        double wall;
        try {
          for (int i = 0; i < WORKERS; i++) {
            fleet.add(WorkerProcess.start(settings(db, folder, simulator)));
          }
          wall = awaitFinished(sessions, session, files.size(), start);
          // Not timed: the workers then embed the receipts (another model's bill); stopping them with
          // a round in flight would leave it to fail against a dropped database.
          awaitEmbedded(dsl, session);
        } finally {
          for (WorkerProcess worker : fleet) {
            worker.close();
          }
        }
        return measured(dsl, simulator, session, delivery, files.size(), wall);
      }
    }
  }

  private static WorkerProcess.Settings settings(TestDatabase db, Path folder, GeminiSimulator simulator) {
    return new WorkerProcess.Settings(db.url(),
        GeminiConfig.of(simulator.baseUrl(), KEY),
        FileSourceConfig.defaults().withLocalRoot(folder),
        FileValidatorConfig.defaults(),
        ImagePreprocessorConfig.defaults(),
        QuotaGateConfig.defaults(),
        ReceiptProcessor.Config.defaults(),
        WorkerConfig.defaults().withConcurrency(THREADS),
        MaintenanceConfig.defaults(),
        EmbeddingConfig.defaults(),
        BatchDelivery.Config.defaults()).withBatch(FAST_BATCH);
  }

  /** Seconds from {@code start} until every file of the session finished. */
  private static double awaitFinished(Sessions sessions, UUID session, int files, long start) throws InterruptedException {
    long deadline = start + DEADLINE.toNanos();
    while (true) {
      Progress p = sessions.progress(session);
      if (p.finished() >= files) {
        return (System.nanoTime() - start) / 1e9;
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("session " + session + ": only " + p.finished() + " of " + files + " files finished in "
            + DEADLINE.toMinutes() + " minutes (pending " + p.pending() + ", processing " + p.processing() + ")");
      }
      Thread.sleep(50);
    }
  }

  private static void awaitEmbedded(DSLContext dsl, UUID session) throws InterruptedException {
    long deadline = System.nanoTime() + DEADLINE.toNanos();
    while (dsl.fetchOne("SELECT count(*) FROM public.batch_upload_files WHERE batch_session_id = ? "
        + "AND embedding_status IN ('pending', 'processing')", session).get(0, Integer.class) > 0) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("session " + session + ": receipts still not embedded after " + DEADLINE.toMinutes()
            + " minutes");
      }
      Thread.sleep(100);
    }
  }

  private static Measured measured(DSLContext dsl, GeminiSimulator simulator, UUID session, Delivery delivery, int files,
                                   double wall) {
    List<String> problems = new ArrayList<>();
    // The bill, as the dashboards show it.
    Record usage = dsl.fetchOne("SELECT coalesce(sum(files_completed), 0)::bigint AS completed, "
        + "coalesce(sum(input_tokens), 0)::bigint AS input, coalesce(sum(output_tokens), 0)::bigint AS output, "
        + "coalesce(sum(thinking_tokens), 0)::bigint AS thinking, coalesce(sum(spend_usd), 0) AS spend, "
        + "count(*) FILTER (WHERE delivery::text <> ? AND (input_tokens > 0 OR output_tokens > 0)) AS other "
        + "FROM batchpilot_reporting.usage_per_minute WHERE model = ?", delivery.name(), MODEL);
    long completed = usage.get("completed", Long.class);
    long input = usage.get("input", Long.class);
    long output = usage.get("output", Long.class);
    long thinking = usage.get("thinking", Long.class);
    BigDecimal spend = usage.get("spend", BigDecimal.class);
    if (usage.get("other", Long.class) > 0) {
      problems.add("usage rolled up under a delivery other than " + delivery);
    }

    // The files' own rows must say the same.
    Record rows = dsl.fetchOne("SELECT count(*) FILTER (WHERE status = 'completed') AS completed, "
        + "count(*) FILTER (WHERE status = 'completed' AND delivery::text = ?) AS by_delivery, "
        + "coalesce(sum(input_tokens), 0)::bigint AS input, coalesce(sum(output_tokens), 0)::bigint AS output, "
        + "coalesce(sum(thinking_tokens), 0)::bigint AS thinking FROM public.batch_upload_files WHERE batch_session_id = ?",
        delivery.name(), session);
    int rowsCompleted = rows.get("completed", Integer.class);
    if (rowsCompleted != completed) {
      problems.add(rowsCompleted + " files completed by their rows, " + completed + " in the usage rollup");
    }
    if (rows.get("by_delivery", Integer.class) != rowsCompleted) {
      problems.add((rowsCompleted - rows.get("by_delivery", Integer.class)) + " completed files not marked " + delivery);
    }
    if (rowsCompleted != files) {
      problems.add((files - rowsCompleted) + " of " + files + " files not completed");
    }
    if (rows.get("input", Long.class) != input || rows.get("output", Long.class) != output
        || rows.get("thinking", Long.class) != thinking) {
      problems.add("files' rows say input/output/thinking " + rows.get("input") + "/" + rows.get("output") + "/"
          + rows.get("thinking") + ", the usage rollup " + input + "/" + output + "/" + thinking);
    }
    if (thinking != THOUGHTS_TOKENS * completed) {
      problems.add(thinking + " thinking tokens for " + completed + " answers of " + THOUGHTS_TOKENS);
    }

    // The simulator's own count of what it was sent, by the way it was sent.
    long calls = simulator.requests().stream().filter(q -> q.method().equals("generateContent") && q.status() == 200).count();
    long simulatorInput = simulator.requests().stream().filter(q -> q.method().equals("generateContent") && q.status() == 200)
        .mapToLong(q -> q.inputTokens()).sum();
    List<SimulatedBatches.Snapshot> jobs = simulator.batches().jobs();
    String sentAs = delivery == Delivery.interactive
        ? String.format(Locale.ROOT, "%,d generateContent calls", calls)
        : String.format(Locale.ROOT, "%d %s, %,d requests (%s)", jobs.size(), jobs.size() == 1 ? "job" : "jobs",
            jobs.stream().mapToInt(SimulatedBatches.Snapshot::requests).sum(),
            jobs.stream().anyMatch(SimulatedBatches.Snapshot::fileInput) ? "JSONL file" : "inline");
    if (delivery == Delivery.interactive) {
      if (!jobs.isEmpty()) {
        problems.add(jobs.size() + " batch jobs for an interactive session");
      }
      if (simulatorInput != input) {
        problems.add("the simulator counted " + simulatorInput + " input tokens in " + calls + " calls, the bill " + input);
      }
    } else {
      if (calls > 0) {
        problems.add(calls + " interactive generateContent calls for a batch session");
      }
      long enqueued = jobs.stream().mapToLong(SimulatedBatches.Snapshot::enqueuedTokens).sum();
      if (enqueued != input) {
        problems.add("the simulator's " + jobs.size() + " batch jobs enqueued " + enqueued + " input tokens, the bill " + input);
      }
    }

    // The spend at the price of the delivery, from the price table.
    Record price = dsl.fetchOne("SELECT input_usd_per_million AS i, output_usd_per_million AS o, batch_input_usd_per_million AS bi, "
        + "batch_output_usd_per_million AS bo FROM public.batchpilot_model_prices WHERE model = ?", MODEL);
    BigDecimal in = price.get(delivery == Delivery.batch ? "bi" : "i", BigDecimal.class);
    BigDecimal out = price.get(delivery == Delivery.batch ? "bo" : "o", BigDecimal.class);
    BigDecimal expected = in.multiply(BigDecimal.valueOf(input)).add(out.multiply(BigDecimal.valueOf(output + thinking)))
        .divide(BigDecimal.valueOf(1_000_000), 9, RoundingMode.HALF_UP);
    // Each minute's row is rounded to 9 decimals.
    if (expected.subtract(spend).abs().compareTo(new BigDecimal("0.000001")) > 0) {
      problems.add("spend_usd " + spend + ", the price table gives " + expected);
    }

    // Where a batch run's time went: opening the job to Google having it (our side: every file read,
    // validated, scaled and encoded into the JSONL), then Google having it to its files completed.
    double building = Double.NaN;
    double atGoogle = Double.NaN;
    if (delivery == Delivery.batch) {
      Record times = dsl.fetchOne("SELECT extract(epoch FROM max(submitted_at) - min(created_at))::float8 AS building, "
          + "extract(epoch FROM max(ended_at) - max(submitted_at))::float8 AS at_google FROM batchpilot_private.batch_jobs");
      building = times.get("building", Double.class);
      atGoogle = times.get("at_google", Double.class);
    }

    double per1000 = completed == 0 ? Double.NaN : 1000.0 / completed;
    return new Measured(delivery, (int) completed, input * per1000, output * per1000,
        thinking * per1000, spend, spend.doubleValue() * per1000, wall, building, atGoogle, sentAs, problems);
  }

  private static void deleteAll(Path folder) throws java.io.IOException {
    try (var paths = Files.walk(folder)) {
      for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
