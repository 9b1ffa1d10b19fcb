package io.batchpilot.limiter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.db.testing.TestPostgres;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import org.jooq.exception.DataAccessException;

/**
 * The admission arithmetic of {@code batchpilot_private.acquire_quota}, run against the real SQL
 * function with a clock the test steps: random limits, bucket sizes, safety margins, strategies,
 * request sizes and clock steps.
 */
class QuotaAdmissionPropertyTest {

  private static final int WINDOW_MS = 1000;
  private static final OffsetDateTime BASE = OffsetDateTime.of(2026, 11, 29, 3, 0, 0, 0, ZoneOffset.UTC);
  private static final AtomicInteger MODELS = new AtomicInteger();
  private static TestDatabase db;
  private static SteppedClockGate gate;

  /**
   * Moves the clock, then asks for tokens; before asking, when {@code correct >= 0}, replaces the
   * count of an earlier grant (the correct-th, modulo how many) by {@code keepPercent} of it,
   * through finish or reconcile.
   */
  record Step(int clockStepMs, long tokens, Strategy strategy, int correct, int keepPercent, boolean finish) {}

  record Grant(long atMs, long tokens, UUID permit, boolean ended) {}

  private static final class Refused extends RuntimeException {
    Refused() {
      super(null, null, false, false);
    }
  }

  @BeforeContainer
  static void openDatabase() {
    db = TestPostgres.get().createDatabase(true);
    gate = new SteppedClockGate(db.dataSource());
  }

  @AfterContainer
  static void dropDatabase() {
    db.close();
  }

  /**
   * No sequence lets any interval of window + margin (so any window at the server, if grants reach
   * it within the margin) hold more requests or tokens than the limits; a refusal's wait is exact
   * to the millisecond; and the gate grants whenever the last lookback + 1 buckets leave room.
   * Grants corrected down (reconcile, finish) count with their real tokens from then on.
   */
  @Property(tries = 150)
  void everyWindowStaysWithinTheLimitsAndEveryWaitIsExact(
      @ForAll @IntRange(min = 1, max = 12) int requestLimit,
      @ForAll @IntRange(min = 50, max = 2000) int tokenLimit,
      @ForAll("bucketCounts") int buckets,
      @ForAll("margins") int marginMs,
      @ForAll @IntRange(min = 0, max = 999) int startOffsetMs,
      @ForAll("steps") List<Step> steps) {
    String model = "prop-" + MODELS.incrementAndGet();
    gate.defineLimits(model, requestLimit, tokenLimit, WINDOW_MS, buckets, marginMs);
    long bucketMs = WINDOW_MS / buckets;
    long lookback = (WINDOW_MS + marginMs + bucketMs - 1) / bucketMs;
    List<Grant> grants = new ArrayList<>();
    long nowMs = startOffsetMs;

    for (Step step : steps) {
      nowMs += step.clockStepMs();
      if (step.correct() >= 0 && !grants.isEmpty()) {
        int index = step.correct() % grants.size();
        Grant before = grants.get(index);
        long actual = before.tokens() * step.keepPercent() / 100;
        boolean applied = step.finish() ? gate.finish(before.permit(), actual) : gate.reconcile(before.permit(), actual);
        assertEquals(!before.ended(), applied, "a permit in flight is corrected, an ended one is not: " + before);
        if (applied) {
          grants.set(index, new Grant(before.atMs(), actual, before.permit(), step.finish()));
        }
      }
      long tokens = Math.min(step.tokens(), tokenLimit);
      SteppedClockGate.Answer answer = gate.acquire(model, tokens, step.strategy(), at(nowMs));

      long since = nowMs - (lookback + 1) * bucketMs;
      long recentRequests = grants.stream().filter(g -> g.atMs() > since).count();
      long recentTokens = grants.stream().filter(g -> g.atMs() > since).mapToLong(Grant::tokens).sum();
      double fraction = fraction(step.strategy());
      long effectiveRequests = Math.max(1, (long) Math.floor(requestLimit * fraction));
      long effectiveTokens = Math.max(tokens, (long) Math.floor(tokenLimit * fraction));
      if (recentRequests + 1 <= effectiveRequests && recentTokens + tokens <= effectiveTokens) {
        assertTrue(answer.granted(), "room in the last " + (lookback + 1) + " buckets but refused: " + answer);
      }

      if (answer.granted()) {
        grants.add(new Grant(nowMs, tokens, answer.permitId(), false));
      } else {
        assertExactWait(model, tokens, step.strategy(), nowMs, answer);
      }
    }

    long span = WINDOW_MS + marginMs;
    for (Grant first : grants) {
      List<Grant> inWindow = grants.stream()
          .filter(g -> g.atMs() >= first.atMs() && g.atMs() < first.atMs() + span).toList();
      assertTrue(inWindow.size() <= requestLimit, () -> inWindow.size() + " requests within " + span + " ms from "
          + first.atMs() + ", limit " + requestLimit);
      long tokens = inWindow.stream().mapToLong(Grant::tokens).sum();
      assertTrue(tokens <= tokenLimit, () -> tokens + " tokens within " + span + " ms, limit " + tokenLimit);
    }
  }

