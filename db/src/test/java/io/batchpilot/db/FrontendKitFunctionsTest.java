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
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import javax.sql.DataSource;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The functions the frontend kit (db/supabase/kit) calls as a signed-in user, through RLS as
 * Supabase's Data API runs them: a session's quota status (aggregates only, members only) and
 * recording a failed upload.
 */
@ExtendWith(PostgresExtension.class)
class FrontendKitFunctionsTest {

  private static final String STATUS = "SELECT * FROM public.batchpilot_session_quota_status(?)";
  private static final String SKIP = "SELECT public.batchpilot_skip_failed_upload(?, ?)";

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
