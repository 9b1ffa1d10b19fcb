package io.batchpilot.embeddings;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;
import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_SESSIONS;
import static io.batchpilot.jooq.Tables.RECEIPT_EMBEDDINGS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.gemini.GeminiClient;
import io.batchpilot.gemini.GeminiConfig;
import io.batchpilot.gemini.TokenCounter;
import io.batchpilot.jooq.tables.records.BatchUploadFilesRecord;
import io.batchpilot.limiter.QuotaGate;
import io.batchpilot.limiter.QuotaGateConfig;
import io.batchpilot.limiter.QuotaStatus;
import io.batchpilot.metrics.Metrics;
import io.batchpilot.pipeline.Backoff;
import io.batchpilot.simulator.Fault;
import io.batchpilot.simulator.FaultPlan;
import io.batchpilot.simulator.GeminiSimulator;
import io.batchpilot.simulator.ModelLimits;
import io.batchpilot.simulator.RecordedRequest;
import io.batchpilot.simulator.SimulatorConfig;
import io.batchpilot.store.JobKind;
import io.batchpilot.store.JobState;
import io.batchpilot.store.Jobs;
import io.batchpilot.store.Jooq;
import io.batchpilot.testing.JobRow;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.jooq.DSLContext;
import org.jooq.Record2;
import org.jooq.impl.DSL;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(PostgresExtension.class)
class EmbeddingBatcherTest {

  private static final String MODEL = EmbeddingConfig.MODEL.defaultValue();
  // Retries are due again within a millisecond, so a test needs no clock of the database's to wait on.
  private static final Backoff INSTANT_BACKOFF = new Backoff(Duration.ofMillis(1), Duration.ofMillis(1));

  private TestDatabase db;
  private DSLContext dsl;
  private QuotaGate gate;
  private final SettableClock clock = new SettableClock();
  private GeminiSimulator healthy;
  private GeminiClient healthyClient;

  @BeforeEach
  void setUp(TestDatabase db) throws IOException {
    this.db = db;
    this.dsl = Jooq.using(db.dataSource());
    dsl.deleteFrom(BATCH_UPLOAD_SESSIONS).execute();
    // A paid tier's room, no block or cut left by another test, and a fresh ledger: each test sees
    // only its own requests.
    dsl.execute("UPDATE public.quota_limits SET requests_per_minute = 1000, input_tokens_per_minute = 10000000,"
        + " requests_per_day = NULL, blocked_until = NULL, blocked_quota_id = NULL, parked_until = NULL,"
        + " adaptive_factor = 1 WHERE model = ?", MODEL);
    dsl.execute("DELETE FROM public.quota_permits");
    dsl.execute("DELETE FROM public.quota_permit_releases");
    dsl.execute("UPDATE public.quota_limits SET ring_bucket = NULL, window_requests = 0, window_input_tokens = 0,"
        + " permits_granted = 0");
    gate = new QuotaGate(db.dataSource(), QuotaGateConfig.defaults());
    healthy = GeminiSimulator.start(SimulatorConfig.defaults());
    healthyClient = new GeminiClient(GeminiConfig.of(healthy.baseUrl(), "test-key"));
  }

  @AfterEach
  void tearDown() {
    healthyClient.close();
    healthy.close();
  }

