package io.batchpilot.cli;

import static io.batchpilot.jooq.Tables.BATCHPILOT_MODEL_PRICES;
import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;
import static io.batchpilot.jooq.Tables.QUOTA_LIMITS;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.zaxxer.hikari.HikariDataSource;
import io.batchpilot.batch.BatchDelivery;
import io.batchpilot.db.ConnectionPools;
import io.batchpilot.db.DatabaseUrl;
import io.batchpilot.db.EmbeddedPostgres;
import io.batchpilot.db.Migrator;
import io.batchpilot.files.FileSourceConfig;
import io.batchpilot.gemini.GeminiConfig;
import io.batchpilot.session.Delivery;
import io.batchpilot.session.NewFile;
import io.batchpilot.session.NewSession;
import io.batchpilot.session.Progress;
import io.batchpilot.session.Sessions;
import io.batchpilot.simulator.ExtractionError;
import io.batchpilot.simulator.ExtractionErrorPlan;
import io.batchpilot.simulator.GeminiSimulator;
import io.batchpilot.simulator.ModelLimits;
import io.batchpilot.simulator.SimulatorConfig;
import io.batchpilot.simulator.SyntheticReceipts;
import io.batchpilot.simulator.WindowAudit;
import io.batchpilot.store.JobKind;
import io.batchpilot.store.JobState;
import io.batchpilot.store.Jobs;
import io.batchpilot.store.Jooq;
import io.batchpilot.worker.WorkerConfig;
import io.batchpilot.worker.WorkerProcess;
import java.io.IOException;
import java.io.PrintWriter;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.Callable;
import org.jooq.DSLContext;
import org.jooq.Record;
import org.jooq.impl.DSL;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "demo", description = "The whole pipeline in one command, on a machine with only a JDK: an "
    + "embedded PostgreSQL (or DATABASE_URL), the migration, the Gemini simulator with a free-tier-like quota (or, "
    + "when GEMINI_API_KEY is set, Gemini itself, or the Gemini-compatible endpoint at GEMINI_BASE_URL), sample "
    + "receipts submitted as one batch, two workers, live progress, and a summary. About a minute with the defaults.")
final class DemoCommand implements Callable<Integer> {

  /** The simulator's model: its own quota row, so a demo never edits a real model's limits. */
  static final String SIMULATED_MODEL = "gemini-2.5-flash-demo";
  static final String REAL_MODEL = "gemini-2.5-flash";
  private static final String DEMO_KEY = "demo-simulator-key";
  /** The simulator thinks as much as the response recorded from Google (gemini-fixtures/200-generate-content.json). */
  static final long SIMULATED_THOUGHTS_TOKENS = 438;

  @Option(names = "--files", defaultValue = "40", description = "Sample receipts in the batch (default ${DEFAULT-VALUE}).")
  int files;

  @Option(names = "--rpm", defaultValue = "20",
      description = "The simulated requests-per-minute quota (default ${DEFAULT-VALUE}: free-tier-like, so the gate is visibly at work).")
  int rpm;

  @Option(names = "--workers", defaultValue = "2", description = "Workers in the fleet (default ${DEFAULT-VALUE}).")
  int workers;

  @Option(names = "--extraction-error", paramLabel = "NAME=RATE",
      description = "Have the simulator answer wrongly at this rate (repeatable): wrong-total, missing-date, "
          + "malformed-json or max-tokens, e.g. wrong-total=0.1. The accuracy line then counts what got through; "
          + "malformed and cut-off answers are retried.")
  List<String> extractionErrors = new ArrayList<>();

  @Option(names = "--delivery", defaultValue = "interactive", paramLabel = "interactive|batch",
      description = "interactive (default): one call per receipt, minutes. batch: one Gemini Batch Mode job at half "
          + "the price (the simulator runs it in seconds; Google, within 24 hours); the summary says what it saved.")
  String delivery;

  @Option(names = "--json", description = "Print the summary as one JSON object on stdout; everything else goes to stderr.")
  boolean json;

  @Mixin DatabaseOptions database;

