package io.batchpilot.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.EmbeddedPostgres;
import io.batchpilot.testing.RealtimeChanges;
import io.batchpilot.testing.SimulatedFleet;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A running session's row, which Realtime sends to every subscriber, changes about once a second
 * however fast its files go, and its last change carries the exact counters. Read from a logical
 * replication slot on the embedded PostgreSQL (wal_level=logical, as Supabase runs it).
 */
class RealtimeSessionChangesTest {

  private static final int FILES = 40;
  private static EmbeddedPostgres server;

  @BeforeAll
  static void start() {
    server = EmbeddedPostgres.start();
  }

  @AfterAll
  static void stop() {
    server.close();
  }

  @Test
  void atFullSpeedEachFileRowChangesAtMostThreeTimesAndTheSessionRowAboutOnceASecond() throws Exception {
    assertQuiet(RealtimeChanges.measure(server, "rt_fast",
        new SimulatedFleet.Quota("rt-fast", 10_000, Duration.ofSeconds(2)), FILES));
  }

  @Test
  void underQuotaWaitsEachFileRowChangesAtMostThreeTimesAndTheSessionRowAboutOnceASecond() throws Exception {
    assertQuiet(RealtimeChanges.measure(server, "rt_waits",
        new SimulatedFleet.Quota("rt-waits", FILES / 4, Duration.ofSeconds(2)), FILES));
  }

  private static void assertQuiet(RealtimeChanges.Result r) {
    // Its insert, its files' insert, its start and its end, at most one publication a second between
    // them, and an ETA the leader rewrites every 5 s at most. Before the private progress row (0.1.0):
    // 7.0 a second at full speed, 5.7 under quota waits (docs/BENCHMARKS.md).
    int budget = 4 + (int) Math.ceil(r.seconds()) + (int) Math.ceil(r.seconds() / 5);
    assertTrue(r.sessionChanges() <= budget, r.sessionChanges() + " session-row changes in " + r.seconds()
        + " s, more than the " + budget + " of about one a second: " + r);
    assertEquals(FILES, r.lastFilesCompleted(), "the session row's last change carries the exact counters: " + r);
    // A file's row: inserted, its first attempt started, it ended. Before the job table (0.2.0): 6.0
    // changes per file at full speed, 7.0 under quota waits (retries, waits and embeddings in the row).
    assertTrue(r.mostChangesOfAFile() <= 3, "a file row changed " + r.mostChangesOfAFile() + " times: " + r);
  }
}
