package io.batchpilot.limiter;

import static io.batchpilot.jooq.Routines.batchpilotQuotaStatus;

import io.batchpilot.jooq.Routines;
import io.batchpilot.jooq.tables.records.BatchpilotQuotaStatusRecord;
import io.batchpilot.store.Jooq;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import javax.sql.DataSource;
import org.jooq.DSLContext;
import org.jooq.exception.DataAccessException;

/**
 * The global quota gate: one limiter in PostgreSQL shared by every worker on every machine (and by
 * anything else that calls the same SQL functions). Each call is one round trip to one SQL function
 * that decides on the database's clock; nothing here keeps time or state, and no connection is held
 * while a caller waits.
 *
 * <p>The two calls every request makes ({@link #acquire}, {@link #finish}) are prepared JDBC
 * statements: through jOOQ's generated routines they cost 10-25% more per call, measured side by
 * side (docs/BENCHMARKS.md at 2b995c9, "Quota gate: acquisitions per second"). The rest goes through jOOQ.
 *
 * <p>{@link #finishLater} and {@link #releaseLater} hand permits to a thread that ends them in
 * batches; {@link #close} ends what is left.
 *
 * <p>A gate made with a permit lease (a worker's, {@code BATCHPILOT_LEASE}) grants its permits
 * that lease and keeps them alive while {@link #extendPermits} is called on a heartbeat: if the
 * process dies, its permits stop counting as in flight within one lease, not after the model's
 * {@code permit_lease_ms}.
 */
public final class QuotaGate implements AutoCloseable {

  private static final String ACQUIRE =
      "SELECT granted, permit_id, wait_ms, reason, granted_at FROM public.batchpilot_acquire_quota(?, ?, ?, ?, ?, ?)";
  private static final String FINISH = "SELECT public.batchpilot_finish_quotas(?, ?)";
  private static final String EXTEND = "SELECT public.batchpilot_extend_quota_permits(?, ?)";

  private final DataSource dataSource;
  private final DSLContext dsl;
  private final QuotaGateConfig config;
  /** NULL: permits live the model's {@code permit_lease_ms}, and nothing extends them. */
  private final Long permitLeaseMs;
  /** Granted here and not yet ended: what {@link #extendPermits} keeps alive. */
  private final Set<UUID> held = ConcurrentHashMap.newKeySet();
  private PermitFinisher finisher;

  /** A gate whose permits live the model's {@code quota_limits.permit_lease_ms} (no heartbeat). */
  public QuotaGate(DataSource dataSource, QuotaGateConfig config) {
    this(dataSource, config, null);
  }

  /**
   * A gate whose permits count as in flight for {@code permitLease} after their grant or the last
   * {@link #extendPermits}: give the worker's lease, and call {@link #extendPermits} on its heartbeat.
   */
  public QuotaGate(DataSource dataSource, QuotaGateConfig config, Duration permitLease) {
    this.dataSource = Objects.requireNonNull(dataSource, "dataSource");
    this.dsl = Jooq.using(dataSource);
    this.config = Objects.requireNonNull(config, "config");
    if (permitLease != null && permitLease.toMillis() <= 0) {
      throw new IllegalArgumentException("quota gate: the permit lease must be at least 1 ms, got " + permitLease);
    }
    this.permitLeaseMs = permitLease == null ? null : permitLease.toMillis();
  }

  /**
   * Asks once: granted (with a permit to reconcile and release) or how long to wait. Fails when
   * the (provider, model) has no {@code quota_limits} row or the request alone exceeds its token
   * limit, since waiting cannot help either.
   */
  public Admission acquire(String provider, String model, long estimatedInputTokens, Strategy strategy) {
    return acquire(provider, model, estimatedInputTokens, strategy, null);
  }

  /**
   * As {@link #acquire(String, String, long, Strategy)}, for a call on behalf of {@code fileId}
   * (may be null): if the permit is never ended (its worker died), its call still counts in the
   * file's session's {@code total_api_calls}.
   */
  public Admission acquire(String provider, String model, long estimatedInputTokens, Strategy strategy, UUID fileId) {
    Objects.requireNonNull(strategy, "strategy");
    try (Connection connection = dataSource.getConnection();
        PreparedStatement acquire = connection.prepareStatement(ACQUIRE)) {
      acquire.setString(1, provider);
      acquire.setString(2, model);
      acquire.setLong(3, estimatedInputTokens);
      acquire.setString(4, strategy.sqlName());
      acquire.setObject(5, permitLeaseMs, java.sql.Types.BIGINT);
      acquire.setObject(6, fileId, java.sql.Types.OTHER);
      try (ResultSet answer = acquire.executeQuery()) {
        answer.next();
        if (answer.getBoolean(1)) {
          UUID id = answer.getObject(2, UUID.class);
          if (permitLeaseMs != null) {
            held.add(id);
          }
          return new Admission.Granted(new Permit(id, provider, model,
              estimatedInputTokens, answer.getObject(5, OffsetDateTime.class).toInstant()));
        }
        return new Admission.Wait(Duration.ofMillis(answer.getLong(3)), WaitReason.fromSqlName(answer.getString(4)));
      }
    } catch (SQLException e) {
      throw new DataAccessException("quota gate: acquire " + estimatedInputTokens + " input tokens for " + provider + " "
          + model + ": " + e.getMessage(), e);
    }
  }

