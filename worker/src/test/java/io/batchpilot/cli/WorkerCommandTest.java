package io.batchpilot.cli;

import static io.batchpilot.jooq.Tables.BATCHPILOT_WORKER_HEARTBEATS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.store.Jooq;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(PostgresExtension.class)
class WorkerCommandTest {

  @Test
  void aWorkerWithoutAnApiKeyStopsBeforeTouchingTheDatabaseAndSaysWhatToSet(TestDatabase db) {
    assumeTrue(System.getenv("GEMINI_API_KEY") == null, "this test needs GEMINI_API_KEY unset");
    CliRun run = CliRun.of("worker", "--database-url", db.url().withCredentials());
    assertEquals(ExitCode.USAGE, run.exitCode(), run.err());
    assertTrue(run.err().contains("GEMINI_API_KEY is not set"), run.err());
    assertEquals(0, Jooq.using(db.dataSource()).fetchCount(BATCHPILOT_WORKER_HEARTBEATS), "no worker registered");
  }

  @Test
  void aBadConcurrencyIsAUsageErrorNamingTheSetting(TestDatabase db) {
    CliRun run = CliRun.of("worker", "--database-url", db.url().withCredentials(), "--concurrency", "0");
    assertEquals(ExitCode.USAGE, run.exitCode(), run.err());
    assertTrue(run.err().contains("BATCHPILOT_CONCURRENCY"), run.err());
  }
}
