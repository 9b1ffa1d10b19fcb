package io.batchpilot.limiter;

import static io.batchpilot.jooq.Tables.QUOTA_LIMITS;

import io.batchpilot.store.Jooq;
import java.time.OffsetDateTime;
import java.util.UUID;
import javax.sql.DataSource;
import org.jooq.DSLContext;
import org.jooq.Record4;
import org.jooq.impl.DSL;
import org.jooq.impl.SQLDataType;

/**
 * Calls the gate's SQL with a clock the test steps ({@code batchpilot_private.acquire_quota}'s
 * {@code p_now}), so tests never wait for time. Same function the public one calls.
 */
final class SteppedClockGate {

  record Answer(boolean granted, UUID permitId, long waitMs, String reason) {}

  private final DSLContext dsl;

  SteppedClockGate(DataSource dataSource) {
    this.dsl = Jooq.using(dataSource);
  }

  SteppedClockGate(DSLContext dsl) {
    this.dsl = dsl;
  }

  DSLContext dsl() {
    return dsl;
  }

  Answer acquire(String model, long tokens, Strategy strategy, OffsetDateTime now) {
    return acquire(model, tokens, strategy, now, null, null);
  }

  /** With a permit lease (NULL: the model's permit_lease_ms) and the file whose call it is (may be NULL). */
  Answer acquire(String model, long tokens, Strategy strategy, OffsetDateTime now, Long leaseMs, UUID fileId) {
    Record4<Boolean, UUID, Long, String> r = dsl.select(
            DSL.field("granted", SQLDataType.BOOLEAN), DSL.field("permit_id", SQLDataType.UUID),
            DSL.field("wait_ms", SQLDataType.BIGINT), DSL.field("reason", SQLDataType.VARCHAR))
        .from(DSL.table("batchpilot_private.acquire_quota({0}, {1}, {2}, {3}, {4}, {5}, {6})",
            DSL.val("gemini"), DSL.val(model), DSL.val(tokens), DSL.val(strategy.sqlName()),
            DSL.val(now, SQLDataType.TIMESTAMPWITHTIMEZONE), DSL.val(leaseMs, SQLDataType.BIGINT),
            DSL.val(fileId, SQLDataType.UUID)))
        .fetchOne();
    return new Answer(r.value1(), r.value2(), r.value3(), r.value4());
  }

  /** {@code batchpilot_reconcile_quota} (it reads no clock); false when the permit has ended. */
  boolean reconcile(UUID permit, long actualTokens) {
    return dsl.select(DSL.field("public.batchpilot_reconcile_quota({0}, {1})", SQLDataType.BOOLEAN,
        DSL.val(permit), DSL.val(actualTokens))).fetchOne().value1();
  }

  /** {@code batchpilot_finish_quota} (it reads no clock); false when the permit has ended. */
  boolean finish(UUID permit, long actualTokens) {
    return dsl.select(DSL.field("public.batchpilot_finish_quota({0}, {1})", SQLDataType.BOOLEAN,
        DSL.val(permit), DSL.val(actualTokens))).fetchOne().value1();
  }

  /** A limits row for a fresh model: window, buckets and margin as given, in-flight unbounded. */
  void defineLimits(String model, int requests, long tokens, int windowMs, int buckets, int marginMs) {
    dsl.insertInto(QUOTA_LIMITS)
        .set(QUOTA_LIMITS.PROVIDER, "gemini").set(QUOTA_LIMITS.MODEL, model)
        .set(QUOTA_LIMITS.REQUESTS_PER_MINUTE, requests).set(QUOTA_LIMITS.INPUT_TOKENS_PER_MINUTE, tokens)
        .set(QUOTA_LIMITS.MAX_IN_FLIGHT, 1_000_000)
        .set(QUOTA_LIMITS.WINDOW_MS, windowMs).set(QUOTA_LIMITS.BUCKETS_PER_WINDOW, buckets)
        .set(QUOTA_LIMITS.SAFETY_MARGIN_MS, marginMs)
        .execute();
  }
}
