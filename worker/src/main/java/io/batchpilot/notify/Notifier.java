package io.batchpilot.notify;

import com.impossibl.postgres.api.jdbc.PGConnection;
import com.impossibl.postgres.api.jdbc.PGNotificationListener;
import io.batchpilot.db.DatabaseUrl;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one LISTEN connection of a JVM. It wakes the worker when PostgreSQL announces claimable work
 * on {@value #CHANNEL}, every poll interval regardless (a notification sent while the connection
 * was down is gone), and at once after every (re)connect. A broken connection is reopened with a
 * doubling wait. LISTEN needs a session that stays open: a direct or session-mode connection, never
 * Supavisor's transaction mode, which hands the session to other clients between transactions.
 */
public final class Notifier implements AutoCloseable {

  public static final String CHANNEL = "batchpilot_work";

  private static final Logger log = LoggerFactory.getLogger(Notifier.class);

  private final DatabaseUrl url;
  private final NotifierConfig config;
  private final Runnable wake;
  private final Thread thread;
  private final Object monitor = new Object();
  private final AtomicInteger connects = new AtomicInteger();
  private volatile boolean broken;
  private volatile boolean closed;
  private volatile int backendPid;

  /** {@code wake} runs on the driver's threads: it must be quick and must not block. */
  public Notifier(DatabaseUrl url, NotifierConfig config, Runnable wake) {
    this.url = url;
    this.config = config;
    this.wake = wake;
    this.thread = new Thread(this::run, "batchpilot-notifier");
    this.thread.setDaemon(true);
  }

  public void start() {
    thread.start();
  }

  /** How many times the LISTEN connection has been opened. */
  public int connects() {
    return connects.get();
  }

  /** The server process of the current LISTEN connection (0 while disconnected). */
  public int backendPid() {
    return backendPid;
  }

  private void run() {
    Duration wait = config.reconnectMin();
    while (!closed) {
      try (Connection connection = DriverManager.getConnection(url.pgjdbcNgUrl(), url.user(), url.password())) {
        listen(connection);
        wait = config.reconnectMin();
        watch(connection);
      } catch (SQLException | RuntimeException e) {
        if (!closed) {
          log.warn("LISTEN connection to {} failed ({}); reconnecting in {} ms", url, e.getMessage(), wait.toMillis());
        }
      } finally {
        backendPid = 0;
      }
      if (closed) {
        return;
      }
      pause(wait);
      wait = wait.multipliedBy(2).compareTo(config.reconnectMax()) > 0 ? config.reconnectMax() : wait.multipliedBy(2);
    }
  }

  private void listen(Connection connection) throws SQLException {
    broken = false;
    connection.unwrap(PGConnection.class).addNotificationListener(CHANNEL, CHANNEL, new PGNotificationListener() {
      @Override
      public void notification(int processId, String channelName, String payload) {
        wake.run();
      }

      @Override
      public void closed() {
        broken = true;
        synchronized (monitor) {
          monitor.notifyAll();
        }
      }
    });
    try (Statement statement = connection.createStatement()) {
      statement.execute("LISTEN " + CHANNEL);
      try (ResultSet rs = statement.executeQuery("SELECT pg_backend_pid()")) {
        rs.next();
        backendPid = rs.getInt(1);
      }
    }
    connects.incrementAndGet();
    log.info("listening on {} (backend {})", CHANNEL, backendPid);
    // Whatever was announced while we were not listening: look now.
    wake.run();
  }

  /** Polls until the connection breaks or the notifier closes. */
  private void watch(Connection connection) throws SQLException {
    while (!closed) {
      synchronized (monitor) {
        if (!broken && !closed) {
          try {
            monitor.wait(config.pollInterval().toMillis());
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
          }
        }
      }
      if (closed) {
        return;
      }
      if (broken || !connection.isValid(5)) {
        throw new SQLException("the LISTEN connection closed");
      }
      wake.run();
    }
  }

  private void pause(Duration wait) {
    synchronized (monitor) {
      try {
        if (!closed) {
          monitor.wait(wait.toMillis());
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        closed = true;
      }
    }
  }

  @Override
  public void close() throws InterruptedException {
    closeWithin(Duration.ofSeconds(10));
  }

  /** Closes, waiting at most {@code wait} for its thread (which may be connecting): then it is left to end by itself. */
  public void closeWithin(Duration wait) throws InterruptedException {
    closed = true;
    synchronized (monitor) {
      monitor.notifyAll();
    }
    thread.join(Math.max(1, wait.toMillis()));
    thread.interrupt();
  }
}
