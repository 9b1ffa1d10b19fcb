package io.batchpilot.session;

import io.batchpilot.store.Jooq;
import java.time.Duration;
import javax.sql.DataSource;
import org.jooq.DSLContext;
import org.jooq.impl.DSL;

/**
 * Sets {@code estimated_completion_at} of every processing session from its model's recent pace and
 * its share of it: one statement ({@code batchpilot_private.estimate_completion}, V9), run by the
 * maintenance leader.
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
