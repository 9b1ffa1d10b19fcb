package io.batchpilot.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.db.testing.TestPostgres;
import io.batchpilot.maintenance.LeaseRescuer;
import io.batchpilot.maintenance.MaintenanceConfig;
import io.batchpilot.maintenance.Retention;
import io.batchpilot.maintenance.SessionProgress;
import io.batchpilot.maintenance.StaleUploadSkipper;
import io.batchpilot.metrics.Metrics;
import io.batchpilot.pipeline.ClaimedFile;
import io.batchpilot.pipeline.Completer;
import io.batchpilot.pipeline.FairShare;
import io.batchpilot.pipeline.FileClaims;
import io.batchpilot.pipeline.Outcome;
import io.batchpilot.session.EtaEstimator;
import io.batchpilot.store.Jooq;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.function.Supplier;
import org.jooq.DSLContext;

/**
 * How the queue's costs grow with the work: N queued files spread over 1,000 sessions of 100 teams
 * (each session in its own team's turn, claims fair by team), for N = 10,000, 100,000, 1,000,000
 * by default. Per N, in a fresh database: the claim's latency (claims of 16 files, each claim's
 * files then completed by an instant processor in one write, so the fleet's in-flight stays
 * bounded), files per second through that loop, an ETA round, a maintenance round (lease rescue,
 * stale uploads, progress round, retention), and the bytes a file takes on disk (table, TOAST
 * and indexes). Files are inserted by SQL, one statement per session.
 *
 * <p>Arguments: sizes, comma-separated (default 10000,100000,1000000); sessions (1000); teams (100).
 */
public final class ScaleBenchmark {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Duration LEASE = Duration.ofMinutes(5);
  private static final int CLAIM = 16;
  private static final int CLAIMS = 150;

  public static void main(String[] args) throws Exception {
    int[] sizes = Arrays.stream((args.length > 0 ? args[0] : "10000,100000,1000000").split(","))
        .mapToInt(Integer::parseInt).toArray();
    int sessions = args.length > 1 ? Integer.parseInt(args[1]) : 1000;
    int teams = args.length > 2 ? Integer.parseInt(args[2]) : 100;
    System.out.printf(Locale.ROOT, "%d sessions in %d teams; claims of %d files fair by team, each completed at once%n%n",
        sessions, teams, CLAIM);
    System.out.println("| queued files | claim p50 ms | claim p99 ms | complete p50 ms | files/s | ETA round ms "
        + "| maintenance round ms | bytes per file | of which indexes |");
    System.out.println("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (int n : sizes) {
      try (TestDatabase db = TestPostgres.get().createDatabase(true)) {
        DSLContext dsl = Jooq.using(db.dataSource());
        fill(dsl, n, sessions, teams);
        org.jooq.Record size = dsl.fetchOne("SELECT pg_total_relation_size('public.batch_upload_files') AS total,"
            + " pg_indexes_size('public.batch_upload_files') AS indexes");
        long[] disk = {size.get("total", Long.class), size.get("indexes", Long.class)};

        FileClaims claims = new FileClaims(db.dataSource());
        Completer completer = new Completer(db.dataSource(), 200, "bench-completer", new Metrics());
        double[] claimMs = new double[CLAIMS];
        double[] completeMs = new double[CLAIMS];
        long files = 0;
        long loopStart = System.nanoTime();
        for (int i = 0; i < CLAIMS; i++) {
          long t0 = System.nanoTime();
          List<ClaimedFile> claimed = claims.claim("bench", CLAIM, LEASE, FairShare.TEAM);
          long t1 = System.nanoTime();
          List<Outcome> outcomes = new ArrayList<>(claimed.size());
          for (ClaimedFile f : claimed) {
            outcomes.add(Outcome.completed(f, JSON.createObjectNode().put("ok", true), null, 258, 10, 268, 1));
          }
          completer.write(outcomes);
          long t2 = System.nanoTime();
          claimMs[i] = (t1 - t0) / 1e6;
          completeMs[i] = (t2 - t1) / 1e6;
          files += claimed.size();
        }
        double filesPerSecond = files / ((System.nanoTime() - loopStart) / 1e9);

        EtaEstimator eta = new EtaEstimator(db.dataSource());
        double etaMs = medianMs(5, () -> eta.runOnce(MaintenanceConfig.DEFAULT_ETA_WINDOW));
        LeaseRescuer rescuer = new LeaseRescuer(db.dataSource(), 500);
        StaleUploadSkipper uploads = new StaleUploadSkipper(db.dataSource(), Duration.ofHours(24), 500);
        SessionProgress progress = new SessionProgress(db.dataSource());
        Retention retention = new Retention(db.dataSource(), List.of(Retention.ledger(Duration.ofDays(30))), 500);
        double maintenanceMs = medianMs(3, () -> {
          rescuer.runOnce();
          uploads.runOnce();
          progress.runOnce();
          return retention.runOnce();
        });
        Arrays.sort(claimMs);
        Arrays.sort(completeMs);
        System.out.printf(Locale.ROOT, "| %,d | %.2f | %.2f | %.2f | %.0f | %.1f | %.1f | %d | %d |%n", n,
            claimMs[CLAIMS / 2], claimMs[(int) (CLAIMS * 0.99)], completeMs[CLAIMS / 2], filesPerSecond, etaMs,
            maintenanceMs, disk[0] / n, disk[1] / n);
      }
    }
  }

  /** Teams, sessions (each in a team, processing) and n files spread evenly over them, pending. */
  private static void fill(DSLContext dsl, int n, int sessions, int teams) {
    List<UUID> teamIds = dsl.fetch("INSERT INTO public.teams (name) SELECT 'team ' || g FROM generate_series(1, ?) g"
        + " RETURNING id", teams).getValues(0, UUID.class);
    int perSession = n / sessions;
    for (int s = 0; s < sessions; s++) {
      UUID session = dsl.fetchOne("INSERT INTO public.batch_upload_sessions (session_name, team_id, model, max_concurrent,"
          + " processing_strategy, total_files) VALUES (?, ?, 'gemini-2.5-flash', 1000, 'aggressive', ?) RETURNING id",
          "session " + s, teamIds.get(s % teams), perSession).get(0, UUID.class);
      dsl.execute("INSERT INTO public.batch_upload_files (batch_session_id, original_filename, file_type, file_size_bytes,"
          + " upload_order, source_url, status)"
          + " SELECT ?, 'r' || g || '.png', 'image/png', 100000, g, 'file:///scale/' || g || '.png', 'pending'"
          + " FROM generate_series(0, ? - 1) g", session, perSession);
    }
    dsl.execute("ANALYZE");
  }

  private static double medianMs(int runs, Supplier<?> round) {
    double[] ms = new double[runs];
    for (int i = 0; i < runs; i++) {
      long t0 = System.nanoTime();
      round.get();
      ms[i] = (System.nanoTime() - t0) / 1e6;
    }
    Arrays.sort(ms);
    return ms[runs / 2];
  }
}