  @Test
  void aSessionOf250FilesIsEmbeddedInThreeBatchEmbedContentsCalls() throws Exception {
    ExtractedFiles.Session session = ExtractedFiles.throughPipeline(db, 250);
    EmbeddingBatcher batcher = batcher(healthyClient, EmbeddingConfig.defaults());

    EmbeddingBatcher.RunResult full = batcher.runOnce();
    assertEquals(2, full.requests(), "two full batches go at once");
    assertEquals(200, full.embedded());
    assertEquals(0, batcher.runOnce().requests(), "50 wait for company while the linger runs");

    clock.advance(EmbeddingConfig.LINGER.defaultValue());
    EmbeddingBatcher.RunResult rest = batcher.runOnce();
    assertEquals(1, rest.requests());
    assertEquals(50, rest.embedded());
    assertEquals(0, batcher.runOnce().requests());

    List<RecordedRequest> calls = embeddingCalls(healthy);
    assertEquals(3, calls.size(), calls::toString);
    assertEquals(List.of("batchEmbedContents", "batchEmbedContents", "batchEmbedContents"),
        calls.stream().map(RecordedRequest::method).toList());
    assertEquals(250, dsl.fetchCount(Jobs.JOBS, Jobs.kindIs(JobKind.EMBEDDING).and(Jobs.stateIs(JobState.COMPLETED))
        .and(Jobs.BATCH_SESSION_ID.eq(session.id()))));
    assertEquals(250, dsl.fetchCount(RECEIPT_EMBEDDINGS, RECEIPT_EMBEDDINGS.DIMENSIONS.eq(768)));
    for (Float[] vector : dsl.select(RECEIPT_EMBEDDINGS.EMBEDDING).from(RECEIPT_EMBEDDINGS).fetch().getValues(0, Float[].class)) {
      assertEquals(768, vector.length);
    }

    // Each batch was one acquisition: one request and all its texts' estimated tokens. batchEmbedContents
    // reports no usage, so nothing reconciles them with the server's count, which splits the digits of every
    // amount and date and so comes out higher than 4 characters a token.
    QuotaStatus quota = gate.status(EmbeddingConfig.PROVIDER, MODEL).orElseThrow();
    assertEquals(3, quota.requestsInWindow());
    long estimated = dsl.select(RECEIPT_EMBEDDINGS.CONTENT).from(RECEIPT_EMBEDDINGS).fetch(RECEIPT_EMBEDDINGS.CONTENT).stream()
        .mapToLong(TokenCounter.DEFAULT::textTokens).sum();
    assertEquals(estimated, quota.inputTokensInWindow());
    long counted = calls.stream().mapToLong(RecordedRequest::inputTokens).sum();
    assertTrue(counted > estimated, "the server counted " + counted + " tokens, the gate holds the estimate " + estimated);
  }

  @Test
  void theStoredTextIsTheRenderedReceipt() {
    UUID file = ExtractedFiles.completed(db.dataSource(), null, 1).files().get(0);
    EmbeddingBatcher batcher = batcher(healthyClient, EmbeddingConfig.defaults().withLinger(Duration.ZERO));

    assertEquals(1, batcher.runOnce().embedded());

    String content = dsl.select(RECEIPT_EMBEDDINGS.CONTENT).from(RECEIPT_EMBEDDINGS)
        .where(RECEIPT_EMBEDDINGS.FILE_ID.eq(file)).fetchOne().value1();
    assertTrue(content.startsWith("Merchant: Shop 0\nDate: 2026-11-01\nItems:\n- Item 0: 2 x 0.25 = 0.50\n"), content);
  }

