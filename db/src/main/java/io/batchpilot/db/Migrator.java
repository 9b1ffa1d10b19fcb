package io.batchpilot.db;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Optional;
import javax.sql.DataSource;
import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.output.MigrateResult;

/**
 * Applies batchpilot's migrations with Flyway, then records the release in the database
 * ({@link Installation}). On plain PostgreSQL the Supabase compatibility
 * schema goes first; on a Supabase database (an {@code auth} schema that we did not create) it is
 * skipped. Each has its own history table, so neither touches the project's own migrations.
 */
public final class Migrator {

  public static final String HISTORY_TABLE = "batchpilot_schema_history";
  public static final String COMPAT_HISTORY_TABLE = "batchpilot_compat_history";
  public static final String COMPAT_MIGRATIONS = "classpath:batchpilot/compat";

  /** What one run did, and the release the database now has. */
  public record Result(boolean compatibilityApplied, int migrationsApplied, String schemaVersion, String release) {}

  private final DataSource dataSource;
  private final Release release;

  public Migrator(DataSource dataSource) {
    this(dataSource, Release.current());
  }

  /** Applies another release's migrations (tests: a fixture of a next release). */
  public Migrator(DataSource dataSource, Release release) {
    this.dataSource = dataSource;
    this.release = release;
  }

  public Result migrate() {
    boolean compat = needsCompatibilitySchema();
    if (compat) {
      flyway(COMPAT_MIGRATIONS, COMPAT_HISTORY_TABLE).migrate();
    }
    Flyway flyway = flyway(release.flywayLocation(), HISTORY_TABLE);
    MigrateResult result = flyway.migrate();
    recordRelease();
    return new Result(compat, result.migrationsExecuted, flyway.info().current().getVersion().getVersion(),
        release.name());
  }

  private void recordRelease() {
    try (Connection connection = dataSource.getConnection(); Statement statement = connection.createStatement()) {
      statement.execute(Installation.recordStatement(release));
    } catch (SQLException e) {
      throw new IllegalStateException("migrated, but cannot record release " + release.name()
          + " in batchpilot_private.installation: " + e.getMessage(), e);
    }
  }

  private Flyway flyway(String location, String historyTable) {
    return Flyway.configure()
        .dataSource(dataSource)
        .locations(location)
        .table(historyTable)
        .schemas("public")
        .createSchemas(false)
        // A Supabase project's public schema is never empty: start our history at version 0 there.
        .baselineOnMigrate(true)
        .baselineVersion("0")
        // The SQL is also shipped as a Supabase CLI migration: it must run unchanged there.
        .placeholderReplacement(false)
        .load();
  }

  /**
   * Refuses a database that lacks this release's schema, with the fix in the message: one where
   * batchpilot was never installed, or an older release than this build's. It reads the installed
   * release, which both install paths record (a Supabase CLI install has no Flyway history).
   */
  public void requireMigrated() {
    Optional<Installation.Installed> installed;
    try (Connection connection = dataSource.getConnection()) {
      installed = Installation.read(connection);
    } catch (SQLException e) {
      throw new IllegalStateException("cannot read the installed batchpilot release: " + e.getMessage(), e);
    }
    if (installed.isEmpty()) {
      throw new SchemaMissingException("the database has no batchpilot schema: run `batchpilot migrate` "
          + "(or apply the Supabase CLI migration file) before starting workers");
    }
    Installation.Installed in = installed.get();
    if (in.schemaVersion() < release.schemaVersion()) {
      throw new SchemaMissingException("the database has batchpilot " + in.release() + " (schema version "
          + in.schemaVersion() + "), older than this build's " + release.name() + " (schema version "
          + release.schemaVersion() + "): run `batchpilot migrate` (or apply the new Supabase CLI migration file)");
    }
  }

  /**
   * The one sentence a person can act on about Supabase Realtime, where the server cannot publish
   * row changes (wal_level below logical); empty where it can. Workers do not need it.
   */
  public Optional<String> realtimeNote() {
    try (Connection connection = dataSource.getConnection();
         Statement statement = connection.createStatement();
         ResultSet rs = statement.executeQuery("SELECT current_setting('wal_level')")) {
      rs.next();
      String level = rs.getString(1);
      return "logical".equals(level) ? Optional.empty() : Optional.of("Realtime (live progress in frontends) needs "
          + "wal_level=logical and this server has " + level + ": Supabase sets it; on your own PostgreSQL run "
          + "ALTER SYSTEM SET wal_level = logical and restart it. Workers and the command line work without it.");
    } catch (SQLException e) {
      throw new IllegalStateException("cannot read wal_level: " + e.getMessage(), e);
    }
  }

  /** True on plain PostgreSQL: no auth schema, or one this compatibility migration made. */
  boolean needsCompatibilitySchema() {
    try (Connection connection = dataSource.getConnection();
         Statement statement = connection.createStatement();
         ResultSet rs = statement.executeQuery(
             "SELECT to_regnamespace('auth') IS NULL OR to_regclass('public." + COMPAT_HISTORY_TABLE + "') IS NOT NULL")) {
      rs.next();
      return rs.getBoolean(1);
    } catch (SQLException e) {
      throw new IllegalStateException("cannot inspect the database before migrating: " + e.getMessage(), e);
    }
  }
}
