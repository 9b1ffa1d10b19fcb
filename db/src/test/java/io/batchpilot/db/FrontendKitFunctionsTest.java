package io.batchpilot.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
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
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import javax.sql.DataSource;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The functions the frontend kit (db/supabase/kit) calls as a signed-in user, through RLS as
 * Supabase's Data API runs them: a session's quota status (aggregates only, members only),
 * recording a failed upload, creating a batch-delivery session and reading its batch jobs.
 */
@ExtendWith(PostgresExtension.class)
class FrontendKitFunctionsTest {

  private static final String STATUS = "SELECT * FROM public.batchpilot_session_quota_status(?)";
  private static final String SKIP = "SELECT public.batchpilot_skip_failed_upload(?, ?)";
  private static final String JOBS = "SELECT * FROM public.batchpilot_session_batch_jobs(?)";
  /** What submitBatch inserts (batch.ts, sessionInsert), as the signed-in user. */
  private static final String KIT_INSERT = "INSERT INTO public.batch_upload_sessions (user_id, team_id, total_files,"
      + " session_name, processing_strategy, delivery, interactive_fallback) VALUES (?, ?, 2, 'Upload of 2 files',"
      + " 'adaptive', ?, ?) RETURNING id";

  private final DataSource db;
  private final TestData data;
  private UUID alice;
  private UUID bob;
  private UUID stranger;
  private UUID teamSession;
  private String model;

  FrontendKitFunctionsTest(TestDatabase database) {
    this.db = database.dataSource();
    this.data = new TestData(db);
  }

  /** Alice and Bob share a team; the session runs on a model of its own, so no other test's grants count. */
  @BeforeEach
  void aTeamSessionOnItsOwnModel() throws SQLException {
    alice = data.user();
    bob = data.user();
    stranger = data.user();
    teamSession = data.session(alice, data.team(alice, bob));
    model = "kit-test-" + UUID.randomUUID().toString().substring(0, 8);
    data.update("INSERT INTO public.quota_limits (provider, model, requests_per_minute, input_tokens_per_minute)"
        + " VALUES ('gemini', ?, 12, 50000)", model);
    data.update("UPDATE public.batch_upload_sessions SET model = ? WHERE id = ?", model, teamSession);
  }

  @Test
  void membersReadTheirSessionsModelQuotaUsedOfTheLimitInTheLastWindow() throws SQLException {
    Map<String, Object> idle = quotaStatus(SupabaseRequest.authenticated(bob), teamSession);
    assertEquals("gemini", idle.get("provider"));
    assertEquals(model, idle.get("model"));
    assertEquals(0L, idle.get("requests_used"));
    assertEquals(12, idle.get("requests_limit"));
    assertEquals(0L, idle.get("input_tokens_used"));
    assertEquals(50000L, idle.get("input_tokens_limit"));
    assertEquals(60000, idle.get("window_ms"));
    assertNull(idle.get("blocked_until"));
    assertNull(idle.get("parked_until"));

    // Two grants by the fleet (any tenant's, through the service role) and a reported 429.
    for (int i = 0; i < 2; i++) {
      SupabaseRequest.serviceRole().run(db, c -> query(c,
          "SELECT * FROM public.batchpilot_acquire_quota('gemini', ?, 700, 'aggressive')", model));
    }
    SupabaseRequest.serviceRole().run(db, c -> query(c,
        "SELECT public.batchpilot_report_rate_limit('gemini', ?, 20000, 'GenerateRequestsPerMinutePerProjectPerModel')", model));

    Map<String, Object> busy = quotaStatus(SupabaseRequest.authenticated(alice), teamSession);
    assertEquals(2L, busy.get("requests_used"));
    assertEquals(1400L, busy.get("input_tokens_used"));
    OffsetDateTime blocked = (OffsetDateTime) busy.get("blocked_until");
    assertNotNull(blocked, "a reported 429 shows as blocked_until");
    assertTrue(blocked.isAfter(OffsetDateTime.now().plusSeconds(10)), blocked.toString());
    assertEquals(9, busy.size(), "aggregates only: " + busy.keySet());
  }

