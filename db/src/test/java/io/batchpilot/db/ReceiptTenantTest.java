package io.batchpilot.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.SupabaseRequest;
import io.batchpilot.db.testing.TestData;
import io.batchpilot.db.testing.TestDatabase;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.UUID;
import javax.sql.DataSource;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A file's receipt_id is where the worker writes the extraction: it must name a receipt of the
 * session's tenant (its team, or its owner for a personal session), or a user could have another
 * tenant's receipt overwritten with the extraction of their own image. Also the size of every text
 * a frontend writes.
 */
@ExtendWith(PostgresExtension.class)
class ReceiptTenantTest {

  private static final String INSUFFICIENT_PRIVILEGE = "42501";
  private static final String CHECK_VIOLATION = "23514";

  private final DataSource db;
  private final TestData data;
  private UUID alice;
  private UUID team;
  private UUID alicesReceipt;
  private UUID bobsReceipt;
  private UUID teamReceipt;
  private UUID otherTeamsReceipt;
  private SupabaseRequest asAlice;

  ReceiptTenantTest(TestDatabase database) {
    this.db = database.dataSource();
    this.data = new TestData(db);
  }

  @BeforeEach
  void twoUsersTwoTeamsFourReceipts() throws SQLException {
    alice = data.user();
    UUID bob = data.user();
    team = data.team(alice);
    UUID otherTeam = data.team(bob);
    alicesReceipt = receipt(alice, null);
    bobsReceipt = receipt(bob, null);
    teamReceipt = receipt(bob, team);
    otherTeamsReceipt = receipt(bob, otherTeam);
    asAlice = SupabaseRequest.authenticated(alice);
  }

  @Test
  void aPersonalSessionsFileMayNameOnlyItsOwnersReceipts() throws SQLException {
    UUID session = sessionAsAlice(null);
    insertFile(session, alicesReceipt);

    SQLException refused = assertThrows(SQLException.class, () -> insertFile(session, bobsReceipt));
    assertEquals(INSUFFICIENT_PRIVILEGE, refused.getSQLState());
    assertTrue(refused.getMessage().contains("receipt_id " + bobsReceipt + " is not a receipt of this session's owner"),
        refused.getMessage());
    assertEquals(INSUFFICIENT_PRIVILEGE, assertThrows(SQLException.class, () -> insertFile(session, teamReceipt)).getSQLState(),
        "a team's receipt is not the owner's personal one");
  }

  @Test
  void aTeamSessionsFileMayNameOnlyThatTeamsReceipts() throws SQLException {
    UUID session = sessionAsAlice(team);
    insertFile(session, teamReceipt);

    SQLException refused = assertThrows(SQLException.class, () -> insertFile(session, otherTeamsReceipt));
    assertTrue(refused.getMessage().contains("is not a receipt of this session's team"), refused.getMessage());
    assertEquals(INSUFFICIENT_PRIVILEGE, assertThrows(SQLException.class, () -> insertFile(session, alicesReceipt)).getSQLState(),
        "a member's personal receipt is not the team's");
  }

  @Test
  void anUpdateCannotPointAFileAtAnotherTenantsReceipt() throws SQLException {
    UUID session = sessionAsAlice(null);
    UUID file = insertFile(session, null);

    SQLException refused = assertThrows(SQLException.class, () -> asAlice.run(db, c -> {
      try (PreparedStatement p = c.prepareStatement("UPDATE public.batch_upload_files SET receipt_id = ? WHERE id = ?")) {
        p.setObject(1, bobsReceipt);
        p.setObject(2, file);
        return p.executeUpdate();
      }
    }));
    assertEquals(INSUFFICIENT_PRIVILEGE, refused.getSQLState());
    // The service role is held to the same rule: the worker writes where the row points.
    assertEquals(INSUFFICIENT_PRIVILEGE, assertThrows(SQLException.class,
        () -> data.update("UPDATE public.batch_upload_files SET receipt_id = ? WHERE id = ?", bobsReceipt, file)).getSQLState());
  }

