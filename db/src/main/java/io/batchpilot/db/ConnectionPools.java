package io.batchpilot.db;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;

/** HikariCP pools over pgjdbc-ng, configured one way for every part of batchpilot. */
public final class ConnectionPools {

  private ConnectionPools() {}

  /**
   * A pool of at most {@code maxSize} connections to {@code url}. {@code name} shows in
   * PostgreSQL's {@code pg_stat_activity.application_name} and in the pool's own logs.
   */
  public static HikariDataSource open(DatabaseUrl url, int maxSize, String name) {
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
    config.setMaximumPoolSize(maxSize);
    config.setMinimumIdle(Math.min(2, maxSize));
    config.setPoolName(name);
    config.setConnectionTimeout(10_000);
    // A pool that cannot reach the database fails at once with the driver's reason.
    config.setInitializationFailTimeout(1);
    return new HikariDataSource(config);
  }
}
