package io.batchpilot.limiter;

import static io.batchpilot.jooq.Routines.batchpilotAcquireQuota;
import static io.batchpilot.jooq.Routines.batchpilotQuotaStatus;

import io.batchpilot.jooq.Routines;
import io.batchpilot.jooq.tables.records.BatchpilotAcquireQuotaRecord;
import io.batchpilot.jooq.tables.records.BatchpilotQuotaStatusRecord;
import io.batchpilot.store.Jooq;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import javax.sql.DataSource;
import org.jooq.DSLContext;

/**
 * The global quota gate: one limiter in PostgreSQL shared by every worker on every machine (and by
 * anything else that calls the same SQL functions). Each call is one round trip to one SQL function
 * that decides on the database's clock; nothing here keeps time or state, and no connection is held
 * while a caller waits.
 */
public final class QuotaGate {

  private final DSLContext dsl;
  private final QuotaGateConfig config;

  public QuotaGate(DataSource dataSource, QuotaGateConfig config) {
    this.dsl = Jooq.using(Objects.requireNonNull(dataSource, "dataSource"));
    this.config = Objects.requireNonNull(config, "config");
  }

  /**
   * Asks once: granted (with a permit to reconcile and release) or how long to wait. Fails when
   * the (provider, model) has no {@code quota_limits} row or the request alone exceeds its token
   * limit, since waiting cannot help either.
   */
  public Admission acquire(String provider, String model, long estimatedInputTokens, Strategy strategy) {
    Objects.requireNonNull(strategy, "strategy");
    BatchpilotAcquireQuotaRecord answer = batchpilotAcquireQuota(dsl.configuration(),
        provider, model, estimatedInputTokens, strategy.sqlName()).get(0);
    if (answer.getGranted()) {
      return new Admission.Granted(new Permit(answer.getPermitId(), provider, model, estimatedInputTokens,
          answer.getGrantedAt().toInstant()));
    }
    return new Admission.Wait(Duration.ofMillis(answer.getWaitMs()), WaitReason.fromSqlName(answer.getReason()));
  }

  /**
   * Asks until granted, sleeping each answered delay plus jitter in between, but gives up (and
   * returns the last {@link Admission.Wait}) when the wait would end after {@code maxWait}: a caller
   * facing a long block or a daily park should reschedule its work rather than hold a thread.
   */
  public Admission acquireWithin(String provider, String model, long estimatedInputTokens, Strategy strategy,
      Duration maxWait) throws InterruptedException {
    long deadline = System.nanoTime() + maxWait.toNanos();
    while (true) {
      Admission admission = acquire(provider, model, estimatedInputTokens, strategy);
      if (admission instanceof Admission.Wait wait) {
        long sleepNanos = withJitter(wait.delay(), config.maxJitter()).toNanos();
        if (System.nanoTime() + sleepNanos - deadline > 0) {
          return wait;
        }
        Thread.sleep(sleepNanos / 1_000_000, (int) (sleepNanos % 1_000_000));
      } else {
        return admission;
      }
    }
  }

  /** Replaces the permit's estimate with the server's {@code promptTokenCount}. */
  public void reconcile(Permit permit, long actualInputTokens) {
    Routines.batchpilotReconcileQuota(dsl.configuration(), permit.id(), actualInputTokens);
  }

  /**
   * After the request: {@link #reconcile} then {@link #release}, in one round trip, so a request
   * costs the gate two (acquire, finish) instead of three.
   */
  public void finish(Permit permit, long actualInputTokens) {
    Routines.batchpilotFinishQuota(dsl.configuration(), permit.id(), actualInputTokens);
  }

  /** Ends the permit's time in flight (idempotent). */
  public void release(Permit permit) {
    Routines.batchpilotReleaseQuota(dsl.configuration(), permit.id());
  }

  /**
   * A 429 for a per-minute quota: blocks the whole fleet for this (provider, model) until
   * {@code retryDelay} has passed, and cuts the adaptive factor once per blocked period.
   *
   * @return when the block ends
   */
  public OffsetDateTime rateLimited(String provider, String model, Duration retryDelay) {
    return rateLimited(provider, model, retryDelay, null);
  }

  /** As {@link #rateLimited(String, String, Duration)}, recording the violated quota's id. */
  public OffsetDateTime rateLimited(String provider, String model, Duration retryDelay, String quotaId) {
    return Routines.batchpilotReportRateLimit(dsl.configuration(), provider, model, retryDelay.toMillis(), quotaId);
  }

  /**
   * A per-day 429: parks this (provider, model) for the fleet until the next midnight
   * America/Los_Angeles.
   *
   * @return when the park ends
   */
  public OffsetDateTime dailyQuotaExhausted(String provider, String model) {
    return Routines.batchpilotReportDailyQuotaExhausted(dsl.configuration(), provider, model);
  }

  /** The gate's view of one (provider, model) now; empty when it has no {@code quota_limits} row. */
  public Optional<QuotaStatus> status(String provider, String model) {
    return batchpilotQuotaStatus(dsl.configuration(), provider, model).stream().findFirst()
        .map(QuotaGate::toStatus);
  }

  private static QuotaStatus toStatus(BatchpilotQuotaStatusRecord r) {
    return new QuotaStatus(r.getAdaptiveFactor(),
        Optional.ofNullable(r.getBlockedUntil()).map(OffsetDateTime::toInstant),
        Optional.ofNullable(r.getParkedUntil()).map(OffsetDateTime::toInstant),
        r.getRequestsInWindow(), r.getInputTokensInWindow(), r.getInFlight());
  }

  /** The delay plus a uniform random share of maxJitter, so woken workers do not ask in lockstep. */
  static Duration withJitter(Duration delay, Duration maxJitter) {
    long jitterNanos = maxJitter.toNanos();
    return jitterNanos == 0 ? delay : delay.plusNanos(ThreadLocalRandom.current().nextLong(jitterNanos + 1));
  }
}
