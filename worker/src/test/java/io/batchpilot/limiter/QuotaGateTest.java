package io.batchpilot.limiter;

import static io.batchpilot.jooq.Tables.API_QUOTA_TRACKING;
import static io.batchpilot.jooq.Tables.QUOTA_LIMITS;
import static io.batchpilot.jooq.Tables.QUOTA_PERMITS;
import static io.batchpilot.jooq.Tables.QUOTA_PERMIT_RELEASES;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import org.jooq.exception.DataAccessException;
import org.junit.jupiter.api.BeforeEach;
import org.jooq.impl.DSL;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(PostgresExtension.class)
class QuotaGateTest {

  private static final AtomicInteger MODELS = new AtomicInteger();
  /** 100 ms into a 100 ms bucket boundary's successor: bucket-aligned arithmetic is easy to read. */
  private static final OffsetDateTime T0 = OffsetDateTime.of(2026, 11, 29, 3, 0, 0, 30_000_000, ZoneOffset.UTC);

  private SteppedClockGate stepped;
  private QuotaGate gate;
  private String model;

  @BeforeEach
  void setUp(TestDatabase db) {
    stepped = new SteppedClockGate(db.dataSource());
    gate = new QuotaGate(db.dataSource(), QuotaGateConfig.defaults());
    model = "test-model-" + MODELS.incrementAndGet();
  }

  @Test
  void grantsUpToTheRequestLimitThenAnswersTheExactWait() {
    // 1 s window in 10 buckets of 100 ms: the 4th request fits once T0's bucket leaves the
    // lookback (10 buckets + the current one), at T0's bucket start + 1100 ms.
    stepped.defineLimits(model, 3, 1_000_000, 1000, 10, 0);
    for (int i = 0; i < 3; i++) {
      assertTrue(stepped.acquire(model, 10, Strategy.AGGRESSIVE, T0).granted());
    }
    SteppedClockGate.Answer refused = stepped.acquire(model, 10, Strategy.AGGRESSIVE, T0);
    assertFalse(refused.granted());
    assertEquals("requests", refused.reason());
    assertEquals(1070, refused.waitMs());

    assertFalse(stepped.acquire(model, 10, Strategy.AGGRESSIVE, T0.plusNanos(1069_000_000)).granted());
    assertTrue(stepped.acquire(model, 10, Strategy.AGGRESSIVE, T0.plusNanos(1070_000_000)).granted());
  }

  @Test
  void tokenLimitCountsEstimatesUntilReconcileReplacesThem() {
    stepped.defineLimits(model, 100, 1000, 1000, 10, 0);
    SteppedClockGate.Answer first = stepped.acquire(model, 600, Strategy.AGGRESSIVE, T0);
    assertTrue(first.granted());
    SteppedClockGate.Answer refused = stepped.acquire(model, 500, Strategy.AGGRESSIVE, T0);
    assertEquals("input_tokens", refused.reason());

    gate.reconcile(new Permit(first.permitId(), "gemini", model, 600, T0.toInstant()), 400);

    SteppedClockGate.Answer second = stepped.acquire(model, 500, Strategy.AGGRESSIVE, T0);
    assertTrue(second.granted());
    assertEquals(900L, stepped.dsl().select(QUOTA_LIMITS.WINDOW_INPUT_TOKENS).from(QUOTA_LIMITS)
        .where(QUOTA_LIMITS.MODEL.eq(model)).fetchOne().value1());

    // The ledger counts a request when its permit ends, with the count it ended with.
    gate.release(new Permit(first.permitId(), "gemini", model, 600, T0.toInstant()));
    gate.release(new Permit(second.permitId(), "gemini", model, 500, T0.toInstant()));
    assertEquals(900L, stepped.dsl().select(API_QUOTA_TRACKING.QUOTA_USED).from(API_QUOTA_TRACKING)
        .where(API_QUOTA_TRACKING.MODEL.eq(model), API_QUOTA_TRACKING.QUOTA_TYPE.eq("input_tokens"))
        .fetchOne().value1());
  }

