package io.batchpilot.worker;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;
import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_SESSIONS;
import static io.batchpilot.jooq.Tables.QUOTA_LIMITS;
import static io.batchpilot.jooq.Tables.QUOTA_PERMITS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.zaxxer.hikari.HikariDataSource;
import io.batchpilot.db.ConnectionPools;
import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.files.DuplicateFinder;
import io.batchpilot.files.FileSource;
import io.batchpilot.files.FileSourceConfig;
import io.batchpilot.files.FileValidator;
import io.batchpilot.files.FileValidatorConfig;
import io.batchpilot.files.ImagePreprocessor;
import io.batchpilot.files.ImagePreprocessorConfig;
import io.batchpilot.gemini.GeminiClient;
import io.batchpilot.gemini.GeminiConfig;
import io.batchpilot.jooq.tables.records.BatchUploadFilesRecord;
import io.batchpilot.limiter.Permit;
import io.batchpilot.limiter.QuotaGate;
import io.batchpilot.limiter.QuotaGateConfig;
import io.batchpilot.maintenance.SessionProgress;
import io.batchpilot.metrics.Metrics;
import io.batchpilot.notify.NotifierConfig;
import io.batchpilot.pipeline.Backoff;
import io.batchpilot.pipeline.ClaimedFile;
import io.batchpilot.pipeline.Completer;
import io.batchpilot.pipeline.FileClaims;
import io.batchpilot.pipeline.Outcome;
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
import io.batchpilot.store.Jooq;
import io.batchpilot.testing.Eventually;
import io.batchpilot.testing.JobRow;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import javax.sql.DataSource;
import okhttp3.OkHttpClient;
import org.jooq.DSLContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** The real pipeline (files, gate, Gemini client) against the simulator and PostgreSQL. */
@ExtendWith(PostgresExtension.class)
class ReceiptPipelineTest {

  private static final String MODEL = "gemini-2.5-flash";
  private static final String KEY = "test-key-for-the-simulator";
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Duration DEADLINE = Duration.ofSeconds(240);
  private static final OkHttpClient HTTP = new OkHttpClient();
  private static final WorkerConfig CONFIG = WorkerConfig.defaults().withConcurrency(8)
      .withNotifier(new NotifierConfig(Duration.ofMillis(300), Duration.ofMillis(50), Duration.ofSeconds(1)));
  private static final ReceiptProcessor.Config FAST_RETRIES =
      new ReceiptProcessor.Config(Duration.ofSeconds(5), new Backoff(Duration.ofMillis(50), Duration.ofMillis(500)));

  @TempDir
  static Path root;

  private final TestDatabase db;
  private final DSLContext dsl;
  private final Sessions sessions;

  ReceiptPipelineTest(TestDatabase db) {
    this.db = db;
    this.dsl = Jooq.using(db.dataSource());
    this.sessions = new Sessions(db.dataSource());
  }

  @AfterAll
  static void closeHttp() {
    HTTP.dispatcher().executorService().shutdown();
  }

  @BeforeEach
  void emptyAndUnlimited() {
    dsl.deleteFrom(BATCH_UPLOAD_SESSIONS).execute();
    dsl.deleteFrom(QUOTA_LIMITS).execute();
    dsl.insertInto(QUOTA_LIMITS)
        .set(QUOTA_LIMITS.PROVIDER, "gemini").set(QUOTA_LIMITS.MODEL, MODEL)
        .set(QUOTA_LIMITS.REQUESTS_PER_MINUTE, 1_000_000).set(QUOTA_LIMITS.INPUT_TOKENS_PER_MINUTE, 1_000_000_000L)
        .set(QUOTA_LIMITS.MAX_IN_FLIGHT, 1000)
        .execute();
  }

