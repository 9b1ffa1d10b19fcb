package io.batchpilot.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import com.impossibl.postgres.api.jdbc.PGConnection;
import com.impossibl.postgres.api.jdbc.PGNotificationListener;
import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestData;
import io.batchpilot.db.testing.TestDatabase;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Workers wake on NOTIFY {@value #CHANNEL}: one notification per statement when files become
 * claimable or a session resumes, with an empty payload (any role may LISTEN, so it names no
 * tenant's session); nothing for writes that make no work.
 * Runs pgjdbc-ng's own LISTEN support, on the netty version the parent pom pins.
 */
@ExtendWith(PostgresExtension.class)
class NotifyTriggerTest {

  private static final String CHANNEL = "batchpilot_work";
  private static final String END_MARKER = "end-of-test-step";

  private final TestDatabase database;
  private final TestData data;
  private final BlockingQueue<String> received = new LinkedBlockingQueue<>();
  private Connection listener;
  private UUID user;
  private UUID first;
  private UUID second;

  NotifyTriggerTest(TestDatabase database) {
    this.database = database;
    this.data = new TestData(database.dataSource());
  }

  @BeforeEach
  void listen() throws SQLException {
    user = data.user();
    first = data.session(user, null);
    second = data.session(user, null);
    listener = database.connect();
    listener.unwrap(PGConnection.class).addNotificationListener(CHANNEL, new PGNotificationListener() {
      @Override
      public void notification(int processId, String channelName, String payload) {
        received.add(payload);
      }
    });
    try (Statement s = listener.createStatement()) {
      s.execute("LISTEN " + CHANNEL);
    }
  }

  @AfterEach
  void stopListening() throws SQLException {
    listener.close();
  }

  @Test
  void insertingPendingFilesSendsOneNotificationPerStatementNamingNoSession() throws Exception {
    data.update("INSERT INTO public.batch_upload_files (batch_session_id, original_filename)"
        + " SELECT s, 'f' || i FROM unnest(?::uuid[]) s, generate_series(1, 5) i", (Object) new UUID[] {first, second});

    List<String> notifications = notificationsSoFar();
    assertEquals(1, notifications.size(), "one notification for one statement: " + notifications);
    assertEquals("", notifications.get(0), "no tenant's session id in a payload anyone may LISTEN to");

    data.file(first, "pending");
    data.file(second, "pending");
    assertEquals(List.of("", ""), notificationsSoFar(), "one per statement");
  }

  @Test
  void filesThatAreNotYetClaimableSendNothing() throws Exception {
    UUID waiting = data.file(first, "pending");
    notificationsSoFar();
    data.update("UPDATE batchpilot_private.jobs SET scheduled_at = now() + interval '1 hour'"
        + " WHERE file_id = ? AND kind = 'extraction'", waiting);
    data.file(first, "uploading");
    data.file(first, "processing");
    assertEquals(List.of(), notificationsSoFar());
  }

  @Test
  void filesBecomingClaimableNotifyAndOtherWritesDoNot() throws Exception {
    UUID uploading = data.file(first, "uploading");
    UUID held = data.file(second, "pending");
    UUID pending = data.file(first, "pending");
    data.update(CLAIM, "w0", held);
    notificationsSoFar();

    data.update("UPDATE public.batch_upload_files SET status = 'pending' WHERE id = ?", uploading);
    assertEquals(List.of(""), notificationsSoFar(), "an upload finished: the file is claimable");

    // The rescuer hands a job back: claimable again.
    data.update("UPDATE batchpilot_private.jobs SET state = 'available', claimed_by = NULL, lease_expires_at = NULL,"
        + " scheduled_at = now() WHERE file_id = ? AND kind = 'extraction'", held);
    assertEquals(List.of(""), notificationsSoFar());

    // A worker claims, a retry is scheduled for later, a pending file is renamed: no new work.
    data.update(CLAIM, "w1", held);
    data.update("UPDATE batchpilot_private.jobs SET scheduled_at = now() + interval '1 minute'"
        + " WHERE file_id = ? AND kind = 'extraction'", uploading);
    data.update("UPDATE public.batch_upload_files SET original_filename = 'renamed.jpg' WHERE id = ?", pending);
    assertEquals(List.of(), notificationsSoFar());
  }

  private static final String CLAIM = "UPDATE batchpilot_private.jobs SET state = 'running', claimed_by = ?,"
      + " lease_expires_at = now() + interval '1 minute' WHERE file_id = ? AND kind = 'extraction'";

  @Test
  void resumingASessionNotifies() throws Exception {
    data.update("UPDATE public.batch_upload_sessions SET status = 'paused' WHERE id IN (?, ?)", first, second);
    assertEquals(List.of(), notificationsSoFar(), "pausing makes no work");

    data.update("UPDATE public.batch_upload_sessions SET status = 'processing' WHERE id = ?", first);
    assertEquals(List.of(""), notificationsSoFar());

    data.update("UPDATE public.batch_upload_sessions SET session_name = 'renamed' WHERE id = ?", first);
    assertEquals(List.of(), notificationsSoFar(), "a session already processing is not resumed again");
  }

  /**
   * Everything received since the last call. Notifications arrive in commit order, so once a marker
   * sent after the step arrives, every notification of the step has arrived too.
   */
  private List<String> notificationsSoFar() throws Exception {
    data.update("SELECT pg_notify(?, ?)", CHANNEL, END_MARKER);
    List<String> step = new ArrayList<>();
    while (true) {
      String payload = received.poll(30, TimeUnit.SECONDS);
      assertNotNull(payload, "the marker notification did not arrive within 30 s");
      if (payload.equals(END_MARKER)) {
        return step;
      }
      step.add(payload);
    }
  }
}