  @Test
  void inFlightCapCountsUnreleasedPermitsUntilReleaseOrLeaseEnd() {
    stepped.defineLimits(model, 100, 1_000_000, 1000, 10, 0);
    stepped.dsl().update(QUOTA_LIMITS).set(QUOTA_LIMITS.MAX_IN_FLIGHT, 2).set(QUOTA_LIMITS.PERMIT_LEASE_MS, 5000)
        .where(QUOTA_LIMITS.MODEL.eq(model)).execute();
    UUID first = stepped.acquire(model, 1, Strategy.AGGRESSIVE, T0).permitId();
    assertTrue(stepped.acquire(model, 1, Strategy.AGGRESSIVE, T0).granted());
    assertEquals("in_flight", stepped.acquire(model, 1, Strategy.AGGRESSIVE, T0).reason());

    gate.release(new Permit(first, "gemini", model, 1, T0.toInstant()));
    assertTrue(stepped.acquire(model, 1, Strategy.AGGRESSIVE, T0).granted());
    assertEquals("in_flight", stepped.acquire(model, 1, Strategy.AGGRESSIVE, T0).reason());

    // Nobody releases: the dead worker's permits stop counting when their lease ends.
    assertTrue(stepped.acquire(model, 1, Strategy.AGGRESSIVE, T0.plusSeconds(5)).granted());
  }

  @Test
  void aLapsedPermitReleasedLateDoesNotFreeASecondPlace() {
    stepped.defineLimits(model, 100, 1_000_000, 1000, 10, 0);
    stepped.dsl().update(QUOTA_LIMITS).set(QUOTA_LIMITS.MAX_IN_FLIGHT, 1).set(QUOTA_LIMITS.PERMIT_LEASE_MS, 5000)
        .where(QUOTA_LIMITS.MODEL.eq(model)).execute();
    UUID dead = stepped.acquire(model, 1, Strategy.AGGRESSIVE, T0).permitId();
    assertTrue(stepped.acquire(model, 1, Strategy.AGGRESSIVE, T0.plusSeconds(5)).granted());

    // The lapsed permit ended as a release would: counted once in the ledger, with its estimate.
    assertEquals(1L, ledgerRequests());

    // The slow worker comes back after its lease: its place was already given to the second permit.
    gate.release(new Permit(dead, "gemini", model, 1, T0.toInstant()));
    assertEquals("in_flight", stepped.acquire(model, 1, Strategy.AGGRESSIVE, T0.plusSeconds(5)).reason());
    assertEquals(1L, ledgerRequests(), "the late release counts nothing again");
  }

  @Test
  void aPermitGrantedWithALeaseLapsesAfterItUnlessItsHolderExtendsIt(TestDatabase db) {
    stepped.defineLimits(model, 100, 1_000_000, 1000, 10, 0);
    stepped.dsl().update(QUOTA_LIMITS).set(QUOTA_LIMITS.MAX_IN_FLIGHT, 2)
        .where(QUOTA_LIMITS.MODEL.eq(model)).execute();
    // The worker's lease (2 s), not the model's permit_lease_ms (5 minutes).
    assertTrue(stepped.acquire(model, 1, Strategy.AGGRESSIVE, T0, 2000L, null).granted());
    assertTrue(stepped.acquire(model, 1, Strategy.AGGRESSIVE, T0, 2000L, null).granted());
    assertEquals("in_flight", stepped.acquire(model, 1, Strategy.AGGRESSIVE, T0.plusNanos(1999_000_000)).reason());
    assertTrue(stepped.acquire(model, 1, Strategy.AGGRESSIVE, T0.plusSeconds(2)).granted(),
        "both lapsed one lease after their grant");

    // A gate with a lease extends what it holds, and only that: released permits are not extended.
    QuotaGate leased = new QuotaGate(db.dataSource(), QuotaGateConfig.defaults(), Duration.ofMinutes(10));
    String live = "live-" + model;
    stepped.defineLimits(live, 100, 1_000_000, 1000, 10, 0);
    Permit kept = ((Admission.Granted) leased.acquire("gemini", live, 1, Strategy.AGGRESSIVE)).permit();
    Permit released = ((Admission.Granted) leased.acquire("gemini", live, 1, Strategy.AGGRESSIVE)).permit();
    assertEquals(600_000L, leaseLeftMs(kept), 5_000, "granted with the gate's lease");
    leased.release(released);
    stepped.dsl().update(QUOTA_PERMITS).set(QUOTA_PERMITS.EXPIRES_AT, DSL.field("clock_timestamp() + interval '1 minute'",
        OffsetDateTime.class)).where(QUOTA_PERMITS.ID.eq(kept.id())).execute();

    assertEquals(1, leased.extendPermits());
    assertEquals(600_000L, leaseLeftMs(kept), 5_000, "the heartbeat gave it a whole lease again");
    assertEquals(0, new QuotaGate(db.dataSource(), QuotaGateConfig.defaults()).extendPermits(),
        "a gate without a lease has nothing to keep alive");
  }

