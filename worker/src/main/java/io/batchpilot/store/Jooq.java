package io.batchpilot.store;

import javax.sql.DataSource;
import org.jooq.DSLContext;
import org.jooq.SQLDialect;
import org.jooq.conf.Settings;
import org.jooq.impl.DSL;

/** The one way batchpilot builds a jOOQ context over pgjdbc-ng. */
public final class Jooq {

  private Jooq() {}

  public static DSLContext using(DataSource dataSource) {
    Settings settings = new Settings()
        // pgjdbc-ng cannot parse jOOQ's default text form of a UTC OffsetDateTime; bind it typed.
        .withBindOffsetDateTimeType(true)
        .withRenderSchema(false)
        .withExecuteLogging(false);
    return DSL.using(dataSource, SQLDialect.POSTGRES, settings);
  }
}
