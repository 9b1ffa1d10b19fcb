package io.batchpilot.session;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;
import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_SESSIONS;
import static io.batchpilot.jooq.Tables.QUOTA_LIMITS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.store.Jooq;
import java.sql.Connection;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.time.temporal.ChronoUnit;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import javax.sql.DataSource;
import org.jooq.DSLContext;
import org.jooq.impl.DSL;
import org.jooq.impl.SQLDataType;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The ETA on controlled data. Rows are timed against the database's clock, which the estimate
 * reads too; each expected number of seconds is checked from the clock just before the estimate.
 */
@ExtendWith(PostgresExtension.class)
class EtaEstimatorTest {

  private static final String MODEL = "eta-test";
  private static final Duration WINDOW = Duration.ofSeconds(60);

  private final DSLContext dsl;
  private final Sessions sessions;
  private final EtaEstimator eta;
  private final DataSource dataSource;

  EtaEstimatorTest(TestDatabase db) {
    this.dataSource = db.dataSource();
    this.dsl = Jooq.using(db.dataSource());
    this.sessions = new Sessions(db.dataSource());
    this.eta = new EtaEstimator(db.dataSource());
  }

  @BeforeEach
  void empty() {
    dsl.deleteFrom(BATCH_UPLOAD_SESSIONS).execute();
    dsl.deleteFrom(QUOTA_LIMITS).execute();
  }

  /** A processing session with {@code files} files, all pending. */
  private UUID running(String name, int files, String status) {
    List<NewFile> list = new ArrayList<>();
    for (int i = 0; i < files; i++) {
      list.add(NewFile.at(name + i + ".png", "image/png", "file:///x/" + name + i + ".png"));
    }
    UUID id = sessions.submit(new NewSession(name, null, null, MODEL, 100, "aggressive"), list);
    dsl.update(BATCH_UPLOAD_SESSIONS)
        .set(BATCH_UPLOAD_SESSIONS.STATUS, status)
        .set(BATCH_UPLOAD_SESSIONS.STARTED_AT, DSL.field("clock_timestamp() - interval '5 minutes'", OffsetDateTime.class))
        .where(BATCH_UPLOAD_SESSIONS.ID.eq(id)).execute();
    return id;
  }