  @Test
  void aLapsedPermitOfAFileCountsItsCallInTheSession() {
    stepped.defineLimits(model, 100, 1_000_000, 1000, 10, 0);
    stepped.dsl().update(QUOTA_LIMITS).set(QUOTA_LIMITS.MAX_IN_FLIGHT, 1)
        .where(QUOTA_LIMITS.MODEL.eq(model)).execute();
    UUID session = stepped.dsl().fetchOne("insert into public.batch_upload_sessions (user_id, total_files, status)"
        + " values (null, 1, 'processing') returning id").get(0, UUID.class);
    UUID file = stepped.dsl().fetchOne("insert into public.batch_upload_files (batch_session_id, original_filename,"
        + " status) values (?, 'r.jpg', 'processing') returning id", session).get(0, UUID.class);
    assertTrue(stepped.acquire(model, 1, Strategy.AGGRESSIVE, T0, 2000L, file).granted());

    // The worker died mid-call; the next grant after the lease ends its permit.
    assertTrue(stepped.acquire(model, 1, Strategy.AGGRESSIVE, T0.plusSeconds(2), 2000L, null).granted());

    // Counted in the session's exact totals; its row gets them at the leader's next progress round.
    assertEquals(1, stepped.dsl().fetchOne("select total_api_calls from batchpilot_private.session_progress"
        + " where session_id = ?", session).get(0, Integer.class));
  }

  private long leaseLeftMs(Permit permit) {
    return stepped.dsl().fetchOne("select (extract(epoch from expires_at - clock_timestamp()) * 1000)::bigint"
        + " from public.quota_permits where id = ?", permit.id()).get(0, Long.class);
  }

  private Long ledgerRequests() {
    return stepped.dsl().select(API_QUOTA_TRACKING.QUOTA_USED).from(API_QUOTA_TRACKING)
        .where(API_QUOTA_TRACKING.MODEL.eq(model), API_QUOTA_TRACKING.QUOTA_TYPE.eq("requests"))
        .fetchOne(API_QUOTA_TRACKING.QUOTA_USED);
  }

  @Test
  void finishReconcilesAndReleasesInOneCall() {
    stepped.defineLimits(model, 100, 1000, 1000, 10, 0);
    stepped.dsl().update(QUOTA_LIMITS).set(QUOTA_LIMITS.MAX_IN_FLIGHT, 1).where(QUOTA_LIMITS.MODEL.eq(model)).execute();
    SteppedClockGate.Answer first = stepped.acquire(model, 600, Strategy.AGGRESSIVE, T0);
    assertEquals("in_flight", stepped.acquire(model, 400, Strategy.AGGRESSIVE, T0).reason());

    gate.finish(new Permit(first.permitId(), "gemini", model, 600, T0.toInstant()), 600 - 200);

    assertTrue(stepped.acquire(model, 600, Strategy.AGGRESSIVE, T0).granted());
    assertEquals(1000L, stepped.dsl().select(QUOTA_LIMITS.WINDOW_INPUT_TOKENS).from(QUOTA_LIMITS)
        .where(QUOTA_LIMITS.MODEL.eq(model)).fetchOne().value1());
  }

