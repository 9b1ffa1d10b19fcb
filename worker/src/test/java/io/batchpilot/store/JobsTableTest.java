package io.batchpilot.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import java.util.Arrays;
import java.util.List;
import org.jooq.DSLContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Java's view of the job table is the migrated one: the enums' labels in order, and every column Jobs names. */
@ExtendWith(PostgresExtension.class)
class JobsTableTest {

  @Test
  void theJavaEnumsAreTheSqlEnumsInOrder(TestDatabase db) {
    DSLContext dsl = Jooq.using(db.dataSource());
    assertEquals(labels(dsl, "job_kind"), Arrays.stream(JobKind.values()).map(JobKind::sqlName).toList());
    assertEquals(labels(dsl, "job_state"), Arrays.stream(JobState.values()).map(JobState::sqlName).toList());
  }

  @Test
  void everyColumnJobsNamesExists(TestDatabase db) {
    DSLContext dsl = Jooq.using(db.dataSource());
    List<String> columns = dsl.fetch("SELECT attname FROM pg_attribute WHERE attrelid = 'batchpilot_private.jobs'::regclass"
        + " AND attnum > 0 AND NOT attisdropped").getValues(0, String.class);
    for (var field : List.of(Jobs.FILE_ID, Jobs.KIND, Jobs.BATCH_SESSION_ID, Jobs.STATE, Jobs.ATTEMPTS, Jobs.CLAIMED_BY,
        Jobs.LEASE_EXPIRES_AT, Jobs.CONTENT_SHA256)) {
      assertTrue(columns.contains(field.getName()), field.getName() + " in " + columns);
    }
    // A query through them runs.
    dsl.select(Jobs.FILE_ID, Jobs.ATTEMPTS).from(Jobs.JOBS)
        .where(Jobs.kindIs(JobKind.EXTRACTION)).and(Jobs.stateIs(JobState.RUNNING)).fetch();
  }

  private static List<String> labels(DSLContext dsl, String type) {
    return dsl.fetch("SELECT enumlabel FROM pg_enum WHERE enumtypid = ('batchpilot_private.' || ?)::regtype"
        + " ORDER BY enumsortorder", type).getValues(0, String.class);
  }
}
