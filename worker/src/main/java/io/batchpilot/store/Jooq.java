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
    return DSL.using(dataSource, SQLDialect.POSTGRES, settings());
  }

  /**
   * Loads and initialises jOOQ (its type registry alone takes a few hundred ms) by rendering a
   * statement without a connection, so that a worker can do it while its pool connects.
   */
  public static void warmUp() {
    DSL.using(SQLDialect.POSTGRES, settings())
        .select(DSL.field("file_id", java.util.UUID.class))
        .from(DSL.table("batchpilot_private.claim_files({0}, {1})", DSL.val("worker"), DSL.val(1)))
        .getSQL();
  }

  private static Settings settings() {
    return new Settings()
        // pgjdbc-ng cannot parse jOOQ's default text form of a UTC OffsetDateTime; bind it typed.
        .withBindOffsetDateTimeType(true)
        .withRenderSchema(false)
        .withExecuteLogging(false);
  }
}
