package io.batchpilot.batch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.embeddings.EmbeddingConfig;
import io.batchpilot.files.DuplicateFinder;
import io.batchpilot.files.FileSource;
import io.batchpilot.files.FileSourceConfig;
import io.batchpilot.files.FileValidator;
import io.batchpilot.files.FileValidatorConfig;
import io.batchpilot.files.ImagePreprocessor;
import io.batchpilot.files.ImagePreprocessorConfig;
import io.batchpilot.gemini.GeminiBatchClient;
import io.batchpilot.gemini.GeminiClient;
import io.batchpilot.gemini.GeminiConfig;
import io.batchpilot.limiter.QuotaGate;
import io.batchpilot.limiter.QuotaGateConfig;
import io.batchpilot.maintenance.MaintenanceConfig;
import io.batchpilot.metrics.Metrics;
import io.batchpilot.pipeline.Backoff;
import io.batchpilot.pipeline.ClaimedFile;
import io.batchpilot.pipeline.Completer;
import io.batchpilot.pipeline.FairShare;
import io.batchpilot.pipeline.ReceiptProcessor;
import io.batchpilot.session.NewFile;
import io.batchpilot.session.NewSession;
import io.batchpilot.session.Sessions;
import io.batchpilot.simulator.BatchConfig;
import io.batchpilot.simulator.GeminiSimulator;
import io.batchpilot.simulator.RecordedRequest;
import io.batchpilot.simulator.SimulatedBatches;
import io.batchpilot.simulator.SimulatorConfig;
import io.batchpilot.simulator.SyntheticReceipts;
import io.batchpilot.store.Jooq;
import io.batchpilot.testing.Eventually;
import io.batchpilot.worker.WorkerConfig;
import io.batchpilot.worker.WorkerProcess;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.stream.Collectors;
import okhttp3.OkHttpClient;
import org.jooq.DSLContext;
import org.jooq.Record;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Batch Mode end to end against the simulator: a batch session's files go to one Gemini batch job
 * and complete through the same completion as interactive calls, billed at the batch price; a
 * worker killed at any point between opening a job and reading its results loses nothing; an
 * expired job's files come back; a cancelled session's job is cancelled. Each "worker" here is a
 * {@link BatchDelivery} of its own; one that is killed is simply never called again.
 */
@ExtendWith(PostgresExtension.class)
class BatchDeliveryTest {

  private static final String MODEL = "gemini-2.5-flash";
  private static final String KEY = "batch-test-key";
  private static final Duration DEADLINE = Duration.ofSeconds(30);
  private static final BatchDelivery.Config FAST = new BatchDelivery.Config(Duration.ofMillis(100), 1000,
      Duration.ZERO, Duration.ofMillis(100), Duration.ofMillis(300));

  private final TestDatabase db;
  private final DSLContext dsl;
  private final Sessions sessions;
  private final List<AutoCloseable> closing = new ArrayList<>();
  @TempDir
  Path root;

  BatchDeliveryTest(TestDatabase db) {
    this.db = db;
    this.dsl = Jooq.using(db.dataSource());
    this.sessions = new Sessions(db.dataSource());
  }

  @BeforeEach
  void empty() {
    dsl.execute("DELETE FROM public.batch_upload_sessions");
    dsl.execute("DELETE FROM batchpilot_private.batch_jobs");
  }

  @AfterEach
  void close() throws Exception {
    for (AutoCloseable c : closing) {
      c.close();
    }
  }

  private GeminiSimulator simulator(BatchConfig batch) throws IOException {
    GeminiSimulator sim = GeminiSimulator.start(SimulatorConfig.defaults().withApiKeys(Set.of(KEY)).withBatch(batch)
        .withThoughtsTokens(100).withSeed(5));
    closing.add(sim);
    return sim;
  }

  private static BatchConfig quick() {
    return BatchConfig.DEFAULTS.withDelays(Duration.ofMillis(300), Duration.ofMillis(300));
  }

