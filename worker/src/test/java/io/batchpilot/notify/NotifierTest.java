package io.batchpilot.notify;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.session.NewFile;
import io.batchpilot.session.NewSession;
import io.batchpilot.session.Sessions;
import io.batchpilot.testing.Eventually;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(PostgresExtension.class)
class NotifierTest {

  // Long enough that only a notification or a reconnect can explain a wake-up within the test.
  private static final NotifierConfig NO_POLL = new NotifierConfig(Duration.ofMinutes(10),
      Duration.ofMillis(50), Duration.ofMillis(500));
  private static final Duration DEADLINE = Duration.ofSeconds(20);

  private static void submitOneFile(TestDatabase db) {
    new Sessions(db.dataSource()).submit(new NewSession("n", null, null, "gemini-2.5-flash", 2, "balanced"),
        List.of(NewFile.at("a.png", "image/png", "file:a.png")));
  }

  @Test
  void insertedFilesWakeTheListener(TestDatabase db) throws Exception {
    AtomicInteger wakes = new AtomicInteger();
    try (Notifier notifier = new Notifier(db.url(), NO_POLL, wakes::incrementAndGet)) {
      notifier.start();
      Eventually.await("the first connect's wake-up", DEADLINE, () -> wakes.get() == 1);

      submitOneFile(db);

      Eventually.await("a wake-up from the insert's NOTIFY", DEADLINE, () -> wakes.get() >= 2);
      assertEquals(1, notifier.connects());
    }
  }

  @Test
  void brokenConnectionIsReopenedAndListensAgain(TestDatabase db) throws Exception {
    AtomicInteger wakes = new AtomicInteger();
    try (Notifier notifier = new Notifier(db.url(), NO_POLL, wakes::incrementAndGet)) {
      notifier.start();
      Eventually.await("the first connect", DEADLINE, () -> notifier.backendPid() != 0);
      int firstPid = notifier.backendPid();
      int beforeReconnect = wakes.get();

      try (Connection c = db.connect(); Statement s = c.createStatement()) {
        s.execute("SELECT pg_terminate_backend(" + firstPid + ")");
      }

      Eventually.await("a second connect and its wake-up", DEADLINE,
          () -> notifier.connects() == 2 && notifier.backendPid() != 0 && wakes.get() > beforeReconnect);
      int afterReconnect = wakes.get();
      submitOneFile(db);
      Eventually.await("a wake-up on the new connection", DEADLINE, () -> wakes.get() > afterReconnect);
    }
  }
}
