package io.batchpilot.session;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.store.Jooq;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(PostgresExtension.class)
class BatchJobStateTest {

  @Test
  void theJavaEnumMirrorsThePostgresEnumInOrder(TestDatabase db) {
    List<String> postgres = Jooq.using(db.dataSource())
        .fetch("SELECT unnest(enum_range(NULL::batchpilot_private.batch_job_state))::text").getValues(0, String.class);
    assertEquals(postgres, Arrays.stream(BatchJobState.values()).map(BatchJobState::sqlName).toList());
  }

  @Test
  void anUnknownStateSaysTheSchemaAndTheWorkerDisagree() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BatchJobState.fromSqlName("paused"));
    assertEquals("unknown batch job state 'paused': the schema and this worker disagree (run `batchpilot migrate` with "
        + "this worker's release)", e.getMessage());
  }
}
