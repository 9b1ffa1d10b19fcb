package io.batchpilot.pipeline;

import static io.batchpilot.jooq.Tables.QUOTA_LIMITS;
import static io.batchpilot.jooq.Tables.QUOTA_PERMITS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.gemini.ExtractionResult;
import io.batchpilot.gemini.GeminiClient;
import io.batchpilot.gemini.GeminiConfig;
import io.batchpilot.gemini.GeminiError;
import io.batchpilot.limiter.QuotaGate;
import io.batchpilot.limiter.QuotaGateConfig;
import io.batchpilot.limiter.QuotaStatus;
import io.batchpilot.limiter.Strategy;
import io.batchpilot.limiter.WaitReason;
import io.batchpilot.metrics.Metrics;
import io.batchpilot.simulator.Fault;
import io.batchpilot.simulator.FaultPlan;
import io.batchpilot.simulator.GeminiSimulator;
import io.batchpilot.simulator.ModelLimits;
import io.batchpilot.simulator.SimulatorConfig;
import io.batchpilot.simulator.SyntheticReceipts;
import io.batchpilot.store.Jooq;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;
import org.jooq.DSLContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The rules of one gated call, once for every kind of work, against the real quota gate and the
 * simulator: what an answer, a long gate wait, a 429, a spent daily quota, a refused key, a
 * retryable and a permanent failure come to, and which of them spend an attempt.
 */
@ExtendWith(PostgresExtension.class)
class GatedCallTest {

  private static final String MODEL = "gated-call-model";
  private static final String KEY = "gated-call-key";
  private static final byte[] PNG = SyntheticReceipts.png(7, 300, 1.4);
  /** Longer than any delay a server gives here: a delay shorter than it is the server's. */
  private static final Backoff HOUR_BACKOFF = new Backoff(Duration.ofHours(1), Duration.ofHours(1));

  private final DSLContext dsl;
  private final QuotaGate gate;

  GatedCallTest(TestDatabase db) {
    this.dsl = Jooq.using(db.dataSource());
    this.gate = new QuotaGate(db.dataSource(), QuotaGateConfig.defaults());
  }

  @BeforeEach
  void roomForEveryCall() {
    dsl.deleteFrom(QUOTA_PERMITS).where(QUOTA_PERMITS.MODEL.eq(MODEL)).execute();
    dsl.deleteFrom(QUOTA_LIMITS).where(QUOTA_LIMITS.MODEL.eq(MODEL)).execute();
    dsl.insertInto(QUOTA_LIMITS)
        .set(QUOTA_LIMITS.PROVIDER, "gemini").set(QUOTA_LIMITS.MODEL, MODEL)
        .set(QUOTA_LIMITS.REQUESTS_PER_MINUTE, 1_000_000).set(QUOTA_LIMITS.INPUT_TOKENS_PER_MINUTE, 1_000_000_000L)
        .set(QUOTA_LIMITS.MAX_IN_FLIGHT, 1000)
        .execute();
  }

  @AfterEach
  void closeGate() throws InterruptedException {
    gate.close();
  }

  private GatedCall gatedCall(Backoff backoff) {
    return new GatedCall(gate, backoff, Duration.ofSeconds(1), "files", new Metrics());
  }

  private static GatedCall.Request request(int attempt) {
    return new GatedCall.Request("a test call", "gemini", MODEL, 300, Strategy.AGGRESSIVE, null, attempt);
  }

  private static GatedCall.Decision<ExtractionResult> extract(GatedCall calls, GeminiClient client, int attempt)
      throws InterruptedException {
    return calls.call(request(attempt), () -> client.extractReceipt(MODEL, PNG, "image/png"), ExtractionResult::usage);
  }

  private QuotaStatus status() {
    return gate.status("gemini", MODEL).orElseThrow();
  }

  private int permitsInFlight() {
    return dsl.fetchCount(QUOTA_PERMITS, QUOTA_PERMITS.MODEL.eq(MODEL));
  }

  private static GeminiSimulator simulator(SimulatorConfig config) throws IOException {
    return GeminiSimulator.start(config.withApiKeys(Set.of(KEY)));
  }

