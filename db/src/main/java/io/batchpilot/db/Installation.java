package io.batchpilot.db;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.OffsetDateTime;
import java.util.Optional;

/**
 * The batchpilot release a database has installed: one row of
 * {@code batchpilot_private.installation}, written by both install paths with
 * {@link #recordStatement(Release)} and read with {@code batchpilot_private.installed_release()}.
 */
public final class Installation {

  /** What a database says it has installed. */
  public record Installed(String release, int schemaVersion, OffsetDateTime installedAt) {}

  private Installation() {}

  /**
   * The statement that records a release; it changes nothing (not even installed_at) when the
   * database already has that release and schema version.
   */
  public static String recordStatement(Release release) {
    // The name is checked by Release (digits, letters, '.', '-'), so it is safe as a literal.
    return "INSERT INTO batchpilot_private.installation AS i (release, schema_version)\n"
        + "VALUES ('" + release.name() + "', " + release.schemaVersion() + ")\n"
        + "ON CONFLICT (singleton) DO UPDATE\n"
        + "  SET release = excluded.release, schema_version = excluded.schema_version, installed_at = excluded.installed_at\n"
        + "  WHERE (i.release, i.schema_version) IS DISTINCT FROM (excluded.release, excluded.schema_version);\n";
  }

  /** The installed release, or empty where batchpilot is not installed. */
  public static Optional<Installed> read(Connection connection) throws SQLException {
    try (Statement statement = connection.createStatement()) {
      try (ResultSet rs = statement.executeQuery(
          "SELECT to_regprocedure('batchpilot_private.installed_release()') IS NOT NULL")) {
        rs.next();
        if (!rs.getBoolean(1)) {
          return Optional.empty();
        }
      }
      try (ResultSet rs = statement.executeQuery(
          "SELECT release, schema_version, installed_at FROM batchpilot_private.installed_release()")) {
        if (!rs.next()) {
          return Optional.empty();
        }
        return Optional.of(new Installed(rs.getString(1), rs.getInt(2), rs.getObject(3, OffsetDateTime.class)));
      }
    }
  }
}