  private ReceiptProcessor processor(DataSource dataSource, GeminiClient gemini, FileValidatorConfig validation) {
    return new ReceiptProcessor(new FileSource(FileSourceConfig.defaults().withLocalRoot(root), HTTP),
        new FileValidator(validation), new DuplicateFinder(dataSource),
        new ImagePreprocessor(ImagePreprocessorConfig.defaults()), new QuotaGate(dataSource, QuotaGateConfig.defaults()),
        gemini, FAST_RETRIES, new Metrics());
  }

  private static NewFile write(String name, String mimeType, byte[] bytes) throws Exception {
    Path path = root.resolve(name);
    Files.write(path, bytes);
    return NewFile.at(name, mimeType, path.toUri().toString());
  }

  private UUID submit(String name, List<NewFile> files) {
    UUID session = sessions.submit(new NewSession(name, null, null, MODEL, 50, "aggressive"), files);
    // 20% faults: ten attempts make a file that never gets through vanishingly unlikely (0.2^10).
    dsl.update(BATCH_UPLOAD_FILES).set(BATCH_UPLOAD_FILES.MAX_ATTEMPTS, 10)
        .where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session)).execute();
    return session;
  }

  private List<BatchUploadFilesRecord> files(UUID session) {
    return dsl.selectFrom(BATCH_UPLOAD_FILES).where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session)).fetch();
  }

  private static JsonNode json(BatchUploadFilesRecord row) {
    try {
      return JSON.readTree(row.getResult().data());
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  @Test
  void twoHundredReceiptsAcrossThreeWorkersWithFaultsMatchTheGroundTruth() throws Exception {
    // Small PNGs and JPEGs: rendering PDFs and phone-sized photos costs seconds each on a shared
    // 2-core machine, and the file types are covered by the simulator's and the files' own tests.
    List<SyntheticReceipts.Sample> samples = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      long seed = 5000 + i;
      samples.add(i % 2 == 0
          ? new SyntheticReceipts.Sample("r" + i + ".png", "image/png", SyntheticReceipts.png(seed, 300, 1.4), SyntheticReceipts.receipt(seed))
          : new SyntheticReceipts.Sample("r" + i + ".jpg", "image/jpeg", SyntheticReceipts.jpeg(seed, 300, 1.4, 0.85f), SyntheticReceipts.receipt(seed)));
    }
    List<NewFile> list = new ArrayList<>();
    Map<String, SyntheticReceipts.Sample> byName = new HashMap<>();
    for (SyntheticReceipts.Sample s : samples) {
      list.add(write("fleet-" + s.filename(), s.mimeType(), s.bytes()));
      byName.put("fleet-" + s.filename(), s);
    }
    UUID session = submit("fleet", list);
    SimulatorConfig faulty = SimulatorConfig.defaults().withApiKeys(Set.of(KEY)).withFaults(FaultPlan.NONE
        .with(Fault.OVERLOADED, 0.10).with(Fault.SLOW_RESPONSE, 0.10).withSlowResponseDelay(Duration.ofSeconds(3)));
    List<HikariDataSource> pools = new ArrayList<>();
    List<Worker> workers = new ArrayList<>();
    try (GeminiSimulator sim = GeminiSimulator.start(faulty);
         GeminiClient gemini = new GeminiClient(GeminiConfig.of(sim.baseUrl(), KEY)
             .withTimeouts(Duration.ofSeconds(2), Duration.ofMillis(1500), Duration.ofSeconds(10)))) {
      for (int i = 0; i < 3; i++) {
        HikariDataSource pool = ConnectionPools.open(db.url(), 4, "pipeline-" + i);
        pools.add(pool);
        Worker worker = new Worker(CONFIG, pool, db.url(), processor(pool, gemini, FileValidatorConfig.defaults()), new Metrics());
        workers.add(worker);
        worker.start();
      }
      Eventually.await("200 receipts completed", DEADLINE, () -> sessions.progress(session).completed() == 200);
      for (Worker w : workers) {
        w.stop();
      }

      Progress p = sessions.progress(session);
      assertEquals(0, p.failed() + p.pending() + p.processing());
      assertEquals(sim.requests().size(), p.apiCalls(), "every request the simulator saw is counted");
      assertTrue(p.apiCalls() > 200, "with 20% faults some calls were retried: " + p.apiCalls());
      long tokens = 0;
      for (BatchUploadFilesRecord row : files(session)) {
        SyntheticReceipts.Sample truth = byName.get(row.getOriginalFilename());
        JsonNode result = json(row);
        assertEquals(truth.truth().merchant(), result.get("merchant").asText(), row.getOriginalFilename());
        assertEquals(truth.truth().date().toString(), result.get("date").asText(), row.getOriginalFilename());
        assertEquals(0, truth.truth().total().compareTo(new BigDecimal(result.get("total").asText())), row.getOriginalFilename());
        assertEquals(truth.truth().lineItems().size(), result.get("line_items").size(), row.getOriginalFilename());
        assertNull(JobRow.extraction(dsl, row.getId()).claimedBy());
        assertEquals(32, row.getContentSha256().length);
        tokens += row.getTokensUsed();
      }
      assertEquals(tokens, p.tokensUsed(), "the session's tokens are the sum of its files'");
      new SessionProgress(db.dataSource()).runOnce();
      assertEquals("completed", sessions.progress(session).status());
    } finally {
      for (Worker w : workers) {
        w.stop();
      }
      pools.forEach(HikariDataSource::close);
    }
  }

  @Test
  void badInputsFailAloneWithTheirErrorTypes() throws Exception {
    List<SyntheticReceipts.Sample> good = SyntheticReceipts.sampleSet(4);
    List<NewFile> list = new ArrayList<>();
    for (SyntheticReceipts.Sample s : good) {
      list.add(write("good-" + s.filename(), s.mimeType(), s.bytes()));
    }
    byte[] png = good.get(0).bytes();
    byte[] corrupt = java.util.Arrays.copyOf(png, 64);
    byte[] oversize = java.util.Arrays.copyOf(png, 3_000_000);
    Map<String, String> expected = new HashMap<>();
    list.add(write("empty.png", "image/png", new byte[0]));
    expected.put("empty.png", "invalid_file");
    list.add(write("declared-pdf.png", "application/pdf", png));
    expected.put("declared-pdf.png", "invalid_file");
    list.add(write("corrupt.png", "image/png", corrupt));
    expected.put("corrupt.png", "invalid_file");
    list.add(write("oversize.png", "image/png", oversize));
    expected.put("oversize.png", "invalid_file");
    list.add(write("unreadable.pdf", "application/pdf", "%PDF-1.7\nthis is not a PDF body".getBytes()));
    expected.put("unreadable.pdf", "invalid_file");
    list.add(NewFile.at("missing.png", "image/png", root.resolve("missing.png").toUri().toString()));
    expected.put("missing.png", "file_unavailable");
    UUID session = submit("bad", list);

    try (GeminiSimulator sim = GeminiSimulator.start(SimulatorConfig.defaults().withApiKeys(Set.of(KEY)));
         GeminiClient gemini = new GeminiClient(GeminiConfig.of(sim.baseUrl(), KEY));
         Worker worker = new Worker(CONFIG, db.dataSource(), db.url(),
             processor(db.dataSource(), gemini, FileValidatorConfig.defaults().withMaxFileBytes(2_000_000)), new Metrics())) {
      worker.start();
      Eventually.await("every file finished", DEADLINE, () -> {
        Progress p = sessions.progress(session);
        return p.completed() + p.failed() == list.size();
      });

      assertEquals(good.size(), sim.requests().size(), "no bad file reached Gemini");
    }
    for (BatchUploadFilesRecord row : files(session)) {
      String type = expected.get(row.getOriginalFilename());
      if (type == null) {
        assertEquals("completed", row.getStatus(), row.getOriginalFilename());
      } else {
        assertEquals("failed", row.getStatus(), row.getOriginalFilename());
        assertEquals(type, row.getErrorType(), row.getOriginalFilename() + ": " + row.getErrorMessage());
        assertTrue(row.getErrorMessage() != null && !row.getErrorMessage().isBlank());
        assertEquals(0, row.getApiCallsMade());
      }
    }
  }

  /**
   * Issue 17: a worker killed between ending a call's permit and writing its outcome lost the call
   * from total_api_calls. The permit now outlives the processing and ends only once the outcome,
   * which counts the call, is written.
   */
  @Test
  void aCallsPermitStaysInFlightUntilItsOutcomeIsWrittenThenEndsWithItsTokens() throws Exception {
    SyntheticReceipts.Sample sample = SyntheticReceipts.sampleSet(1).get(0);
    UUID session = submit("permit order", List.of(write("order.png", sample.mimeType(), sample.bytes())));
    ClaimedFile claimed = new FileClaims(db.dataSource()).claim("w1", 1, Duration.ofMinutes(1)).get(0);
    QuotaGate gate = new QuotaGate(db.dataSource(), QuotaGateConfig.defaults());
    try (GeminiSimulator sim = GeminiSimulator.start(SimulatorConfig.defaults().withApiKeys(Set.of(KEY)));
         GeminiClient gemini = new GeminiClient(GeminiConfig.of(sim.baseUrl(), KEY));
         Completer completer = new Completer(db.dataSource(), 10, "permit-order-completer", new Metrics())) {
      ReceiptProcessor processor = new ReceiptProcessor(new FileSource(FileSourceConfig.defaults().withLocalRoot(root), HTTP),
          new FileValidator(FileValidatorConfig.defaults()), new DuplicateFinder(db.dataSource()),
          new ImagePreprocessor(ImagePreprocessorConfig.defaults()), gate, gemini, FAST_RETRIES, new Metrics());

      Outcome outcome = processor.process(claimed);

      assertEquals(Outcome.Status.COMPLETED, outcome.status());
      Permit permit = outcome.call().permit();
      assertEquals(List.of(claimed.id()), dsl.select(QUOTA_PERMITS.FILE_ID).from(QUOTA_PERMITS)
          .where(QUOTA_PERMITS.ID.eq(permit.id())).fetch(QUOTA_PERMITS.FILE_ID), "still in flight, still the file's");
      assertEquals(outcome.billed().promptTokens(), outcome.call().actualInputTokens());
      long billed = sim.requests().get(0).inputTokens();
      assertEquals(billed, outcome.billed().promptTokens(), "the file carries what the simulator billed");
      assertTrue(permit.estimatedInputTokens() != billed, "the client's estimate (" + permit.estimatedInputTokens()
          + ") is not the simulator's count (" + billed + "): the end of the permit has something to reconcile");

      assertTrue(completer.write(List.of(outcome)).get(0).applied());
      assertEquals(1, dsl.fetchCount(QUOTA_PERMITS, QUOTA_PERMITS.ID.eq(permit.id()).and(QUOTA_PERMITS.FILE_ID.isNull())),
          "in flight still, and no longer the file's: the written outcome counts the call");
      processor.written(outcome);
      gate.close();

      assertEquals(0, dsl.fetchCount(QUOTA_PERMITS, QUOTA_PERMITS.ID.eq(permit.id())), "ended once written");
      assertEquals(billed, gate.status("gemini", MODEL).orElseThrow().inputTokensInWindow(),
          "the window holds the billed tokens, not the estimate");
      assertEquals(1, sessions.progress(session).apiCalls());
    } finally {
      gate.close();
    }
  }

  @Test
  void aBlockedAnswerIsBilledAndItsTokensThinkingIncludedReachTheFile() throws Exception {
    SyntheticReceipts.Sample sample = SyntheticReceipts.sampleSet(1).get(0);
    UUID session = submit("blocked", List.of(write("blocked.png", sample.mimeType(), sample.bytes())));
    SimulatorConfig blocking = SimulatorConfig.defaults().withApiKeys(Set.of(KEY)).withThoughtsTokens(438)
        .withFaults(FaultPlan.NONE.with(Fault.SAFETY, 1.0));
    try (GeminiSimulator sim = GeminiSimulator.start(blocking);
         GeminiClient gemini = new GeminiClient(GeminiConfig.of(sim.baseUrl(), KEY));
         Worker worker = new Worker(CONFIG, db.dataSource(), db.url(), processor(db.dataSource(), gemini, FileValidatorConfig.defaults()), new Metrics())) {
      worker.start();
      Eventually.await("the file finished", DEADLINE, () -> sessions.progress(session).finished() == 1);

      BatchUploadFilesRecord row = files(session).get(0);
      assertEquals("failed", row.getStatus(), row.getErrorMessage());
      assertEquals("blocked_output", row.getErrorType());
      assertEquals(1, sim.requests().size());
      // Google bills a 200 whose answer it blocked: the prompt and the thinking are on the file.
      assertEquals(sim.requests().get(0).inputTokens(), row.getInputTokens().longValue(), "the billed prompt");
      assertEquals(438, row.getThinkingTokens(), "the billed thinking");
      assertEquals(row.getInputTokens() + 438, row.getTokensUsed());
      assertEquals(438, sessions.progress(session).thinkingTokens());
    }
  }

  @Test
  void duplicateContentIsCompletedFromTheEarlierResultWithoutACall() throws Exception {
    SyntheticReceipts.Sample sample = SyntheticReceipts.sampleSet(1).get(0);
    UUID first = submit("first", List.of(write("original.png", sample.mimeType(), sample.bytes())));
    try (GeminiSimulator sim = GeminiSimulator.start(SimulatorConfig.defaults().withApiKeys(Set.of(KEY)));
         GeminiClient gemini = new GeminiClient(GeminiConfig.of(sim.baseUrl(), KEY));
         Worker worker = new Worker(CONFIG, db.dataSource(), db.url(), processor(db.dataSource(), gemini, FileValidatorConfig.defaults()), new Metrics())) {
      worker.start();
      Eventually.await("the original completed", DEADLINE, () -> sessions.progress(first).completed() == 1);
      UUID second = submit("second", List.of(write("copy.png", sample.mimeType(), sample.bytes())));
      Eventually.await("the copy completed", DEADLINE, () -> sessions.progress(second).completed() == 1);

      assertEquals(1, sim.requests().size(), "the copy made no call");
      BatchUploadFilesRecord original = files(first).get(0);
      BatchUploadFilesRecord copy = files(second).get(0);
      assertEquals(original.getId(), copy.getDuplicateOf());
      assertEquals(json(original), json(copy));
      assertEquals(0, copy.getApiCallsMade());
      assertEquals(0, sessions.progress(second).apiCalls());
    }
  }

  @Test
  void identicalFilesInFlightTogetherMakeOneCallAndTheOthersReuseIt() throws Exception {
    SyntheticReceipts.Sample sample = SyntheticReceipts.sampleSet(2).get(1);
    List<NewFile> copies = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      copies.add(write("same-" + i + ".png", sample.mimeType(), sample.bytes()));
    }
    UUID session = submit("copies", copies);
    // A second per call, so the four are claimed and validated while the first call is still out.
    SimulatorConfig slow = SimulatorConfig.defaults().withApiKeys(Set.of(KEY))
        .withLatency(io.batchpilot.simulator.LatencyDistribution.fixed(Duration.ofSeconds(1)));
    try (GeminiSimulator sim = GeminiSimulator.start(slow);
         GeminiClient gemini = new GeminiClient(GeminiConfig.of(sim.baseUrl(), KEY));
         Worker worker = new Worker(CONFIG, db.dataSource(), db.url(), processor(db.dataSource(), gemini, FileValidatorConfig.defaults()), new Metrics())) {
      worker.start();
      Eventually.await("the four copies completed", DEADLINE, () -> sessions.progress(session).completed() == 4);

      assertEquals(1, sim.requests().size(), "one call for four identical files");
      List<BatchUploadFilesRecord> rows = files(session);
      List<BatchUploadFilesRecord> called = rows.stream().filter(r -> r.getDuplicateOf() == null).toList();
      assertEquals(1, called.size());
      for (BatchUploadFilesRecord row : rows) {
        assertEquals(json(called.get(0)), json(row));
        assertEquals(1, JobRow.extraction(dsl, row.getId()).attempts(), "waiting for the identical file spent no attempt");
      }
    }
  }

  @Test
  void filesThatMeetAQuotaTheGateDoesNotKnowSpendNoAttemptAndAllComplete() throws Exception {
    List<NewFile> list = new ArrayList<>();
    for (SyntheticReceipts.Sample s : SyntheticReceipts.sampleSet(6)) {
      list.add(write("quota-" + s.filename(), s.mimeType(), s.bytes()));
    }
    UUID session = submit("quota", list);
    // One attempt each: a 429 that spent it would fail the file.
    dsl.update(BATCH_UPLOAD_FILES).set(BATCH_UPLOAD_FILES.MAX_ATTEMPTS, 1)
        .where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session)).execute();
    // The project's real quota (2 requests per 2 s) is far below what quota_limits says.
    SimulatorConfig tight = SimulatorConfig.defaults().withApiKeys(Set.of(KEY)).withWindow(Duration.ofSeconds(2))
        .withModelLimits(MODEL, new ModelLimits(2, 0, 0));
    try (GeminiSimulator sim = GeminiSimulator.start(tight);
         GeminiClient gemini = new GeminiClient(GeminiConfig.of(sim.baseUrl(), KEY));
         Worker worker = new Worker(CONFIG, db.dataSource(), db.url(), processor(db.dataSource(), gemini, FileValidatorConfig.defaults()), new Metrics())) {
      worker.start();
      Eventually.await("6 receipts done", DEADLINE,
          () -> sessions.progress(session).completed() + sessions.progress(session).failed() == 6);
    }
    Progress p = sessions.progress(session);
    assertEquals(0, p.failed(), "no file fails for the quota");
    assertTrue(p.rateLimitHits() > 0, "the simulator answered 429s: " + p.rateLimitHits());
    for (BatchUploadFilesRecord row : files(session)) {
      assertEquals(1, JobRow.extraction(dsl, row.getId()).attempts(), row.getOriginalFilename() + ": only the call that succeeded spent an attempt");
    }
  }

  @Test
  void refusedKeyStopsTheSessionWithOneErrorAndFailsNoFile() throws Exception {
    List<NewFile> list = new ArrayList<>();
    for (SyntheticReceipts.Sample s : SyntheticReceipts.sampleSet(6)) {
      list.add(write("key-" + s.filename(), s.mimeType(), s.bytes()));
    }
    UUID session = submit("key", list);
    try (GeminiSimulator sim = GeminiSimulator.start(SimulatorConfig.defaults().withApiKeys(Set.of(KEY)));
         GeminiClient gemini = new GeminiClient(GeminiConfig.of(sim.baseUrl(), "a-refused-key"));
         Worker worker = new Worker(CONFIG, db.dataSource(), db.url(), processor(db.dataSource(), gemini, FileValidatorConfig.defaults()), new Metrics())) {
      worker.start();
      Eventually.await("the session stopped", DEADLINE, () -> "failed".equals(sessions.progress(session).status()));
      Eventually.await("no file in flight", DEADLINE, () -> sessions.progress(session).processing() == 0);
    }
    Progress p = sessions.progress(session);
    assertEquals(0, p.failed(), "no file is failed for the key");
    assertEquals(6, p.pending());
    assertTrue(p.errorMessage().contains("GEMINI_API_KEY"), p.errorMessage());
    assertTrue(!p.errorMessage().contains("a-refused-key"), "the key never appears in the message");
  }
}
