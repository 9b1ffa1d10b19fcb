package io.batchpilot.metrics;

import static io.batchpilot.jooq.Tables.BATCHPILOT_WORKER_HEARTBEATS;

import org.jooq.DSLContext;
import org.jooq.impl.DSL;

/**
 * The worker's row in {@code batchpilot_worker_heartbeats}: written at start, refreshed with each
 * metrics report, marked stopped on a clean shutdown. Every time is the database's.
 */
public final class WorkerHeartbeat {

  private final MetricsConfig config;

  public WorkerHeartbeat(MetricsConfig config) {
    this.config = config;
  }

  /** Starts (or restarts, for a reused worker id) the worker's row. */
  public void started(DSLContext dsl) {
    var h = BATCHPILOT_WORKER_HEARTBEATS;
    dsl.insertInto(h)
        .set(h.WORKER_ID, config.workerId())
        .set(h.HOST, config.host())
        .set(h.VERSION, config.version())
        .onConflict(h.WORKER_ID).doUpdate()
        .set(h.HOST, config.host())
        .set(h.VERSION, config.version())
        .set(h.STARTED_AT, DSL.currentOffsetDateTime())
        .set(h.LAST_SEEN_AT, DSL.currentOffsetDateTime())
        .set(h.IN_FLIGHT, 0)
        .setNull(h.STOPPED_AT)
        .execute();
  }

  /** Says the worker is alive with {@code inFlight} files; recreates the row if retention pruned it. */
  public void beat(DSLContext dsl, int inFlight) {
    var h = BATCHPILOT_WORKER_HEARTBEATS;
    dsl.insertInto(h)
        .set(h.WORKER_ID, config.workerId())
        .set(h.HOST, config.host())
        .set(h.VERSION, config.version())
        .set(h.IN_FLIGHT, inFlight)
        .onConflict(h.WORKER_ID).doUpdate()
        .set(h.LAST_SEEN_AT, DSL.currentOffsetDateTime())
        .set(h.IN_FLIGHT, inFlight)
        .execute();
  }

  public void stopped(DSLContext dsl) {
    var h = BATCHPILOT_WORKER_HEARTBEATS;
    dsl.update(h)
        .set(h.LAST_SEEN_AT, DSL.currentOffsetDateTime())
        .set(h.IN_FLIGHT, 0)
        .set(h.STOPPED_AT, DSL.currentOffsetDateTime())
        .where(h.WORKER_ID.eq(config.workerId()))
        .execute();
  }
}
