package io.batchpilot.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestData;
import io.batchpilot.db.testing.TestDatabase;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The statement-level trigger keeps a session's exact counters (batchpilot_private.session_progress)
 * equal to its files' statuses, and its row's published files_* counters with them: at once for
 * these statements, or, where another transaction held the row, after the leader's progress round.
 */
@ExtendWith(PostgresExtension.class)
class SessionCountersTest {

  private static final List<String> STATUSES =
      List.of("uploading", "pending", "processing", "completed", "failed", "skipped");

  private final DataSource db;
  private final TestData data;
  private UUID first;
  private UUID second;

  SessionCountersTest(TestDatabase database) {
    this.db = database.dataSource();
    this.data = new TestData(database.dataSource());
  }

  @BeforeEach
  void twoSessions() throws SQLException {
    UUID user = data.user();
    first = data.session(user, null);
    second = data.session(user, null);
  }

  @Test
  void countersFollowInsertsUpdatesMovesAndDeletes() throws SQLException {
    data.update("INSERT INTO public.batch_upload_files (batch_session_id, original_filename, status)"
        + " SELECT s, 'f' || i, CASE WHEN i % 3 = 0 THEN 'uploading' ELSE 'pending' END"
        + " FROM unnest(?::uuid[]) s, generate_series(1, 6) i", (Object) new UUID[] {first, second});
    assertEquals(Map.of("uploading", 2L, "pending", 4L), counters(first));
    assertCountersEqualFileCounts();

    // One statement across both sessions, as a worker's claim does.
    assertEquals(8, data.update("UPDATE public.batch_upload_files SET status = 'processing'"
        + " WHERE status = 'pending' AND batch_session_id IN (?, ?)", first, second));
    assertEquals(Map.of("uploading", 2L, "processing", 4L), counters(second));
    assertCountersEqualFileCounts();

    data.update("UPDATE public.batch_upload_files SET status = CASE WHEN original_filename IN ('f1', 'f2')"
        + " THEN 'completed' WHEN original_filename = 'f4' THEN 'failed' ELSE status END"
        + " WHERE batch_session_id IN (?, ?)", first, second);
    data.update("UPDATE public.batch_upload_files SET status = 'skipped' WHERE original_filename = 'f3'"
        + " AND batch_session_id = ?", first);
    // A write that changes no status leaves the counters alone.
    data.update("UPDATE public.batch_upload_files SET error_message = 'noted' WHERE batch_session_id = ?", first);
    assertEquals(Map.of("uploading", 1L, "processing", 1L, "completed", 2L, "failed", 1L, "skipped", 1L),
        counters(first));
    assertCountersEqualFileCounts();

    // A file moved to another session counts there, in its new status.
    data.update("UPDATE public.batch_upload_files SET batch_session_id = ?, status = 'pending'"
        + " WHERE batch_session_id = ? AND original_filename = 'f1'", second, first);
    assertEquals(Map.of("uploading", 1L, "processing", 1L, "completed", 1L, "failed", 1L, "skipped", 1L),
        counters(first));
    assertCountersEqualFileCounts();

    data.update("DELETE FROM public.batch_upload_files WHERE status IN ('completed', 'uploading')"
        + " AND batch_session_id IN (?, ?)", first, second);
    assertEquals(Map.of("processing", 1L, "failed", 1L, "skipped", 1L), counters(first));
    assertCountersEqualFileCounts();
  }

