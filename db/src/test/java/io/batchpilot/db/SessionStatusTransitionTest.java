package io.batchpilot.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.SupabaseRequest;
import io.batchpilot.db.testing.TestData;
import io.batchpilot.db.testing.TestDatabase;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.UUID;
import javax.sql.DataSource;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A signed-in user may pause, resume and cancel their session (a trigger), never start,
 * complete or fail it; the workers and the service key move it anywhere the pipeline needs.
 */
@ExtendWith(PostgresExtension.class)
class SessionStatusTransitionTest {

  private static final String INSUFFICIENT_PRIVILEGE = "42501";

  private final DataSource db;
  private final TestData data;
  private UUID owner;
  private SupabaseRequest asOwner;

  SessionStatusTransitionTest(TestDatabase database) {
    this.db = database.dataSource();
    this.data = new TestData(db);
  }

  @BeforeEach
  void aSignedInUser() throws SQLException {
    owner = data.user();
    asOwner = SupabaseRequest.authenticated(owner);
  }

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource({
      "pending,    paused",
      "processing, paused",
      "paused,     processing",
      "pending,    cancelled",
      "processing, cancelled",
      "paused,     cancelled",
      "processing, processing",
      "completed,  completed"})
  void signedInUserMayPauseResumeAndCancel(String from, String to) throws SQLException {
    UUID session = sessionIn(from);
    assertEquals(1, write(asOwner, "UPDATE public.batch_upload_sessions SET status = ? WHERE id = ?", to, session));
    assertEquals(to, statusOf(session));
  }

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource({
      "pending,    processing",
      "pending,    completed",
      "pending,    failed",
      "processing, completed",
      "processing, failed",
      "processing, pending",
      "paused,     completed",
      "paused,     pending",
      "completed,  processing",
      "failed,     processing",
      "cancelled,  processing",
      "cancelled,  pending"})
  void signedInUserMayNotStartCompleteFailOrReopenASession(String from, String to) throws SQLException {
    UUID session = sessionIn(from);
    SQLException refused = assertThrows(SQLException.class, () -> write(asOwner, "UPDATE public.batch_upload_sessions SET status = ? WHERE id = ?", to, session));
    assertEquals(INSUFFICIENT_PRIVILEGE, refused.getSQLState(), refused.getMessage());
    assertTrue(refused.getMessage().contains("may not change its status from " + from + " to " + to)
        && refused.getMessage().contains("a frontend may pause"), refused.getMessage());
    assertEquals(from, statusOf(session), "a refused change changes nothing");
  }

  @Test
  void aNewSessionFromAFrontendStartsPending() throws SQLException {
    for (String status : new String[] {"processing", "completed", "failed", "paused", "cancelled"}) {
      SQLException refused = assertThrows(SQLException.class, () -> write(asOwner, "INSERT INTO public.batch_upload_sessions (user_id, total_files, status) VALUES (?, 1, ?)", owner, status));
      assertEquals(INSUFFICIENT_PRIVILEGE, refused.getSQLState(), status);
      assertTrue(refused.getMessage().contains("starts as pending, not " + status), refused.getMessage());
    }
    assertEquals(1, write(asOwner, "INSERT INTO public.batch_upload_sessions (user_id, total_files, status) VALUES (?, 1, 'pending')", owner));
  }

  @Test
  void aCancelFromAFrontendSkipsTheFilesNotStartedAndEndsTheSession() throws SQLException {
    UUID session = sessionIn("processing");
    data.update("UPDATE public.batch_upload_sessions SET total_files = 4 WHERE id = ?", session);
    data.file(session, "uploading");
    data.file(session, "pending");
    data.file(session, "pending");
    data.file(session, "processing");

    assertEquals(1, write(asOwner, "UPDATE public.batch_upload_sessions SET status = 'cancelled' WHERE id = ?", session));

    try (Connection c = db.getConnection();
         PreparedStatement s = TestData.prepare(c, "SELECT files_uploading, files_pending, files_processing, files_skipped,"
             + " completed_at IS NOT NULL, (SELECT count(*) FROM public.batch_upload_files f WHERE f.batch_session_id = s.id"
             + " AND f.status = 'skipped' AND f.error_message LIKE 'the session was cancelled%')"
             + " FROM public.batch_upload_sessions s WHERE id = ?", session);
         ResultSet rs = s.executeQuery()) {
      rs.next();
      assertEquals(0, rs.getInt(1), "uploading files are skipped");
      assertEquals(0, rs.getInt(2), "pending files are skipped");
      assertEquals(1, rs.getInt(3), "the file in flight finishes");
      assertEquals(3, rs.getInt(4));
      assertTrue(rs.getBoolean(5), "completed_at marks the end");
      assertEquals(3, rs.getInt(6), "each skipped file says why");
    }
  }

  @Test
  void serviceKeyAndWorkersMoveASessionThroughTheWholePipeline() throws SQLException {
    UUID session = sessionIn("pending");
    SupabaseRequest serviceKey = SupabaseRequest.serviceRole();
    for (String to : new String[] {"processing", "failed", "processing", "completed"}) {
      assertEquals(1, write(serviceKey, "UPDATE public.batch_upload_sessions SET status = ? WHERE id = ?", to, session));
      assertEquals(to, statusOf(session));
    }

    // A worker's claim starts a pending session, and the worker ends it, as the database owner.
    UUID claimed = sessionIn("pending");
    data.update("UPDATE public.batch_upload_sessions SET total_files = 1 WHERE id = ?", claimed);
    data.file(claimed, "pending");
    data.update("SELECT * FROM batchpilot_private.claim_files('test-worker', 1000, interval '1 minute')");
    assertEquals("processing", statusOf(claimed));
    data.update("UPDATE public.batch_upload_files SET status = 'completed' WHERE batch_session_id = ?", claimed);
    data.update("UPDATE public.batch_upload_sessions SET status = 'completed' WHERE id = ?", claimed);
    assertEquals("completed", statusOf(claimed));
  }

  private UUID sessionIn(String status) throws SQLException {
    UUID session = data.session(owner, null);
    data.update("UPDATE public.batch_upload_sessions SET status = ? WHERE id = ?", status, session);
    return session;
  }

  private String statusOf(UUID session) throws SQLException {
    try (Connection c = db.getConnection();
         PreparedStatement s = TestData.prepare(c, "SELECT status FROM public.batch_upload_sessions WHERE id = ?", session);
         ResultSet rs = s.executeQuery()) {
      rs.next();
      return rs.getString(1);
    }
  }

  private int write(SupabaseRequest request, String sql, Object... parameters) throws SQLException {
    return request.run(db, c -> update(c, sql, parameters));
  }

  private static int update(Connection c, String sql, Object... parameters) throws SQLException {
    try (PreparedStatement statement = TestData.prepare(c, sql, parameters)) {
      return statement.executeUpdate();
    }
  }
}
