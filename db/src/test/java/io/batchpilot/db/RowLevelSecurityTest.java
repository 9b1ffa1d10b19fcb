package io.batchpilot.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import javax.sql.DataSource;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Row-level security and column grants, exercised as Supabase's Data API runs a request. */
@ExtendWith(PostgresExtension.class)
class RowLevelSecurityTest {

  private static final String INSUFFICIENT_PRIVILEGE = "42501";

  private final DataSource db;
  private final TestData data;

  private UUID memberOfA;
  private UUID memberOfB;
  private UUID teamA;
  private UUID teamB;
  private UUID sessionOfA;
  private UUID sessionOfB;
  private UUID personalSession;
  private UUID fileOfA;
  private UUID fileOfB;
  private UUID personalFile;

  RowLevelSecurityTest(TestDatabase database) {
    this.db = database.dataSource();
    this.data = new TestData(db);
  }

  @BeforeEach
  void twoTeamsWithASessionEachAndAPersonalSession() throws SQLException {
    memberOfA = data.user();
    memberOfB = data.user();
    teamA = data.team(memberOfA);
    teamB = data.team(memberOfB);
    sessionOfA = data.session(memberOfA, teamA);
    sessionOfB = data.session(memberOfB, teamB);
    personalSession = data.session(memberOfA, null);
    fileOfA = data.file(sessionOfA, "pending");
    fileOfB = data.file(sessionOfB, "pending");
    personalFile = data.file(personalSession, "pending");
  }

  @Test
  void teamMemberReadsAndWritesTheirTeamsRowsAndSeesNoneOfAnotherTeams() throws SQLException {
    SupabaseRequest asMemberOfA = SupabaseRequest.authenticated(memberOfA);

    List<UUID> sessions = ids(asMemberOfA, "SELECT id FROM public.batch_upload_sessions");
    assertTrue(sessions.contains(sessionOfA), "a member must see their team's session");
    assertFalse(sessions.contains(sessionOfB), "a member must not see another team's session");
    List<UUID> files = ids(asMemberOfA, "SELECT id FROM public.batch_upload_files");
    assertTrue(files.contains(fileOfA));
    assertFalse(files.contains(fileOfB));
    assertEquals(0L, count(asMemberOfA, "SELECT count(*) FROM public.batch_upload_sessions WHERE team_id = ?", teamB));

    assertEquals(1L, update(asMemberOfA, "UPDATE public.batch_upload_sessions SET session_name = 'renamed' WHERE id = ?", sessionOfA));
    assertEquals(0L, update(asMemberOfA, "UPDATE public.batch_upload_sessions SET session_name = 'renamed' WHERE id = ?", sessionOfB));
    assertEquals(1L, update(asMemberOfA, "UPDATE public.batch_upload_files SET original_filename = 'renamed.jpg' WHERE id = ?", fileOfA));
    assertEquals(0L, update(asMemberOfA, "UPDATE public.batch_upload_files SET original_filename = 'renamed.jpg' WHERE id = ?", fileOfB));
    assertEquals(0L, update(asMemberOfA, "DELETE FROM public.batch_upload_files WHERE id = ?", fileOfB));
    assertEquals(0L, update(asMemberOfA, "DELETE FROM public.batch_upload_sessions WHERE id = ?", sessionOfB));
    assertEquals(1L, update(asMemberOfA, "DELETE FROM public.batch_upload_files WHERE id = ?", fileOfA));
  }

  @Test
  void personalSessionIsVisibleToItsOwnerOnly() throws SQLException {
    List<UUID> ownerSees = ids(SupabaseRequest.authenticated(memberOfA), "SELECT id FROM public.batch_upload_sessions");
    assertTrue(ownerSees.contains(personalSession), "the owner must see their personal session");

    // Even a teammate of the owner does not see it: team_id is NULL, so it belongs to no team.
    UUID teammate = data.user();
    data.update("INSERT INTO public.team_members (team_id, user_id) VALUES (?, ?)", teamA, teammate);
    for (UUID other : List.of(memberOfB, teammate)) {
      SupabaseRequest asOther = SupabaseRequest.authenticated(other);
      assertFalse(ids(asOther, "SELECT id FROM public.batch_upload_sessions").contains(personalSession));
      assertFalse(ids(asOther, "SELECT id FROM public.batch_upload_files").contains(personalFile));
      assertEquals(0L, update(asOther, "UPDATE public.batch_upload_sessions SET session_name = 'mine now' WHERE id = ?", personalSession));
    }
    assertTrue(ids(SupabaseRequest.authenticated(teammate), "SELECT id FROM public.batch_upload_sessions").contains(sessionOfA));
  }

