package io.batchpilot.pipeline;

import static io.batchpilot.jooq.Tables.BATCHPILOT_USAGE_PER_MINUTE;
import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;
import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_SESSIONS;
import static io.batchpilot.jooq.Tables.QUOTA_PERMITS;
import static io.batchpilot.jooq.Tables.RECEIPTS;
import static io.batchpilot.jooq.Tables.RECEIPT_EXTRACTIONS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.gemini.Usage;
import io.batchpilot.jooq.tables.records.BatchUploadFilesRecord;
import io.batchpilot.limiter.Admission;
import io.batchpilot.limiter.Permit;
import io.batchpilot.limiter.QuotaGate;
import io.batchpilot.limiter.QuotaGateConfig;
import io.batchpilot.limiter.Strategy;
import io.batchpilot.metrics.MetricKey;
import io.batchpilot.metrics.Metrics;
import io.batchpilot.session.Progress;
import io.batchpilot.session.Sessions;
import io.batchpilot.store.Jobs;
import io.batchpilot.store.Jooq;
import io.batchpilot.testing.JobRow;
import java.math.BigDecimal;
import java.time.Duration;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.util.List;
import java.util.UUID;
import org.jooq.DSLContext;
import org.jooq.impl.DSL;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(PostgresExtension.class)
class CompleterTest {

  private static final Duration LEASE = Duration.ofSeconds(60);
  private static final ObjectMapper JSON = new ObjectMapper();

  private final TestDatabase db;
  private final DSLContext dsl;
  private final FileClaims claims;
  private final Completer completer;
  private final Metrics metrics = new Metrics();
  private final Sessions sessions;

  CompleterTest(TestDatabase db) {
    this.db = db;
    this.dsl = Jooq.using(db.dataSource());
    this.claims = new FileClaims(db.dataSource());
    this.completer = new Completer(db.dataSource(), 100, "test-completer", metrics);
    this.sessions = new Sessions(db.dataSource());
  }

  @BeforeEach
  void empty() {
    dsl.deleteFrom(BATCH_UPLOAD_SESSIONS).execute();
  }

  /** Files counted in the metrics under {@code name} with these error_type (or, for completed, no) tags. */
  private long counted(String name, String model, String errorType) {
    MetricKey key = errorType == null ? MetricKey.of(name, "model", model)
        : MetricKey.of(name, "model", model, "error_type", errorType);
    var counter = metrics.registry().getCounters().get(key.registryName());
    return counter == null ? 0 : counter.getCount();
  }

  private BatchUploadFilesRecord row(ClaimedFile f) {
    return dsl.selectFrom(BATCH_UPLOAD_FILES).where(BATCH_UPLOAD_FILES.ID.eq(f.id())).fetchOne();
  }

