package io.batchpilot.maintenance;

import java.time.Duration;
import java.time.OffsetDateTime;
import org.jooq.Field;
import org.jooq.impl.DSL;
import org.jooq.impl.SQLDataType;

/**
 * Instants from the database's clock, which every worker on every machine shares; maintenance never
 * compares a row's time with a worker's clock.
 */
final class DatabaseClock {

  private DatabaseClock() {}

  /** The time the statement reads it (not the transaction's start, as now() would be). */
  static Field<OffsetDateTime> now() {
    return DSL.field("clock_timestamp()", SQLDataType.TIMESTAMPWITHTIMEZONE);
  }

  static Field<OffsetDateTime> plus(Duration duration) {
    return DSL.field("clock_timestamp() + make_interval(secs => {0})", SQLDataType.TIMESTAMPWITHTIMEZONE,
        DSL.val(seconds(duration), SQLDataType.DOUBLE));
  }

  static Field<OffsetDateTime> minus(Duration duration) {
    return plus(duration.negated());
  }

  private static double seconds(Duration duration) {
    return duration.getSeconds() + duration.getNano() / 1e9;
  }
}