  @Test
  void aSessionOfAnotherTenantOrNoneAtAllGetsTheSameRefusal() throws SQLException {
    UUID personal = data.session(alice, null);
    for (UUID session : new UUID[] {teamSession, personal, UUID.randomUUID()}) {
      SQLException refused = assertThrows(SQLException.class,
          () -> quotaStatus(SupabaseRequest.authenticated(stranger), session));
      assertEquals("P0002", refused.getSQLState(), refused.getMessage());
      assertTrue(refused.getMessage().contains("batch session " + session + " is not one of the signed-in user's"
          + " sessions"), refused.getMessage());
    }
    SQLException teammatesPersonal = assertThrows(SQLException.class,
        () -> quotaStatus(SupabaseRequest.authenticated(bob), personal));
    assertEquals("P0002", teammatesPersonal.getSQLState());
  }

  @Test
  void anonCannotCallEither() {
    SQLException status = assertThrows(SQLException.class, () -> quotaStatus(SupabaseRequest.anon(), teamSession));
    assertEquals("42501", status.getSQLState(), status.getMessage());
    SQLException skip = assertThrows(SQLException.class, () -> SupabaseRequest.anon().run(db,
        c -> query(c, SKIP, UUID.randomUUID(), "x")));
    assertEquals("42501", skip.getSQLState(), skip.getMessage());
  }

  @Test
  void aModelWithoutLimitsAnswersWithNullLimits() throws SQLException {
    data.update("UPDATE public.batch_upload_sessions SET model = 'no-such-model' WHERE id = ?", teamSession);
    Map<String, Object> status = quotaStatus(SupabaseRequest.authenticated(alice), teamSession);
    assertEquals("no-such-model", status.get("model"));
    assertEquals(0L, status.get("requests_used"));
    assertNull(status.get("requests_limit"));
    assertNull(status.get("window_ms"));
  }

  @Test
  void aFailedUploadIsSkippedWithItsReasonAndTheCountersMoveOn() throws SQLException {
    SupabaseRequest asAlice = SupabaseRequest.authenticated(alice);
    UUID file = asAlice.run(db, c -> uuid(c, "INSERT INTO public.batch_upload_files (batch_session_id,"
        + " original_filename, status, storage_bucket, storage_path) VALUES (?, 'a.jpg', 'uploading', 'receipts', ?)"
        + " RETURNING id", teamSession, alice + "/" + teamSession + "/0-a.jpg"));
    assertEquals(1, counter("files_uploading"));

    assertEquals(true, asAlice.run(db, c -> query(c, SKIP, file, "The object exceeded the maximum allowed size")));
    assertEquals("skipped", fileColumn(file, "status"));
    assertEquals("upload_failed", fileColumn(file, "error_type"));
    assertEquals("the upload to Storage failed, so this file was skipped: The object exceeded the maximum allowed size",
        fileColumn(file, "error_message"));
    assertEquals(0, counter("files_uploading"));
    assertEquals(1, counter("files_skipped"));

    assertEquals(false, asAlice.run(db, c -> query(c, SKIP, file, "again")), "only an uploading file is skipped");
  }

  @Test
  void onlyTheCallersOwnUploadingFilesAreSkippedAndALongReasonIsCut() throws SQLException {
    UUID uploading = data.file(teamSession, "uploading");
    UUID pending = data.file(teamSession, "pending");
    assertEquals(false, SupabaseRequest.authenticated(stranger).run(db, c -> query(c, SKIP, uploading, "x")));
    assertEquals("uploading", fileColumn(uploading, "status"));
    assertEquals(false, SupabaseRequest.authenticated(bob).run(db, c -> query(c, SKIP, pending, "x")));
    assertEquals("pending", fileColumn(pending, "status"));

    assertEquals(true, SupabaseRequest.authenticated(bob).run(db, c -> query(c, SKIP, uploading, "e".repeat(5000))));
    String message = (String) fileColumn(uploading, "error_message");
    assertEquals("the upload to Storage failed, so this file was skipped: ".length() + 500, message.length());
    assertFalse(message.contains("e".repeat(501)));
    assertEquals(true, SupabaseRequest.authenticated(bob).run(db, c -> query(c, SKIP, data.file(teamSession, "uploading"), "  ")));
  }