  @Test
  void concurrentWritersTouchingTheSameSessionsInOppositeOrderDoNotDeadlock() throws Exception {
    // Each writer has one file in each session; the rows are laid out so that one writer's statement
    // meets the first session first and the other's meets the second session first.
    List<UUID> writerOne = List.of(data.file(first, "pending"), data.file(second, "pending"));
    List<UUID> writerTwo = new ArrayList<>();
    writerTwo.add(data.file(second, "pending"));
    writerTwo.add(0, data.file(first, "pending"));
    int rounds = 200;
    CyclicBarrier together = new CyclicBarrier(2);
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      List<Future<Integer>> writers = List.of(
          pool.submit(() -> flipBackAndForth(writerOne, rounds, together)),
          pool.submit(() -> flipBackAndForth(writerTwo, rounds, together)));
      for (Future<Integer> writer : writers) {
        // A deadlock surfaces as SQLState 40P01 from PostgreSQL's detector, failing the future.
        assertEquals(rounds, writer.get(2, TimeUnit.MINUTES));
      }
    } finally {
      pool.shutdownNow();
    }
    assertCountersEqualFileCounts();
  }

  @Test
  void aWriterLocksSessionsInIdOrderSoItHoldsNoneWhileWaitingForTheFirst() throws Exception {
    UUID low;
    UUID high;
    try (Connection c = db.getConnection();
         PreparedStatement order = TestData.prepare(c, "SELECT id FROM public.batch_upload_sessions"
             + " WHERE id IN (?, ?) ORDER BY id", first, second);
         ResultSet rs = order.executeQuery()) {
      rs.next();
      low = rs.getObject(1, UUID.class);
      rs.next();
      high = rs.getObject(1, UUID.class);
    }
    // Inserted and listed high first, so whatever the plan, the statement meets the high session first.
    UUID highFile = data.file(high, "pending");
    UUID lowFile = data.file(low, "pending");
    UUID otherHighFile = data.file(high, "pending");

    ExecutorService pool = Executors.newSingleThreadExecutor();
    try (Connection blocker = db.getConnection(); Connection writer = db.getConnection();
         Connection other = db.getConnection()) {
      blocker.setAutoCommit(false);
      try (PreparedStatement lock = TestData.prepare(blocker,
          "SELECT 1 FROM batchpilot_private.session_progress WHERE session_id = ? FOR UPDATE", low)) {
        lock.executeQuery().close();
      }
      int writerPid = pid(writer);
      // The trigger must still lock the low session first, and so wait holding nothing.
      Future<Integer> blocked = pool.submit(() -> {
        try (PreparedStatement update = TestData.prepare(writer, "UPDATE public.batch_upload_files f"
            + " SET status = 'processing' FROM (VALUES (?::uuid, 1), (?::uuid, 2)) v (id, n) WHERE f.id = v.id",
            highFile, lowFile)) {
          return update.executeUpdate();
        }
      });
      awaitLockWait(writerPid);

      // The waiting writer holds no session lock, so a writer of the high session alone goes through.
      try (Statement timeout = other.createStatement()) {
        timeout.execute("SET lock_timeout = '5s'");
      }
      try (PreparedStatement update = TestData.prepare(other,
          "UPDATE public.batch_upload_files SET status = 'processing' WHERE id = ?", otherHighFile)) {
        assertEquals(1, update.executeUpdate(), "a writer waiting for one session must not hold another");
      }

      blocker.commit();
      assertEquals(2, blocked.get(1, TimeUnit.MINUTES));
    } finally {
      pool.shutdownNow();
    }
    assertCountersEqualFileCounts();
  }

  private static int pid(Connection c) throws SQLException {
    try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT pg_backend_pid()")) {
      rs.next();
      return rs.getInt(1);
    }
  }

  /** Polls until the backend waits for a lock (a deadline, not a sleep: it returns as soon as it does). */
  private void awaitLockWait(int pid) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    try (Connection c = db.getConnection();
         PreparedStatement waiting = TestData.prepare(c,
             "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = ?", pid)) {
      while (System.nanoTime() < deadline) {
        try (ResultSet rs = waiting.executeQuery()) {
          if (rs.next() && rs.getBoolean(1)) {
            return;
          }
        }
        Thread.onSpinWait();
      }
    }
    throw new AssertionError("backend " + pid + " never waited for the blocked session's lock");
  }

  /** Moves the files pending → processing → pending, one transaction per move, in step with the other writer. */
  private int flipBackAndForth(List<UUID> files, int rounds, CyclicBarrier together) throws Exception {
    try (Connection c = db.getConnection();
         PreparedStatement flip = c.prepareStatement("UPDATE public.batch_upload_files"
             + " SET status = CASE status WHEN 'pending' THEN 'processing' ELSE 'pending' END"
             + " WHERE id = ANY (?::uuid[])")) {
      c.setAutoCommit(false);
      flip.setObject(1, files.toArray(new UUID[0]));
      for (int round = 0; round < rounds; round++) {
        together.await(30, TimeUnit.SECONDS);
        assertEquals(2, flip.executeUpdate());
        c.commit();
      }
      return rounds;
    }
  }

  private Map<String, Long> counters(UUID session) throws SQLException {
    try (Connection c = db.getConnection();
         PreparedStatement s = TestData.prepare(c, "SELECT files_uploading, files_pending, files_processing,"
             + " files_completed, files_failed, files_skipped FROM public.batch_upload_sessions WHERE id = ?", session);
         ResultSet rs = s.executeQuery()) {
      assertTrue(rs.next());
      Map<String, Long> nonZero = new TreeMap<>();
      for (int i = 0; i < STATUSES.size(); i++) {
        if (rs.getLong(i + 1) != 0) {
          nonZero.put(STATUSES.get(i), rs.getLong(i + 1));
        }
      }
      return nonZero;
    }
  }

  /**
   * Every session's exact counters, side by side with a count of its files by status; then, after a
   * progress round, its published ones.
   */
  private void assertCountersEqualFileCounts() throws SQLException {
    assertCountersEqualFileCounts("batchpilot_private.session_progress", "session_id");
    data.update("SELECT batchpilot_private.run_progress_round(interval '0')");
    assertCountersEqualFileCounts("public.batch_upload_sessions", "id");
  }

  private void assertCountersEqualFileCounts(String table, String id) throws SQLException {
    String sql = "SELECT s." + id + ", format('%s/%s/%s/%s/%s/%s', s.files_uploading, s.files_pending, s.files_processing,"
        + " s.files_completed, s.files_failed, s.files_skipped),"
        + " format('%s/%s/%s/%s/%s/%s', count(f.id) FILTER (WHERE f.status = 'uploading'),"
        + " count(f.id) FILTER (WHERE f.status = 'pending'), count(f.id) FILTER (WHERE f.status = 'processing'),"
        + " count(f.id) FILTER (WHERE f.status = 'completed'), count(f.id) FILTER (WHERE f.status = 'failed'),"
        + " count(f.id) FILTER (WHERE f.status = 'skipped'))"
        + " FROM " + table + " s LEFT JOIN public.batch_upload_files f ON f.batch_session_id = s." + id
        + " GROUP BY s." + id;
    try (Connection c = db.getConnection(); PreparedStatement s = c.prepareStatement(sql); ResultSet rs = s.executeQuery()) {
      while (rs.next()) {
        assertEquals(rs.getString(3), rs.getString(2), table + ": session " + rs.getString(1)
            + " counters (uploading/pending/processing/completed/failed/skipped) differ from its files");
      }
    }
  }
}