  @Test
  void completionWritesResultTokensSessionTotalsAndTheReceipt() throws Exception {
    UUID session = Batches.submit(db.dataSource(), "done", 2, 10);
    UUID receipt = dsl.insertInto(RECEIPTS).set(RECEIPTS.MERCHANT, (String) null).returning(RECEIPTS.ID).fetchOne().getId();
    dsl.update(BATCH_UPLOAD_FILES).set(BATCH_UPLOAD_FILES.RECEIPT_ID, receipt)
        .where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session)).and(BATCH_UPLOAD_FILES.UPLOAD_ORDER.eq(0)).execute();
    List<ClaimedFile> claimed = claims.claim("w1", 2, LEASE);
    JsonNode result = JSON.readTree("{\"merchant\":\"Corner Cafe\",\"total\":\"12.50\"}");
    JsonNode fields = JSON.readTree("{\"merchant\":\"Corner Cafe\",\"date\":\"2026-03-14\",\"currency\":\"EUR\","
        + "\"subtotal\":\"11.00\",\"tax\":\"1.50\",\"total\":\"12.50\",\"line_items\":[{\"description\":\"tea\"}]}");

    List<Completer.Written> written = completer.write(List.of(
        Outcome.completed(claimed.get(0), result, claimed.get(0).receiptId() == null ? null : fields, 300, 50, 350, 1).withDurationMs(120),
        Outcome.completed(claimed.get(1), result, claimed.get(1).receiptId() == null ? null : fields, 258, 40, 298, 1).withDurationMs(80)));

    assertTrue(written.stream().allMatch(Completer.Written::applied));
    assertEquals(2, counted(Metrics.FILES_COMPLETED, claimed.get(0).model(), null));
    assertEquals(2, metrics.registry().getHistograms()
        .get(MetricKey.of(Metrics.FILE_INPUT_TOKENS, "model", claimed.get(0).model()).registryName()).getCount());
    for (ClaimedFile f : claimed) {
      BatchUploadFilesRecord r = row(f);
      assertEquals("completed", r.getStatus());
      assertNull(JobRow.extraction(dsl, r.getId()).claimedBy());
      assertNull(JobRow.extraction(dsl, r.getId()).leaseExpiresAt());
      assertNotNull(r.getProcessingCompletedAt());
      assertEquals(result, JSON.readTree(r.getResult().data()));
      assertEquals(1, r.getApiCallsMade());
    }
    Progress p = sessions.progress(session);
    assertEquals(2, p.completed());
    assertEquals(0, p.processing());
    assertEquals(2, p.apiCalls());
    assertEquals(648, p.tokensUsed());
    assertEquals(0, new BigDecimal("100.00").compareTo(p.avgFileProcessingTimeMs()));
    var r = dsl.selectFrom(RECEIPTS).where(RECEIPTS.ID.eq(receipt)).fetchOne();
    assertEquals("Corner Cafe", r.getMerchant());
    assertEquals(LocalDate.of(2026, 3, 14), r.getDate());
    assertEquals(0, new BigDecimal("12.50").compareTo(r.getTotal()));
    assertEquals("EUR", r.getCurrency());
    // The receipt fields the host's receipts has no column for stay in batchpilot's own row.
    var extraction = dsl.selectFrom(RECEIPT_EXTRACTIONS).where(RECEIPT_EXTRACTIONS.RECEIPT_ID.eq(receipt)).fetchOne();
    assertEquals(0, new BigDecimal("1.50").compareTo(extraction.getTax()));
    assertEquals(0, new BigDecimal("11.00").compareTo(extraction.getSubtotal()));
    assertEquals("tea", JSON.readTree(extraction.getLineItems().data()).get(0).get("description").asText());
    assertNotNull(extraction.getCopiedToReceiptAt());
    assertNull(extraction.getCopyError());
    assertNull(sessions.progress(session).errorMessage());
  }

  /** A gate on a model of its own that lets one call be in flight, so the next acquire ends a lapsed permit. */
  private QuotaGate oneInFlight(String model) {
    dsl.execute("insert into public.quota_limits (provider, model, requests_per_minute, input_tokens_per_minute,"
        + " max_in_flight) values ('gemini', ?, 1000, 1000000, 1)", model);
    return new QuotaGate(db.dataSource(), QuotaGateConfig.defaults());
  }

  private Permit granted(QuotaGate gate, String model, ClaimedFile file) {
    return ((Admission.Granted) gate.acquire("gemini", model, 10, Strategy.AGGRESSIVE, file.id())).permit();
  }

  /** The permit's worker died holding it: its lease passes, and the next acquire that needs room ends it. */
  private void lapses(QuotaGate gate, String model, Permit permit) {
    dsl.execute("update public.quota_permits set expires_at = clock_timestamp() - interval '1 second' where id = ?",
        permit.id());
    gate.release(((Admission.Granted) gate.acquire("gemini", model, 10, Strategy.AGGRESSIVE)).permit());
    assertEquals(0, dsl.fetchCount(QUOTA_PERMITS, QUOTA_PERMITS.ID.eq(permit.id())), "the lapsed permit ended");
  }

  @Test
  void aFileReleasedAfterItsSessionWasCancelledIsSkippedNotLeftPendingInASessionNothingClaimsFrom() {
    UUID session = Batches.submit(db.dataSource(), "cancelled meanwhile", 2, 10);
    List<ClaimedFile> claimed = claims.claim("w1", 2, LEASE);
    sessions.cancel(session);

    List<Completer.Written> written = completer.write(List.of(Outcome.released(claimed.get(0)),
        Outcome.retry(claimed.get(1), "server_error", "503", Duration.ZERO, 1)));

    assertEquals(List.of("skipped", "skipped"), written.stream().map(Completer.Written::status).toList());
    BatchUploadFilesRecord row = row(claimed.get(1));
    assertEquals("the session was cancelled before this file was processed", row.getErrorMessage());
    assertNull(row.getErrorType());
    Progress p = sessions.progress(session);
    assertEquals(2, p.skipped());
    assertEquals(0, p.pending());
  }

  @Test
  void aCallWrittenWithItsPermitIsCountedOnceThoughThePermitLapsesAfterward() throws Exception {
    UUID session = Batches.submit(db.dataSource(), "killed after the write", 1, 10);
    ClaimedFile f = claims.claim("w1", 1, LEASE).get(0);
    try (QuotaGate gate = oneInFlight("after-write")) {
      Permit permit = granted(gate, "after-write", f);

      completer.write(List.of(Outcome.completed(f, JSON.createObjectNode(), null, 100, 20, 120, 1)
          .withCall(new CallPermit(permit, 100L))));
      // The worker is killed here, before it ends the permit.
      lapses(gate, "after-write", permit);

      assertEquals(1, sessions.progress(session).apiCalls(), "counted by the outcome, not again by the permit");
    }
  }

  @Test
  void aCallWhosePermitLapsedBeforeItsOutcomeIsCountedOnce() throws Exception {
    UUID session = Batches.submit(db.dataSource(), "lapsed before the write", 1, 10);
    ClaimedFile f = claims.claim("w1", 1, LEASE).get(0);
    try (QuotaGate gate = oneInFlight("before-write")) {
      Permit permit = granted(gate, "before-write", f);
      lapses(gate, "before-write", permit);
      assertEquals(1, sessions.progress(session).apiCalls(), "the lapsed permit counts its call");

      completer.write(List.of(Outcome.failed(f, "invalid_request", "refused", 1)
          .withCall(new CallPermit(permit, null))));

      assertEquals(1, sessions.progress(session).apiCalls(), "the outcome does not count it again");
      assertEquals(1, row(f).getApiCallsMade());
    }
  }

  @Test
  void thinkingAndBilledFailedCallsReachTheFileTheSessionTheLedgerAndTheMetrics() {
    dsl.deleteFrom(BATCHPILOT_USAGE_PER_MINUTE).execute();
    UUID session = Batches.submit(db.dataSource(), "thinking", 1, 10);
    ClaimedFile attempt1 = claims.claim("w1", 1, LEASE).get(0);
    // Gemini answered 200 with the answer cut off at MAX_TOKENS: unusable, and billed.
    completer.write(List.of(Outcome.retry(attempt1, "malformed_response", "the answer stopped at MAX_TOKENS",
        Duration.ZERO, 1).withBilledUsage(new Usage(300, 100, 200, 0, 600))));
    ClaimedFile attempt2 = claims.claim("w1", 1, LEASE).get(0);
    assertEquals(attempt1.id(), attempt2.id());
    completer.write(List.of(Outcome.completed(attempt2, JSON.createObjectNode().put("merchant", "ACME"), null,
        new Usage(300, 50, 438, 0, 788))));

    BatchUploadFilesRecord r = row(attempt2);
    assertEquals("completed", r.getStatus());
    assertEquals(600, r.getInputTokens(), "both billed calls' prompts");
    assertEquals(150, r.getOutputTokens(), "both billed calls' answers");
    assertEquals(638, r.getThinkingTokens(), "both billed calls' thinking");
    assertEquals(1388, r.getTokensUsed());
    Progress p = sessions.progress(session);
    assertEquals(1388, p.tokensUsed());
    assertEquals(638, p.thinkingTokens());
    var ledger = dsl.select(DSL.sum(BATCHPILOT_USAGE_PER_MINUTE.INPUT_TOKENS), DSL.sum(BATCHPILOT_USAGE_PER_MINUTE.OUTPUT_TOKENS),
            DSL.sum(BATCHPILOT_USAGE_PER_MINUTE.THINKING_TOKENS))
        .from(BATCHPILOT_USAGE_PER_MINUTE).where(BATCHPILOT_USAGE_PER_MINUTE.MODEL.eq(attempt2.model())).fetchOne();
    assertEquals(600, ledger.value1().intValue(), "the ledger's input tokens");
    assertEquals(150, ledger.value2().intValue(), "the ledger's output tokens");
    assertEquals(638, ledger.value3().intValue(), "the ledger's thinking tokens");
    var thinking = metrics.registry().getHistograms()
        .get(MetricKey.of(Metrics.FILE_THINKING_TOKENS, "model", attempt2.model()).registryName());
    assertEquals(1, thinking.getCount(), "one file completed by a call");
    assertEquals(438, thinking.getSnapshot().getMax());
  }

  @Test
  void staleHoldersCompletionChangesNothing() {
    Batches.submit(db.dataSource(), "stale", 1, 10);
    ClaimedFile first = claims.claim("w1", 1, LEASE).get(0);
    // w1's lease ran out; the rescuer put the file back and w2 claimed it.
    dsl.update(Jobs.JOBS).set(Jobs.STATE, DSL.field("'available'::batchpilot_private.job_state", String.class))
        .set(Jobs.CLAIMED_BY, (String) null).set(Jobs.LEASE_EXPIRES_AT, (OffsetDateTime) null)
        .where(Jobs.FILE_ID.eq(first.id())).execute();
    ClaimedFile second = claims.claim("w2", 1, LEASE).get(0);

    List<Completer.Written> stale = completer.write(List.of(
        Outcome.failed(first, "invalid_request", "w1's late verdict", 1)));

    assertFalse(stale.get(0).applied());
    assertEquals(0, counted(Metrics.FILES_FAILED, first.model(), "invalid_request"), "a refused write is not counted");
    BatchUploadFilesRecord r = row(second);
    assertEquals("processing", r.getStatus());
    assertEquals("w2", JobRow.extraction(dsl, r.getId()).claimedBy());
    assertEquals(0, r.getApiCallsMade());
    assertEquals(0, sessions.progress(second.sessionId()).apiCalls());

    // Even the same worker, claiming the file again, cannot complete its earlier attempt.
    dsl.update(Jobs.JOBS).set(Jobs.CLAIMED_BY, "w1").where(Jobs.FILE_ID.eq(first.id())).execute();
    assertFalse(completer.write(List.of(Outcome.failed(first, "invalid_request", "again", 1))).get(0).applied());
    assertEquals("processing", row(second).getStatus());
  }

  @Test
  void retryReturnsToPendingWithItsDelayAndFailsAfterMaxAttempts() {
    UUID session = Batches.submit(db.dataSource(), "retry", 1, 10);
    dsl.update(BATCH_UPLOAD_FILES).set(BATCH_UPLOAD_FILES.MAX_ATTEMPTS, 2).execute();

    ClaimedFile attempt1 = claims.claim("w1", 1, LEASE).get(0);
    OffsetDateTime before = dsl.select(org.jooq.impl.DSL.field("clock_timestamp()", OffsetDateTime.class)).fetchOne().value1();
    completer.write(List.of(Outcome.retry(attempt1, "overloaded", "the model is overloaded", Duration.ofMinutes(10), 1)));

    BatchUploadFilesRecord r = row(attempt1);
    assertEquals("processing", r.getStatus(), "a retry leaves the published row alone");
    assertEquals("pending", JobRow.extraction(dsl, r.getId()).status());
    assertEquals("overloaded", JobRow.extraction(dsl, r.getId()).errorType());
    assertEquals(1, counted(Metrics.FILES_RETRIED, attempt1.model(), "overloaded"));
    assertTrue(JobRow.extraction(dsl, r.getId()).scheduledAt().isAfter(before.plusMinutes(9)), "next_attempt_at honours the delay");
    assertEquals(List.of(), claims.claim("w1", 1, LEASE), "not due before its delay");

    dsl.update(Jobs.JOBS).set(DSL.field(DSL.name("scheduled_at"), OffsetDateTime.class), before).execute();
    ClaimedFile attempt2 = claims.claim("w1", 1, LEASE).get(0);
    assertEquals(2, attempt2.attempts());
    completer.write(List.of(Outcome.retry(attempt2, "timeout", "Gemini did not answer within 60 s", Duration.ZERO, 1)));

    r = row(attempt2);
    assertEquals("failed", r.getStatus());
    assertEquals("timeout", r.getErrorType());
    assertTrue(r.getErrorMessage().startsWith("gave up after 2 attempts"), r.getErrorMessage());
    assertEquals(0, counted(Metrics.FILES_RETRIED, attempt2.model(), "timeout"), "a retry past max_attempts is no retry");
    assertEquals(1, counted(Metrics.FILES_FAILED, attempt2.model(), "timeout"), "but a failure, with its last error type");
    assertEquals(2, r.getApiCallsMade());
    Progress p = sessions.progress(session);
    assertEquals(1, p.failed());
    assertEquals(2, p.apiCalls());
  }

  @Test
  void aRateLimitedFileGoesBackWithoutSpendingAnAttempt() {
    UUID session = Batches.submit(db.dataSource(), "429", 1, 10);
    dsl.update(BATCH_UPLOAD_FILES).set(BATCH_UPLOAD_FILES.MAX_ATTEMPTS, 1).execute();
    ClaimedFile f = claims.claim("w1", 1, LEASE).get(0);

    completer.write(List.of(Outcome.rateLimited(f, "rate_limited", "429 RESOURCE_EXHAUSTED", Duration.ZERO)));

    BatchUploadFilesRecord r = row(f);
    assertEquals("pending", JobRow.extraction(dsl, r.getId()).status(), "its only attempt is not spent by the quota");
    assertEquals(0, JobRow.extraction(dsl, r.getId()).attempts());
    assertEquals(1, r.getApiCallsMade());
    assertTrue(r.getRateLimited());
    assertEquals(1, counted(Metrics.FILES_RETRIED, f.model(), "rate_limited"), "sent back after a failed call: a retry");
    assertEquals(1, sessions.progress(session).rateLimitHits());
  }

  @Test
  void permanentFailureFailsAtOnce() {
    Batches.submit(db.dataSource(), "bad", 1, 10);
    ClaimedFile f = claims.claim("w1", 1, LEASE).get(0);

    completer.write(List.of(Outcome.failed(f, "invalid_file", "the file is empty (0 bytes): upload it again", 0)));

    BatchUploadFilesRecord r = row(f);
    assertEquals("failed", r.getStatus());
    assertEquals("invalid_file", r.getErrorType());
    assertEquals(1, JobRow.extraction(dsl, r.getId()).attempts());
  }

  @Test
  void refusedKeyStopsTheSessionAndLeavesItsFilesWaiting() {
    UUID session = Batches.submit(db.dataSource(), "key", 3, 10);
    List<ClaimedFile> claimed = claims.claim("w1", 3, LEASE);

    completer.write(claimed.stream()
        .map(f -> Outcome.stopSession(f, "permission_denied", "Gemini refused the API key: set GEMINI_API_KEY", 1))
        .toList());

    Progress p = sessions.progress(session);
    assertEquals("failed", p.status());
    assertEquals("Gemini refused the API key: set GEMINI_API_KEY", p.errorMessage());
    assertEquals(3, p.pending(), "no file is failed for the key");
    claimed.forEach(f -> assertEquals("pending", JobRow.extraction(dsl, f.id()).status()));
    assertEquals(0, p.failed());
    claimed.forEach(f -> assertEquals(0, JobRow.extraction(dsl, row(f).getId()).attempts()));
    assertEquals(List.of(), claims.claim("w1", 3, LEASE), "a stopped session is not claimed from");
  }

  @Test
  void quotaWaitKeepsTheFilePendingWithoutSpendingAnAttempt() {
    UUID session = Batches.submit(db.dataSource(), "quota", 1, 10);
    dsl.update(BATCH_UPLOAD_FILES).set(BATCH_UPLOAD_FILES.MAX_ATTEMPTS, 1).execute();
    ClaimedFile f = claims.claim("w1", 1, LEASE).get(0);

    completer.write(List.of(Outcome.waitForQuota(f, Duration.ofHours(3),
        "the daily quota of gemini-2.5-flash is spent; files wait for its reset at midnight Pacific time", 1)));

    BatchUploadFilesRecord r = row(f);
    assertEquals("pending", JobRow.extraction(dsl, r.getId()).status(), "max_attempts = 1 must not fail a file waiting for quota");
    assertEquals("processing", r.getStatus(), "waiting for quota leaves the published row alone");
    assertEquals(0, JobRow.extraction(dsl, r.getId()).attempts());
    assertEquals(0, counted(Metrics.FILES_RETRIED, f.model(), "quota_exhausted"), "a quota wait is no retry");
    Progress p = sessions.progress(session);
    assertEquals("processing", p.status());
    assertTrue(p.errorMessage().contains("daily quota"));
  }

  @Test
  void releaseGivesTheFileBackAtOnce() {
    Batches.submit(db.dataSource(), "release", 1, 10);
    ClaimedFile f = claims.claim("w1", 1, LEASE).get(0);

    completer.write(List.of(Outcome.released(f)));

    BatchUploadFilesRecord r = row(f);
    assertEquals("pending", JobRow.extraction(dsl, r.getId()).status());
    assertEquals(0, JobRow.extraction(dsl, r.getId()).attempts());
    assertNull(JobRow.extraction(dsl, r.getId()).claimedBy());
    assertEquals(1, claims.claim("w2", 1, LEASE).size());
  }
}
