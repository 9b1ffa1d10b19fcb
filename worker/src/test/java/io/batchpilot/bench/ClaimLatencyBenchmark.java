package io.batchpilot.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.zaxxer.hikari.HikariDataSource;
import io.batchpilot.db.ConnectionPools;
import io.batchpilot.db.DatabaseUrl;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.db.testing.TestPostgres;
import io.batchpilot.metrics.Metrics;
import io.batchpilot.pipeline.FileProcessor;
import io.batchpilot.pipeline.Outcome;
import io.batchpilot.testing.Eventually;
import io.batchpilot.worker.Worker;
import io.batchpilot.worker.WorkerConfig;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * Insert-to-claim latency: an idle worker (instant processor, default settings) and a one-file
 * session inserted N times, 20 to 50 ms apart. Latency is the file's processing_started_at (the
 * claim's stamp) minus clock_timestamp() taken in the inserting transaction just before its commit;
 * both are the database's clock. Two paths, one after the other in the same run: the NOTIFY path
 * (the worker LISTENs on the file's database) and the poll-only path (its LISTEN connection is on
 * another database, so it hears nothing and finds the file at its next poll, every
 * BATCHPILOT_POLL_INTERVAL, 5s by default).
 *
 * <p>Arguments: inserts on the NOTIFY path (default 200), inserts on the poll-only path (default 10).
 */
public final class ClaimLatencyBenchmark {

  private static final ObjectMapper JSON = new ObjectMapper();

  public static void main(String[] args) throws Exception {
    int notified = args.length > 0 ? Integer.parseInt(args[0]) : 200;
    int polled = args.length > 1 ? Integer.parseInt(args[1]) : 10;
    try (TestDatabase db = TestPostgres.get().createDatabase(true)) {
      List<Double> notify = measure(db, db.url(), notified);
      List<Double> poll = measure(db, TestPostgres.get().adminUrl(), polled);
      System.out.println("| path | inserts | p50 ms | p99 ms | max ms |");
      System.out.println("|---|---|---|---|---|");
      row("NOTIFY (LISTEN on the files' database)", notify);
      row("poll only (LISTEN elsewhere, poll every " + WorkerConfig.defaults().notifier().pollInterval().toSeconds() + " s)", poll);
    }
  }

  /** Latencies in ms of {@code inserts} one-file sessions, claimed by a worker listening at {@code listenUrl}. */
  private static List<Double> measure(TestDatabase db, DatabaseUrl listenUrl, int inserts) throws Exception {
    Semaphore claimed = new Semaphore(0);
    FileProcessor instant = file -> {
      claimed.release();
      return Outcome.completed(file, JSON.createObjectNode().put("ok", true), null, 258, 10, 268, 1);
    };
    List<Double> latencies = new ArrayList<>(inserts);
    Random random = new Random(1);
    try (HikariDataSource pool = ConnectionPools.open(db.url(), 3, "latency-bench");
         Worker worker = new Worker(WorkerConfig.defaults(), pool, listenUrl, instant, new Metrics());
         Connection inserter = db.connect()) {
      worker.start();
      Eventually.await("the worker listening", Duration.ofSeconds(30), () -> worker.notifier().backendPid() != 0);
      inserter.setAutoCommit(false);
      for (int i = 0; i < inserts; i++) {
        TimeUnit.MILLISECONDS.sleep(20 + random.nextInt(31));
        UUID file = UUID.randomUUID();
        OffsetDateTime committing = insertOneFileSession(inserter, file, i);
        if (!claimed.tryAcquire(60, TimeUnit.SECONDS)) {
          throw new IllegalStateException("file " + file + " was not claimed within 60 s");
        }
        latencies.add(Duration.between(committing, claimStamp(inserter, file)).toNanos() / 1e6);
      }
    }
    return latencies;
  }

  /** Inserts a session and its one file; returns the database's clock just before the commit. */
  private static OffsetDateTime insertOneFileSession(Connection c, UUID file, int n) throws SQLException {
    UUID session = UUID.randomUUID();
    try (PreparedStatement s = c.prepareStatement("INSERT INTO public.batch_upload_sessions "
        + "(id, session_name, model, max_concurrent, processing_strategy, total_files) VALUES (?, ?, 'gemini-2.5-flash', 1, 'balanced', 1)")) {
      s.setObject(1, session);
      s.setString(2, "latency-" + n);
      s.executeUpdate();
    }
    try (PreparedStatement s = c.prepareStatement("INSERT INTO public.batch_upload_files "
        + "(id, batch_session_id, original_filename, file_type, upload_order, source_url, status) "
        + "VALUES (?, ?, 'f.png', 'image/png', 0, 'file:bench/f.png', 'pending')")) {
      s.setObject(1, file);
      s.setObject(2, session);
      s.executeUpdate();
    }
    OffsetDateTime now;
    try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT clock_timestamp()")) {
      rs.next();
      now = rs.getObject(1, OffsetDateTime.class);
    }
    c.commit();
    return now;
  }

  private static OffsetDateTime claimStamp(Connection c, UUID file) throws SQLException {
    try (PreparedStatement s = c.prepareStatement("SELECT processing_started_at FROM public.batch_upload_files WHERE id = ?")) {
      s.setObject(1, file);
      try (ResultSet rs = s.executeQuery()) {
        rs.next();
        OffsetDateTime stamp = rs.getObject(1, OffsetDateTime.class);
        c.commit();
        return stamp;
      }
    }
  }

  private static void row(String path, List<Double> ms) {
    List<Double> sorted = new ArrayList<>(ms);
    Collections.sort(sorted);
    System.out.printf(Locale.ROOT, "| %s | %d | %.1f | %.1f | %.1f |%n", path, sorted.size(),
        percentile(sorted, 0.50), percentile(sorted, 0.99), sorted.get(sorted.size() - 1));
  }

  /** Nearest rank. */
  private static double percentile(List<Double> sorted, double p) {
    return sorted.get(Math.max(0, (int) Math.ceil(p * sorted.size()) - 1));
  }

  private ClaimLatencyBenchmark() {}
}