  private static GeminiClient client(GeminiSimulator simulator) {
    return new GeminiClient(GeminiConfig.of(simulator.baseUrl(), KEY));
  }

  @Test
  void anAnswerCarriesItsUsageAndKeepsItsPermitInFlightUntilEnded() throws Exception {
    GatedCall calls = gatedCall(Backoff.defaults());
    try (GeminiSimulator sim = simulator(SimulatorConfig.defaults()); GeminiClient client = client(sim)) {
      GatedCall.Decision<ExtractionResult> decision = extract(calls, client, 1);

      GatedCall.Answered<?> answered = assertInstanceOf(GatedCall.Answered.class, decision);
      assertTrue(answered.spendsAttempt());
      long billed = sim.requests().get(0).inputTokens();
      assertEquals(billed, answered.usage().promptTokens());
      assertEquals(billed, answered.call().actualInputTokens(), "the permit ends with the billed prompt");
      assertEquals(1, permitsInFlight(), "in flight until the outcome is written");

      calls.end(answered.call());
      gate.close();
      assertEquals(0, permitsInFlight());
      assertEquals(billed, status().inputTokensInWindow(), "the window holds the billed tokens, not the estimate");
    }
  }

  @Test
  void aGateWaitLongerThanMaxWaitIsDeferredWithItsReasonAndSendsNothing() throws Exception {
    gate.rateLimited("gemini", MODEL, Duration.ofHours(1));
    try (GeminiSimulator sim = simulator(SimulatorConfig.defaults()); GeminiClient client = client(sim)) {
      GatedCall.Decision<ExtractionResult> decision = extract(gatedCall(Backoff.defaults()), client, 1);

      GatedCall.Deferred<?> deferred = assertInstanceOf(GatedCall.Deferred.class, decision);
      assertEquals(WaitReason.RATE_LIMITED, deferred.reason());
      assertTrue(deferred.delay().compareTo(Duration.ofMinutes(59)) > 0, deferred.delay().toString());
      assertTrue(deferred.message().contains("for the " + MODEL + " quota (rate_limited)"), deferred.message());
      assertNull(deferred.call());
      assertFalse(deferred.spendsAttempt());
      assertEquals(0, sim.requests().size());
    }
  }

  @Test
  void a429BlocksTheFleetForTheServersRetryDelayAndSpendsNoAttempt() throws Exception {
    GatedCall calls = gatedCall(HOUR_BACKOFF);
    // The server allows one request a minute; the gate (wider) lets the second through.
    try (GeminiSimulator sim = simulator(SimulatorConfig.defaults().withModelLimits(MODEL, new ModelLimits(1, 0, 0)));
         GeminiClient client = client(sim)) {
      calls.end(assertInstanceOf(GatedCall.Answered.class, extract(calls, client, 1)).call());

      Instant before = Instant.now();
      GatedCall.Decision<ExtractionResult> decision = extract(calls, client, 1);

      GatedCall.RateLimited<?> limited = assertInstanceOf(GatedCall.RateLimited.class, decision);
      assertEquals(GeminiError.RATE_LIMITED, limited.error().error());
      assertEquals(limited.error().retryDelay().orElseThrow(), limited.delay(), "the server's delay, not the backoff");
      assertFalse(limited.spendsAttempt());
      assertNull(limited.call().actualInputTokens(), "a 429 is not billed");
      Instant blockedUntil = status().blockedUntil().orElseThrow(() -> new AssertionError("the fleet is not blocked"));
      assertTrue(blockedUntil.isAfter(before.plus(limited.delay()).minusSeconds(1)), blockedUntil.toString());
      assertInstanceOf(GatedCall.Deferred.class, extract(calls, client, 1), "the next call waits for the block");
      assertEquals(2, sim.requests().size());
      calls.end(limited.call());
    }
  }