  /**
   * Asks until granted, sleeping each answered delay plus jitter in between, but gives up (and
   * returns the last {@link Admission.Wait}) when the wait would end after {@code maxWait}: a caller
   * facing a long block or a daily park should reschedule its work rather than hold a thread.
   */
  public Admission acquireWithin(String provider, String model, long estimatedInputTokens, Strategy strategy,
      Duration maxWait) throws InterruptedException {
    return acquireWithin(provider, model, estimatedInputTokens, strategy, maxWait, null);
  }

  /** As {@link #acquireWithin(String, String, long, Strategy, Duration)}, for a call on behalf of {@code fileId}. */
  public Admission acquireWithin(String provider, String model, long estimatedInputTokens, Strategy strategy,
      Duration maxWait, UUID fileId) throws InterruptedException {
    long deadline = System.nanoTime() + maxWait.toNanos();
    while (true) {
      Admission admission = acquire(provider, model, estimatedInputTokens, strategy, fileId);
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
    finishAll(List.of(new PermitFinisher.Finish(permit, actualInputTokens)));
  }

  /** Ends the permit's time in flight (idempotent). */
  public void release(Permit permit) {
    finishAll(List.of(new PermitFinisher.Finish(permit, null)));
  }

  /**
   * As {@link #finish}, on the gate's finisher thread, batched with the permits other threads
   * finish meanwhile: the caller does not wait for the round trip.
   */
  public void finishLater(Permit permit, long actualInputTokens) {
    Objects.requireNonNull(permit, "permit");
    // Refused here, not in the batch: one bad count would fail every permit finished with it.
    if (actualInputTokens < 0) {
      throw new IllegalArgumentException("quota gate: permit " + permit.id() + " cannot end with "
          + actualInputTokens + " input tokens: give the response's promptTokenCount (0 or more)");
    }
    finisher().add(new PermitFinisher.Finish(permit, actualInputTokens));
  }

  /** As {@link #release}, on the gate's finisher thread (see {@link #finishLater}). */
  public void releaseLater(Permit permit) {
    finisher().add(new PermitFinisher.Finish(Objects.requireNonNull(permit, "permit"), null));
  }

  /** Ends the permits handed to {@link #finishLater} and {@link #releaseLater}, then stops their thread. */
  @Override
  public void close() throws InterruptedException {
    PermitFinisher running;
    synchronized (this) {
      running = finisher;
      finisher = null;
    }
    if (running != null) {
      running.close();
    }
  }

  private synchronized PermitFinisher finisher() {
    if (finisher == null) {
      finisher = new PermitFinisher(this::finishAll);
    }
    return finisher;
  }

  /**
   * The heartbeat: keeps the permits granted here and not yet ended in flight for one more permit
   * lease, in one statement. Returns how many it extended (0 for a gate without a permit lease).
   */
  public int extendPermits() {
    if (permitLeaseMs == null || held.isEmpty()) {
      return 0;
    }
    UUID[] ids = held.toArray(UUID[]::new);
    try (Connection connection = dataSource.getConnection();
        PreparedStatement extend = connection.prepareStatement(EXTEND)) {
      Array idArray = connection.createArrayOf("uuid", ids);
      try {
        extend.setArray(1, idArray);
        extend.setLong(2, permitLeaseMs);
        try (ResultSet answer = extend.executeQuery()) {
          answer.next();
          return answer.getInt(1);
        }
      } finally {
        idArray.free();
      }
    } catch (SQLException e) {
      throw new DataAccessException("quota gate: extend " + ids.length + " permit(s) " + ids[0] + "... by "
          + permitLeaseMs + " ms: " + e.getMessage(), e);
    }
  }

  private void finishAll(List<PermitFinisher.Finish> finishes) {
    UUID[] ids = new UUID[finishes.size()];
    Long[] actual = new Long[finishes.size()];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = finishes.get(i).permit().id();
      actual[i] = finishes.get(i).actualInputTokens();
      // No longer extended, even if this call fails: the permit then lapses within one lease.
      held.remove(ids[i]);
    }
    try (Connection connection = dataSource.getConnection();
        PreparedStatement finish = connection.prepareStatement(FINISH)) {
      Array idArray = connection.createArrayOf("uuid", ids);
      Array actualArray = connection.createArrayOf("int8", actual);
      try {
        finish.setArray(1, idArray);
        finish.setArray(2, actualArray);
        finish.executeQuery().close();
      } finally {
        // pgjdbc-ng encodes an array into a pooled buffer that only free() returns (Netty's leak
        // detector reported it).
        idArray.free();
        actualArray.free();
      }
    } catch (SQLException e) {
      throw new DataAccessException("quota gate: finish " + ids.length + " permit(s) " + ids[0] + "...: "
          + e.getMessage(), e);
    }
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
