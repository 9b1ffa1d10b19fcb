package io.batchpilot.bench;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;

import com.zaxxer.hikari.HikariDataSource;
import io.batchpilot.db.ConnectionPools;
import io.batchpilot.db.DatabaseUrl;
import io.batchpilot.db.EmbeddedPostgres;
import io.batchpilot.db.Migrator;
import io.batchpilot.session.NewSession;
import io.batchpilot.session.Progress;
import io.batchpilot.session.Sessions;
import io.batchpilot.store.Jooq;
import io.batchpilot.testing.SimulatedFleet;
import io.batchpilot.worker.WorkerConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jooq.DSLContext;

/**
 * What Supabase Realtime would send for a batch: the row changes of the two published tables
 * (batch_upload_files, batch_upload_sessions), read from a logical replication slot
 * (test_decoding) on the embedded PostgreSQL, which runs with wal_level=logical as Supabase does.
 * One session of receipts through two fleet members against the simulator, embeddings included, in
 * two regimes: a quota far above the batch (full speed), and one that makes the files wait for it
 * (a 2 s window holding a quarter of the batch). Per regime: changes per file (inserts included),
 * session-row changes in all and per second of the batch.
 *
 * <p>Arguments: files (default 20).
 */
public final class RealtimeEventsBenchmark {

  private static final Pattern CHANGE = Pattern.compile("^table public\\.(batch_upload_files|batch_upload_sessions): "
      + "(INSERT|UPDATE|DELETE): id\\[uuid\\]:'([0-9a-f-]+)'");

  public static void main(String[] args) throws Exception {
    int files = args.length > 0 ? Integer.parseInt(args[0]) : 20;
    System.out.printf(Locale.ROOT, "%d receipts, 2 workers x 8 threads, embeddings on; changes read from a test_decoding slot%n%n", files);
    System.out.println("| regime | batch s | file-row changes per file | of which UPDATE | session-row changes | per second |");
    System.out.println("|---|---:|---:|---:|---:|---:|");
    try (EmbeddedPostgres server = EmbeddedPostgres.start()) {
      run(server, "full speed", files, new SimulatedFleet.Quota("rt-fast", 10_000, Duration.ofSeconds(2)));
      run(server, "quota waits", files, new SimulatedFleet.Quota("rt-waits", Math.max(1, files / 4), Duration.ofSeconds(2)));
    }
  }

  private static void run(EmbeddedPostgres server, String regime, int files, SimulatedFleet.Quota quota) throws Exception {
    String db = "rt_" + quota.model().replace('-', '_');
    try (HikariDataSource admin = ConnectionPools.open(server.url(), 1, "rt-admin")) {
      Jooq.using(admin).execute("CREATE DATABASE " + db);
    }
    DatabaseUrl url = server.url().withDatabase(db);
    try (HikariDataSource pool = ConnectionPools.open(url, 4, "rt-bench")) {
      new Migrator(pool).migrate();
      DSLContext dsl = Jooq.using(pool);
      dsl.fetch("SELECT pg_create_logical_replication_slot('rt', 'test_decoding')");
      Path folder = Files.createTempDirectory("rt-bench");
      Sessions sessions = new Sessions(pool);
      UUID session = sessions.submit(new NewSession("rt", null, null, quota.model(), 100, "aggressive"),
          SimulatedFleet.receipts(folder, "rt", 4242, files));
      long start = System.nanoTime();
      try (SimulatedFleet fleet = SimulatedFleet.start(pool, url, folder, quota, 2,
          WorkerConfig.defaults().withConcurrency(8))) {
        long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
        while (System.nanoTime() < deadline) {
          Progress p = sessions.progress(session);
          boolean embedded = dsl.fetchCount(BATCH_UPLOAD_FILES, BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session)
              .and(BATCH_UPLOAD_FILES.EMBEDDING_STATUS.in("pending", "processing"))) == 0;
          if (p.completed() + p.failed() == files && embedded && p.status().equals("completed")) {
            break;
          }
          Thread.sleep(100);
        }
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      Map<String, Integer> perRow = new HashMap<>();
      int fileChanges = 0;
      int fileUpdates = 0;
      int sessionChanges = 0;
      for (String line : dsl.fetch("SELECT data FROM pg_logical_slot_get_changes('rt', NULL, NULL)").getValues(0, String.class)) {
        Matcher m = CHANGE.matcher(line);
        if (!m.find()) {
          continue;
        }
        if (m.group(1).equals("batch_upload_files")) {
          fileChanges++;
          fileUpdates += m.group(2).equals("UPDATE") ? 1 : 0;
          perRow.merge(m.group(3), 1, Integer::sum);
        } else if (m.group(3).equals(session.toString())) {
          sessionChanges++;
        }
      }
      dsl.fetch("SELECT pg_drop_replication_slot('rt')");
      System.out.printf(Locale.ROOT, "| %s | %.1f | %.1f | %.1f | %d | %.1f |%n", regime, seconds,
          fileChanges / (double) files, fileUpdates / (double) files, sessionChanges, sessionChanges / seconds);
      deleteAll(folder);
    }
  }

  private static void deleteAll(Path folder) throws java.io.IOException {
    try (var paths = Files.walk(folder)) {
      for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
