package io.batchpilot.testing;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;

import com.zaxxer.hikari.HikariDataSource;
import io.batchpilot.db.ConnectionPools;
import io.batchpilot.db.DatabaseUrl;
import io.batchpilot.db.EmbeddedPostgres;
import io.batchpilot.db.Migrator;
import io.batchpilot.session.NewSession;
import io.batchpilot.session.Progress;
import io.batchpilot.session.Sessions;
import io.batchpilot.store.JobKind;
import io.batchpilot.store.JobState;
import io.batchpilot.store.Jobs;
import io.batchpilot.store.Jooq;
import io.batchpilot.worker.WorkerConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jooq.DSLContext;

/**
 * What Supabase Realtime would send for a batch: the row changes of the two published tables
 * (batch_upload_files, batch_upload_sessions), read from a logical replication slot
 * (test_decoding) on the embedded PostgreSQL, which runs with wal_level=logical as Supabase does.
 * One session of receipts through two fleet members (8 threads each) against the simulator,
 * embeddings included, to its end.
 */
public final class RealtimeChanges {

  private static final Pattern CHANGE = Pattern.compile("^table public\\.(batch_upload_files|batch_upload_sessions): "
      + "(INSERT|UPDATE|DELETE): id\\[uuid\\]:'([0-9a-f-]+)'");
  private static final Pattern FILES_COMPLETED = Pattern.compile("files_completed\\[integer\\]:(\\d+)");

  /**
   * What one batch published.
   *
   * @param seconds the batch, from submission to the session's end, embeddings included
   * @param fileChanges changes of the file rows, their inserts included
   * @param fileUpdates of which updates
   * @param sessionChanges changes of the session's row, its insert included
   * @param lastFilesCompleted files_completed in the session row's last change
   * @param mostChangesOfAFile the changes of the file row that changed most, its insert included
   */
  public record Result(double seconds, int files, int fileChanges, int fileUpdates, int sessionChanges,
                       int lastFilesCompleted, int mostChangesOfAFile) {
    public double fileChangesPerFile() {
      return fileChanges / (double) files;
    }

    public double sessionChangesPerSecond() {
      return sessionChanges / seconds;
    }
  }

  private RealtimeChanges() {}

  /** Runs {@code files} receipts under {@code quota} in a new database {@code database} of the server. */
  public static Result measure(EmbeddedPostgres server, String database, SimulatedFleet.Quota quota, int files)
      throws Exception {
    try (HikariDataSource admin = ConnectionPools.open(server.url(), 1, "rt-admin")) {
      Jooq.using(admin).execute("CREATE DATABASE " + database);
    }
    DatabaseUrl url = server.url().withDatabase(database);
    Path folder = Files.createTempDirectory("rt-changes");
    try (HikariDataSource pool = ConnectionPools.open(url, 4, "rt-changes")) {
      new Migrator(pool).migrate();
      DSLContext dsl = Jooq.using(pool);
      dsl.fetch("SELECT pg_create_logical_replication_slot('rt', 'test_decoding')");
      Sessions sessions = new Sessions(pool);
      long start = System.nanoTime();
      UUID session = sessions.submit(new NewSession("rt", null, null, quota.model(), 100, "aggressive"),
          SimulatedFleet.receipts(folder, "rt", 4242, files));
      try (SimulatedFleet fleet = SimulatedFleet.start(pool, url, folder, quota, 2,
          WorkerConfig.defaults().withConcurrency(8))) {
        Eventually.await("the session ended, its receipts embedded", Duration.ofMinutes(3), () -> {
          Progress p = sessions.progress(session);
          return p.status().equals("completed") && dsl.fetchCount(Jobs.JOBS, Jobs.BATCH_SESSION_ID.eq(session).and(Jobs.kindIs(JobKind.EMBEDDING))
              .and(Jobs.stateIs(JobState.AVAILABLE).or(Jobs.stateIs(JobState.RUNNING)))) == 0;
        });
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      int fileChanges = 0;
      int fileUpdates = 0;
      List<String> sessionChanges = new ArrayList<>();
      java.util.Map<String, Integer> changesPerFile = new java.util.HashMap<>();
      for (String line : dsl.fetch("SELECT data FROM pg_logical_slot_get_changes('rt', NULL, NULL)").getValues(0, String.class)) {
        Matcher m = CHANGE.matcher(line);
        if (!m.find()) {
          continue;
        }
        if (m.group(1).equals("batch_upload_files")) {
          fileChanges++;
          fileUpdates += m.group(2).equals("UPDATE") ? 1 : 0;
          changesPerFile.merge(m.group(3), 1, Integer::sum);
        } else if (m.group(3).equals(session.toString())) {
          sessionChanges.add(line);
        }
      }
      dsl.fetch("SELECT pg_drop_replication_slot('rt')");
      Matcher last = FILES_COMPLETED.matcher(sessionChanges.get(sessionChanges.size() - 1));
      return new Result(seconds, files, fileChanges, fileUpdates, sessionChanges.size(),
          last.find() ? Integer.parseInt(last.group(1)) : -1,
          changesPerFile.values().stream().mapToInt(Integer::intValue).max().orElse(0));
    } finally {
      deleteAll(folder);
    }
  }

  private static void deleteAll(Path folder) throws IOException {
    try (var paths = Files.walk(folder)) {
      for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
