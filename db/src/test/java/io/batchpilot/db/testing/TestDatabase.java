package io.batchpilot.db.testing;

import com.zaxxer.hikari.HikariDataSource;
import io.batchpilot.db.ConnectionPools;
import io.batchpilot.db.DatabaseUrl;
import java.sql.Connection;
import java.sql.SQLException;
import javax.sql.DataSource;

/** One test class's own database; closing it drops the database. */
public final class TestDatabase implements AutoCloseable {

  private final TestPostgres server;
  private final String name;
  private final DatabaseUrl url;
  private HikariDataSource pool;

  TestDatabase(TestPostgres server, String name, DatabaseUrl url) {
    this.server = server;
    this.name = name;
    this.url = url;
  }

  public String name() {
    return name;
  }

  public DatabaseUrl url() {
    return url;
  }

  /** A small pool, opened on first use, as the server's superuser. */
  public synchronized DataSource dataSource() {
    if (pool == null) {
      pool = ConnectionPools.open(url, 8, "test-" + name);
    }
    return pool;
  }

  /** A connection outside the pool, for tests that need one of their own. */
  public Connection connect() throws SQLException {
    return TestPostgres.connect(url);
  }

  synchronized void closePool() {
    if (pool != null) {
      pool.close();
      pool = null;
    }
  }

  @Override
  public void close() {
    closePool();
    server.drop(name);
  }
}