  /** A worker's Batch Mode side, as WorkerProcess builds it. */
  private BatchDelivery worker(GeminiSimulator sim, String id) {
    GeminiConfig gemini = GeminiConfig.of(sim.baseUrl(), KEY);
    GeminiClient client = new GeminiClient(gemini);
    GeminiBatchClient batches = new GeminiBatchClient(gemini);
    QuotaGate gate = new QuotaGate(db.dataSource(), QuotaGateConfig.defaults(), Duration.ofMinutes(1));
    Metrics metrics = new Metrics();
    ReceiptProcessor receipts = new ReceiptProcessor(
        new FileSource(FileSourceConfig.defaults().withLocalRoot(root), new OkHttpClient()),
        new FileValidator(FileValidatorConfig.defaults(), ImagePreprocessorConfig.defaults().maxLongestSide()),
        new DuplicateFinder(db.dataSource()), new ImagePreprocessor(ImagePreprocessorConfig.defaults()), gate, client,
        new ReceiptProcessor.Config(Duration.ofSeconds(5), new Backoff(Duration.ofMillis(10), Duration.ofMillis(50))),
        metrics);
    closing.add(client);
    closing.add(batches);
    return new BatchDelivery(FAST, new BatchJobs(db.dataSource()), receipts, batches,
        new Completer(db.dataSource(), 100, "test-batch-completer", metrics), id, FairShare.TEAM);
  }

  private UUID batchSession(int files, boolean interactiveFallback) throws IOException {
    List<NewFile> list = new ArrayList<>();
    for (int i = 0; i < files; i++) {
      Path path = root.resolve("r" + i + ".png");
      Files.write(path, SyntheticReceipts.png(500 + i, 300, 1.4));
      list.add(NewFile.at("r" + i + ".png", "image/png", path.toUri().toString()));
    }
    UUID session = sessions.submit(new NewSession("batch", null, null, MODEL, 2, "adaptive"), list);
    dsl.execute("UPDATE public.batch_upload_sessions SET delivery = 'batch', interactive_fallback = ? WHERE id = ?",
        interactiveFallback, session);
    return session;
  }

  private Map<String, Long> filesByStatus(UUID session) {
    // Where each file's extraction job is, in a file status's words (due again: pending).
    return dsl.fetch("SELECT CASE state WHEN 'available' THEN 'pending' WHEN 'running' THEN 'processing'"
            + " WHEN 'cancelled' THEN 'skipped' ELSE state::text END AS status, count(*) AS n FROM batchpilot_private.jobs"
            + " WHERE batch_session_id = ? AND kind = 'extraction' GROUP BY 1",
        session).stream().collect(Collectors.toMap(r -> r.get("status", String.class), r -> r.get("n", Long.class)));
  }

  private long generateContentCalls(GeminiSimulator sim) {
    return sim.requests().stream().filter(r -> r.method().equals("generateContent")).count();
  }

  private void pollUntil(BatchDelivery worker, String what, java.util.function.BooleanSupplier done) {
    Eventually.await(what, DEADLINE, () -> {
      try {
        worker.pollOnce();
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      }
      return done.getAsBoolean();
    });
  }

