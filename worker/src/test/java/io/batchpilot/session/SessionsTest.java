package io.batchpilot.session;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;
import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_SESSIONS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.metrics.Metrics;
import io.batchpilot.pipeline.ClaimedFile;
import io.batchpilot.pipeline.Completer;
import io.batchpilot.pipeline.FileClaims;
import io.batchpilot.pipeline.Outcome;
import io.batchpilot.store.Jooq;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(PostgresExtension.class)
class SessionsTest {

  private static UUID submit(Sessions sessions, String name, int files) {
    List<NewFile> list = new ArrayList<>();
    for (int i = 0; i < files; i++) {
      list.add(NewFile.at(name + i + ".png", "image/png", "file:///x/" + name + i + ".png"));
    }
    return sessions.submit(new NewSession(name, null, null, "gemini-2.5-flash", 10, "balanced"), list);
  }

  @Test
  void cancelSkipsFilesNotStartedAndLetsInFlightFilesFinish(TestDatabase db) {
    Sessions sessions = new Sessions(db.dataSource());
    FileClaims claims = new FileClaims(db.dataSource());
    UUID session = submit(sessions, "cancel", 5);
    List<ClaimedFile> inFlight = claims.claim("w1", 2, Duration.ofMinutes(1));

    assertEquals(3, sessions.cancel(session));

    Progress p = sessions.progress(session);
    assertEquals("cancelled", p.status());
    assertNotNull(p.completedAt());
    assertEquals(3, p.skipped());
    assertEquals(2, p.processing());
    assertEquals(List.of(), claims.claim("w1", 5, Duration.ofMinutes(1)), "a cancelled session is not claimed from");
    List<Completer.Written> written = new Completer(db.dataSource(), 10, "t", new Metrics()).write(
        inFlight.stream().map(f -> Outcome.completed(f, null, null, 1, 1, 2, 1)).toList());
    assertTrue(written.stream().allMatch(Completer.Written::applied), "files in flight still finish");
    assertEquals(2, sessions.progress(session).completed());
    assertEquals(-1, sessions.cancel(session), "cancelling twice changes nothing");
  }

  @Test
  void pauseAndResumeOnlyMoveBetweenRunningAndPaused(TestDatabase db) {
    Sessions sessions = new Sessions(db.dataSource());
    UUID session = submit(sessions, "pause", 1);

    assertFalse(sessions.resume(session), "a session that is not paused cannot be resumed");
    assertTrue(sessions.pause(session));
    assertEquals("paused", sessions.progress(session).status());
    assertTrue(sessions.resume(session));
    assertEquals("processing", sessions.progress(session).status());
    assertEquals(1, Jooq.using(db.dataSource()).fetchCount(BATCH_UPLOAD_FILES,
        BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session).and(BATCH_UPLOAD_FILES.STATUS.eq("pending"))));
  }

  @Test
  void aSessionStoppedByARefusedKeyResumesWithItsFilesOnceTheKeyIsFixed(TestDatabase db) {
    Sessions sessions = new Sessions(db.dataSource());
    FileClaims claims = new FileClaims(db.dataSource());
    UUID session = submit(sessions, "key", 3);
    ClaimedFile first = claims.claim("w1", 1, Duration.ofMinutes(1)).get(0);
    new Completer(db.dataSource(), 10, "t", new Metrics()).write(List.of(
        Outcome.stopSession(first, "permission_denied", "Gemini refused the API key", 1)));
    Progress stopped = sessions.progress(session);
    assertEquals("failed", stopped.status());
    assertEquals(3, stopped.pending(), "a refused key leaves every file waiting");

    assertTrue(sessions.resume(session));

    Progress resumed = sessions.progress(session);
    assertEquals("processing", resumed.status());
    assertEquals(null, resumed.errorMessage(), "the key's error is cleared");
    assertEquals(null, resumed.completedAt());
    assertEquals(3, claims.claim("w1", 5, Duration.ofMinutes(1)).size(), "its files are claimed again");
  }

  @Test
  void aSessionWhoseFilesAllFailedCannotBeResumed(TestDatabase db) {
    Sessions sessions = new Sessions(db.dataSource());
    FileClaims claims = new FileClaims(db.dataSource());
    UUID session = submit(sessions, "bad", 1);
    ClaimedFile only = claims.claim("w1", 1, Duration.ofMinutes(1)).get(0);
    new Completer(db.dataSource(), 10, "t", new Metrics()).write(List.of(Outcome.failed(only, "invalid_file", "empty", 0)));
    // What the maintenance leader's finaliser does to a session with nothing left but failures.
    Jooq.using(db.dataSource()).update(BATCH_UPLOAD_SESSIONS).set(BATCH_UPLOAD_SESSIONS.STATUS, "failed")
        .where(BATCH_UPLOAD_SESSIONS.ID.eq(session)).execute();

    assertFalse(sessions.resume(session), "nothing is left to do");
  }
}
