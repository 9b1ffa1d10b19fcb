package io.batchpilot.db.testing;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.UUID;
import javax.sql.DataSource;

/**
 * Rows a test needs, written as the database owner (as the service key or a worker would), each
 * with fresh ids so tests sharing a class's database never see each other's rows by accident.
 */
public final class TestData {

  private final DataSource dataSource;

  public TestData(DataSource dataSource) {
    this.dataSource = dataSource;
  }

  /** A user in auth.users with these raw metadata objects (JSON text). */
  public UUID user(String rawAppMetaData, String rawUserMetaData) throws SQLException {
    return insertReturningId("INSERT INTO auth.users (email, raw_app_meta_data, raw_user_meta_data)"
        + " VALUES (gen_random_uuid() || '@example.com', ?::jsonb, ?::jsonb) RETURNING id",
        rawAppMetaData, rawUserMetaData);
  }

  public UUID user() throws SQLException {
    return user("{}", "{}");
  }

  /** A team whose members are {@code members}. */
  public UUID team(UUID... members) throws SQLException {
    UUID team = insertReturningId("INSERT INTO public.teams (name) VALUES ('team ' || gen_random_uuid()) RETURNING id");
    for (UUID member : members) {
      update("INSERT INTO public.team_members (team_id, user_id) VALUES (?, ?)", team, member);
    }
    return team;
  }

  /** A session owned by {@code user}, in {@code team} (null: a personal session). */
  public UUID session(UUID user, UUID team) throws SQLException {
    return insertReturningId("INSERT INTO public.batch_upload_sessions (user_id, team_id, total_files)"
        + " VALUES (?, ?, 0) RETURNING id", user, team);
  }

  /** A file of {@code session} in {@code status}. */
  public UUID file(UUID session, String status) throws SQLException {
    return insertReturningId("INSERT INTO public.batch_upload_files (batch_session_id, original_filename, status)"
        + " VALUES (?, 'receipt-' || gen_random_uuid() || '.jpg', ?) RETURNING id", session, status);
  }

  /** Runs one statement (a write, or a SELECT for its effect) with these parameters; returns the rows it changed. */
  public int update(String sql, Object... parameters) throws SQLException {
    try (Connection connection = dataSource.getConnection();
         PreparedStatement statement = prepare(connection, sql, parameters)) {
      statement.execute();
      return Math.max(statement.getUpdateCount(), 0);
    }
  }

  private UUID insertReturningId(String sql, Object... parameters) throws SQLException {
    try (Connection connection = dataSource.getConnection();
         PreparedStatement statement = prepare(connection, sql, parameters);
         ResultSet rs = statement.executeQuery()) {
      rs.next();
      return rs.getObject(1, UUID.class);
    }
  }

  /** Binds {@code parameters} in order; works on any connection (a request's, a listener's). */
  public static PreparedStatement prepare(Connection connection, String sql, Object... parameters) throws SQLException {
    PreparedStatement statement = connection.prepareStatement(sql);
    for (int i = 0; i < parameters.length; i++) {
      statement.setObject(i + 1, parameters[i]);
    }
    return statement;
  }
}