  @Test
  void anEmbeddingFailureLeavesTheExtractionIntactAndIsRetried() throws IOException {
    ExtractedFiles.Session session = ExtractedFiles.completed(db.dataSource(), null, 30);
    Map<UUID, String> resultsBefore = results(session);
    EmbeddingConfig config = EmbeddingConfig.defaults().withBackoff(INSTANT_BACKOFF);

    try (GeminiSimulator overloaded = GeminiSimulator.start(SimulatorConfig.defaults()
            .withFaults(FaultPlan.NONE.with(Fault.OVERLOADED, 1.0)));
        GeminiClient overloadedClient = new GeminiClient(GeminiConfig.of(overloaded.baseUrl(), "test-key"))) {
      EmbeddingBatcher failing = batcher(overloadedClient, config);
      failing.runOnce();
      clock.advance(config.linger());
      EmbeddingBatcher.RunResult failed = failing.runOnce();
      assertEquals(1, failed.requests());
      assertEquals(30, failed.retried());
      assertEquals(1, embeddingCalls(overloaded).size());
    }

    for (UUID file : session.files()) {
      BatchUploadFilesRecord row = fileRow(file);
      assertEquals("completed", row.getStatus(), "the extraction is not undone");
      assertEquals(resultsBefore.get(file), row.getResult().data());
      assertEquals("pending", JobRow.embedding(dsl, row.getId()).status());
      assertEquals(1, JobRow.embedding(dsl, row.getId()).attempts());
      assertEquals("overloaded", JobRow.embedding(dsl, row.getId()).errorType());
      assertTrue(JobRow.embedding(dsl, row.getId()).errorMessage().contains(file.toString()), JobRow.embedding(dsl, row.getId()).errorMessage());
    }
    assertEquals(30, dsl.fetchValue(BATCH_UPLOAD_SESSIONS.FILES_COMPLETED));

    // The retry, on another worker after the backoff, succeeds.
    EmbeddingBatcher other = batcher(healthyClient, config);
    other.runOnce();
    clock.advance(config.linger());
    assertEquals(30, other.runOnce().embedded());
    for (UUID file : session.files()) {
      BatchUploadFilesRecord row = fileRow(file);
      assertEquals("completed", JobRow.embedding(dsl, row.getId()).status());
      assertEquals(2, JobRow.embedding(dsl, row.getId()).attempts());
      assertNull(JobRow.embedding(dsl, row.getId()).errorMessage());
      assertNotNull(JobRow.embedding(dsl, row.getId()).finishedAt());
      assertEquals(resultsBefore.get(file), row.getResult().data());
    }
    assertEquals(1, embeddingCalls(healthy).size());
  }

  @Test
  void anEmbeddingThatKeepsFailingIsFailedAfterMaxAttemptsWithTheExtractionKept() throws IOException {
    UUID file = ExtractedFiles.completed(db.dataSource(), null, 1).files().get(0);
    EmbeddingConfig config = EmbeddingConfig.defaults().withBackoff(INSTANT_BACKOFF).withMaxAttempts(2)
        .withLinger(Duration.ZERO);
    try (GeminiSimulator broken = GeminiSimulator.start(SimulatorConfig.defaults()
            .withFaults(FaultPlan.NONE.with(Fault.INTERNAL, 1.0)));
        GeminiClient brokenClient = new GeminiClient(GeminiConfig.of(broken.baseUrl(), "test-key"))) {
      EmbeddingBatcher batcher = batcher(brokenClient, config);
      do {
        batcher.runOnce();
      } while (JobRow.embedding(dsl, fileRow(file).getId()).status().equals("pending"));
      assertEquals(2, embeddingCalls(broken).size());
    }
    BatchUploadFilesRecord row = fileRow(file);
    assertEquals("failed", JobRow.embedding(dsl, row.getId()).status());
    assertEquals("server_error", JobRow.embedding(dsl, row.getId()).errorType());
    assertTrue(JobRow.embedding(dsl, row.getId()).errorMessage().contains("gave up after 2 attempts"), JobRow.embedding(dsl, row.getId()).errorMessage());
    assertEquals("completed", row.getStatus());
    assertNotNull(row.getResult());
  }

  @Test
  void aQuotaWaitPostponesTheBatchWithoutSpendingAnAttempt() {
    ExtractedFiles.Session session = ExtractedFiles.completed(db.dataSource(), null, 5);
    gate.rateLimited(EmbeddingConfig.PROVIDER, MODEL, Duration.ofHours(1));
    EmbeddingBatcher batcher = batcher(healthyClient, EmbeddingConfig.defaults().withLinger(Duration.ZERO));

    EmbeddingBatcher.RunResult result = batcher.runOnce();

    assertEquals(0, result.requests());
    assertEquals(5, result.postponed());
    assertEquals(0, embeddingCalls(healthy).size());
    for (UUID file : session.files()) {
      BatchUploadFilesRecord row = fileRow(file);
      assertEquals("pending", JobRow.embedding(dsl, row.getId()).status());
      assertEquals(0, JobRow.embedding(dsl, row.getId()).attempts());
      assertTrue(JobRow.embedding(dsl, row.getId()).scheduledAt().toInstant().isAfter(Instant.now().plus(Duration.ofMinutes(30))),
          "not before the gate opens");
    }
  }

