package io.batchpilot.db;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.time.Duration;

/** HikariCP pools over pgjdbc-ng, configured one way for every part of batchpilot. */
public final class ConnectionPools {

  private ConnectionPools() {}

  /**
   * The longest a statement waits for the server's answer before it fails. pgjdbc-ng's own default
   * is forever: a statement sent as the server went away (a restart, a failover) then never
   * returns, and its thread is lost. No statement of batchpilot's takes a minute.
   */
  public static final Duration DEFAULT_NETWORK_TIMEOUT = Duration.ofSeconds(60);

  /**
   * A pool of at most {@code maxSize} connections to {@code url}. {@code name} shows in
   * PostgreSQL's {@code pg_stat_activity.application_name} and in the pool's own logs.
   */
  public static HikariDataSource open(DatabaseUrl url, int maxSize, String name) {
    return open(url, maxSize, name, DEFAULT_NETWORK_TIMEOUT);
  }

  /** As {@link #open(DatabaseUrl, int, String)}, with statements failing after {@code networkTimeout} without an answer. */
  public static HikariDataSource open(DatabaseUrl url, int maxSize, String name, Duration networkTimeout) {
    if (networkTimeout == null || networkTimeout.isNegative() || networkTimeout.isZero()) {
      throw new IllegalArgumentException("network timeout for " + name + " must be positive, was " + networkTimeout);
    }
    if (maxSize < 1) {
      throw new IllegalArgumentException("pool size for " + name + " must be at least 1, was " + maxSize);
    }
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl(url.pgjdbcNgUrl());
    config.setDriverClassName("com.impossibl.postgres.jdbc.PGDriver");
    if (url.user() != null) {
      config.setUsername(url.user());
    }
    if (url.password() != null) {
      config.setPassword(url.password());
    }
    config.addDataSourceProperty("application.name", name);
    config.addDataSourceProperty("network.timeout", String.valueOf(networkTimeout.toMillis()));
    config.setMaximumPoolSize(maxSize);
    config.setMinimumIdle(Math.min(2, maxSize));
    config.setPoolName(name);
    config.setConnectionTimeout(10_000);
    // A pool that cannot reach the database fails at once with the driver's reason.
    config.setInitializationFailTimeout(1);
    return new HikariDataSource(config);
  }
}