  @Test
  void anonSeesNothingAndCannotInsert() {
    SupabaseRequest anon = SupabaseRequest.anon();
    for (String table : List.of("batch_upload_sessions", "batch_upload_files", "api_quota_tracking")) {
      SQLException refused = assertThrows(SQLException.class,
          () -> count(anon, "SELECT count(*) FROM public." + table), table);
      assertEquals(INSUFFICIENT_PRIVILEGE, refused.getSQLState(), table + ": " + refused.getMessage());
    }
    SQLException insert = assertThrows(SQLException.class, () -> update(anon, "INSERT INTO public.batch_upload_sessions (user_id, team_id, total_files) VALUES (?, ?, 1)", memberOfA, teamA));
    assertEquals(INSUFFICIENT_PRIVILEGE, insert.getSQLState(), insert.getMessage());
  }

  @Test
  void quotaLedgerIsReadableByAdminsOnly() throws SQLException {
    data.update("INSERT INTO public.api_quota_tracking (api_provider, model, quota_type, time_window, quota_limit)"
        + " VALUES ('gemini', 'gemini-2.5-flash', 'requests', date_trunc('minute', now()) - floor(random() * 1000000) * interval '1 minute', 10)"
        + " ON CONFLICT DO NOTHING");
    String quotaRows = "SELECT count(*) FROM public.api_quota_tracking";

    assertEquals(0L, count(SupabaseRequest.authenticated(memberOfA), quotaRows), "a plain user");

    UUID adminByJwt = data.user();
    assertTrue(count(SupabaseRequest.authenticated(adminByJwt, "{\"role\":\"admin\"}", "{}"), quotaRows) > 0,
        "app_metadata.role = admin in the JWT makes an admin");

    UUID adminInAuthUsers = data.user("{\"provider\":\"email\",\"role\":\"admin\"}", "{}");
    assertTrue(count(SupabaseRequest.authenticated(adminInAuthUsers), quotaRows) > 0,
        "raw_app_meta_data.role = admin in auth.users makes an admin");

    // Any user can set their own user_metadata with updateUser(): it must never make an admin.
    UUID selfProclaimed = data.user("{}", "{\"role\":\"admin\"}");
    assertEquals(0L, count(SupabaseRequest.authenticated(selfProclaimed, "{}", "{\"role\":\"admin\"}"), quotaRows),
        "user_metadata.role = admin is not an admin");

    SQLException write = assertThrows(SQLException.class, () -> update(
        SupabaseRequest.authenticated(adminByJwt, "{\"role\":\"admin\"}", "{}"),
        "UPDATE public.api_quota_tracking SET quota_used = 0"));
    assertEquals(INSUFFICIENT_PRIVILEGE, write.getSQLState(), "only the workers write the ledger");
  }

  @Test
  void insertingIntoATeamOneIsNotAMemberOfIsRefused() throws SQLException {
    SupabaseRequest asMemberOfA = SupabaseRequest.authenticated(memberOfA);

    SQLException session = assertThrows(SQLException.class, () -> update(asMemberOfA, "INSERT INTO public.batch_upload_sessions (user_id, team_id, total_files) VALUES (?, ?, 1)", memberOfA, teamB));
    assertEquals(INSUFFICIENT_PRIVILEGE, session.getSQLState());
    assertTrue(session.getMessage().contains("row-level security"), session.getMessage());

    SQLException file = assertThrows(SQLException.class, () -> update(asMemberOfA, "INSERT INTO public.batch_upload_files (batch_session_id, original_filename) VALUES (?, 'x.jpg')", sessionOfB));
    assertEquals(INSUFFICIENT_PRIVILEGE, file.getSQLState());

    SQLException onBehalf = assertThrows(SQLException.class, () -> update(asMemberOfA, "INSERT INTO public.batch_upload_sessions (user_id, team_id, total_files) VALUES (?, ?, 1)", memberOfB, teamA));
    assertEquals(INSUFFICIENT_PRIVILEGE, onBehalf.getSQLState(), "a session belongs to the user who creates it");
  }

