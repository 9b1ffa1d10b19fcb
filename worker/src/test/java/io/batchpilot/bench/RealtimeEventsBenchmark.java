package io.batchpilot.bench;

import io.batchpilot.db.EmbeddedPostgres;
import io.batchpilot.testing.RealtimeChanges;
import io.batchpilot.testing.SimulatedFleet;
import java.time.Duration;
import java.util.Locale;

/**
 * What Supabase Realtime would send for a batch ({@link RealtimeChanges}), in two regimes: a quota
 * far above the batch (full speed), and one that makes the files wait for it (a 2 s window holding
 * a quarter of the batch). Per regime: changes per file (inserts included), session-row changes in
 * all and per second of the batch.
 *
 * <p>Arguments: files (default 20).
 */
public final class RealtimeEventsBenchmark {

  public static void main(String[] args) throws Exception {
    int files = args.length > 0 ? Integer.parseInt(args[0]) : 20;
    System.out.printf(Locale.ROOT, "%d receipts, 2 workers x 8 threads, embeddings on; changes read from a test_decoding slot%n%n", files);
    System.out.println("| regime | batch s | file-row changes per file | of which UPDATE | session-row changes | per second |");
    System.out.println("|---|---:|---:|---:|---:|---:|");
    try (EmbeddedPostgres server = EmbeddedPostgres.start()) {
      print("full speed", RealtimeChanges.measure(server, "rt_fast", new SimulatedFleet.Quota("rt-fast", 10_000, Duration.ofSeconds(2)), files));
      print("quota waits", RealtimeChanges.measure(server, "rt_waits",
          new SimulatedFleet.Quota("rt-waits", Math.max(1, files / 4), Duration.ofSeconds(2)), files));
    }
  }

  private static void print(String regime, RealtimeChanges.Result r) {
    System.out.printf(Locale.ROOT, "| %s | %.1f | %.1f | %.1f | %d | %.1f |%n", regime, r.seconds(),
        r.fileChangesPerFile(), r.fileUpdates() / (double) r.files(), r.sessionChanges(), r.sessionChangesPerSecond());
  }
}