  @Test
  void aBatchSessionCompletesThroughOneJobAtTheBatchPrice() throws Exception {
    GeminiSimulator sim = simulator(quick());
    UUID session = batchSession(5, false);
    BatchDelivery worker = worker(sim, "w1");

    BatchDelivery.Submitted sent = worker.submitOnce();
    assertEquals(1, sent.jobs());
    assertEquals(5, sent.files());
    assertEquals(Map.of("processing", 5L), filesByStatus(session), "at Google, the files are processing");
    Record job = dsl.fetchOne("SELECT name, state::text AS state, requests FROM batchpilot_private.batch_jobs");
    assertTrue(job.get("name", String.class).startsWith("batches/"));
    assertEquals("pending", job.get("state", String.class));
    assertEquals(5, job.get("requests", Integer.class));
    assertEquals(1, dsl.fetchOne("SELECT count(*) FROM public.batchpilot_session_batch_jobs(?) WHERE files_at_google = 5",
        session).get(0, Integer.class), "the session's members see the job and its files at Google");

    pollUntil(worker, "the job's files completed", () -> filesByStatus(session).equals(Map.of("completed", 5L)));
    assertEquals("succeeded", dsl.fetchOne("SELECT state::text FROM batchpilot_private.batch_jobs").get(0, String.class));
    assertEquals(0, generateContentCalls(sim), "no interactive call was made");

    Record files = dsl.fetchOne("SELECT count(*) FILTER (WHERE delivery = 'batch') AS batch, sum(input_tokens) AS input, "
        + "sum(output_tokens) AS output, sum(thinking_tokens) AS thinking, count(*) FILTER (WHERE result IS NOT NULL) AS results, "
        + "count(*) FILTER (WHERE content_sha256 IS NOT NULL) AS hashed FROM public.batch_upload_files WHERE batch_session_id = ?",
        session);
    assertEquals(5, files.get("batch", Integer.class));
    assertEquals(5, files.get("results", Integer.class));
    assertEquals(5, files.get("hashed", Integer.class), "content hashes are kept for later duplicates");
    assertEquals(500L, files.get("thinking", Long.class), "each answer's 100 thinking tokens are on the rows");
    long input = files.get("input", Long.class);
    long output = files.get("output", Long.class);
    assertTrue(input > 0 && output > 0);

    // The usage is rolled up as batch, and the reporting view prices it at the batch price.
    Record usage = dsl.fetchOne("SELECT sum(input_tokens) AS input, sum(output_tokens + thinking_tokens) AS billed_output, "
        + "sum(spend_usd) AS spend FROM batchpilot_reporting.usage_per_minute WHERE delivery = 'batch' AND model = ?", MODEL);
    assertEquals(input, usage.get("input", Long.class));
    assertEquals(output + 500, usage.get("billed_output", Long.class));
    Record price = dsl.fetchOne("SELECT batch_input_usd_per_million AS bi, batch_output_usd_per_million AS bo, "
        + "input_usd_per_million AS i FROM public.batchpilot_model_prices WHERE model = ?", MODEL);
    BigDecimal expected = price.get("bi", BigDecimal.class).multiply(BigDecimal.valueOf(input))
        .add(price.get("bo", BigDecimal.class).multiply(BigDecimal.valueOf(output + 500)))
        .divide(BigDecimal.valueOf(1_000_000));
    assertEquals(0, expected.compareTo(usage.get("spend", BigDecimal.class).stripTrailingZeros())
        , "spend " + usage.get("spend", BigDecimal.class) + " is at the batch price, " + expected);
    assertTrue(price.get("bi", BigDecimal.class).compareTo(price.get("i", BigDecimal.class)) < 0);
    assertEquals(0, dsl.fetchOne("SELECT count(*) FROM batchpilot_reporting.usage_per_minute WHERE delivery = 'interactive' "
        + "AND input_tokens > 0").get(0, Integer.class));
  }

  @Test
  void aFleetSendsBatchSessionsToJobsAndInteractiveSessionsToCallsSideBySide() throws Exception {
    GeminiSimulator sim = simulator(quick());
    dsl.execute("UPDATE public.quota_limits SET requests_per_minute = 1000, input_tokens_per_minute = 100000000, "
        + "requests_per_day = NULL, max_in_flight = 100 WHERE model = ?", MODEL);
    UUID batch = batchSession(4, false);
    List<NewFile> interactiveFiles = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      Path path = root.resolve("i" + i + ".png");
      Files.write(path, SyntheticReceipts.png(900 + i, 300, 1.4));
      interactiveFiles.add(NewFile.at("i" + i + ".png", "image/png", path.toUri().toString()));
    }
    UUID interactive = sessions.submit(new NewSession("interactive", null, null, MODEL, 4, "adaptive"), interactiveFiles);