  @Test
  void everyTextAFrontendWritesHasALimitNamedInTheError() throws SQLException {
    assertLimit("batch_upload_sessions_session_name_length", () -> asAlice.run(db, c -> {
      try (PreparedStatement p = c.prepareStatement("INSERT INTO public.batch_upload_sessions (total_files, session_name) VALUES (1, ?)")) {
        p.setString(1, "x".repeat(201));
        return p.executeUpdate();
      }
    }));
    assertLimit("batch_upload_sessions_rate_limit_config_size", () -> asAlice.run(db, c -> {
      try (PreparedStatement p = c.prepareStatement(
          "INSERT INTO public.batch_upload_sessions (total_files, rate_limit_config) VALUES (1, jsonb_build_object('k', ?::text))")) {
        p.setString(1, "x".repeat(5000));
        return p.executeUpdate();
      }
    }));
    UUID session = sessionAsAlice(null);
    assertLimit("batch_upload_files_original_filename_check", () -> fileWith(session, "original_filename", "x".repeat(1025)));
    assertLimit("batch_upload_files_file_type_length", () -> fileWith(session, "file_type", "x".repeat(256)));
    assertLimit("batch_upload_files_source_url_length", () -> fileWith(session, "source_url", "https://" + "x".repeat(2048)));
    assertLimit("batch_upload_files_storage_path_length", () -> asAlice.run(db, c -> {
      try (PreparedStatement p = c.prepareStatement("INSERT INTO public.batch_upload_files"
          + " (batch_session_id, original_filename, storage_bucket, storage_path) VALUES (?, 'a.jpg', 'receipts', ?)")) {
        p.setObject(1, session);
        p.setString(2, alice + "/" + "x".repeat(1024));
        return p.executeUpdate();
      }
    }));
    // At the limit, accepted.
    fileWith(session, "file_type", "x".repeat(255));
  }

  private interface Write {
    void run() throws SQLException;
  }

  private static void assertLimit(String constraint, Write write) {
    SQLException refused = assertThrows(SQLException.class, write::run);
    assertEquals(CHECK_VIOLATION, refused.getSQLState(), refused.getMessage());
    assertTrue(refused.getMessage().contains(constraint), refused.getMessage());
  }

  private int fileWith(UUID session, String column, String value) throws SQLException {
    return asAlice.run(db, c -> {
      String columns = column.equals("original_filename") ? column : "original_filename, " + column;
      String values = column.equals("original_filename") ? "?" : "'a.jpg', ?";
      try (PreparedStatement p = c.prepareStatement("INSERT INTO public.batch_upload_files"
          + " (batch_session_id, " + columns + ") VALUES (?, " + values + ")")) {
        p.setObject(1, session);
        p.setString(2, value);
        return p.executeUpdate();
      }
    });
  }

  private UUID sessionAsAlice(UUID teamId) throws SQLException {
    return asAlice.run(db, c -> {
      try (PreparedStatement p = c.prepareStatement(
          "INSERT INTO public.batch_upload_sessions (total_files, team_id, session_name) VALUES (3, ?, 'mine') RETURNING id")) {
        p.setObject(1, teamId);
        try (ResultSet rs = p.executeQuery()) {
          rs.next();
          return rs.getObject(1, UUID.class);
        }
      }
    });
  }

  private UUID insertFile(UUID session, UUID receipt) throws SQLException {
    return asAlice.run(db, c -> {
      try (PreparedStatement p = c.prepareStatement("INSERT INTO public.batch_upload_files"
          + " (batch_session_id, original_filename, receipt_id, status) VALUES (?, 'r.jpg', ?, 'uploading') RETURNING id")) {
        p.setObject(1, session);
        p.setObject(2, receipt);
        try (ResultSet rs = p.executeQuery()) {
          rs.next();
          return rs.getObject(1, UUID.class);
        }
      }
    });
  }

  private UUID receipt(UUID user, UUID teamId) throws SQLException {
    try (var c = db.getConnection();
         PreparedStatement p = c.prepareStatement("INSERT INTO public.receipts (user_id, team_id) VALUES (?, ?) RETURNING id")) {
      p.setObject(1, user);
      p.setObject(2, teamId);
      try (ResultSet rs = p.executeQuery()) {
        rs.next();
        return rs.getObject(1, UUID.class);
      }
    }
  }
}