  @Test
  void permitsHandedToTheFinisherAreAllEndedByClose(TestDatabase db) throws InterruptedException {
    stepped.defineLimits(model, 100, 1_000_000, 1000, 10, 0);
    QuotaGate later = new QuotaGate(db.dataSource(), QuotaGateConfig.defaults());
    for (int i = 0; i < 50; i++) {
      Permit permit = new Permit(stepped.acquire(model, 100, Strategy.AGGRESSIVE, T0).permitId(), "gemini", model,
          100, T0.toInstant());
      if (i % 2 == 0) {
        later.finishLater(permit, 60);
      } else {
        later.releaseLater(permit);
      }
    }
    // Already ended, or never granted: ignored, and the rest of its batch still ends.
    later.releaseLater(new Permit(UUID.randomUUID(), "gemini", model, 100, T0.toInstant()));
    later.close();

    assertEquals(0, stepped.dsl().fetchCount(QUOTA_PERMITS, QUOTA_PERMITS.MODEL.eq(model)));
    assertEquals(50L, stepped.dsl().select(QUOTA_PERMIT_RELEASES.PERMITS_RELEASED).from(QUOTA_PERMIT_RELEASES)
        .where(QUOTA_PERMIT_RELEASES.MODEL.eq(model)).fetchOne().value1());
    assertEquals(25 * 60 + 25 * 100L, stepped.dsl().select(QUOTA_LIMITS.WINDOW_INPUT_TOKENS).from(QUOTA_LIMITS)
        .where(QUOTA_LIMITS.MODEL.eq(model)).fetchOne().value1());
  }

  @Test
  void aNegativeCountIsRefusedBeforeItReachesABatch() throws InterruptedException {
    stepped.defineLimits(model, 100, 1_000_000, 1000, 10, 0);
    Permit good = new Permit(stepped.acquire(model, 100, Strategy.AGGRESSIVE, T0).permitId(), "gemini", model, 100,
        T0.toInstant());
    Permit bad = new Permit(stepped.acquire(model, 100, Strategy.AGGRESSIVE, T0).permitId(), "gemini", model, 100,
        T0.toInstant());
    gate.finishLater(good, 80);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> gate.finishLater(bad, -1));
    assertTrue(e.getMessage().contains(bad.id().toString()) && e.getMessage().contains("-1"), e::getMessage);
    gate.close();

