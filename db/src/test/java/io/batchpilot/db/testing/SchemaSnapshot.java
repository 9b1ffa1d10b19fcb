package io.batchpilot.db.testing;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import javax.sql.DataSource;

/**
 * Everything a migration can add to a database, as sorted lines of text, so two snapshots compare
 * with {@code assertEquals} and a failure shows what differs.
 */
public final class SchemaSnapshot {

  private static final String USER_SCHEMAS =
      "n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg_temp%'"
          + " AND n.nspname NOT LIKE 'pg_toast_temp%'";

  private static final List<String> QUERIES = List.of(
      "SELECT 'schema ' || n.nspname FROM pg_namespace n WHERE " + USER_SCHEMAS,
      "SELECT 'relation ' || n.nspname || '.' || c.relname || ' ' || c.relkind::text || ' rls=' || c.relrowsecurity"
          + " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE " + USER_SCHEMAS,
      "SELECT 'column ' || n.nspname || '.' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)"
          + " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
          + " WHERE a.attnum > 0 AND NOT a.attisdropped AND " + USER_SCHEMAS,
      "SELECT 'function ' || n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')'"
          + " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE " + USER_SCHEMAS,
      "SELECT 'trigger ' || t.tgrelid::regclass || '.' || t.tgname FROM pg_trigger t WHERE NOT t.tgisinternal",
      "SELECT 'policy ' || p.polrelid::regclass || '.' || p.polname FROM pg_policy p",
      "SELECT 'constraint ' || c.conrelid::regclass || '.' || c.conname FROM pg_constraint c"
          + " JOIN pg_namespace n ON n.oid = c.connamespace WHERE " + USER_SCHEMAS,
      "SELECT 'publication ' || pubname || ' ' || schemaname || '.' || tablename FROM pg_publication_tables",
      "SELECT 'grant ' || table_schema || '.' || table_name || ' ' || grantee || ' ' || privilege_type"
          + " FROM information_schema.role_table_grants WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
      "SELECT 'role ' || rolname FROM pg_roles WHERE rolname NOT LIKE 'pg\\_%'");

  private SchemaSnapshot() {}

  public static List<String> of(DataSource dataSource) throws SQLException {
    List<String> lines = new ArrayList<>();
    try (Connection connection = dataSource.getConnection(); Statement statement = connection.createStatement()) {
      for (String query : QUERIES) {
        try (ResultSet rs = statement.executeQuery(query)) {
          while (rs.next()) {
            lines.add(rs.getString(1));
          }
        }
      }
    }
    lines.sort(null);
    return lines;
  }
}
