package io.batchpilot.store;

import java.io.IOException;
import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tells a database that cannot be reached (down, restarting, the network gone) from an error in a
 * statement, and waits the first out. An outage is nobody's fault and no file's: whatever met one
 * waits for the database and then carries on, and no attempt is spent on it.
 */
public final class DatabaseOutage {

  private static final Logger log = LoggerFactory.getLogger(DatabaseOutage.class);
  static final Duration FIRST_WAIT = Duration.ofMillis(100);
  static final Duration LONGEST_WAIT = Duration.ofSeconds(5);

  private DatabaseOutage() {}

  /**
   * True when {@code error} (or a cause of it) says the database cannot be reached: SQLState class
   * 08 (connection exception), 57P01/57P02/57P03 (the server is shutting down, crashed, or not yet
   * accepting connections), a pool that found no connection in time, pgjdbc-ng's "connection
   * closed", or an I/O error under the driver (a socket refused, reset or closed, a broken pipe).
   */
  public static boolean causedBy(Throwable error) {
    boolean fromDriver = false;
    for (Throwable t = error; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof SQLTransientConnectionException) {
        return true;
      }
      if (t instanceof SQLException sql) {
        if (unavailableState(sql.getSQLState()) || closedByDriver(sql)) {
          return true;
        }
        fromDriver = true;
      }
      // An I/O error counts only under a driver's exception: Gemini's network errors are not outages.
      // Sockets refused, reset or closed, and a write into a connection the server just closed
      // (Netty's plain IOException "Broken pipe").
      if (fromDriver && t instanceof IOException) {
        return true;
      }
    }
    return false;
  }

  /**
   * pgjdbc-ng reports a connection that went away with no SQLState, only a message: "Connection
   * closed" (its shared instance), "connection closed", or "Connection Error: ..." when connecting;
   * and a statement that got no answer within the network timeout as an SQLTimeoutException.
   */
  private static boolean closedByDriver(SQLException e) {
    if (e.getSQLState() != null) {
      return false;
    }
    // No answer within the pool's network timeout: pgjdbc-ng closes the connection and says so.
    if (e instanceof java.sql.SQLTimeoutException) {
      return true;
    }
    if (e.getMessage() == null) {
      return false;
    }
    String message = e.getMessage().toLowerCase(java.util.Locale.ROOT);
    return message.equals("connection closed") || message.startsWith("connection error");
  }

  static boolean unavailableState(String state) {
    return state != null && (state.startsWith("08") || state.equals("57P01") || state.equals("57P02")
        || state.equals("57P03"));
  }

  /**
   * True when {@code error} (or a cause of it) is a transaction that PostgreSQL aborted for meeting
   * another (40P01 deadlock detected, 40001 serialization failure): nothing is wrong, and the same
   * statement run again succeeds.
   */
  public static boolean conflictIn(Throwable error) {
    for (Throwable t = error; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof SQLException sql && ("40P01".equals(sql.getSQLState()) || "40001".equals(sql.getSQLState()))) {
        return true;
      }
    }
    return false;
  }

  /** Tries after a conflict before its error is thrown: one conflict after another is a bug. */
  static final int CONFLICT_TRIES = 5;

  /**
   * Runs {@code call} until it does not fail for an outage, waiting between tries (100 ms doubling
   * to 5 s); a transaction aborted for a conflict with another ({@link #conflictIn}) is run again at
   * once, up to {@link #CONFLICT_TRIES} times. Any other failure is thrown at once; so is
   * InterruptedException when the worker stops meanwhile, so that the caller gives its file back.
   *
   * @param what names the call in the log line, e.g. "file 1f… ('r1.png'): asking the quota gate"
   */
  public static <T> T waitOut(String what, Call<T> call) throws InterruptedException {
    Duration wait = FIRST_WAIT;
    long since = 0;
    int conflicts = 0;
    while (true) {
      try {
        T result = call.run();
        if (since != 0) {
          log.info("{}: the database is back after {} ms", what, (System.nanoTime() - since) / 1_000_000);
        }
        return result;
      } catch (RuntimeException e) {
        if (conflictIn(e) && ++conflicts < CONFLICT_TRIES) {
          log.debug("{}: {}; trying again", what, e.getMessage());
          continue;
        }
        if (!causedBy(e)) {
          throw e;
        }
        if (since == 0) {
          since = System.nanoTime();
          log.warn("{}: the database is unavailable ({}); waiting for it", what, e.getMessage());
        }
      }
      Thread.sleep(wait.toMillis());
      wait = next(wait);
    }
  }

  /** A database call that may wait (and so be interrupted). */
  @FunctionalInterface
  public interface Call<T> {
    T run() throws InterruptedException;
  }

  /** The wait after {@code wait}: doubled, at most {@link #LONGEST_WAIT}. */
  public static Duration next(Duration wait) {
    Duration doubled = wait.multipliedBy(2);
    return doubled.compareTo(LONGEST_WAIT) > 0 ? LONGEST_WAIT : doubled;
  }
}
