package io.batchpilot.bench;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;

import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.db.testing.TestPostgres;
import io.batchpilot.session.NewSession;
import io.batchpilot.session.Sessions;
import io.batchpilot.store.Jooq;
import io.batchpilot.testing.SimulatedFleet;
import io.batchpilot.worker.WorkerConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.Comparator;
import java.util.Locale;
import java.util.UUID;
import org.jooq.DSLContext;
import org.jooq.impl.DSL;

/**
 * Two equal sessions submitted together, two whole fleet members, the gate's quota the binding
 * limit: each session's files per second over the time both were competing (from the later first
 * claim to the earlier last claim, after which one session has nothing left to claim and the other
 * gets every thread), and their ratio (slower / faster). Issue 4 asks for within 10%.
 *
 * <p>Arguments: files per session (default 150), runs (default 3), requests per window (default 20),
 * window in ms (default 2000).
 */
public final class FairnessBenchmark {

  public static void main(String[] args) throws Exception {
    int files = args.length > 0 ? Integer.parseInt(args[0]) : 150;
    int runs = args.length > 1 ? Integer.parseInt(args[1]) : 3;
    int requests = args.length > 2 ? Integer.parseInt(args[2]) : 20;
    Duration window = Duration.ofMillis(args.length > 3 ? Long.parseLong(args[3]) : 2000);
    WorkerConfig worker = WorkerConfig.defaults().withConcurrency(8);
    System.out.printf(Locale.ROOT, "2 sessions x %d files, quota %d requests / %d ms, 2 workers x %d threads%n%n",
        files, requests, window.toMillis(), worker.concurrency());
    System.out.println("| run | both competing (s) | session A files/s | session B files/s | the other's files done when the first finished | ratio (slower / faster) |");
    System.out.println("|---:|---:|---:|---:|---:|---:|");
    double[] ratios = new double[runs];
    for (int r = 0; r < runs; r++) {
      Path folder = Files.createTempDirectory("fairness-bench");
      try (TestDatabase db = TestPostgres.get().createDatabase(true)) {
        SimulatedFleet.Quota quota = new SimulatedFleet.Quota("bench-fair", requests, window);
        Sessions sessions = new Sessions(db.dataSource());
        UUID a = sessions.submit(new NewSession("a", null, null, quota.model(), 1000, "aggressive"),
            SimulatedFleet.receipts(folder, "a", 100_000L * r, files));
        UUID b = sessions.submit(new NewSession("b", null, null, quota.model(), 1000, "aggressive"),
            SimulatedFleet.receipts(folder, "b", 100_000L * r + 50_000, files));
        try (SimulatedFleet fleet = SimulatedFleet.start(db.dataSource(), db.url(), folder, quota, 2, worker)) {
          long deadline = System.nanoTime() + Duration.ofMinutes(5).toNanos();
          while (sessions.progress(a).finished() + sessions.progress(b).finished() < 2 * files) {
            if (System.nanoTime() > deadline) {
              throw new IllegalStateException("the sessions did not finish in 5 minutes");
            }
            Thread.sleep(100);
          }
        }
        DSLContext dsl = Jooq.using(db.dataSource());
        OffsetDateTime start = later(firstClaim(dsl, a), firstClaim(dsl, b));
        OffsetDateTime end = earlier(lastClaim(dsl, a), lastClaim(dsl, b));
        double seconds = Duration.between(start, end).toMillis() / 1000.0;
        double rateA = doneBetween(dsl, a, start, end) / seconds;
        double rateB = doneBetween(dsl, b, start, end) / seconds;
        ratios[r] = Math.min(rateA, rateB) / Math.max(rateA, rateB);
        OffsetDateTime firstEnd = earlier(lastDone(dsl, a), lastDone(dsl, b));
        UUID laterOne = firstEnd.equals(lastDone(dsl, a)) ? b : a;
        System.out.printf(Locale.ROOT, "| %d | %.1f | %.2f | %.2f | %d of %d | %.2f |%n", r + 1, seconds, rateA, rateB,
            doneBetween(dsl, laterOne, start.minusYears(1), firstEnd), files, ratios[r]);
      } finally {
        try (var paths = Files.walk(folder)) {
          for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
            Files.deleteIfExists(p);
          }
        }
      }
    }
    double median = PipelineThroughputBenchmark.median(ratios);
    System.out.printf(Locale.ROOT, "%nmedian ratio of %d runs: %.2f (%s 10%%)%n", runs, median, median >= 0.90 ? "within" : "not within");
  }

  private static OffsetDateTime firstClaim(DSLContext dsl, UUID session) {
    return dsl.select(DSL.min(BATCH_UPLOAD_FILES.PROCESSING_STARTED_AT)).from(BATCH_UPLOAD_FILES)
        .where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session)).fetchOne().value1();
  }

  private static OffsetDateTime lastClaim(DSLContext dsl, UUID session) {
    return dsl.select(DSL.max(BATCH_UPLOAD_FILES.PROCESSING_STARTED_AT)).from(BATCH_UPLOAD_FILES)
        .where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session)).fetchOne().value1();
  }

  private static OffsetDateTime lastDone(DSLContext dsl, UUID session) {
    return dsl.select(DSL.max(BATCH_UPLOAD_FILES.PROCESSING_COMPLETED_AT)).from(BATCH_UPLOAD_FILES)
        .where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session)).fetchOne().value1();
  }

  private static int doneBetween(DSLContext dsl, UUID session, OffsetDateTime from, OffsetDateTime to) {
    return dsl.fetchCount(BATCH_UPLOAD_FILES, BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session)
        .and(BATCH_UPLOAD_FILES.PROCESSING_COMPLETED_AT.gt(from))
        .and(BATCH_UPLOAD_FILES.PROCESSING_COMPLETED_AT.le(to)));
  }

  private static OffsetDateTime later(OffsetDateTime x, OffsetDateTime y) {
    return x.isAfter(y) ? x : y;
  }

  private static OffsetDateTime earlier(OffsetDateTime x, OffsetDateTime y) {
    return x.isBefore(y) ? x : y;
  }
}