  @Test
  void aMemberCreatesABatchSessionWithInteractiveFallbackAtInsertAndMayChangeBoth() throws SQLException {
    UUID team = data.team(alice, bob);
    UUID batch = SupabaseRequest.authenticated(alice).run(db, c -> uuid(c, KIT_INSERT, alice, team, "batch", true));
    assertEquals("batch", sessionColumn(batch, "delivery"));
    assertEquals(true, sessionColumn(batch, "interactive_fallback"));

    // The kit's default (no delivery option) is what the database defaults to.
    UUID interactive = SupabaseRequest.authenticated(alice).run(db, c -> uuid(c, KIT_INSERT, alice, null, "interactive", false));
    assertEquals("interactive", sessionColumn(interactive, "delivery"));
    assertEquals(false, sessionColumn(interactive, "interactive_fallback"));

    SupabaseRequest.authenticated(bob).run(db, c -> {
      try (PreparedStatement s = TestData.prepare(c, "UPDATE public.batch_upload_sessions"
          + " SET delivery = 'interactive', interactive_fallback = false WHERE id = ?", batch)) {
        return s.executeUpdate();
      }
    });
    assertEquals("interactive", sessionColumn(batch, "delivery"));
    assertEquals(false, sessionColumn(batch, "interactive_fallback"));
  }

  @Test
  void aDeliveryOtherThanInteractiveOrBatchIsRefusedByItsConstraint() {
    SQLException refused = assertThrows(SQLException.class, () -> SupabaseRequest.authenticated(alice)
        .run(db, c -> uuid(c, KIT_INSERT, alice, null, "overnight", false)));
    assertEquals("23514", refused.getSQLState(), refused.getMessage());
    assertTrue(refused.getMessage().contains("batch_upload_sessions_delivery_check"), refused.getMessage());
  }

  @Test
  void membersReadTheirSessionsBatchJobsWithFilesAtGoogleAndTheTwentyFourHourTarget() throws SQLException {
    data.update("UPDATE public.batch_upload_sessions SET delivery = 'batch' WHERE id = ?", teamSession);
    UUID atGoogle = data.file(teamSession, "pending");
    UUID done = data.file(teamSession, "pending");
    UUID job = batchJob("running", "batches/kit-" + UUID.randomUUID(), atGoogle, done);
    endJob(done, "completed");
    data.update("UPDATE public.batch_upload_files SET status = 'completed' WHERE id = ?", done);
    UUID sentBack = data.file(teamSession, "pending");
    UUID older = batchJob("expired", null, sentBack);
    data.update("UPDATE batchpilot_private.batch_jobs SET created_at = now() - interval '25 hours',"
        + " ended_at = now() - interval '1 hour', error_message = 'expired at Google' WHERE id = ?", older);
    // An expired job's files go back to pending (a new job, or interactive): none of them is at Google.
    endJob(sentBack, "available");
    data.update("UPDATE public.batch_upload_files SET status = 'pending' WHERE id = ?", sentBack);

    List<Map<String, Object>> jobs = batchJobs(SupabaseRequest.authenticated(bob), teamSession);
    assertEquals(2, jobs.size(), jobs.toString());
    Map<String, Object> newest = jobs.get(0);
    assertEquals(job, newest.get("job_id"), "newest first");
    assertEquals("running", newest.get("state"));
    assertEquals(model, newest.get("model"));
    assertEquals(2, newest.get("files"));
    assertEquals(1, newest.get("files_at_google"), "the completed file is no longer at Google");
    OffsetDateTime created = (OffsetDateTime) newest.get("created_at");
    assertEquals(created.plusHours(24).toInstant(), ((OffsetDateTime) newest.get("due_by")).toInstant());
    assertNull(newest.get("ended_at"));
    Map<String, Object> expired = jobs.get(1);
    assertEquals("expired", expired.get("state"));
    assertNull(expired.get("name"), "never reached Google");
    assertEquals(0, expired.get("files_at_google"));
    assertEquals("expired at Google", expired.get("error_message"));
    assertEquals(11, newest.size(), newest.keySet().toString());
  }

  @Test
  void aStrangerReadsNoBatchJobsOfAnotherTenantsSessionAndAnonCannotCall() throws SQLException {
    UUID job = batchJob("pending", "batches/kit-" + UUID.randomUUID(), data.file(teamSession, "pending"));
    assertEquals(1, batchJobs(SupabaseRequest.authenticated(alice), teamSession).size(), "the owner sees " + job);
    assertEquals(List.of(), batchJobs(SupabaseRequest.authenticated(stranger), teamSession));
    UUID personal = data.session(alice, null);
    batchJob("pending", null, data.file(personal, "pending"));
    assertEquals(List.of(), batchJobs(SupabaseRequest.authenticated(bob), personal), "a teammate's personal session");
    SQLException anon = assertThrows(SQLException.class, () -> batchJobs(SupabaseRequest.anon(), teamSession));
    assertEquals("42501", anon.getSQLState(), anon.getMessage());
  }

