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
import java.sql.SQLException;
import java.util.List;
import java.util.UUID;
import javax.sql.DataSource;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A signed-in user's file rows may name only Storage objects under their own folder
 * ({@code <auth.uid()>/...}): the workers read with the service-role key, which Storage's own
 * policies do not stop, so a row naming another user's object would leak its contents.
 */
@ExtendWith(PostgresExtension.class)
class StoragePathTest {

  private static final String INSUFFICIENT_PRIVILEGE = "42501";
  private static final String INSERT = "INSERT INTO public.batch_upload_files"
      + " (batch_session_id, original_filename, status, storage_bucket, storage_path) VALUES (?, 'a.jpg', 'uploading', 'receipts', ?)";

  private final DataSource db;
  private final TestData data;
  private UUID alice;
  private UUID bob;
  private UUID teamSession;
  private SupabaseRequest asAlice;

  StoragePathTest(TestDatabase database) {
    this.db = database.dataSource();
    this.data = new TestData(db);
  }

  @BeforeEach
  void twoMembersOfOneTeam() throws SQLException {
    alice = data.user();
    bob = data.user();
    teamSession = data.session(alice, data.team(alice, bob));
    asAlice = SupabaseRequest.authenticated(alice);
  }

  @Test
  void signedInUserRegistersAndMovesObjectsInTheirOwnFolder() throws SQLException {
    assertEquals(1, write(asAlice, INSERT, teamSession, alice + "/" + teamSession + "/0-a.jpg"));
    assertEquals(1, write(asAlice, "UPDATE public.batch_upload_files SET storage_path = ?, status = 'pending'"
        + " WHERE batch_session_id = ?", alice + "/elsewhere/a.jpg", teamSession));
  }

  @Test
  void anotherUsersObjectIsRefusedEvenATeammates() throws SQLException {
    UUID stranger = data.user();
    for (String path : List.of(bob + "/" + teamSession + "/0-a.jpg", stranger + "/x.jpg", "x.jpg", alice.toString(),
        alice + "-copy/x.jpg", "/" + alice + "/x.jpg")) {
      SQLException refused = assertThrows(SQLException.class, () -> write(asAlice, INSERT, teamSession, path), path);
      assertEquals(INSUFFICIENT_PRIVILEGE, refused.getSQLState(), path);
      assertTrue(refused.getMessage().contains("storage_path '" + path + "' is refused")
          && refused.getMessage().contains("their own folder, " + alice + "/<file>"), refused.getMessage());
    }
  }

  @Test
  void dotSegmentsAndEmptySegmentsCannotClimbOutOfTheFolder() {
    for (String path : List.of(alice + "/../" + bob + "/x.jpg", alice + "/./x.jpg", alice + "//x.jpg", alice + "/")) {
      SQLException refused = assertThrows(SQLException.class, () -> write(asAlice, INSERT, teamSession, path), path);
      assertEquals(INSUFFICIENT_PRIVILEGE, refused.getSQLState(), path);
    }
  }

  @Test
  void anUpdateMayNotPointAFileAtAnotherUsersObject() throws SQLException {
    write(asAlice, INSERT, teamSession, alice + "/a.jpg");
    UUID file = fileOf(teamSession);
    SQLException refused = assertThrows(SQLException.class, () -> write(asAlice, "UPDATE public.batch_upload_files SET storage_path = ? WHERE id = ?", bob + "/a.jpg", file));
    assertEquals(INSUFFICIENT_PRIVILEGE, refused.getSQLState(), refused.getMessage());
  }

  @Test
  void aTeammateMayStillSteerAFileWhosePathIsUnchanged() throws SQLException {
    SupabaseRequest asBob = SupabaseRequest.authenticated(bob);
    write(asAlice, INSERT, teamSession, alice + "/a.jpg");
    assertEquals(1, write(asBob, "UPDATE public.batch_upload_files SET status = 'skipped', original_filename = 'b.jpg' WHERE batch_session_id = ?", teamSession));
  }

  @Test
  void serviceKeyAndWorkersNameAnyObject() throws SQLException {
    assertEquals(1, write(SupabaseRequest.serviceRole(), INSERT, teamSession, bob + "/a.jpg"));
    assertEquals(1, data.update(INSERT, teamSession, "imports/2026/a.jpg"));
  }

  private UUID fileOf(UUID session) throws SQLException {
    try (Connection c = db.getConnection();
         PreparedStatement s = TestData.prepare(c, "SELECT id FROM public.batch_upload_files WHERE batch_session_id = ?", session);
         var rs = s.executeQuery()) {
      rs.next();
      return rs.getObject(1, UUID.class);
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