  @Test
  void a429WithoutRetryDelayBlocksTheFleetForTheBackoff() throws Exception {
    GatedCall calls = gatedCall(new Backoff(Duration.ofSeconds(30), Duration.ofSeconds(30)));
    try (MockWebServer google = new MockWebServer()) {
      google.start();
      google.enqueue(new MockResponse.Builder().code(429).addHeader("Content-Type", "application/json")
          .body(errorBody("429-help-only.json")).build());
      try (GeminiClient client = new GeminiClient(GeminiConfig.of(google.url("/").toString(), KEY))) {
        Instant before = Instant.now();
        GatedCall.Decision<ExtractionResult> decision = extract(calls, client, 1);

        GatedCall.RateLimited<?> limited = assertInstanceOf(GatedCall.RateLimited.class, decision);
        assertTrue(limited.error().retryDelay().isEmpty());
        assertTrue(limited.delay().compareTo(Duration.ofSeconds(30)) <= 0, limited.delay().toString());
        Instant blockedUntil = status().blockedUntil().orElseThrow(() -> new AssertionError("the fleet is not blocked"));
        assertTrue(!blockedUntil.isAfter(Instant.now().plusSeconds(31)) && !blockedUntil.isBefore(before.minusSeconds(1)),
            "blocked for the backoff: until " + blockedUntil);
        calls.end(limited.call());
      }
    }
  }

  @Test
  void aSpentDailyQuotaParksTheModelUntilTheResetAndSaysSo() throws Exception {
    GatedCall calls = gatedCall(HOUR_BACKOFF);
    try (GeminiSimulator sim = simulator(SimulatorConfig.defaults().withModelLimits(MODEL, new ModelLimits(0, 0, 1)));
         GeminiClient client = client(sim)) {
      calls.end(assertInstanceOf(GatedCall.Answered.class, extract(calls, client, 1)).call());

      GatedCall.Decision<ExtractionResult> decision = extract(calls, client, 1);

      GatedCall.DailyQuotaSpent<?> spent = assertInstanceOf(GatedCall.DailyQuotaSpent.class, decision);
      assertFalse(spent.spendsAttempt());
      assertNotNull(spent.call(), "the call that met the spent quota was made");
      Instant parkedUntil = status().parkedUntil().orElseThrow(() -> new AssertionError("the model is not parked"));
      Duration untilPark = Duration.between(Instant.now(), parkedUntil);
      assertTrue(spent.untilReset().minus(untilPark).abs().compareTo(Duration.ofSeconds(5)) < 0,
          spent.untilReset() + " until the reset, the gate parks until " + parkedUntil);
      assertTrue(spent.untilReset().compareTo(Duration.ofHours(25)) < 0, spent.untilReset().toString());
      assertTrue(spent.message().startsWith("the daily quota of " + MODEL + " is spent; this session's files wait for "
          + "its reset at midnight Pacific time"), spent.message());
      calls.end(spent.call());

      GatedCall.DailyQuotaSpent<?> parked =
          assertInstanceOf(GatedCall.DailyQuotaSpent.class, extract(calls, client, 1), "the gate has the model parked");
      assertNull(parked.call(), "nothing is sent while parked");
      assertTrue(parked.message().startsWith("the daily quota of " + MODEL + " is spent"), parked.message());
      assertEquals(2, sim.requests().size());
    }
  }

  @Test
  void aRefusedKeyIsKeyRefusedAndSpendsNoAttempt() throws Exception {
    try (GeminiSimulator sim = simulator(SimulatorConfig.defaults());
         GeminiClient refused = new GeminiClient(GeminiConfig.of(sim.baseUrl(), "not-the-key"))) {
      GatedCall.Decision<ExtractionResult> decision = extract(gatedCall(Backoff.defaults()), refused, 1);

      GatedCall.KeyRefused<?> key = assertInstanceOf(GatedCall.KeyRefused.class, decision);
      assertEquals(GeminiError.PERMISSION_DENIED, key.error().error());
      assertFalse(key.spendsAttempt());
      assertNotNull(key.call());
      gatedCall(Backoff.defaults()).end(key.call());
    }
  }