  @Spec CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    if (files < 1 || files > 10_000) {
      throw CliException.usage("--files must be between 1 and 10000, was " + files);
    }
    if (rpm < 1) {
      throw CliException.usage("--rpm must be at least 1, was " + rpm);
    }
    if (workers < 1 || workers > 16) {
      throw CliException.usage("--workers must be between 1 and 16, was " + workers);
    }
    if (!delivery.equals("interactive") && !delivery.equals("batch")) {
      throw CliException.usage("--delivery must be interactive or batch, was '" + delivery + "'");
    }
    boolean batch = delivery.equals("batch");
    ExtractionErrorPlan wrongAnswers = extractionErrorPlan(extractionErrors);
    PrintWriter result = spec.commandLine().getOut();
    // With --json, stdout is the summary alone.
    PrintWriter out = json ? spec.commandLine().getErr() : result;
    Endpoint endpoint = Endpoint.of(System.getenv());
    boolean realGemini = endpoint != Endpoint.SIMULATOR;
    if (realGemini && !extractionErrors.isEmpty()) {
      throw CliException.usage("--extraction-error is the simulator's: unset GEMINI_API_KEY to run the demo on it");
    }

    EmbeddedPostgres embedded = null;
    DatabaseUrl url;
    if (!database.isSet()) {
      out.println("starting an embedded PostgreSQL ...");
      out.flush();
      embedded = EmbeddedPostgres.start();
      url = embedded.url();
    } else {
      url = database.url();
    }
    Path folder = Files.createTempDirectory("batchpilot-demo-");
    try (HikariDataSource pool = ConnectionPools.open(url, 4, "batchpilot-demo");
         GeminiSimulator simulator = realGemini ? null : GeminiSimulator.start(SimulatorConfig.defaults()
             .withApiKeys(Set.of(DEMO_KEY))
             .withFreeTier(true)
             .withThoughtsTokens(SIMULATED_THOUGHTS_TOKENS)
             .withExtractionErrors(wrongAnswers)
             .withModelLimits(SIMULATED_MODEL, new ModelLimits(rpm, 1_000_000, 10_000)))) {
      Migrator.Result migrated = new Migrator(pool).migrate();
      out.printf("database %s migrated to version %s%n", url, migrated.schemaVersion());
      String model = realGemini ? REAL_MODEL : SIMULATED_MODEL;
      if (!realGemini) {
        defineSimulatedQuota(Jooq.using(pool));
        defineSimulatedBatchQuota(Jooq.using(pool));
        priceSimulatedModel(Jooq.using(pool));
        out.printf("Gemini simulator at %s: %d requests per minute for %s (strict sliding window)%n",
            simulator.baseUrl(), rpm, model);
      } else if (endpoint == Endpoint.GEMINI_BASE_URL) {
        out.printf("GEMINI_API_KEY and GEMINI_BASE_URL are set: using %s with the limits in quota_limits for %s%n",
            GeminiConfig.BASE_URL.from(System.getenv()), model);
      } else {
        out.println("GEMINI_API_KEY is set: using Google's Gemini API with the limits in quota_limits");
      }

      List<SyntheticReceipts.Sample> samples = SyntheticReceipts.sampleSet(files);
      List<NewFile> newFiles = new ArrayList<>();
      for (SyntheticReceipts.Sample sample : samples) {
        Path file = folder.resolve(sample.filename());
        Files.write(file, sample.bytes());
        newFiles.add(NewFile.at(sample.filename(), sample.mimeType(), file.toUri().toString()));
      }
      Sessions sessions = new Sessions(pool);
      UUID session = sessions.submit(new NewSession("demo: " + files + " sample receipts", null, null, model, 8, "adaptive")
          .withDelivery(batch ? Delivery.BATCH : Delivery.INTERACTIVE, false), newFiles);
      out.printf("session %s: %d receipts submitted%s; %d workers start%n%n", session, files,
          batch ? " for Batch Mode delivery" : "", workers);
      out.flush();

      Map<String, String> env = new HashMap<>(System.getenv());
      env.put(FileSourceConfig.LOCAL_FILE_ROOT.name(), folder.toString());
      env.put(WorkerConfig.CONCURRENCY.name(), "4");
      if (!realGemini) {
        env.put(GeminiConfig.BASE_URL.name(), simulator.baseUrl());
        env.put(GeminiConfig.API_KEY.name(), DEMO_KEY);
        // The simulator's jobs end in seconds: look at them as often, and send the batch at once.
        env.putIfAbsent(BatchDelivery.Config.INTERVAL.name(), "1s");
        env.putIfAbsent(BatchDelivery.Config.GATHER.name(), "0s");
        env.putIfAbsent(BatchDelivery.Config.FIRST_POLL.name(), "1s");
        env.putIfAbsent(BatchDelivery.Config.MAX_POLL.name(), "2s");
      }
      long started = System.nanoTime();
      List<WorkerProcess> fleet = new ArrayList<>();
      int exit;
      // The workers' INFO lines are for operators: the demo's screen is the bar and the summary.
      Runnable restoreLogging = quietWorkers();
      try {
        for (int i = 0; i < workers; i++) {
          fleet.add(WorkerProcess.start(WorkerSettings.from(url, env)));
        }
        SessionFollower follower = new SessionFollower(pool, session);
        exit = json ? follower.followToEnd(ProgressView.NONE) : follower.followToEnd();
        awaitEmbeddings(Jooq.using(pool), session, Duration.ofSeconds(60));
      } finally {
        for (WorkerProcess member : fleet) {
          member.close();
        }
        restoreLogging.run();
      }
      Duration wall = Duration.ofNanos(System.nanoTime() - started);
      Summary summary = summarise(Jooq.using(pool), model, sessions.progress(session), samples, simulator, wall, batch);
      if (json) {
        JsonOutput.print(result, summary.json(session));
      } else {
        out.println();
        summary.print(out);
        out.flush();
      }
      return exit == ExitCode.OK && summary.accurate() == summary.completed() ? ExitCode.OK : ExitCode.FAILED;
    } finally {
      deleteQuietly(folder);
      if (embedded != null) {
        embedded.close();
      }
    }
  }

  /** The --extraction-error flags as the simulator's plan; a bad name or rate is a usage error naming it. */
  static ExtractionErrorPlan extractionErrorPlan(List<String> flags) {
    ExtractionErrorPlan plan = ExtractionErrorPlan.NONE;
    for (String flag : flags) {
      int eq = flag.indexOf('=');
      try {
        if (eq < 0) {
          throw new IllegalArgumentException("must be NAME=RATE, e.g. wrong-total=0.1");
        }
        plan = plan.with(ExtractionError.fromFlag(flag.substring(0, eq).trim()), Double.parseDouble(flag.substring(eq + 1)));
      } catch (IllegalArgumentException e) {
        throw CliException.usage("--extraction-error " + flag + ": " + e.getMessage());
      }
    }
    return plan;
  }

  /** Raises batchpilot's own log level to WARN unless {@link Main#LOG_LEVEL} chose one; returns the undo. */
  private static Runnable quietWorkers() {
    if (Main.LOG_LEVEL.find(System.getenv()).isPresent()
        || !(LoggerFactory.getLogger("io.batchpilot") instanceof ch.qos.logback.classic.Logger logger)) {
      return () -> { };
    }
    ch.qos.logback.classic.Level before = logger.getLevel();
    logger.setLevel(ch.qos.logback.classic.Level.WARN);
    return () -> logger.setLevel(before);
  }

  /** Where the demo's workers send their calls. */
  enum Endpoint {
    /** Its own simulator: no key set (a GEMINI_BASE_URL alone is not enough to call anything real). */
    SIMULATOR,
    /** Google's API, with the key. */
    GOOGLE,
    /** A Gemini-compatible endpoint, with the key. */
    GEMINI_BASE_URL;

    static Endpoint of(Map<String, String> env) {
      if (GeminiConfig.API_KEY.find(env).isEmpty()) {
        return SIMULATOR;
      }
      return GeminiConfig.BASE_URL.find(env).isEmpty() ? GOOGLE : GEMINI_BASE_URL;
    }
  }

  /** The demo model's row in the gate: the simulator's limits, so the gate and Google agree. */
  private void defineSimulatedQuota(DSLContext dsl) {
    dsl.insertInto(QUOTA_LIMITS)
        .set(QUOTA_LIMITS.PROVIDER, "gemini")
        .set(QUOTA_LIMITS.MODEL, SIMULATED_MODEL)
        .set(QUOTA_LIMITS.REQUESTS_PER_MINUTE, rpm)
        .set(QUOTA_LIMITS.INPUT_TOKENS_PER_MINUTE, 1_000_000L)
        .set(QUOTA_LIMITS.REQUESTS_PER_DAY, 10_000)
        .set(QUOTA_LIMITS.MAX_IN_FLIGHT, 8)
        .onConflict(QUOTA_LIMITS.PROVIDER, QUOTA_LIMITS.MODEL)
        .doUpdate()
        .set(QUOTA_LIMITS.REQUESTS_PER_MINUTE, rpm)
        .set(QUOTA_LIMITS.INPUT_TOKENS_PER_MINUTE, 1_000_000L)
        .set(QUOTA_LIMITS.REQUESTS_PER_DAY, 10_000)
        .execute();
  }

  /** The demo model's Batch Mode limits: the real model's, as its interactive row is the simulator's. */
  private static void defineSimulatedBatchQuota(DSLContext dsl) {
    dsl.execute("INSERT INTO public.batch_quota_limits (provider, model, max_concurrent_jobs, max_enqueued_tokens, "
        + "limits_read_on) SELECT provider, ?, max_concurrent_jobs, max_enqueued_tokens, limits_read_on "
        + "FROM public.batch_quota_limits WHERE provider = 'gemini' AND model = ? ON CONFLICT DO NOTHING",
        SIMULATED_MODEL, REAL_MODEL);
  }

  /**
   * The demo model's price row: the real model's prices, so the demo's summary and the cost dashboard
   * (which joins the usage of gemini-2.5-flash-demo to its own row) show the same spend.
   */
  private static void priceSimulatedModel(DSLContext dsl) {
    var real = dsl.selectFrom(BATCHPILOT_MODEL_PRICES).where(BATCHPILOT_MODEL_PRICES.MODEL.eq(REAL_MODEL)).fetchOne();
    if (real == null) {
      return;
    }
    var demo = real.copy();
    demo.setModel(SIMULATED_MODEL);
    demo.setSource("batchpilot demo: " + REAL_MODEL + "'s prices (" + real.getSource() + ")");
    demo.changed(BATCHPILOT_MODEL_PRICES.UPDATED_AT, false);
    dsl.insertInto(BATCHPILOT_MODEL_PRICES).set(demo)
        .onConflict(BATCHPILOT_MODEL_PRICES.MODEL).doUpdate().set(demo)
        .execute();
  }

  /** Embeddings run after extraction, batched: the demo waits for them, within a limit. */
  private static void awaitEmbeddings(DSLContext dsl, UUID session, Duration limit) throws InterruptedException {
    long deadline = System.nanoTime() + limit.toNanos();
    while (System.nanoTime() < deadline && dsl.fetchCount(Jobs.JOBS, Jobs.BATCH_SESSION_ID.eq(session)
        .and(Jobs.kindIs(JobKind.EMBEDDING)).and(Jobs.stateIs(JobState.AVAILABLE).or(Jobs.stateIs(JobState.RUNNING)))) > 0) {
      Thread.sleep(250);
    }
  }

  /** What the demo shows at the end. */
  record Summary(int total, int completed, int failed, int retries, long rateLimited429s, long inputTokens,
                 long outputTokens, long thinkingTokens, BigDecimal estimatedCostUsd, BigDecimal interactiveCostUsd,
                 boolean batch, Double peakQuotaUse, int accurate, Map<String, Integer> mismatches, int embedded,
                 Duration wall) {

    /** What Batch Mode saved against the same tokens sent interactively. */
    BigDecimal savedUsd() {
      return interactiveCostUsd.subtract(estimatedCostUsd);
    }

    void print(PrintWriter out) {
      row(out, "files completed", completed + " of " + total);
      row(out, "files failed", String.valueOf(failed));
      row(out, "retries", String.valueOf(retries));
      row(out, "429s received", String.valueOf(rateLimited429s));
      row(out, "input tokens", String.valueOf(inputTokens));
      row(out, "output tokens", String.valueOf(outputTokens));
      row(out, "thinking tokens", thinkingTokens + " (billed as output)");
      row(out, "estimated cost", "$" + estimatedCostUsd.toPlainString() + " at " + REAL_MODEL
          + (batch ? "'s Batch Mode prices" : "'s prices") + " in batchpilot_model_prices, thinking included");
      if (batch) {
        row(out, "saved", "$" + savedUsd().toPlainString() + (interactiveCostUsd.signum() == 0 ? ""
            : String.format(Locale.ROOT, " (%.0f%%)", savedUsd().doubleValue() * 100 / interactiveCostUsd.doubleValue()))
            + " against interactive delivery ($" + interactiveCostUsd.toPlainString() + " for the same tokens)");
      }
      row(out, "quota utilisation", batch ? "n/a (Batch Mode has its own limits: public.batch_quota_limits)"
          : peakQuotaUse == null ? "n/a (real Gemini: see the quota dashboard)"
          : String.format(Locale.ROOT, "%.0f%% of the per-minute request limit in the busiest window", peakQuotaUse * 100));
      row(out, "extraction accuracy", String.format(Locale.ROOT, "%d of %d completed match the ground truth (%.0f%%)%s",
          accurate, completed, completed == 0 ? 0.0 : 100.0 * accurate / completed, mismatches.isEmpty() ? ""
              : "; first field wrong: " + String.join(", ", mismatches.entrySet().stream()
                  .map(e -> e.getKey() + " " + e.getValue()).toList())));
      row(out, "searchable", embedded + " of " + completed + " receipts embedded (batchEmbedContents, up to 100 a call)");
      row(out, "wall time", ProgressView.formatDuration(wall));
    }

    ObjectNode json(UUID session) {
      ObjectNode node = JsonOutput.object();
      node.put("session", session.toString());
      node.put("files_total", total);
      node.put("files_completed", completed);
      node.put("files_failed", failed);
      node.put("retries", retries);
      node.put("rate_limited_429s", rateLimited429s);
      node.put("input_tokens", inputTokens);
      node.put("output_tokens", outputTokens);
      node.put("thinking_tokens", thinkingTokens);
      node.put("estimated_cost_usd", estimatedCostUsd);
      node.put("estimated_cost_model", REAL_MODEL);
      node.put("delivery", batch ? "batch" : "interactive");
      node.put("interactive_cost_usd", interactiveCostUsd);
      node.put("saved_usd", savedUsd());
      if (peakQuotaUse == null) {
        node.putNull("peak_quota_use");
      } else {
        node.put("peak_quota_use", peakQuotaUse);
      }
      node.put("accurate", accurate);
      ObjectNode wrong = node.putObject("mismatches");
      mismatches.forEach(wrong::put);
      node.put("embedded", embedded);
      node.put("wall_seconds", wall.toMillis() / 1000.0);
      return node;
    }

    private static void row(PrintWriter out, String name, String value) {
      out.printf("  %-20s %s%n", name, value);
    }
  }

  private Summary summarise(DSLContext dsl, String model, Progress progress, List<SyntheticReceipts.Sample> samples,
                            GeminiSimulator simulator, Duration wall, boolean batch) {
    Map<String, SyntheticReceipts.Sample> truth = new HashMap<>();
    samples.forEach(s -> truth.put(s.filename(), s));
    int retries = 0;
    long input = 0;
    long output = 0;
    long thinking = 0;
    int accurate = 0;
    Map<String, Integer> mismatches = new java.util.TreeMap<>();
    int embedded = 0;
    long batchInput = 0;
    long batchOutput = 0;
    UUID sessionId = progress.sessionId();
    retries = dsl.select(DSL.coalesce(DSL.sum(DSL.greatest(Jobs.ATTEMPTS.minus(1), DSL.inline(0))), DSL.inline(java.math.BigDecimal.ZERO)))
        .from(Jobs.JOBS).where(Jobs.BATCH_SESSION_ID.eq(sessionId)).and(Jobs.kindIs(JobKind.EXTRACTION))
        .fetchSingle().value1().intValue();
    embedded = dsl.fetchCount(Jobs.JOBS, Jobs.BATCH_SESSION_ID.eq(sessionId)
        .and(Jobs.kindIs(JobKind.EMBEDDING)).and(Jobs.stateIs(JobState.COMPLETED)));
    for (Record r : dsl.select(BATCH_UPLOAD_FILES.ORIGINAL_FILENAME, BATCH_UPLOAD_FILES.STATUS,
            BATCH_UPLOAD_FILES.INPUT_TOKENS, BATCH_UPLOAD_FILES.OUTPUT_TOKENS,
            BATCH_UPLOAD_FILES.THINKING_TOKENS, BATCH_UPLOAD_FILES.RESULT, BATCH_UPLOAD_FILES.DELIVERY)
        .from(BATCH_UPLOAD_FILES).where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(progress.sessionId())).fetch()) {
      input += r.get(BATCH_UPLOAD_FILES.INPUT_TOKENS) == null ? 0 : r.get(BATCH_UPLOAD_FILES.INPUT_TOKENS);
      output += r.get(BATCH_UPLOAD_FILES.OUTPUT_TOKENS) == null ? 0 : r.get(BATCH_UPLOAD_FILES.OUTPUT_TOKENS);
      thinking += r.get(BATCH_UPLOAD_FILES.THINKING_TOKENS) == null ? 0 : r.get(BATCH_UPLOAD_FILES.THINKING_TOKENS);
      if ("batch".equals(r.get(BATCH_UPLOAD_FILES.DELIVERY))) {
        batchInput += r.get(BATCH_UPLOAD_FILES.INPUT_TOKENS) == null ? 0 : r.get(BATCH_UPLOAD_FILES.INPUT_TOKENS);
        batchOutput += (r.get(BATCH_UPLOAD_FILES.OUTPUT_TOKENS) == null ? 0 : r.get(BATCH_UPLOAD_FILES.OUTPUT_TOKENS))
            + (r.get(BATCH_UPLOAD_FILES.THINKING_TOKENS) == null ? 0 : r.get(BATCH_UPLOAD_FILES.THINKING_TOKENS));
      }
      if ("completed".equals(r.get(BATCH_UPLOAD_FILES.STATUS))) {
        Optional<String> wrong = r.get(BATCH_UPLOAD_FILES.RESULT) == null ? Optional.of("result")
            : mismatch(r.get(BATCH_UPLOAD_FILES.RESULT).data(), truth.get(r.get(BATCH_UPLOAD_FILES.ORIGINAL_FILENAME)));
        if (wrong.isEmpty()) {
          accurate++;
        } else {
          mismatches.merge(wrong.get(), 1, Integer::sum);
        }
      }
    }
    // The session's model's row (the simulated one copies the real one's prices), priced as the cost
    // dashboard prices it: thinking is billed as output, a batch job's tokens at the batch price.
    var price = dsl.selectFrom(BATCHPILOT_MODEL_PRICES).where(BATCHPILOT_MODEL_PRICES.MODEL.eq(model)).fetchOne();
    BigDecimal interactiveCost = price == null ? BigDecimal.ZERO
        : usd(input, price.getInputUsdPerMillion(), output + thinking, price.getOutputUsdPerMillion());
    BigDecimal cost = price == null ? BigDecimal.ZERO
        : usd(input - batchInput, price.getInputUsdPerMillion(), output + thinking - batchOutput, price.getOutputUsdPerMillion())
            .add(usd(batchInput, price.getBatchInputUsdPerMillion(), batchOutput, price.getBatchOutputUsdPerMillion()));
    long rejected = 0;
    Double peak = null;
    if (simulator != null) {
      rejected = simulator.requests().stream().filter(q -> q.status() == 429).count();
      peak = simulator.auditAdmitted().values().stream().filter(a -> a.model().equals(SIMULATED_MODEL))
          .mapToLong(WindowAudit::maxRequestsInWindow).max().stream().mapToDouble(m -> (double) m / rpm).boxed()
          .findFirst().orElse(0.0);
    }
    return new Summary(progress.totalFiles(), progress.completed(), progress.failed(), retries, rejected, input, output,
        thinking, cost, interactiveCost, batch, peak, accurate, mismatches, embedded, wall);
  }

  private static BigDecimal usd(long input, BigDecimal inputPrice, long output, BigDecimal outputPrice) {
    return BigDecimal.valueOf(input).multiply(inputPrice).add(BigDecimal.valueOf(output).multiply(outputPrice))
        .divide(BigDecimal.valueOf(1_000_000), 6, java.math.RoundingMode.HALF_UP);
  }

  /** Created on first use: picocli builds every command at startup, and a worker should not wait for Jackson there. */
  private static final class Json {
    static final ObjectMapper MAPPER = new ObjectMapper();
  }

  /**
   * The first field in which the extraction differs from the receipt's ground truth (amounts compared
   * as numbers; a null differs from any value), or empty when it matches.
   */
  static Optional<String> mismatch(String resultJson, SyntheticReceipts.Sample sample) {
    if (sample == null) {
      return Optional.of("file");
    }
    try {
      JsonNode got = Json.MAPPER.readTree(resultJson);
      JsonNode want = sample.truth().toJson();
      for (String field : List.of("merchant", "date", "currency")) {
        if (!got.path(field).isTextual() || !want.path(field).asText().equals(got.path(field).asText())) {
          return Optional.of(field);
        }
      }
      for (String amount : List.of("subtotal", "tax", "total")) {
        if (!got.path(amount).isNumber() || want.path(amount).decimalValue().compareTo(got.path(amount).decimalValue()) != 0) {
          return Optional.of(amount);
        }
      }
      return want.path("line_items").size() == got.path("line_items").size() ? Optional.empty() : Optional.of("line_items");
    } catch (IOException e) {
      return Optional.of("result");
    }
  }

  private static void deleteQuietly(Path folder) {
    try (var walk = Files.walk(folder)) {
      walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      // A temp folder left behind is harmless.
    }
  }
}
