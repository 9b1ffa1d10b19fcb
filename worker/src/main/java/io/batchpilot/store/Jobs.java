package io.batchpilot.store;

import java.time.OffsetDateTime;
import java.util.UUID;
import org.jooq.Field;
import org.jooq.Table;
import org.jooq.impl.DSL;
import org.jooq.impl.SQLDataType;

/**
 * The columns of {@code batchpilot_private.jobs} (V3__jobs.sql) that Java reads and writes, typed:
 * the one queue of every file's extraction and embedding. {@code JobsTableTest} checks them against
 * the migrated table.
 */
public final class Jobs {

  // Plain SQL: Jooq's settings render no schema for generated tables (they are all in public).
  public static final Table<?> JOBS = DSL.table("batchpilot_private.jobs");

  public static final Field<UUID> FILE_ID = DSL.field(DSL.name("jobs", "file_id"), SQLDataType.UUID);
  public static final Field<String> KIND = DSL.field(DSL.name("jobs", "kind"), SQLDataType.VARCHAR);
  public static final Field<UUID> BATCH_SESSION_ID = DSL.field(DSL.name("jobs", "batch_session_id"), SQLDataType.UUID);
  public static final Field<String> STATE = DSL.field(DSL.name("jobs", "state"), SQLDataType.VARCHAR);
  public static final Field<Integer> ATTEMPTS = DSL.field(DSL.name("jobs", "attempts"), SQLDataType.INTEGER);
  public static final Field<String> CLAIMED_BY = DSL.field(DSL.name("jobs", "claimed_by"), SQLDataType.VARCHAR);
  public static final Field<OffsetDateTime> LEASE_EXPIRES_AT =
      DSL.field(DSL.name("jobs", "lease_expires_at"), SQLDataType.TIMESTAMPWITHTIMEZONE);
  public static final Field<byte[]> CONTENT_SHA256 = DSL.field(DSL.name("jobs", "content_sha256"), SQLDataType.BLOB);

  private Jobs() {}

  /** kind = {@code kind}, compared as the enum's label. */
  public static org.jooq.Condition kindIs(JobKind kind) {
    return DSL.condition("{0} = {1}::batchpilot_private.job_kind", KIND, DSL.inline(kind.sqlName()));
  }

  /** state = {@code state}, compared as the enum's label. */
  public static org.jooq.Condition stateIs(JobState state) {
    return DSL.condition("{0} = {1}::batchpilot_private.job_state", STATE, DSL.inline(state.sqlName()));
  }
}
