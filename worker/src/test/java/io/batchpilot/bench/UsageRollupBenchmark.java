package io.batchpilot.bench;

import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.db.testing.TestPostgres;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import javax.sql.DataSource;

/**
 * What the per-minute usage rollup (a statement trigger on batch_upload_files, R__70_metrics.sql) costs a
 * completer: files completed per second, one transaction per file, with the trigger on and off,
 * alternated round by round in one run, all files of one team and model (the hottest rollup row).
 * Run: {@code ./mvnw -q -pl worker -am test-compile exec:java -Dexec.classpathScope=test
 * -Dexec.mainClass=io.batchpilot.bench.UsageRollupBenchmark} (env BATCHPILOT_TEST_DATABASE_URL).
 */
public final class UsageRollupBenchmark {

  private static final int FILES = Integer.getInteger("bench.files", 3000);
  private static final int ROUNDS = Integer.getInteger("bench.rounds", 5);
  private static final int[] THREADS = {1, 4};

  private UsageRollupBenchmark() {}

  public static void main(String[] args) throws Exception {
    try (TestDatabase db = TestPostgres.get().createDatabase(true)) {
      DataSource dataSource = db.dataSource();
      System.out.printf(Locale.ROOT, "usage rollup trigger: %d files per round, one transaction per file, %d rounds, median%n",
          FILES, ROUNDS);
      System.out.println("| threads | files/s, rollup on | files/s, rollup off | on / off |");
      System.out.println("|---:|---:|---:|---:|");
      for (int threads : THREADS) {
        List<Double> on = new ArrayList<>();
        List<Double> off = new ArrayList<>();
        for (int round = 0; round < ROUNDS; round++) {
          on.add(round(dataSource, threads, true));
          off.add(round(dataSource, threads, false));
        }
        double medianOn = median(on);
        double medianOff = median(off);
        System.out.printf(Locale.ROOT, "| %d | %.0f | %.0f | %.2f |%n", threads, medianOn, medianOff, medianOn / medianOff);
      }
    }
  }

  /** Claims FILES new files, then completes them from {@code threads} connections; files per second. */
  private static double round(DataSource dataSource, int threads, boolean rollup) throws Exception {
    ConcurrentLinkedQueue<UUID> files = new ConcurrentLinkedQueue<>();
    try (Connection c = dataSource.getConnection(); Statement s = c.createStatement()) {
      s.execute("ALTER TABLE public.batch_upload_files " + (rollup ? "ENABLE" : "DISABLE")
          + " TRIGGER batch_upload_files_roll_up_usage");
      s.execute("TRUNCATE public.batch_upload_files, public.batch_upload_sessions CASCADE");
      try (ResultSet rs = s.executeQuery("WITH t AS (INSERT INTO public.teams (name) VALUES ('bench') RETURNING id),"
          + " session AS (INSERT INTO public.batch_upload_sessions (team_id, total_files, status)"
          + "   SELECT id, " + FILES + ", 'processing' FROM t RETURNING id),"
          + " f AS (INSERT INTO public.batch_upload_files (batch_session_id, original_filename, status)"
          + "   SELECT session.id, 'f' || n, 'processing' FROM session, generate_series(1, " + FILES + ") n"
          + "   RETURNING id) SELECT id FROM f")) {
        while (rs.next()) {
          files.add(rs.getObject(1, UUID.class));
        }
      }
      s.execute("VACUUM ANALYZE public.batch_upload_files");
    }
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    long start = System.nanoTime();
    List<Future<?>> done = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      done.add(pool.submit(() -> complete(dataSource, files)));
    }
    for (Future<?> f : done) {
      f.get();
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    pool.shutdown();
    return FILES / seconds;
  }

  private static Void complete(DataSource dataSource, ConcurrentLinkedQueue<UUID> files) throws SQLException {
    try (Connection c = dataSource.getConnection(); PreparedStatement update = c.prepareStatement(
        "UPDATE public.batch_upload_files SET status = 'completed', api_calls_made = 1,"
            + " input_tokens = 1290, output_tokens = 180, tokens_used = 1470, processing_completed_at = now()"
            + " WHERE id = ? AND status = 'processing'")) {
      UUID id;
      while ((id = files.poll()) != null) {
        update.setObject(1, id);
        update.executeUpdate();
      }
    }
    return null;
  }

  private static double median(List<Double> values) {
    List<Double> sorted = new ArrayList<>(values);
    Collections.sort(sorted);
    return sorted.get(sorted.size() / 2);
  }
}
