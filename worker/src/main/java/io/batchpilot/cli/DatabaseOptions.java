package io.batchpilot.cli;

import com.zaxxer.hikari.HikariDataSource;
import com.zaxxer.hikari.pool.HikariPool;
import io.batchpilot.db.ConnectionPools;
import io.batchpilot.db.DatabaseUrl;
import io.batchpilot.settings.Kind;
import io.batchpilot.settings.Setting;
import picocli.CommandLine.Option;

/** {@code --database-url}, or {@code DATABASE_URL}: the one way every command finds PostgreSQL. */
public final class DatabaseOptions {

  static final Setting<String> DATABASE_URL = Setting.optional("DATABASE_URL",
      Kind.text("postgresql://user:password@host:5432/db or a JDBC URL"), "none (the demo starts its own)",
      "the PostgreSQL every command uses; `--database-url` wins over it. Workers need port 5432, not Supavisor's 6543")
      .keptSecret();

  @Option(names = "--database-url", paramLabel = "URL",
      description = "PostgreSQL to use: postgresql://user:password@host:5432/db or a JDBC URL. "
          + "Env: DATABASE_URL. Workers need a direct or session-mode connection (port 5432), "
          + "not Supavisor's transaction mode (6543).")
  String databaseUrl;

  /** Whether a URL was given; the demo starts its own PostgreSQL when not. */
  public boolean isSet() {
    String given = given();
    return given != null && !given.isBlank();
  }

  /** The flag's value, or the variable's when the flag is absent (an empty flag stays empty). */
  private String given() {
    return databaseUrl != null ? databaseUrl : DATABASE_URL.find(System.getenv()).orElse(null);
  }

  public DatabaseUrl url() {
    String databaseUrl = given();
    if (databaseUrl == null || databaseUrl.isBlank()) {
      throw CliException.usage("DATABASE_URL is not set: export DATABASE_URL=postgresql://user:password@host:5432/postgres "
          + "or pass --database-url");
    }
    try {
      return DatabaseUrl.parse("DATABASE_URL", databaseUrl);
    } catch (IllegalArgumentException e) {
      throw CliException.usage(e.getMessage());
    }
  }

  /** A pool, or a one-line error naming the server when it does not answer. */
  public HikariDataSource open(int maxSize, String name) {
    DatabaseUrl url = url();
    try {
      return ConnectionPools.open(url, maxSize, name);
    } catch (HikariPool.PoolInitializationException e) {
      throw unavailable(url, e);
    }
  }

  /** The one line for a database that does not answer (exit 4). */
  static CliException unavailable(DatabaseUrl url, HikariPool.PoolInitializationException e) {
    Throwable cause = e.getCause() == null ? e : e.getCause();
    return new CliException(ExitCode.UNAVAILABLE, "cannot connect to " + url + ": " + cause.getMessage()
        + " (check DATABASE_URL, that the server runs, and that this machine may reach it)", e);
  }
}
