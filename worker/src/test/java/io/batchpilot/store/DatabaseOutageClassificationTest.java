package io.batchpilot.store;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.ConnectException;
import java.net.SocketException;
import java.sql.SQLException;
import java.sql.SQLTimeoutException;
import java.sql.SQLTransientConnectionException;
import java.util.concurrent.atomic.AtomicInteger;
import org.jooq.exception.DataAccessException;
import org.junit.jupiter.api.Test;

class DatabaseOutageClassificationTest {

  private static DataAccessException jooq(Throwable cause) {
    return new DataAccessException("SQL [select 1]; " + cause.getMessage(), cause);
  }

  @Test
  void connectionFailuresAreOutages() {
    assertTrue(DatabaseOutage.causedBy(jooq(new SQLException("broken", "08006"))));
    assertTrue(DatabaseOutage.causedBy(jooq(new SQLException("terminating connection due to administrator command", "57P01"))));
    assertTrue(DatabaseOutage.causedBy(jooq(new SQLException("the database system is starting up", "57P03"))));
    assertTrue(DatabaseOutage.causedBy(jooq(new SQLTransientConnectionException(
        "outage-worker - Connection is not available, request timed out after 10000ms."))));
    assertTrue(DatabaseOutage.causedBy(jooq(new SQLException("Error while writing value", null,
        new SQLException("Connection closed")))), "pgjdbc-ng's closed connection has no SQLState");
    assertTrue(DatabaseOutage.causedBy(jooq(new SQLException("Connection Error: Connection refused: /127.0.0.1:5432"))));
    assertTrue(DatabaseOutage.causedBy(jooq(new SQLTimeoutException(new java.util.concurrent.TimeoutException()))),
        "no answer within the network timeout");
    assertTrue(DatabaseOutage.causedBy(jooq(new SQLException("I/O error", null, new ConnectException("refused")))));
    // pgjdbc-ng writing into a connection the server just closed: no SQLState, Netty's plain IOException.
    assertTrue(DatabaseOutage.causedBy(jooq(new SQLException("Broken pipe", null, new java.io.IOException("Broken pipe")))),
        "a broken pipe under the driver");
  }

  @Test
  void otherFailuresAreNot() {
    assertFalse(DatabaseOutage.causedBy(jooq(new SQLException("duplicate key", "23505"))));
    assertFalse(DatabaseOutage.causedBy(jooq(new SQLTimeoutException("canceling statement due to statement timeout", "57014"))));
    assertFalse(DatabaseOutage.causedBy(new IllegalStateException("a bug")));
    assertFalse(DatabaseOutage.causedBy(new IllegalStateException("Gemini", new SocketException("reset"))),
        "a socket error outside a driver's exception is not the database's");
  }

  @Test
  void waitOutRetriesOnlyOutages() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    String answer = DatabaseOutage.waitOut("test", () -> {
      if (calls.incrementAndGet() < 3) {
        throw jooq(new SQLException("broken", "08006"));
      }
      return "back";
    });
    assertSame("back", answer);
    assertTrue(calls.get() == 3);
    IllegalStateException bug = new IllegalStateException("a bug");
    assertSame(bug, assertThrows(IllegalStateException.class, () -> DatabaseOutage.waitOut("test", () -> {
      throw bug;
    })));
  }

  @Test
  void aConflictIsRunAgainAFewTimesThenThrown() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    assertSame("done", DatabaseOutage.waitOut("test", () -> {
      if (calls.incrementAndGet() < 3) {
        throw jooq(new SQLException("deadlock detected", "40P01"));
      }
      return "done";
    }));
    assertTrue(calls.get() == 3);

    calls.set(0);
    DataAccessException always = jooq(new SQLException("could not serialize access", "40001"));
    assertSame(always, assertThrows(DataAccessException.class, () -> DatabaseOutage.waitOut("test", () -> {
      calls.incrementAndGet();
      throw always;
    })));
    assertTrue(calls.get() == DatabaseOutage.CONFLICT_TRIES, "tried " + calls.get() + " times");
    assertFalse(DatabaseOutage.causedBy(always), "a conflict is not an outage");
  }
}
