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
 * How true {@code estimated_completion_at} is: one session of receipts through two whole fleet
 * members (the maintenance leader's ETA at its default cadence) against the simulator, the quota
 * the binding limit. It samples the estimate every 50 ms; at the end, at 25, 50 and 75% of the run,
 * error = |estimated remaining - actual remaining| / actual remaining.
 *
 * <p>Two regimes. {@code steady}: more files than a window holds, the gate's window compressed
 * (default 300 files at 20 requests per 2 s), checkpoints at 25, 50 and 75% of the files finished.
 * {@code burst}: the demo's 40 files at 20 requests per real minute: half go at once, half wait
 * for the window to turn, so the files finished jump twice and the checkpoints are at 25, 50 and 75%
 * of the run's time, the first two in the wait, when the ETA must count down.
 *
 * <p>Arguments: regime (default steady), files per run, runs (default 3), requests per window,
 * window in ms.
 */
public final class EtaAccuracyBenchmark {

  private static final double[] CHECKPOINTS = {0.25, 0.50, 0.75};

  /** One sample: when, how many files had finished, and the estimate then. */
  private record Sample(OffsetDateTime at, int finished, OffsetDateTime estimate) {}

  private record Checkpoint(double done, OffsetDateTime at, OffsetDateTime estimate) {}

  public static void main(String[] args) throws Exception {
    boolean burst = args.length > 0 && args[0].equals("burst");
    if (args.length > 0 && !burst && !args[0].equals("steady")) {
      throw new IllegalArgumentException("regime " + args[0] + ": use steady or burst");
    }
    int files = args.length > 1 ? Integer.parseInt(args[1]) : burst ? 40 : 300;
    int runs = args.length > 2 ? Integer.parseInt(args[2]) : 3;
    int requests = args.length > 3 ? Integer.parseInt(args[3]) : 20;
    Duration window = Duration.ofMillis(args.length > 4 ? Long.parseLong(args[4]) : burst ? 60_000 : 2000);
    WorkerConfig worker = WorkerConfig.defaults().withConcurrency(8);
    System.out.printf(Locale.ROOT, "%s: %d files, quota %d requests / %d ms, 2 workers x %d threads, ETA every %d s over %d s;"
            + " checkpoints at 25, 50, 75%% of the %s%n%n",
        burst ? "burst" : "steady", files, requests, window.toMillis(), worker.concurrency(),
        MaintenanceConfig.DEFAULT_ETA_INTERVAL.toSeconds(), MaintenanceConfig.DEFAULT_ETA_WINDOW.toSeconds(),
        burst ? "run's time" : "files finished");
    System.out.println("| run | at | estimated remaining (s) | actual remaining (s) | error |");
    System.out.println("|---:|---:|---:|---:|---:|");
    double[][] errors = new double[CHECKPOINTS.length][runs];
    for (int r = 0; r < runs; r++) {
      List<Sample> samples;
      OffsetDateTime end;
      Path folder = Files.createTempDirectory("eta-bench");
      try (TestDatabase db = TestPostgres.get().createDatabase(true)) {
        SimulatedFleet.Quota quota = new SimulatedFleet.Quota("bench-eta", requests, window);
        UUID session = new Sessions(db.dataSource()).submit(new NewSession("eta", null, null, quota.model(), 1000, "aggressive"),
            SimulatedFleet.receipts(folder, "eta", 1000L * r, files));
        try (SimulatedFleet fleet = SimulatedFleet.start(db.dataSource(), db.url(), folder, quota, 2, worker)) {
          samples = follow(Jooq.using(db.dataSource()), session, files);
        }
        end = Jooq.using(db.dataSource()).select(DSL.max(BATCH_UPLOAD_FILES.PROCESSING_COMPLETED_AT))
            .from(BATCH_UPLOAD_FILES).where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session)).fetchOne().value1();
      } finally {
        deleteAll(folder);
      }
      List<Checkpoint> points = burst ? byTime(samples, end) : byFiles(samples, files);
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
    System.out.println("| at | median error (" + runs + " runs) | worst | within 10% |");
    System.out.println("|---:|---:|---:|---|");
    for (int c = 0; c < CHECKPOINTS.length; c++) {
      double median = PipelineThroughputBenchmark.median(errors[c]);
      double worst = java.util.Arrays.stream(errors[c]).max().orElse(Double.NaN);
      System.out.printf(Locale.ROOT, "| %.0f%% | %.1f%% | %.1f%% | %s |%n", CHECKPOINTS[c] * 100, median * 100, worst * 100,
          median <= 0.10 ? "yes" : "no");
    }
  }

  /** The first sample at which each checkpoint's share of the files had finished. */
  private static List<Checkpoint> byFiles(List<Sample> samples, int files) {
    List<Checkpoint> points = new ArrayList<>();
    for (double share : CHECKPOINTS) {
      samples.stream().filter(s -> s.finished() >= share * files).findFirst()
          .ifPresent(s -> points.add(new Checkpoint(share, s.at(), s.estimate())));
    }
    return points;
  }

  /** The first sample at each checkpoint's share of the time from the first sample to the last file. */
  private static List<Checkpoint> byTime(List<Sample> samples, OffsetDateTime end) {
    OffsetDateTime start = samples.get(0).at();
    long total = Duration.between(start, end).toMillis();
    List<Checkpoint> points = new ArrayList<>();
    for (double share : CHECKPOINTS) {
      OffsetDateTime at = start.plus(Duration.ofMillis((long) (share * total)));
      samples.stream().filter(s -> !s.at().isBefore(at)).findFirst()
          .ifPresent(s -> points.add(new Checkpoint(share, s.at(), s.estimate())));
    }
    return points;
  }

  /** Polls the session every 50 ms until every file finished. */
  private static List<Sample> follow(DSLContext dsl, UUID session, int files) throws InterruptedException {
    var s = BATCH_UPLOAD_SESSIONS;
    List<Sample> samples = new ArrayList<>();
    long deadline = System.nanoTime() + Duration.ofMinutes(5).toNanos();
    while (true) {
      Record3<Integer, OffsetDateTime, OffsetDateTime> row = dsl
          .select(s.FILES_COMPLETED.plus(s.FILES_FAILED), s.ESTIMATED_COMPLETION_AT,
              DSL.field("clock_timestamp()", SQLDataType.TIMESTAMPWITHTIMEZONE))
          .from(s).where(s.ID.eq(session)).fetchOne();
      samples.add(new Sample(row.value3(), row.value1(), row.value2()));
      if (row.value1() >= files) {
        return samples;
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("only " + row.value1() + " of " + files + " files finished in 5 minutes");
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