  /** The hold on a file's extraction job ends: it goes to {@code state}. */
  private void endJob(UUID file, String state) throws SQLException {
    data.update("UPDATE batchpilot_private.jobs SET state = ?::batchpilot_private.job_state, claimed_by = NULL,"
        + " lease_expires_at = NULL WHERE file_id = ? AND kind = 'extraction'", state, file);
  }

  /** A batch job (as a worker writes it) holding these files, each claimed by it. */
  private UUID batchJob(String state, String name, UUID... files) throws SQLException {
    UUID job;
    try (Connection c = db.getConnection()) {
      job = uuid(c, "INSERT INTO batchpilot_private.batch_jobs (provider, model, name, state, requests,"
          + " submitted_at) VALUES ('gemini', ?, ?, ?::batchpilot_private.batch_job_state, ?,"
          + " CASE WHEN ?::text IS NULL THEN NULL ELSE now() END) RETURNING id", model, name, state, files.length, name);
    }
    for (UUID file : files) {
      data.update("UPDATE public.batch_upload_files SET status = 'processing' WHERE id = ?", file);
      data.update("UPDATE batchpilot_private.jobs SET state = 'running', claimed_by = 'batch:' || ?::text,"
          + " lease_expires_at = now() + interval '1 day', attempts = attempts + 1"
          + " WHERE file_id = ? AND kind = 'extraction'", job, file);
      data.update("INSERT INTO batchpilot_private.batch_job_files (job_id, file_id, attempts)"
          + " SELECT ?, file_id, attempts FROM batchpilot_private.jobs WHERE file_id = ? AND kind = 'extraction'", job, file);
    }
    return job;
  }

  private List<Map<String, Object>> batchJobs(SupabaseRequest request, UUID session) throws SQLException {
    return request.run(db, c -> {
      try (PreparedStatement s = TestData.prepare(c, JOBS, session); ResultSet rs = s.executeQuery()) {
        List<Map<String, Object>> rows = new ArrayList<>();
        while (rs.next()) {
          Map<String, Object> row = new LinkedHashMap<>();
          for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++) {
            String name = rs.getMetaData().getColumnName(i);
            row.put(name, name.endsWith("_at") || name.equals("due_by") ? rs.getObject(i, OffsetDateTime.class) : rs.getObject(i));
          }
          rows.add(row);
        }
        return rows;
      }
    });
  }

  private Object sessionColumn(UUID session, String column) throws SQLException {
    return ownerValue("SELECT " + column + " FROM public.batch_upload_sessions WHERE id = ?", session);
  }

  private Map<String, Object> quotaStatus(SupabaseRequest request, UUID session) throws SQLException {
    return request.run(db, c -> {
      try (PreparedStatement s = TestData.prepare(c, STATUS, session); ResultSet rs = s.executeQuery()) {
        assertTrue(rs.next(), "one row");
        Map<String, Object> row = new LinkedHashMap<>();
        for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++) {
          String name = rs.getMetaData().getColumnName(i);
          row.put(name, name.endsWith("_until") ? rs.getObject(i, OffsetDateTime.class) : rs.getObject(i));
        }
        assertFalse(rs.next(), "one row only");
        return row;
      }
    });
  }

  private int counter(String column) throws SQLException {
    return ((Number) ownerValue("SELECT " + column + " FROM public.batch_upload_sessions WHERE id = ?", teamSession)).intValue();
  }

  private Object fileColumn(UUID file, String column) throws SQLException {
    return ownerValue("SELECT " + column + " FROM public.batch_upload_files WHERE id = ?", file);
  }

  private Object ownerValue(String sql, Object parameter) throws SQLException {
    try (Connection c = db.getConnection()) {
      return query(c, sql, parameter);
    }
  }

  private static Object query(Connection c, String sql, Object... parameters) throws SQLException {
    try (PreparedStatement s = TestData.prepare(c, sql, parameters); ResultSet rs = s.executeQuery()) {
      rs.next();
      return rs.getObject(1);
    }
  }

  private static UUID uuid(Connection c, String sql, Object... parameters) throws SQLException {
    try (PreparedStatement s = TestData.prepare(c, sql, parameters); ResultSet rs = s.executeQuery()) {
      rs.next();
      return rs.getObject(1, UUID.class);
    }
  }
}