  @Test
  void aRetryableFailureWaitsTheBackoffWithFullJitterAndSpendsAnAttempt() throws Exception {
    // Attempt 3 of a 1 s base: each delay is uniform in [0, 4 s].
    GatedCall calls = gatedCall(new Backoff(Duration.ofSeconds(1), Duration.ofHours(1)));
    List<Duration> delays = new ArrayList<>();
    try (GeminiSimulator sim = simulator(SimulatorConfig.defaults().withFaults(FaultPlan.NONE.with(Fault.OVERLOADED, 1.0)));
         GeminiClient client = client(sim)) {
      for (int i = 0; i < 20; i++) {
        GatedCall.Retryable<?> retryable =
            assertInstanceOf(GatedCall.Retryable.class, extract(calls, client, 3));
        assertEquals(GeminiError.OVERLOADED, retryable.error().error());
        assertTrue(retryable.error().retryDelay().isEmpty());
        assertTrue(retryable.spendsAttempt());
        assertTrue(retryable.billed().isEmpty(), "a 503 is not billed");
        delays.add(retryable.delay());
        calls.end(retryable.call());
      }
    }
    assertTrue(delays.stream().allMatch(d -> !d.isNegative() && d.compareTo(Duration.ofSeconds(4)) <= 0), delays::toString);
    assertTrue(new HashSet<>(delays).size() > 1, "jittered: " + delays);
    assertTrue(delays.stream().anyMatch(d -> d.compareTo(Duration.ofSeconds(2)) < 0), "full jitter reaches below half: " + delays);
  }

  @Test
  void aRetryableFailureWithTheServersDelayWaitsThatDelayEvenWhenTheBackoffIsLonger() throws Exception {
    GatedCall calls = gatedCall(HOUR_BACKOFF);
    try (MockWebServer google = new MockWebServer()) {
      google.start();
      google.enqueue(new MockResponse.Builder().code(503).addHeader("Content-Type", "application/json")
          .body("{\"error\":{\"code\":503,\"message\":\"The model is overloaded. Please try again later.\","
              + "\"status\":\"UNAVAILABLE\",\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\","
              + "\"retryDelay\":\"2s\"}]}}").build());
      try (GeminiClient client = new GeminiClient(GeminiConfig.of(google.url("/").toString(), KEY))) {
        GatedCall.Retryable<?> retryable =
            assertInstanceOf(GatedCall.Retryable.class, extract(calls, client, 1));

        assertEquals(Duration.ofSeconds(2), retryable.delay(), "the server's delay, not the hour of backoff");
        assertTrue(retryable.spendsAttempt());
        assertTrue(status().blockedUntil().isEmpty(), "a 503 is not the quota's: the fleet is not blocked");
        calls.end(retryable.call());
      }
    }
  }

  @Test
  void aBilledButUnusableAnswerIsPermanentAndCarriesItsUsage() throws Exception {
    GatedCall calls = gatedCall(Backoff.defaults());
    try (GeminiSimulator sim = simulator(SimulatorConfig.defaults().withThoughtsTokens(438)
            .withFaults(FaultPlan.NONE.with(Fault.SAFETY, 1.0)));
         GeminiClient client = client(sim)) {
      GatedCall.Decision<ExtractionResult> decision = extract(calls, client, 1);

      GatedCall.Permanent<?> permanent = assertInstanceOf(GatedCall.Permanent.class, decision);
      assertEquals(GeminiError.BLOCKED_OUTPUT, permanent.error().error());
      assertTrue(permanent.spendsAttempt());
      long billed = sim.requests().get(0).inputTokens();
      assertEquals(billed, permanent.billed().orElseThrow().promptTokens());
      assertEquals(438, permanent.billed().orElseThrow().thoughtsTokens());
      assertEquals(billed, permanent.call().actualInputTokens(), "Google counted the prompt: so does the gate's window");
      calls.end(permanent.call());
      gate.close();
      assertEquals(billed, status().inputTokensInWindow());
    }
  }

  private static String errorBody(String name) throws IOException {
    try (InputStream in = GatedCallTest.class.getResourceAsStream("/gemini-error-bodies/" + name)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }
}