  @Test
  void movingASessionOrAFileElsewhereIsRefused() throws SQLException {
    UUID teamC = data.team(memberOfA);
    SupabaseRequest asMemberOfA = SupabaseRequest.authenticated(memberOfA);
    for (UUID target : List.of(teamB, teamC)) {
      SQLException refused = assertThrows(SQLException.class, () -> update(asMemberOfA, "UPDATE public.batch_upload_sessions SET team_id = ? WHERE id = ?", target, sessionOfA));
      assertEquals(INSUFFICIENT_PRIVILEGE, refused.getSQLState(), refused.getMessage());
    }
    SQLException file = assertThrows(SQLException.class, () -> update(asMemberOfA, "UPDATE public.batch_upload_files SET batch_session_id = ? WHERE id = ?", personalSession, fileOfA));
    assertEquals(INSUFFICIENT_PRIVILEGE, file.getSQLState());
    assertEquals(1L, count(db, "SELECT count(*) FROM public.batch_upload_sessions WHERE id = ? AND team_id = ?",
        sessionOfA, teamA));
  }

  @Test
  void frontendInsertShapedLikeTheSeedsHookSucceedsAndReturnsTheRow() throws SQLException {
    SupabaseRequest asMemberOfA = SupabaseRequest.authenticated(memberOfA);
    // currentTeam?.id: a team session, or (no current team) a personal one.
    for (UUID team : Arrays.asList(teamA, null)) {
      // What supabase-js sends for createBatchSession(files), then one row per file.
      UUID session = asMemberOfA.run(db, c -> {
        try (PreparedStatement insert = TestData.prepare(c,
            "INSERT INTO public.batch_upload_sessions (user_id, team_id, total_files, processing_strategy, rate_limit_config)"
                + " VALUES (?, ?, 2, 'balanced', '{\"requestsPerMinute\": 10}'::jsonb) RETURNING *", memberOfA, team);
             ResultSet row = insert.executeQuery()) {
          assertTrue(row.next(), "the insert returns the row (supabase-js .select().single())");
          assertEquals(memberOfA, row.getObject("user_id", UUID.class));
          assertEquals(team, row.getObject("team_id", UUID.class));
          assertEquals("pending", row.getString("status"));
          assertEquals("gemini-2.5-flash", row.getString("model"));
          return row.getObject("id", UUID.class);
        }
      });
      List<UUID> files = ids(asMemberOfA, "INSERT INTO public.batch_upload_files"
              + " (batch_session_id, original_filename, file_size_bytes, file_type, upload_order)"
              + " VALUES (?, 'a.jpg', 1000, 'image/jpeg', 0), (?, 'b.pdf', 2000, 'application/pdf', 1) RETURNING id",
          session, session);
      assertEquals(2L, files.size());
      assertEquals(2L, count(db, "SELECT files_pending FROM public.batch_upload_sessions WHERE id = ?", session),
          "the frontend's insert keeps the counters true though it may not write them");
    }
  }