    assertEquals(List.of(bad.id()), stepped.dsl().select(QUOTA_PERMITS.ID).from(QUOTA_PERMITS)
        .where(QUOTA_PERMITS.MODEL.eq(model)).fetch(QUOTA_PERMITS.ID), "the good permit ended, the bad one waits");
  }

  @Test
  void finishingManyPermitsNeedsOneCountPerPermit() {
    DataAccessException e = assertThrows(DataAccessException.class, () -> stepped.dsl().execute(
        "SELECT public.batchpilot_finish_quotas(ARRAY[gen_random_uuid(), gen_random_uuid()], ARRAY[1::bigint])"));
    assertTrue(e.getMessage().contains("2 permit ids but 1 token counts"), e::getMessage);
  }

  @Test
  void aClockThatGoesBackBehindARefusedCallKeepsEveryCountWhereItWas() {
    stepped.defineLimits(model, 1, 1_000_000, 1000, 10, 0);
    assertTrue(stepped.acquire(model, 10, Strategy.AGGRESSIVE, T0).granted());
    // Refused, but the ring moves to T0 + 900 ms's bucket.
    assertEquals("requests", stepped.acquire(model, 10, Strategy.AGGRESSIVE, T0.plusNanos(900_000_000)).reason());

    // The clock reads 400 ms earlier: the first grant still leaves 11 buckets after its own
    // (T0 + 1070 ms), not after the bucket the clock now reads.
    SteppedClockGate.Answer back = stepped.acquire(model, 10, Strategy.AGGRESSIVE, T0.plusNanos(500_000_000));
    assertEquals(570, back.waitMs(), back::toString);
    assertTrue(stepped.acquire(model, 10, Strategy.AGGRESSIVE, T0.plusNanos(1070_000_000)).granted());
  }

  @Test
  void changingTheWindowLayoutKeepsWhatWasCounted() {
    stepped.defineLimits(model, 2, 1_000_000, 1000, 10, 0);
    assertTrue(stepped.acquire(model, 10, Strategy.AGGRESSIVE, T0).granted());
    assertTrue(stepped.acquire(model, 10, Strategy.AGGRESSIVE, T0).granted());
    stepped.dsl().update(QUOTA_LIMITS).set(QUOTA_LIMITS.BUCKETS_PER_WINDOW, 5).where(QUOTA_LIMITS.MODEL.eq(model)).execute();

    // Both grants still count, now from the bucket of the first call after the change.
    assertEquals("requests", stepped.acquire(model, 10, Strategy.AGGRESSIVE, T0.plusNanos(500_000_000)).reason());
    assertEquals("requests", stepped.acquire(model, 10, Strategy.AGGRESSIVE, T0.plusNanos(1050_000_000)).reason());
    // That bucket, [T0+370, T0+570), leaves the 5-bucket lookback at T0+570 + 1000.
    assertTrue(stepped.acquire(model, 10, Strategy.AGGRESSIVE, T0.plusNanos(1570_000_000)).granted());
  }

  @Test
  void statusCountsTheRingsBucketsOfTheLastWindow() {
    stepped.defineLimits(model, 100, 1_000_000, 60_000, 60, 0);
    OffsetDateTime now = OffsetDateTime.now(ZoneOffset.UTC);
    stepped.acquire(model, 100, Strategy.AGGRESSIVE, now.minusSeconds(90));
    stepped.acquire(model, 200, Strategy.AGGRESSIVE, now.minusSeconds(30));
    stepped.acquire(model, 300, Strategy.AGGRESSIVE, now.minusSeconds(1));

    QuotaStatus status = gate.status("gemini", model).orElseThrow();
    assertEquals(2, status.requestsInWindow());
    assertEquals(500, status.inputTokensInWindow());
    assertEquals(3, status.inFlight());
  }

  @Test
  void strategiesUseTheirShareOfTheLimits() {
    stepped.defineLimits(model, 8, 1_000_000, 1000, 10, 0);
    assertEquals(4, grantsUntilRefused(Strategy.CONSERVATIVE, T0));
    assertEquals(2, grantsUntilRefused(Strategy.BALANCED, T0));
    assertEquals(2, grantsUntilRefused(Strategy.AGGRESSIVE, T0));
  }

  @Test
  void adaptiveFactorIsCutOncePerBlockAndRestoredAdditivelyPerQuietWindow() {
    stepped.defineLimits(model, 10, 1_000_000, 1000, 10, 0);
    // Workers that got the same 429 report it during the block: one cut, not three.
    gate.rateLimited("gemini", model, Duration.ofMillis(500), "GenerateRequestsPerMinute");
    gate.rateLimited("gemini", model, Duration.ofMillis(500));
    OffsetDateTime blockEnd = gate.rateLimited("gemini", model, Duration.ofMillis(500));
    assertEquals(0.5, gate.status("gemini", model).orElseThrow().adaptiveFactor(), 1e-9);
    OffsetDateTime cutAt = stepped.dsl().select(QUOTA_LIMITS.ADAPTIVE_CHANGED_AT).from(QUOTA_LIMITS)
        .where(QUOTA_LIMITS.MODEL.eq(model)).fetchOne().value1();

    OffsetDateTime afterBlock = blockEnd.plusNanos(1_000_000);
    assertTrue(afterBlock.isBefore(cutAt.plusSeconds(1)), "still in the window of the cut");
    assertEquals(5, grantsUntilRefused(Strategy.ADAPTIVE, afterBlock));
    assertEquals(5, grantsUntilRefused(Strategy.AGGRESSIVE, afterBlock), "other strategies keep the full limit");
    // Three quiet windows after the cut: 0.5 + 3 x 0.05 = 0.65 of 10.
    assertEquals(6, grantsUntilRefused(Strategy.ADAPTIVE, cutAt.plusNanos(3_500_000_000L)));
    // The next block's 429 cuts what is in effect then: 0.65 x 0.5.
    // Relative to the database's clock, which rateLimited reads: however slowly this test runs.
    stepped.dsl().update(QUOTA_LIMITS)
        .set(QUOTA_LIMITS.ADAPTIVE_CHANGED_AT,
            DSL.field("clock_timestamp() - interval '3.5 seconds'", QUOTA_LIMITS.ADAPTIVE_CHANGED_AT.getDataType()))
        .setNull(QUOTA_LIMITS.BLOCKED_UNTIL).where(QUOTA_LIMITS.MODEL.eq(model)).execute();
    gate.rateLimited("gemini", model, Duration.ofMillis(500));
    assertEquals(0.325, gate.status("gemini", model).orElseThrow().adaptiveFactor(), 1e-9);
  }

  @Test
  void aRateLimitBlocksTheWholeFleetUntilTheRetryDelayHasPassed() {
    stepped.defineLimits(model, 10, 1_000_000, 60_000, 60, 0);
    OffsetDateTime until = gate.rateLimited("gemini", model, Duration.ofSeconds(30));

    Admission answer = gate.acquire("gemini", model, 1, Strategy.AGGRESSIVE);
    Admission.Wait wait = assertInstanceOf(Admission.Wait.class, answer);
    assertEquals(WaitReason.RATE_LIMITED, wait.reason());
    assertTrue(wait.delay().compareTo(Duration.ofSeconds(30)) <= 0 && wait.delay().toMillis() > 20_000, wait::toString);
    assertEquals(until.toInstant(), gate.status("gemini", model).orElseThrow().blockedUntil().orElseThrow());
    assertTrue(stepped.acquire(model, 1, Strategy.AGGRESSIVE, until.plusNanos(1_000_000)).granted());
    assertTrue(stepped.dsl().fetchExists(API_QUOTA_TRACKING,
        API_QUOTA_TRACKING.MODEL.eq(model), API_QUOTA_TRACKING.IS_RATE_LIMITED.isTrue(),
        API_QUOTA_TRACKING.RATE_LIMIT_RESET_AT.eq(until)));
  }

  @Test
  void theDailyLimitParksTheModelUntilMidnightInLosAngeles() {
    stepped.defineLimits(model, 100, 1_000_000, 1000, 10, 0);
    stepped.dsl().update(QUOTA_LIMITS).set(QUOTA_LIMITS.REQUESTS_PER_DAY, 2).where(QUOTA_LIMITS.MODEL.eq(model)).execute();
    OffsetDateTime lateEvening = OffsetDateTime.of(2026, 11, 29, 7, 59, 0, 0, ZoneOffset.UTC); // 23:59 PST
    assertTrue(stepped.acquire(model, 1, Strategy.AGGRESSIVE, lateEvening).granted());
    assertTrue(stepped.acquire(model, 1, Strategy.AGGRESSIVE, lateEvening).granted());
    SteppedClockGate.Answer parked = stepped.acquire(model, 1, Strategy.AGGRESSIVE, lateEvening);
    assertEquals("daily_quota_exhausted", parked.reason());
    assertEquals(60_000, parked.waitMs());
    assertTrue(stepped.acquire(model, 1, Strategy.AGGRESSIVE, lateEvening.plusMinutes(1)).granted());
  }

  @Test
  void aPerDay429ParksTheFleetAndTheStatusSaysUntilWhen() {
    stepped.defineLimits(model, 100, 1_000_000, 1000, 10, 0);
    OffsetDateTime until = gate.dailyQuotaExhausted("gemini", model);

    Instant midnight = Instant.now().atZone(java.time.ZoneId.of("America/Los_Angeles")).toLocalDate().plusDays(1)
        .atStartOfDay(java.time.ZoneId.of("America/Los_Angeles")).toInstant();
    assertEquals(midnight, until.toInstant());
    assertEquals(midnight, gate.status("gemini", model).orElseThrow().parkedUntil().orElseThrow());
    Admission.Wait wait = assertInstanceOf(Admission.Wait.class, gate.acquire("gemini", model, 1, Strategy.AGGRESSIVE));
    assertEquals(WaitReason.DAILY_QUOTA_EXHAUSTED, wait.reason());
  }

  @Test
  void theLedgerShowsEachMinutesUseAgainstTheLimit() {
    stepped.defineLimits(model, 100, 1_000_000, 1000, 10, 0);
    UUID first = stepped.acquire(model, 280, Strategy.AGGRESSIVE, T0).permitId();
    UUID second = stepped.acquire(model, 50, Strategy.AGGRESSIVE, T0.plusSeconds(10)).permitId();
    UUID third = stepped.acquire(model, 9, Strategy.AGGRESSIVE, T0.plusSeconds(60)).permitId();
    assertEquals(0, stepped.dsl().fetchCount(API_QUOTA_TRACKING, API_QUOTA_TRACKING.MODEL.eq(model)),
        "nothing is counted before its permit ends");

    // Counted when they end, in the minute they were granted, with the real count (or the estimate).
    gate.finish(new Permit(first, "gemini", model, 280, T0.toInstant()), 250);
    gate.release(new Permit(second, "gemini", model, 50, T0.toInstant()));
    gate.finish(new Permit(third, "gemini", model, 9, T0.toInstant()), 7);

    var rows = stepped.dsl().selectFrom(API_QUOTA_TRACKING).where(API_QUOTA_TRACKING.MODEL.eq(model))
        .orderBy(API_QUOTA_TRACKING.TIME_WINDOW, API_QUOTA_TRACKING.QUOTA_TYPE).fetch();
    assertEquals(4, rows.size());
    assertEquals(T0.withNano(0).withSecond(0).toInstant(), rows.get(0).getTimeWindow().toInstant());
    assertEquals("input_tokens", rows.get(0).getQuotaType());
    assertEquals(300L, rows.get(0).getQuotaUsed());
    assertEquals(1_000_000L - 300, rows.get(0).getQuotaRemaining());
    assertEquals(2L, rows.get(1).getQuotaUsed());
    assertEquals(98L, rows.get(1).getQuotaRemaining());
    assertEquals(7L, rows.get(2).getQuotaUsed());
    assertEquals(1L, rows.get(3).getQuotaUsed());
  }

  @Test
  void aRequestAboveTheTokenLimitIsRefusedWithWhatToDo() {
    stepped.defineLimits(model, 100, 1000, 1000, 10, 0);
    DataAccessException e = assertThrows(DataAccessException.class,
        () -> gate.acquire("gemini", model, 1001, Strategy.AGGRESSIVE));
    assertTrue(e.getMessage().contains("input_tokens_per_minute") && e.getMessage().contains(model), e::getMessage);
  }

  @Test
  void aModelWithoutLimitsIsRefusedNamingIt() {
    DataAccessException e = assertThrows(DataAccessException.class,
        () -> gate.acquire("gemini", model, 1, Strategy.AGGRESSIVE));
    assertTrue(e.getMessage().contains("no quota_limits row") && e.getMessage().contains(model), e::getMessage);
  }

  @Test
  void onlyTheServiceRoleMayCallTheGate(TestDatabase db) throws SQLException {
    stepped.defineLimits(model, 100, 1000, 1000, 10, 0);
    String call = "SELECT * FROM public.batchpilot_acquire_quota('gemini', '" + model + "', 1, 'aggressive')";
    try (Connection c = db.connect(); Statement s = c.createStatement()) {
      s.execute("SET ROLE authenticated");
      SQLException refused = assertThrows(SQLException.class, () -> s.execute(call));
      assertTrue(refused.getMessage().contains("permission denied"), refused::getMessage);
      s.execute("SET ROLE service_role");
      assertTrue(s.execute(call));
    }
  }

  private int grantsUntilRefused(Strategy strategy, OffsetDateTime now) {
    int granted = 0;
    while (stepped.acquire(model, 1, strategy, now).granted()) {
      granted++;
    }
    return granted;
  }
}