  @Test
  void aRateLimitedBatchBlocksTheModelAndSpendsNoAttempt() throws IOException {
    ExtractedFiles.Session session = ExtractedFiles.completed(db.dataSource(), null, 200);
    // The server allows one request a minute; the gate (set wider here) lets the second through.
    try (GeminiSimulator strict = GeminiSimulator.start(SimulatorConfig.defaults()
            .withModelLimits(MODEL, new ModelLimits(1, 0, 0)));
        GeminiClient strictClient = new GeminiClient(GeminiConfig.of(strict.baseUrl(), "test-key"))) {
      EmbeddingBatcher.RunResult result = batcher(strictClient, EmbeddingConfig.defaults()).runOnce();

      assertEquals(2, result.requests());
      assertEquals(100, result.embedded());
      assertEquals(100, result.postponed());
      assertEquals(List.of("ok", "rate_limited"), embeddingCalls(strict).stream().map(RecordedRequest::outcome).toList());
    }
    QuotaStatus quota = gate.status(EmbeddingConfig.PROVIDER, MODEL).orElseThrow();
    assertTrue(quota.blockedUntil().isPresent(), "the whole fleet holds off the embedding model");
    List<BatchUploadFilesRecord> waiting = dsl.selectFrom(BATCH_UPLOAD_FILES)
        .where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session.id()))
        .and(BATCH_UPLOAD_FILES.ID.in(DSL.select(Jobs.FILE_ID).from(Jobs.JOBS)
            .where(Jobs.kindIs(JobKind.EMBEDDING)).and(Jobs.stateIs(JobState.AVAILABLE)))).fetch();
    assertEquals(100, waiting.size());
    assertTrue(waiting.stream().allMatch(r -> JobRow.embedding(dsl, r.getId()).attempts() == 0), "a 429 costs no attempt");
    assertTrue(waiting.stream().allMatch(r -> r.getStatus().equals("completed")));
  }

  @Test
  void aSpentDailyQuotaParksTheModelAndTheEmbeddingsWaitForItsResetSayingWhy() throws IOException {
    ExtractedFiles.Session session = ExtractedFiles.completed(db.dataSource(), null, 200);
    // The server allows one request a day; the gate knows no daily limit and lets the second through.
    try (GeminiSimulator daily = GeminiSimulator.start(SimulatorConfig.defaults()
            .withModelLimits(MODEL, new ModelLimits(0, 0, 1)));
        GeminiClient dailyClient = new GeminiClient(GeminiConfig.of(daily.baseUrl(), "test-key"))) {
      EmbeddingBatcher.RunResult result = batcher(dailyClient, EmbeddingConfig.defaults()).runOnce();

      assertEquals(2, result.requests());
      assertEquals(100, result.embedded());
      assertEquals(100, result.postponed());
      assertEquals(List.of(200, 429), embeddingCalls(daily).stream().map(RecordedRequest::status).toList());
    }
    Instant parkedUntil = gate.status(EmbeddingConfig.PROVIDER, MODEL).orElseThrow().parkedUntil()
        .orElseThrow(() -> new AssertionError("the embedding model is not parked for the fleet"));
    List<BatchUploadFilesRecord> waiting = dsl.selectFrom(BATCH_UPLOAD_FILES)
        .where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session.id()))
        .and(BATCH_UPLOAD_FILES.ID.in(DSL.select(Jobs.FILE_ID).from(Jobs.JOBS)
            .where(Jobs.kindIs(JobKind.EMBEDDING)).and(Jobs.stateIs(JobState.AVAILABLE)))).fetch();
    assertEquals(100, waiting.size());
    for (BatchUploadFilesRecord row : waiting) {
      assertEquals(0, JobRow.embedding(dsl, row.getId()).attempts(), "a spent daily quota costs no attempt");
      assertEquals("quota_exhausted", JobRow.embedding(dsl, row.getId()).errorType());
      assertTrue(JobRow.embedding(dsl, row.getId()).errorMessage().startsWith("the daily quota of " + MODEL + " is spent; this session's "
          + "embeddings wait for its reset at midnight Pacific time"), JobRow.embedding(dsl, row.getId()).errorMessage());
      Duration offReset = Duration.between(parkedUntil, JobRow.embedding(dsl, row.getId()).scheduledAt().toInstant()).abs();
      assertTrue(offReset.compareTo(Duration.ofSeconds(5)) < 0, "due at the reset " + parkedUntil + ", not "
          + JobRow.embedding(dsl, row.getId()).scheduledAt());
    }
  }

  @Test
  void aRefusedKeyFailsNoEmbeddingSpendsNoAttemptAndSaysWhatToDo() throws IOException {
    ExtractedFiles.Session session = ExtractedFiles.completed(db.dataSource(), null, 5);
    EmbeddingConfig config = EmbeddingConfig.defaults().withLinger(Duration.ZERO);
    try (GeminiSimulator keyed = GeminiSimulator.start(SimulatorConfig.defaults().withApiKeys(java.util.Set.of("good")));
        GeminiClient refused = new GeminiClient(GeminiConfig.of(keyed.baseUrl(), "a-refused-key"))) {
      EmbeddingBatcher.RunResult result = batcher(refused, config).runOnce();

      assertEquals(1, result.requests(), "one call, and the round ends");
      assertEquals(5, result.postponed());
      assertEquals(0, result.failed());
    }
    for (UUID file : session.files()) {
      BatchUploadFilesRecord row = fileRow(file);
      assertEquals("pending", JobRow.embedding(dsl, row.getId()).status(), "no embedding is failed for the key");
      assertEquals(0, JobRow.embedding(dsl, row.getId()).attempts());
      assertEquals("permission_denied", JobRow.embedding(dsl, row.getId()).errorType());
      assertTrue(JobRow.embedding(dsl, row.getId()).errorMessage().contains("set GEMINI_API_KEY"), JobRow.embedding(dsl, row.getId()).errorMessage());
      assertTrue(!JobRow.embedding(dsl, row.getId()).errorMessage().contains("a-refused-key"), "the key never appears in the message");
      assertTrue(JobRow.embedding(dsl, row.getId()).scheduledAt().toInstant()
          .isAfter(Instant.now().plus(config.backoff().cap()).minusSeconds(30)), "asked again after the backoff's cap");
    }
  }

  @Test
  void aWorkerWhoseDimensionalityDiffersFromTheSchemaRefusesToStart() {
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> batcher(healthyClient, EmbeddingConfig.defaults().withDimensions(1536)));
    assertTrue(e.getMessage().contains("BATCHPILOT_EMBEDDING_DIMENSIONS is 1536"), e.getMessage());
    assertTrue(e.getMessage().contains("768"), e.getMessage());
  }

  private EmbeddingBatcher batcher(GeminiClient client, EmbeddingConfig config) {
    return new EmbeddingBatcher(config, db.dataSource(), client, gate, "test-worker-" + UUID.randomUUID(), clock,
        new Metrics());
  }

  private static List<RecordedRequest> embeddingCalls(GeminiSimulator simulator) {
    return simulator.requests().stream().filter(r -> r.method().contains("mbed")).toList();
  }

  private BatchUploadFilesRecord fileRow(UUID file) {
    return dsl.selectFrom(BATCH_UPLOAD_FILES).where(BATCH_UPLOAD_FILES.ID.eq(file)).fetchOne();
  }

  private Map<UUID, String> results(ExtractedFiles.Session session) {
    return dsl.select(BATCH_UPLOAD_FILES.ID, BATCH_UPLOAD_FILES.RESULT).from(BATCH_UPLOAD_FILES)
        .where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session.id()))
        .fetchMap(Record2::value1, r -> r.value2().data());
  }
}