  @Test
  void authenticatedCannotWriteCountersResultsOrCompleteAFile() throws SQLException {
    SupabaseRequest asMemberOfA = SupabaseRequest.authenticated(memberOfA);
    for (String workerOnly : List.of(
        "UPDATE public.batch_upload_sessions SET files_completed = 5 WHERE id = '" + sessionOfA + "'",
        "UPDATE public.batch_upload_sessions SET total_tokens_used = 0 WHERE id = '" + sessionOfA + "'",
        "UPDATE public.batch_upload_files SET result = '{}'::jsonb WHERE id = '" + fileOfA + "'",
        "UPDATE public.batch_upload_files SET input_tokens = 1 WHERE id = '" + fileOfA + "'",
        "UPDATE public.batch_upload_files SET thinking_tokens = 0 WHERE id = '" + fileOfA + "'",
        "UPDATE public.batch_upload_sessions SET total_thinking_tokens = 0 WHERE id = '" + sessionOfA + "'",
        "UPDATE public.batch_upload_files SET api_calls_made = 0 WHERE id = '" + fileOfA + "'",
        "UPDATE public.batch_upload_files SET processing_started_at = now() WHERE id = '" + fileOfA + "'",
        "SELECT * FROM batchpilot_private.jobs",
        "UPDATE batchpilot_private.jobs SET claimed_by = 'me', lease_expires_at = now()",
        "INSERT INTO public.batch_upload_files (batch_session_id, original_filename, result)"
            + " VALUES ('" + sessionOfA + "', 'x.jpg', '{}'::jsonb)")) {
      SQLException refused = assertThrows(SQLException.class, () -> update(asMemberOfA, workerOnly), workerOnly);
      assertEquals(INSUFFICIENT_PRIVILEGE, refused.getSQLState(), workerOnly + ": " + refused.getMessage());
    }

    SQLException complete = assertThrows(SQLException.class, () -> update(asMemberOfA, "UPDATE public.batch_upload_files SET status = 'completed' WHERE id = ?", fileOfA));
    assertEquals(INSUFFICIENT_PRIVILEGE, complete.getSQLState(), complete.getMessage());
    SQLException insertCompleted = assertThrows(SQLException.class, () -> update(asMemberOfA, "INSERT INTO public.batch_upload_files (batch_session_id, original_filename, status) VALUES (?, 'x.jpg', 'completed')",
        sessionOfA));
    assertEquals(INSUFFICIENT_PRIVILEGE, insertCompleted.getSQLState());

    // A file a worker holds or has finished is not the frontend's to change.
    UUID held = data.file(sessionOfA, "processing");
    UUID done = data.file(sessionOfA, "completed");
    assertEquals(0L, update(asMemberOfA, "UPDATE public.batch_upload_files SET status = 'pending' WHERE id IN (?, ?)", held, done));
    // What a frontend may do: skip a pending file, and retry a failed one.
    UUID failed = data.file(sessionOfA, "failed");
    assertEquals(1L, update(asMemberOfA, "UPDATE public.batch_upload_files SET status = 'skipped' WHERE id = ?", fileOfA));
    assertEquals(1L, update(asMemberOfA, "UPDATE public.batch_upload_files SET status = 'pending' WHERE id = ?", failed));
  }

  private List<UUID> ids(SupabaseRequest request, String sql, Object... parameters) throws SQLException {
    return request.run(db, c -> ids(c, sql, parameters));
  }

  private long count(SupabaseRequest request, String sql, Object... parameters) throws SQLException {
    return request.run(db, c -> count(c, sql, parameters));
  }

  private long update(SupabaseRequest request, String sql, Object... parameters) throws SQLException {
    return request.run(db, c -> update(c, sql, parameters));
  }

  private static List<UUID> ids(Connection c, String sql, Object... parameters) throws SQLException {
    try (PreparedStatement statement = TestData.prepare(c, sql, parameters); ResultSet rs = statement.executeQuery()) {
      List<UUID> ids = new ArrayList<>();
      while (rs.next()) {
        ids.add(rs.getObject(1, UUID.class));
      }
      return ids;
    }
  }

  private static long count(Connection c, String sql, Object... parameters) throws SQLException {
    try (PreparedStatement statement = TestData.prepare(c, sql, parameters); ResultSet rs = statement.executeQuery()) {
      rs.next();
      return rs.getLong(1);
    }
  }

  private static long count(DataSource db, String sql, Object... parameters) throws SQLException {
    try (Connection c = db.getConnection()) {
      return count(c, sql, parameters);
    }
  }

  private static long update(Connection c, String sql, Object... parameters) throws SQLException {
    try (PreparedStatement statement = TestData.prepare(c, sql, parameters)) {
      return statement.executeUpdate();
    }
  }
}