    Backoff fast = new Backoff(Duration.ofMillis(50), Duration.ofMillis(500));
    WorkerProcess process = WorkerProcess.start(new WorkerProcess.Settings(db.url(), GeminiConfig.of(sim.baseUrl(), KEY),
        FileSourceConfig.defaults().withLocalRoot(root), FileValidatorConfig.defaults(), ImagePreprocessorConfig.defaults(),
        QuotaGateConfig.defaults(), new ReceiptProcessor.Config(Duration.ofSeconds(5), fast), WorkerConfig.defaults(),
        MaintenanceConfig.defaults(), EmbeddingConfig.defaults().withBackoff(fast), FAST));
    closing.add(process);
    Eventually.await("both sessions completed", DEADLINE, () ->
        sessions.progress(batch).status().equals("completed") && sessions.progress(interactive).status().equals("completed"));

    assertEquals(Map.of("completed", 4L), filesByStatus(batch));
    assertEquals(Map.of("completed", 3L), filesByStatus(interactive));
    assertEquals(3, generateContentCalls(sim), "one call per interactive file, none for the batch session's");
    assertEquals(1, sim.batches().jobs().size());
    assertEquals(4, sim.batches().jobs().get(0).requests());
    assertEquals(List.of("batch", "interactive"), dsl.fetch("SELECT DISTINCT delivery FROM public.batch_upload_files "
        + "ORDER BY 1").getValues(0, String.class));
  }

  @Test
  void aBatchSessionsEstimateIsGoogles24HourTargetFromItsJob() throws Exception {
    GeminiSimulator sim = simulator(BatchConfig.DEFAULTS.withDelays(Duration.ofSeconds(30), Duration.ofSeconds(30)));
    UUID session = batchSession(2, false);
    dsl.execute("UPDATE public.batch_upload_sessions SET status = 'processing', started_at = now() WHERE id = ?", session);
    dsl.fetch("SELECT batchpilot_private.estimate_completion(interval '1 minute')");
    Record waiting = dsl.fetchOne("SELECT estimated_completion_at - now() AS left FROM public.batch_upload_sessions "
        + "WHERE id = ?", session);
    assertTrue(waiting.get("left", org.jooq.types.YearToSecond.class).toDuration().toHours() >= 23,
        "files not yet in a job: within 24 hours from now, " + waiting);

    worker(sim, "w1").submitOnce();
    dsl.execute("UPDATE batchpilot_private.batch_jobs SET created_at = now() - interval '3 hours'");
    dsl.fetch("SELECT batchpilot_private.estimate_completion(interval '1 minute')");
    assertEquals(Boolean.TRUE, dsl.fetchOne("SELECT s.estimated_completion_at = j.created_at + interval '24 hours' "
        + "FROM public.batch_upload_sessions s, batchpilot_private.batch_jobs j WHERE s.id = ?", session).get(0, Boolean.class),
        "at Google: 24 hours from the job's creation");
  }

  @Test
  void aWorkerProcessKilledNineAfterCreatingTheJobLosesNothingAndNothingRunsTwice() throws Exception {
    GeminiSimulator sim = simulator(quick());
    UUID session = batchSession(4, false);
    Path log = root.resolve("killed-worker.log");
    ProcessBuilder builder = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), "io.batchpilot.cli.Main", "worker",
        "--database-url", db.url().withCredentials(), "--gemini-base-url", sim.baseUrl(),
        "--local-file-root", root.toAbsolutePath().toString())
        .redirectErrorStream(true).redirectOutput(log.toFile());
    builder.environment().put("GEMINI_API_KEY", KEY);
    builder.environment().put(BatchDelivery.Config.INTERVAL.name(), "200ms");
    builder.environment().put(BatchDelivery.Config.GATHER.name(), "0s");
    // It would look at the job only after a minute: it is killed long before.
    builder.environment().put(BatchDelivery.Config.FIRST_POLL.name(), "1m");
    builder.environment().put(BatchDelivery.Config.MAX_POLL.name(), "1m");
    Process worker = builder.start();
    try {
      Eventually.await("the worker process created the job and recorded its name", DEADLINE, () -> {
        assertTrue(worker.isAlive(), "the worker exited: see " + log);
        return dsl.fetchOne("SELECT count(*) FROM batchpilot_private.batch_jobs WHERE name IS NOT NULL")
            .get(0, Integer.class) == 1;
      });
    } finally {
      worker.destroyForcibly();
      assertTrue(worker.waitFor(30, java.util.concurrent.TimeUnit.SECONDS));
    }
    assertEquals(Map.of("processing", 4L), filesByStatus(session), "at Google when the worker died");

    // Another worker's first look would come a minute after the job's creation; make it due now.
    dsl.execute("UPDATE batchpilot_private.batch_jobs SET next_poll_at = now()");
    BatchDelivery survivor = worker(sim, "survivor");
    pollUntil(survivor, "the survivor completed the killed worker's job",
        () -> filesByStatus(session).equals(Map.of("completed", 4L)));
    assertEquals(1, sim.batches().jobs().size(), "one job at Google: nothing was sent twice");
    assertEquals(4, sim.batches().jobs().get(0).requests());
    assertEquals(4, dsl.fetchOne("SELECT count(*) FROM public.batch_upload_files f JOIN batchpilot_private.jobs j ON j.file_id = f.id AND j.kind = 'extraction' WHERE f.batch_session_id = ? "
        + "AND j.attempts = 1 AND f.api_calls_made = 1", session).get(0, Integer.class), "each file's one call, counted once");
  }

  @Test
  void aFileNamingAModelOfItsOwnGoesInThatModelsJob() throws Exception {
    GeminiSimulator sim = simulator(quick());
    UUID session = batchSession(3, false);
    dsl.execute("UPDATE public.batch_upload_files SET model = 'gemini-2.5-flash-lite' WHERE batch_session_id = ? "
        + "AND original_filename = 'r0.png'", session);
    // The session's counter counts every pending file under its model: "about how many" is enough to decide.
    assertEquals(List.of("gemini-2.5-flash:3", "gemini-2.5-flash-lite:1"), dsl.fetch("SELECT model || ':' || files "
        + "FROM batchpilot_private.batch_models_due() ORDER BY model").getValues(0, String.class));
    BatchDelivery worker = worker(sim, "w1");
    assertEquals(2, worker.submitOnce().jobs());
    assertEquals(Map.of("gemini-2.5-flash", 2, "gemini-2.5-flash-lite", 1), sim.batches().jobs().stream()
        .collect(Collectors.toMap(SimulatedBatches.Snapshot::model, SimulatedBatches.Snapshot::requests)));
    pollUntil(worker, "both jobs completed", () -> filesByStatus(session).equals(Map.of("completed", 3L)));
  }

  @Test
  void aWorkerKilledAfterGoogleHasTheJobLosesNothingAndNothingRunsTwice() throws Exception {
    GeminiSimulator sim = simulator(quick());
    UUID session = batchSession(4, false);
    worker(sim, "killed").submitOnce(); // then killed: never called again
    BatchDelivery survivor = worker(sim, "survivor");
    pollUntil(survivor, "another worker completed the job", () -> filesByStatus(session).equals(Map.of("completed", 4L)));
    assertEquals(1, sim.batches().jobs().size(), "one job at Google");
    assertEquals(4, sim.batches().jobs().get(0).requests());
  }

  @Test
  void aWorkerKilledBetweenAskingGoogleAndRecordingTheNameLeavesAJobTheNextOneFindsByDisplayName() throws Exception {
    GeminiSimulator sim = simulator(quick());
    UUID session = batchSession(3, false);
    // What a worker does up to the create call, then it dies before recording Google's name.
    UUID job = UUID.randomUUID();
    BatchJobs jobs = new BatchJobs(db.dataSource());
    List<ClaimedFile> files = jobs.open(job, "gemini", MODEL, "dying", 10, FairShare.TEAM, Duration.ofMinutes(10));
    assertEquals(3, files.size());
    try (GeminiBatchClient google = new GeminiBatchClient(GeminiConfig.of(sim.baseUrl(), KEY));
         GeminiClient gemini = new GeminiClient(GeminiConfig.of(sim.baseUrl(), KEY))) {
      List<io.batchpilot.gemini.BatchRequest> requests = new ArrayList<>();
      for (ClaimedFile f : files) {
        byte[] png = Files.readAllBytes(Path.of(java.net.URI.create(
            dsl.fetchOne("SELECT source_url FROM public.batch_upload_files WHERE id = ?", f.id()).get(0, String.class))));
        requests.add(new io.batchpilot.gemini.BatchRequest(f.id().toString(), gemini.receiptRequest(png, "image/png")));
      }
      google.create(MODEL, BatchJobs.Job.displayName(job), requests);
    }
    BatchDelivery survivor = worker(sim, "survivor");
    assertEquals(0, survivor.pollOnce().jobs(), "the creator's lease still runs: nobody else touches the job");
    dsl.execute("UPDATE batchpilot_private.batch_jobs SET lease_expires_at = clock_timestamp() - interval '1 second'");
    pollUntil(survivor, "the job was found by its display name and completed",
        () -> filesByStatus(session).equals(Map.of("completed", 3L)));
    assertEquals(1, sim.batches().jobs().size(), "the job was found, not sent again");
  }

  @Test
  void aWorkerKilledBeforeGoogleHadTheJobGivesItsFilesBackWithoutSpendingAnAttempt() throws Exception {
    GeminiSimulator sim = simulator(quick());
    UUID session = batchSession(3, false);
    UUID job = UUID.randomUUID();
    new BatchJobs(db.dataSource()).open(job, "gemini", MODEL, "dying", 10, FairShare.TEAM, Duration.ofMinutes(10));
    dsl.execute("UPDATE batchpilot_private.batch_jobs SET lease_expires_at = clock_timestamp() - interval '1 second'");

    BatchDelivery survivor = worker(sim, "survivor");
    BatchDelivery.Polled polled = survivor.pollOnce();
    assertEquals(3, polled.filesSentBack());
    assertEquals(Map.of("pending", 3L), filesByStatus(session));
    assertEquals(0, dsl.fetchOne("SELECT max(j.attempts) FROM public.batch_upload_files f JOIN batchpilot_private.jobs j ON j.file_id = f.id AND j.kind = 'extraction' WHERE f.batch_session_id = ?", session)
        .get(0, Integer.class), "no attempt spent");
    assertEquals("abandoned", dsl.fetchOne("SELECT state::text FROM batchpilot_private.batch_jobs WHERE id = ?", job)
        .get(0, String.class));

    survivor.submitOnce();
    pollUntil(survivor, "a new job completed them", () -> filesByStatus(session).equals(Map.of("completed", 3L)));
    assertEquals(1, sim.batches().jobs().size());
  }

  @Test
  void aCreatorWhoseLeaseRanOutAndWhoseJobWasTakenOverDoesNotSendItAfterAll() throws Exception {
    GeminiSimulator sim = simulator(quick());
    UUID session = batchSession(3, false);
    UUID job = UUID.randomUUID();
    BatchDelivery slow = worker(sim, "slow");
    List<ClaimedFile> files = new BatchJobs(db.dataSource()).open(job, "gemini", MODEL, "slow", 10, FairShare.TEAM,
        Duration.ofMinutes(10));
    // The slow creator's lease runs out while it prepares; another worker takes the job over, finds
    // nothing at Google and gives the files back.
    dsl.execute("UPDATE batchpilot_private.batch_jobs SET lease_expires_at = clock_timestamp() - interval '1 second'");
    assertEquals(3, worker(sim, "survivor").pollOnce().filesSentBack());

    assertEquals(0, slow.send(job, MODEL, files).sent(), "the slow creator gives up instead of creating the job");
    assertEquals(List.of(), sim.batches().jobs(), "nothing went to Google");
    assertEquals(Map.of("pending", 3L), filesByStatus(session));
    assertEquals("abandoned", dsl.fetchOne("SELECT state::text FROM batchpilot_private.batch_jobs WHERE id = ?", job)
        .get(0, String.class));
  }

  @Test
  void anExpiredJobSendsItsFilesBackToANewJob() throws Exception {
    GeminiSimulator sim = simulator(quick().withFault("job-expired", 1.0).withExpireAfter(Duration.ofMillis(500)));
    UUID session = batchSession(3, false);
    BatchDelivery worker = worker(sim, "w1");
    worker.submitOnce();
    pollUntil(worker, "the job expired and its files came back", () -> filesByStatus(session).equals(Map.of("pending", 3L)));
    Record file = dsl.fetchOne("SELECT j.error_type, j.error_message, j.attempts FROM public.batch_upload_files f JOIN batchpilot_private.jobs j ON j.file_id = f.id AND j.kind = 'extraction' "
        + "WHERE f.batch_session_id = ? LIMIT 1", session);
    assertEquals("batch_job_expired", file.get("error_type", String.class));
    assertTrue(file.get("error_message", String.class).contains("expired"), file.get("error_message", String.class));
    assertEquals(0, file.get("attempts", Integer.class), "an expired job is not the file's failure");
    assertEquals("batch", dsl.fetchOne("SELECT delivery FROM public.batch_upload_sessions WHERE id = ?", session)
        .get(0, String.class), "without interactive fallback the files stay in Batch Mode");
    assertEquals(3, worker.submitOnce().files(), "they go into a new job");
    assertEquals(2, sim.batches().jobs().size());
  }

  @Test
  void anExpiredJobOfASessionAllowingItSendsItsFilesInteractive() throws Exception {
    GeminiSimulator sim = simulator(quick().withFault("job-expired", 1.0).withExpireAfter(Duration.ofMillis(500)));
    UUID session = batchSession(2, true);
    BatchDelivery worker = worker(sim, "w1");
    worker.submitOnce();
    pollUntil(worker, "the job expired", () -> filesByStatus(session).equals(Map.of("pending", 2L)));
    assertEquals("interactive", dsl.fetchOne("SELECT delivery FROM public.batch_upload_sessions WHERE id = ?", session)
        .get(0, String.class));
    assertEquals(0, worker.submitOnce().files(), "no new batch job: the files are for interactive workers now");
    assertEquals(2, dsl.fetchOne("SELECT count(*) FROM batchpilot_private.claim_files('interactive-worker', 10, "
        + "interval '1 minute')").get(0, Integer.class), "an interactive worker claims them");
  }

  @Test
  void aRequestGoogleFailedIsRetriedAloneWhileTheRestComplete() throws Exception {
    GeminiSimulator sim = simulator(quick().withFault("request-error", 0.5));
    UUID session = batchSession(6, false);
    BatchDelivery worker = worker(sim, "w1");
    worker.submitOnce();
    pollUntil(worker, "the job ended", () -> dsl.fetchOne("SELECT count(*) FROM batchpilot_private.batch_jobs "
        + "WHERE state = 'succeeded'").get(0, Integer.class) == 1);
    Map<String, Long> status = filesByStatus(session);
    long completed = status.getOrDefault("completed", 0L);
    long retried = status.getOrDefault("pending", 0L);
    assertEquals(6, completed + retried, status.toString());
    assertTrue(completed > 0 && retried > 0, "with half the requests failing, some of each: " + status);
    assertEquals(retried, dsl.fetchOne("SELECT count(*) FROM batchpilot_private.jobs WHERE batch_session_id = ? "
        + "AND kind = 'extraction' AND state = 'available' AND attempts = 1 AND error_type IS NOT NULL", session).get(0, Long.class),
        "each failed request spent its file's attempt and says why");
  }

  @Test
  void cancellingTheSessionCancelsItsJobAndSkipsItsFiles() throws Exception {
    GeminiSimulator sim = simulator(BatchConfig.DEFAULTS.withDelays(Duration.ofSeconds(30), Duration.ofSeconds(30)));
    UUID session = batchSession(3, false);
    BatchDelivery worker = worker(sim, "w1");
    worker.submitOnce();
    sessions.cancel(session);
    pollUntil(worker, "the job was cancelled and the files skipped", () -> filesByStatus(session).equals(Map.of("skipped", 3L)));
    List<SimulatedBatches.Snapshot> atGoogle = sim.batches().jobs();
    assertEquals(1, atGoogle.size());
    assertTrue(atGoogle.get(0).state().endsWith("CANCELLED"), atGoogle.get(0).state());
    assertEquals("cancelled", dsl.fetchOne("SELECT state::text FROM batchpilot_private.batch_jobs").get(0, String.class));
  }
}