  /** Marks the session's next pending file completed {@code secondsAgo} before now, after one call. */
  private void finishOne(UUID session, double secondsAgo) {
    dsl.update(BATCH_UPLOAD_FILES)
        .set(BATCH_UPLOAD_FILES.STATUS, "completed")
        .set(BATCH_UPLOAD_FILES.API_CALLS_MADE, 1)
        .set(BATCH_UPLOAD_FILES.INPUT_TOKENS, 300)
        .set(BATCH_UPLOAD_FILES.PROCESSING_COMPLETED_AT,
            DSL.field("clock_timestamp() - make_interval(secs => {0})", OffsetDateTime.class, DSL.val(secondsAgo)))
        .where(BATCH_UPLOAD_FILES.ID.eq(DSL.select(BATCH_UPLOAD_FILES.ID).from(BATCH_UPLOAD_FILES)
            .where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session)).and(BATCH_UPLOAD_FILES.STATUS.eq("pending"))
            .orderBy(BATCH_UPLOAD_FILES.UPLOAD_ORDER).limit(1)))
        .execute();
  }

  /** 10 requests per 1 s window counted in 100 ms buckets: the gate looks back 11 buckets, 9.09/s. */
  private void quota10PerSecond() {
    dsl.insertInto(QUOTA_LIMITS)
        .set(QUOTA_LIMITS.PROVIDER, "gemini").set(QUOTA_LIMITS.MODEL, MODEL)
        .set(QUOTA_LIMITS.REQUESTS_PER_MINUTE, 10).set(QUOTA_LIMITS.INPUT_TOKENS_PER_MINUTE, 1_000_000L)
        .set(QUOTA_LIMITS.WINDOW_MS, 1000).set(QUOTA_LIMITS.BUCKETS_PER_WINDOW, 10).set(QUOTA_LIMITS.SAFETY_MARGIN_MS, 0)
        .execute();
  }

  /** {@code calls} grants at the gate now, each released at once (not in flight). */
  private void grant(int calls) {
    for (int i = 0; i < calls; i++) {
      UUID permit = dsl.resultQuery("select permit_id from public.batchpilot_acquire_quota('gemini', {0}, 300, 'aggressive')",
          DSL.inline(MODEL)).fetchOne(0, UUID.class);
      assertNotNull(permit, "granted");
      dsl.resultQuery("select public.batchpilot_finish_quota({0}, 300)", DSL.val(permit)).fetch();
    }
  }

  /** Ends the permits in flight: their calls are done. */
  private void finishAll() {
    dsl.resultQuery("select public.batchpilot_finish_quotas(array_agg(id), array_agg(300::bigint))"
        + " from public.quota_permits where model = {0}", DSL.inline(MODEL)).fetch();
  }

  /** Runs the estimate; returns each session's estimated seconds left, from the clock just before it. */
  private Map<UUID, Double> estimate(UUID... ids) {
    OffsetDateTime before = dsl.select(DSL.field("clock_timestamp()", SQLDataType.TIMESTAMPWITHTIMEZONE)).fetchOne().value1();
    eta.runOnce(WINDOW);
    Map<UUID, Double> seconds = new java.util.HashMap<>();
    for (UUID id : ids) {
      OffsetDateTime at = sessions.progress(id).estimatedCompletionAt();
      seconds.put(id, at == null ? null : Duration.between(before, at).toMillis() / 1000.0);
    }
    return seconds;
  }

  @Test
  void sessionsShareTheMeasuredPaceAndASmallOneLeavesItsShareWhenDone() {
    // No quota row: the measured pace alone. 21 files finished a second apart: 1 file/s.
    UUID small = running("small", 20, "processing");
    UUID big = running("big", 41, "processing");
    for (int i = 0; i <= 20; i++) {
      finishOne(i % 2 == 0 ? big : small, 20 - i);
    }

    Map<UUID, Double> left = estimate(small, big);

    // small: 10 left at half the pace = 20 s; big: 30 left, 10 of them at half the pace, then 20 alone = 40 s.
    assertEquals(20.0, left.get(small), 0.6);
    assertEquals(40.0, left.get(big), 1.2);
  }

  @Test
  void theQuotaPaceCapsAStartUpBurst() {
    quota10PerSecond();
    UUID session = running("burst", 120, "processing");
    // Two lookbacks' worth finished within the last second, twice the steady pace: the second
    // batch's 10 grants are still in the gate's lookback.
    for (int i = 0; i < 20; i++) {
      finishOne(session, 1.0 - i * 0.05);
    }
    grant(10);

    Map<UUID, Double> left = estimate(session);

    assertEquals(100 / (10 / 1.1), left.get(session), 0.4, "the 100th call from now: 9 lookbacks after the "
        + "10 granted leave");
  }

  @Test
  void aGateUsingItsWholeLimitSetsThePaceOverASlowerStart() {
    quota10PerSecond();
    UUID session = running("steady", 60, "processing");
    // The fleet started slowly (1 file/s over the last 10 s) but the gate is now granting its whole
    // limit: 10 requests granted just now.
    for (int i = 0; i <= 10; i++) {
      finishOne(session, 10 - i);
    }
    grant(10);

    Map<UUID, Double> left = estimate(session);

    assertEquals(49 / (10 / 1.1), left.get(session), 0.3, "49 files at the gate's 9.09 a second");
  }

  @Test
  void aGateAtFullPaceOverItsLastWindowCountsAsSaturated() {
    // 100 requests per 1 s window in 100 ms buckets: the gate looks back 1.1 s, so at full pace its
    // last window holds 100 / 1.1 = 90.9 grants. 85 of them are 94% of that (saturated), but only
    // 85% of the limit: judged against the whole limit the gate would look idle.
    dsl.insertInto(QUOTA_LIMITS)
        .set(QUOTA_LIMITS.PROVIDER, "gemini").set(QUOTA_LIMITS.MODEL, MODEL)
        .set(QUOTA_LIMITS.REQUESTS_PER_MINUTE, 100).set(QUOTA_LIMITS.INPUT_TOKENS_PER_MINUTE, 1_000_000L)
        .set(QUOTA_LIMITS.WINDOW_MS, 1000).set(QUOTA_LIMITS.BUCKETS_PER_WINDOW, 10).set(QUOTA_LIMITS.SAFETY_MARGIN_MS, 0)
        .set(QUOTA_LIMITS.MAX_IN_FLIGHT, 1000)
        .execute();
    UUID session = running("full", 60, "processing");
    for (int i = 0; i <= 10; i++) {
      finishOne(session, 10 - i);
    }
    // One statement, so all 85 grants fall well inside the last window however slow the machine (the
    // call takes the series' value, or the planner would call it once and repeat its row).
    assertEquals(85, dsl.resultQuery("select count(*) filter (where a.granted) from generate_series(1, 85) g,"
        + " lateral public.batchpilot_acquire_quota('gemini', {0}, 300 + 0 * g, 'aggressive') a", DSL.inline(MODEL))
        .fetchOne(0, Integer.class));
    finishAll();

    Map<UUID, Double> left = estimate(session);

    assertEquals(1.05, left.get(session), 0.3, "15 of the 49 files now and 34 once the 85 grants leave the 1.1 s "
        + "lookback, not at the start's 1 a second");
  }

  /** Production's window: 60 s in 1 s buckets with a 1 s margin, so the gate looks back 62 s. */
  private void quotaPerMinute(int requests, Integer perDay) {
    dsl.insertInto(QUOTA_LIMITS)
        .set(QUOTA_LIMITS.PROVIDER, "gemini").set(QUOTA_LIMITS.MODEL, MODEL)
        .set(QUOTA_LIMITS.REQUESTS_PER_MINUTE, requests).set(QUOTA_LIMITS.INPUT_TOKENS_PER_MINUTE, 1_000_000L)
        .set(QUOTA_LIMITS.REQUESTS_PER_DAY, perDay)
        .execute();
  }

  /** {@code calls} grants {@code secondsAgo} before now, left in flight (their files are being processed). */
  private void grantedAgo(int calls, double secondsAgo) {
    assertEquals(calls, dsl.resultQuery("select count(*) filter (where a.granted) from generate_series(1, {0}) g,"
        + " lateral batchpilot_private.acquire_quota('gemini', {1}, 300 + 0 * g, 'aggressive',"
        + " clock_timestamp() - make_interval(secs => {2})) a", DSL.val(calls), DSL.inline(MODEL), DSL.val(secondsAgo))
        .fetchOne(0, Integer.class));
  }

  @Test
  void aWindowBoundBurstCountsDownToTheNextWindowInsteadOfDividingByThePace() {
    // The demo's regime: 40 files at 20 a minute. The first 20 were granted 40 s ago and are done;
    // the other 20 wait for those grants to leave the gate's 62 s lookback, 22 s from now. Dividing
    // by the gate's pace (20 per 62 s) would say 62 s now, and at every moment of the wait.
    quotaPerMinute(20, null);
    UUID session = running("demo", 40, "processing");
    grantedAgo(20, 40);
    finishAll();
    for (int i = 0; i < 20; i++) {
      finishOne(session, 39.0 - i * 0.02);
    }

    Map<UUID, Double> left = estimate(session);

    assertEquals(22.0, left.get(session), 1.1);
  }

  @Test
  void callsAlreadyGrantedNeedNoMoreQuota() {
    // The burst's second half has its grants (just now) and is in flight: it finishes with its calls,
    // not in the next window.
    quotaPerMinute(20, null);
    UUID session = running("second-half", 40, "processing");
    grantedAgo(20, 70);
    finishAll();
    for (int i = 0; i < 20; i++) {
      finishOne(session, 69.0 - i * 0.02);
    }
    grantedAgo(20, 0);

    Map<UUID, Double> left = estimate(session);

    assertEquals(0.0, left.get(session), 1.0);
  }

  @Test
  void aBurstThatLeftTheWindowButNotTheLookbackStillBinds() {
    // The demo a minute in: the first 20 files were granted 60.5-62.5 s ago and finished at once; the
    // 10 older grants have left the 62 s lookback and let 10 new ones in, the 10 others leave it
    // within a second and a half. The gate's last minute holds only the 10 new grants, and the last
    // minute measured 20 files in a burst and then a wait, a pace that would say a minute; the gate
    // will grant the last 10 calls within a second or two.
    quotaPerMinute(20, null);
    UUID session = running("turning", 40, "processing");
    grantedAgo(10, 62.5);
    grantedAgo(10, 60.5);
    finishAll();
    for (int i = 0; i < 20; i++) {
      finishOne(session, 60.0 - i * 0.02);
    }
    grantedAgo(10, 0);

    Map<UUID, Double> left = estimate(session);

    assertEquals(1.0, left.get(session), 0.6, "10 calls in flight, 10 to grant when the older grants leave");
  }

  @Test
  void aDailyLimitThatBindsSaysDaysCountedFromTheResetAtPacificMidnight() {
    // 1,000 files at 250 requests a day (the case: once estimated at 1 h 43 m). 10 are done,
    // 10 requests spent today: 240 more today, then 250 on each of the next days.
    quotaPerMinute(1000, 250);
    UUID session = running("daily", 1000, "processing");
    for (int i = 0; i < 10; i++) {
      finishOne(session, 10 - i);
    }
    ZoneId pacific = ZoneId.of("America/Los_Angeles");
    ZonedDateTime nextMidnight = ZonedDateTime.now(pacific).toLocalDate().plusDays(1).atStartOfDay(pacific);
    dsl.update(QUOTA_LIMITS).set(QUOTA_LIMITS.REQUESTS_TODAY, 10)
        .set(QUOTA_LIMITS.DAY, DSL.field("(clock_timestamp() AT TIME ZONE 'America/Los_Angeles')::date", LocalDate.class))
        .execute();

    assertEquals(nextMidnight.plusDays(2).toInstant(), estimatedAt(session), "990 calls: 240 today, then 250 a day");

    // The fleet met Google's per-day 429 and the gate parked the model until midnight: nothing more today.
    dsl.update(QUOTA_LIMITS).set(QUOTA_LIMITS.PARKED_UNTIL, nextMidnight.toOffsetDateTime()).execute();
    assertEquals(nextMidnight.plusDays(3).toInstant(), estimatedAt(session), "990 calls from midnight on, 250 a day");
  }

  private Instant estimatedAt(UUID session) {
    eta.runOnce(WINDOW);
    return sessions.progress(session).estimatedCompletionAt().toInstant().truncatedTo(ChronoUnit.SECONDS);
  }

  @Test
  void aSessionAnotherTransactionHoldsIsSkippedNotWaitedFor() throws Exception {
    UUID held = running("held", 20, "processing");
    UUID free = running("free", 20, "processing");
    for (int i = 0; i <= 10; i++) {
      finishOne(i % 2 == 0 ? held : free, 10 - i);
    }
    try (Connection completer = dataSource.getConnection()) {
      completer.setAutoCommit(false);
      try (var lock = completer.prepareStatement("SELECT 1 FROM public.batch_upload_sessions WHERE id = ? FOR UPDATE")) {
        lock.setObject(1, held);
        lock.executeQuery().close();
      }
      // Without SKIP LOCKED the estimate would wait for the holder's commit: fail instead of hanging.
      Map<UUID, Double> left = assertTimeoutPreemptively(Duration.ofSeconds(10), () -> estimate(held, free));

      assertNull(left.get(held), "the held session keeps its estimate until the next round");
      assertNotNull(left.get(free), "the others get theirs without waiting");
      completer.rollback();
    }
  }

  @Test
  void anEstimateThatBarelyMovedIsNotWrittenAgain() {
    // The session row is what Realtime sends every subscriber: a second round a moment later, with
    // nothing changed, leaves it alone.
    UUID session = running("still", 30, "processing");
    for (int i = 0; i <= 10; i++) {
      finishOne(session, 10 - i);
    }
    assertEquals(1, eta.runOnce(WINDOW));
    OffsetDateTime first = sessions.progress(session).estimatedCompletionAt();

    assertEquals(0, eta.runOnce(WINDOW), "no session row rewritten");
    assertEquals(first, sessions.progress(session).estimatedCompletionAt());
  }

  @Test
  void aPausedSessionTakesNoShareAndGetsNoEstimate() {
    UUID running = running("running", 30, "processing");
    UUID paused = running("paused", 30, "paused");
    for (int i = 0; i <= 10; i++) {
      finishOne(running, 10 - i);
    }

    Map<UUID, Double> left = estimate(running, paused);

    assertEquals(19.0, left.get(running), 0.6, "19 files left at 1 file/s, shared with no one");
    assertNull(left.get(paused));
  }
}
