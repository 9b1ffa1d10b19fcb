package io.batchpilot.session;

import io.batchpilot.store.Jooq;
import java.time.Duration;
import javax.sql.DataSource;
import org.jooq.DSLContext;
import org.jooq.impl.DSL;

/**
 * Sets {@code estimated_completion_at} of every processing session from when the quota gate will
 * have granted the calls its files still need (its window's schedule and its daily limit) and, for
 * a fleet slower than the quota, the model's measured pace, shared equally by the model's sessions:
 * one statement ({@code batchpilot_private.estimate_completion} in R__50_sessions_and_eta.sql), run
 * by the maintenance leader.
 */
public final class EtaEstimator {

  private final DSLContext dsl;

  public EtaEstimator(DataSource dataSource) {
    this.dsl = Jooq.using(dataSource);
  }

  /** Returns how many sessions got a new estimate. */
  public int runOnce(Duration window) {
    return dsl.select(DSL.field("batchpilot_private.estimate_completion(make_interval(secs => {0}))", Integer.class,
            DSL.val(window.toMillis() / 1000.0)))
        .fetchOne(0, Integer.class);
  }
}