  /** At now + wait - 1 ms still refused, at now + wait granted; both rolled back. */
  private static void assertExactWait(String model, long tokens, Strategy strategy, long nowMs,
      SteppedClockGate.Answer refused) {
    assertTrue(refused.reason().equals("requests") || refused.reason().equals("input_tokens"), refused::toString);
    assertTrue(refused.waitMs() >= 1, refused::toString);
    try {
      gate.dsl().transaction(tx -> {
        SteppedClockGate inTx = new SteppedClockGate(tx.dsl());
        assertFalse(inTx.acquire(model, tokens, strategy, at(nowMs + refused.waitMs() - 1)).granted(),
            () -> "granted 1 ms before the announced wait " + refused);
        assertTrue(inTx.acquire(model, tokens, strategy, at(nowMs + refused.waitMs())).granted(),
            () -> "refused after the announced wait " + refused);
        throw new Refused();
      });
    } catch (Refused | DataAccessException rolledBack) {
      if (rolledBack instanceof DataAccessException e && !(e.getCause() instanceof Refused)) {
        throw e;
      }
    }
  }

  private static double fraction(Strategy strategy) {
    return switch (strategy) {
      case CONSERVATIVE -> 0.5;
      case BALANCED -> 0.75;
      case AGGRESSIVE, ADAPTIVE -> 1.0;
    };
  }

  private static OffsetDateTime at(long ms) {
    return BASE.plusNanos(ms * 1_000_000);
  }

  @Provide
  Arbitrary<Integer> bucketCounts() {
    return Arbitraries.of(1, 2, 4, 5, 10, 20, 50, 100);
  }

  @Provide
  Arbitrary<Integer> margins() {
    return Arbitraries.of(0, 0, 7, 50, 130, 500);
  }

  @Provide
  Arbitrary<List<Step>> steps() {
    Arbitrary<Integer> clockSteps = Arbitraries.frequencyOf(
        net.jqwik.api.Tuple.of(5, Arbitraries.integers().between(0, 60)),
        net.jqwik.api.Tuple.of(1, Arbitraries.integers().between(0, 2500)));
    Arbitrary<Long> tokens = Arbitraries.longs().between(0, 2000);
    Arbitrary<Strategy> strategies = Arbitraries.of(Strategy.CONSERVATIVE, Strategy.BALANCED, Strategy.AGGRESSIVE);
    Arbitrary<Integer> corrections = Arbitraries.frequencyOf(
        net.jqwik.api.Tuple.of(2, Arbitraries.just(-1)),
        net.jqwik.api.Tuple.of(1, Arbitraries.integers().between(0, 1000)));
    return Combinators.combine(clockSteps, tokens, strategies, corrections, Arbitraries.integers().between(0, 100),
        Arbitraries.of(true, false)).as(Step::new).list().ofMinSize(1).ofMaxSize(40);
  }

  static {
    assertEquals(0, WINDOW_MS % 100, "bucket counts must divide the window");
  }
}
