package io.batchpilot.db.testing;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.UUID;
import javax.sql.DataSource;

/**
 * Runs SQL the way Supabase's Data API (PostgREST) runs a request: in one transaction, after
 * {@code set local role} to the JWT's role and {@code request.jwt.claims} set to its claims, so
 * row-level security, column grants and {@code auth.uid()} behave as they do for a frontend.
 */
public final class SupabaseRequest {

  /** Work done inside the request's transaction. */
  @FunctionalInterface
  public interface Work<T> {
    T run(Connection connection) throws SQLException;
  }

  private final String role;
  private final String claims;

  private SupabaseRequest(String role, String claims) {
    this.role = role;
    this.claims = claims;
  }

  /** A request with no signed-in user (the anon key). */
  public static SupabaseRequest anon() {
    return new SupabaseRequest("anon", "{\"role\":\"anon\"}");
  }

  /** The service key, as an Edge Function or a worker using it would run a request. */
  public static SupabaseRequest serviceRole() {
    return new SupabaseRequest("service_role", "{\"role\":\"service_role\"}");
  }

  /** A signed-in user with empty app_metadata and user_metadata. */
  public static SupabaseRequest authenticated(UUID user) {
    return authenticated(user, "{}", "{}");
  }

  /**
   * A signed-in user whose JWT carries these metadata objects (JSON text): app_metadata only the
   * service key can set; user_metadata the user can set themselves.
   */
  public static SupabaseRequest authenticated(UUID user, String appMetadataJson, String userMetadataJson) {
    return new SupabaseRequest("authenticated", "{\"sub\":\"" + user + "\",\"role\":\"authenticated\","
        + "\"aud\":\"authenticated\",\"app_metadata\":" + appMetadataJson + ",\"user_metadata\":"
        + userMetadataJson + "}");
  }

  /** Runs {@code work} and commits; any exception rolls the transaction back and is rethrown. */
  public <T> T run(DataSource dataSource, Work<T> work) throws SQLException {
    try (Connection connection = dataSource.getConnection()) {
      connection.setAutoCommit(false);
      try {
        try (Statement statement = connection.createStatement()) {
          statement.execute("SET LOCAL ROLE " + role);
        }
        try (PreparedStatement claimsSetting =
                 connection.prepareStatement("SELECT set_config('request.jwt.claims', ?, true)")) {
          claimsSetting.setString(1, claims);
          claimsSetting.execute();
        }
        T result = work.run(connection);
        connection.commit();
        return result;
      } catch (SQLException | RuntimeException e) {
        connection.rollback();
        throw e;
      } finally {
        connection.setAutoCommit(true);
      }
    }
  }
}
