package io.batchpilot.bench;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;
import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_SESSIONS;

import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.db.testing.TestPostgres;
import io.batchpilot.maintenance.MaintenanceConfig;
import io.batchpilot.session.NewSession;
import io.batchpilot.session.Sessions;
import io.batchpilot.store.Jooq;
import io.batchpilot.testing.SimulatedFleet;
import io.batchpilot.worker.WorkerConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import org.jooq.DSLContext;
import org.jooq.Record3;
import org.jooq.impl.DSL;
import org.jooq.impl.SQLDataType;

/**
 * How true {@code estimated_completion_at} is under a steady quota: one session of receipts through
 * two whole fleet members (the maintenance leader's ETA at its default cadence) against the simulator, the gate's window
 * compressed so the quota is the binding limit. At 25, 50 and 75% of the files finished it records
 * the estimate; at the end, error = |estimated remaining - actual remaining| / actual remaining.
 *
 * <p>Arguments: files per run (default 300), runs (default 3), requests per window (default 20),
 * window in ms (default 2000).
 */
public final class EtaAccuracyBenchmark {

  private static final double[] CHECKPOINTS = {0.25, 0.50, 0.75};

  private record Checkpoint(double done, OffsetDateTime at, OffsetDateTime estimate) {}

  public static void main(String[] args) throws Exception {
    int files = args.length > 0 ? Integer.parseInt(args[0]) : 300;
    int runs = args.length > 1 ? Integer.parseInt(args[1]) : 3;
    int requests = args.length > 2 ? Integer.parseInt(args[2]) : 20;
    Duration window = Duration.ofMillis(args.length > 3 ? Long.parseLong(args[3]) : 2000);
    WorkerConfig worker = WorkerConfig.defaults().withConcurrency(8);
    System.out.printf(Locale.ROOT, "%d files, quota %d requests / %d ms, 2 workers x %d threads, ETA every %d s over %d s%n%n",
        files, requests, window.toMillis(), worker.concurrency(), MaintenanceConfig.DEFAULT_ETA_INTERVAL.toSeconds(),
        MaintenanceConfig.DEFAULT_ETA_WINDOW.toSeconds());
    System.out.println("| run | done | estimated remaining (s) | actual remaining (s) | error |");
    System.out.println("|---:|---:|---:|---:|---:|");
    double[][] errors = new double[CHECKPOINTS.length][runs];
    for (int r = 0; r < runs; r++) {
      List<Checkpoint> points;
      OffsetDateTime end;
      Path folder = Files.createTempDirectory("eta-bench");
      try (TestDatabase db = TestPostgres.get().createDatabase(true)) {
        SimulatedFleet.Quota quota = new SimulatedFleet.Quota("bench-eta", requests, window);
        UUID session = new Sessions(db.dataSource()).submit(new NewSession("eta", null, null, quota.model(), 1000, "aggressive"),
            SimulatedFleet.receipts(folder, "eta", 1000L * r, files));
        try (SimulatedFleet fleet = SimulatedFleet.start(db.dataSource(), db.url(), folder, quota, 2, worker)) {
          points = follow(Jooq.using(db.dataSource()), session, files);
        }
        end = Jooq.using(db.dataSource()).select(DSL.max(BATCH_UPLOAD_FILES.PROCESSING_COMPLETED_AT))
            .from(BATCH_UPLOAD_FILES).where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session)).fetchOne().value1();
      } finally {
        deleteAll(folder);
      }
      for (int c = 0; c < points.size(); c++) {
        Checkpoint p = points.get(c);
        double actual = seconds(p.at(), end);
        double estimated = p.estimate() == null ? Double.NaN : seconds(p.at(), p.estimate());
        errors[c][r] = Math.abs(estimated - actual) / actual;
        System.out.printf(Locale.ROOT, "| %d | %.0f%% | %.1f | %.1f | %.1f%% |%n", r + 1, p.done() * 100, estimated, actual,
            errors[c][r] * 100);
      }
    }
    System.out.println();
    System.out.println("| done | median error (" + runs + " runs) | worst | within 10% |");
    System.out.println("|---:|---:|---:|---|");
    for (int c = 0; c < CHECKPOINTS.length; c++) {
      double median = PipelineThroughputBenchmark.median(errors[c]);
      double worst = java.util.Arrays.stream(errors[c]).max().orElse(Double.NaN);
      System.out.printf(Locale.ROOT, "| %.0f%% | %.1f%% | %.1f%% | %s |%n", CHECKPOINTS[c] * 100, median * 100, worst * 100,
          median <= 0.10 ? "yes" : "no");
    }
  }

  /** Polls the session until every file finished, noting the estimate when each checkpoint is passed. */
  private static List<Checkpoint> follow(DSLContext dsl, UUID session, int files) throws InterruptedException {
    var s = BATCH_UPLOAD_SESSIONS;
    List<Checkpoint> points = new ArrayList<>();
    long deadline = System.nanoTime() + Duration.ofMinutes(5).toNanos();
    while (true) {
      Record3<Integer, OffsetDateTime, OffsetDateTime> row = dsl
          .select(s.FILES_COMPLETED.plus(s.FILES_FAILED), s.ESTIMATED_COMPLETION_AT,
              DSL.field("clock_timestamp()", SQLDataType.TIMESTAMPWITHTIMEZONE))
          .from(s).where(s.ID.eq(session)).fetchOne();
      int finished = row.value1();
      while (points.size() < CHECKPOINTS.length && finished >= CHECKPOINTS[points.size()] * files) {
        points.add(new Checkpoint(CHECKPOINTS[points.size()], row.value3(), row.value2()));
      }
      if (finished >= files) {
        return points;
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("only " + finished + " of " + files + " files finished in 5 minutes");
      }
      Thread.sleep(50);
    }
  }

  private static double seconds(OffsetDateTime from, OffsetDateTime to) {
    return Duration.between(from, to).toMillis() / 1000.0;
  }

  private static void deleteAll(Path folder) throws java.io.IOException {
    try (var paths = Files.walk(folder)) {
      for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
