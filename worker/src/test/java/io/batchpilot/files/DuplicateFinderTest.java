package io.batchpilot.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.store.Jooq;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.jooq.DSLContext;
import org.jooq.JSONB;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(PostgresExtension.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DuplicateFinderTest {

  private DSLContext dsl;
  private DuplicateFinder finder;
  private UUID alice;
  private UUID bob;
  private UUID teamA;
  private UUID teamB;

  @BeforeAll
  void setUp(TestDatabase db) {
    dsl = Jooq.using(db.dataSource());
    finder = new DuplicateFinder(db.dataSource());
    alice = uuid("insert into auth.users (email) values ('alice@example.com') returning id");
    bob = uuid("insert into auth.users (email) values ('bob@example.com') returning id");
    teamA = uuid("insert into public.teams (name) values ('A') returning id");
    teamB = uuid("insert into public.teams (name) values ('B') returning id");
  }

  private UUID session(UUID user, UUID team, String model) {
    return uuid("insert into public.batch_upload_sessions (user_id, team_id, total_files, model, status)"
        + " values (?, ?, 10, ?, 'processing') returning id", user, team, model);
  }

  /** A file; one in processing has its extraction job running, as a claim leaves it. */
  private UUID file(UUID session, byte[] sha, String status, String model, String result) {
    UUID file = uuid("insert into public.batch_upload_files (batch_session_id, original_filename,"
        + " content_sha256, status, model, result, processing_completed_at)"
        + " values (?, 'r.jpg', ?, ?, ?, ?::jsonb, case when ? = 'completed' then clock_timestamp() end) returning id", session, sha, status, model, result, status);
    if (status.equals("processing")) {
      dsl.execute("insert into batchpilot_private.jobs (file_id, kind, batch_session_id, state, attempts, claimed_by,"
          + " lease_expires_at, content_sha256) values (?, 'extraction', ?, 'running', 1, 'w', clock_timestamp()"
          + " + interval '1 minute', ?)", file, session, sha);
    }
    return file;
  }

  private UUID uuid(String sql, Object... bindings) {
    return dsl.fetchOne(sql, bindings).get(0, UUID.class);
  }

  private static byte[] sha(int seed) {
    byte[] sha = new byte[32];
    sha[0] = (byte) seed;
    sha[31] = (byte) 0x5A;
    return sha;
  }

  @Test
  void aCompletedFileOfTheSameTeamAndModelIsReused() {
    byte[] content = sha(1);
    UUID earlier = file(session(alice, teamA, "gemini-2.5-flash"), content, "completed", null, "{\"total\": 3.5}");
    file(session(bob, teamA, "gemini-2.5-flash"), content, "completed", null, "{\"total\": 9}"); // later
    UUID mine = file(session(bob, teamA, "gemini-2.5-flash"), content, "pending", null, null);

    Optional<DuplicateFinder.Duplicate> found = finder.find(mine, content);

    assertEquals(earlier, found.orElseThrow().fileId());
    assertEquals(JSONB.valueOf("{\"total\": 3.5}").data().replace(" ", ""), found.get().result().data().replace(" ", ""));
  }

  @Test
  void resultsNeverCrossTeamsOrModels() {
    byte[] content = sha(2);
    file(session(alice, teamB, "gemini-2.5-flash"), content, "completed", null, "{}");
    file(session(alice, teamA, "gemini-2.5-pro"), content, "completed", null, "{}");
    file(session(alice, teamA, "gemini-2.5-flash"), content, "completed", "gemini-2.5-pro", "{}");
    file(session(alice, null, "gemini-2.5-flash"), content, "completed", null, "{}");
    UUID mine = file(session(alice, teamA, "gemini-2.5-flash"), content, "pending", null, null);

    assertEquals(Optional.empty(), finder.find(mine, content));
  }

  @Test
  void theFilesOwnModelOverridesItsSessions() {
    byte[] content = sha(3);
    UUID earlier = file(session(alice, teamA, "gemini-2.5-flash"), content, "completed", "gemini-2.5-pro", "{}");
    UUID mine = file(session(alice, teamA, "gemini-2.5-pro"), content, "pending", null, null);

    assertEquals(earlier, finder.find(mine, content).orElseThrow().fileId());
  }

  @Test
  void personalSessionsShareOnlyWithTheSameUsersPersonalSessions() {
    byte[] content = sha(4);
    file(session(bob, null, "gemini-2.5-flash"), content, "completed", null, "{}");
    file(session(alice, teamA, "gemini-2.5-flash"), content, "completed", null, "{}");
    UUID mine = file(session(alice, null, "gemini-2.5-flash"), content, "pending", null, null);
    assertEquals(Optional.empty(), finder.find(mine, content));

    UUID own = file(session(alice, null, "gemini-2.5-flash"), content, "completed", null, "{}");
    assertEquals(own, finder.find(mine, content).orElseThrow().fileId());
  }

  @Test
  void aSecondIdenticalFileWaitsForTheFirstInFlightThenReusesItsResult() {
    byte[] content = sha(7);
    UUID teamSession = session(alice, teamA, "gemini-2.5-flash");
    UUID first = file(teamSession, null, "processing", null, null);
    UUID second = file(session(bob, teamA, "gemini-2.5-flash"), null, "processing", null, null);

    assertEquals(Optional.empty(), finder.inFlight(first, content), "nothing identical in flight yet");
    assertEquals(Optional.of(first), finder.inFlight(second, content), "the first recorded its content");

    // Its completion, as complete_files writes it: the job ends, the file row gets the hash.
    dsl.execute("update batchpilot_private.jobs set state = 'completed', claimed_by = null, lease_expires_at = null"
        + " where file_id = ?", first);
    dsl.execute("update public.batch_upload_files set status = 'completed', result = '{}'::jsonb, content_sha256 = ?,"
        + " processing_completed_at = clock_timestamp() where id = ?", content, first);
    assertEquals(Optional.empty(), finder.inFlight(second, content));
    assertEquals(first, finder.find(second, content).orElseThrow().fileId());
  }

  @Test
  void anotherTeamsOrModelsFileInFlightIsNoReasonToWait() {
    byte[] content = sha(8);
    UUID other = file(session(alice, teamB, "gemini-2.5-flash"), null, "processing", null, null);
    UUID otherModel = file(session(alice, teamA, "gemini-2.5-pro"), null, "processing", null, null);
    UUID mine = file(session(alice, teamA, "gemini-2.5-flash"), null, "processing", null, null);
    assertEquals(Optional.empty(), finder.inFlight(other, content));
    assertEquals(Optional.empty(), finder.inFlight(otherModel, content));
    assertEquals(Optional.empty(), finder.inFlight(mine, content));
  }

  @Test
  void ofTwoIdenticalFilesArrivingTogetherExactlyOneGoesAhead() throws Exception {
    ExecutorService threads = Executors.newFixedThreadPool(2);
    try {
      for (int round = 0; round < 20; round++) {
        byte[] content = sha(100 + round);
        UUID teamSession = session(alice, teamA, "gemini-2.5-flash");
        UUID a = file(teamSession, null, "processing", null, null);
        UUID b = file(teamSession, null, "processing", null, null);
        CyclicBarrier together = new CyclicBarrier(2);
        Future<Optional<UUID>> forA = threads.submit(() -> {
          together.await();
          return finder.inFlight(a, content);
        });
        Future<Optional<UUID>> forB = threads.submit(() -> {
          together.await();
          return finder.inFlight(b, content);
        });
        Optional<UUID> waitA = forA.get(30, TimeUnit.SECONDS);
        Optional<UUID> waitB = forB.get(30, TimeUnit.SECONDS);
        assertTrue(waitA.isEmpty() != waitB.isEmpty(), "round " + round + ": exactly one goes ahead, got " + waitA + " and " + waitB);
        assertEquals(waitA.isPresent() ? Optional.of(b) : Optional.of(a), waitA.isPresent() ? waitA : waitB,
            "the one that waits names the other");
      }
    } finally {
      threads.shutdownNow();
    }
  }

  @Test
  void theLookupUsesTheCompletedContentIndex(TestDatabase db) throws Exception {
    byte[] content = sha(6);
    UUID mine = file(session(alice, teamA, "gemini-2.5-flash"), content, "pending", null, null);
    String sql = dsl.renderInlined(finder.query(mine, content));
    StringBuilder plan = new StringBuilder();
    try (Connection connection = db.connect(); Statement statement = connection.createStatement()) {
      statement.execute("set enable_seqscan = off"); // tiny tables: ask whether the index can serve
      try (ResultSet rows = statement.executeQuery("explain " + sql)) {
        while (rows.next()) {
          plan.append(rows.getString(1)).append('\n');
        }
      }
    }
    assertTrue(plan.toString().contains("batch_upload_files_content_idx"), plan.toString());
  }

  @Test
  void onlyCompletedFilesWithAResultCount() {
    byte[] content = sha(5);
    UUID teamSession = session(alice, teamA, "gemini-2.5-flash");
    file(teamSession, content, "failed", null, null);
    file(teamSession, content, "processing", null, null);
    file(teamSession, content, "completed", null, null);
    UUID mine = file(teamSession, content, "pending", null, null);

    assertEquals(Optional.empty(), finder.find(mine, content));
    assertTrue(finder.find(mine, sha(99)).isEmpty());
  }
}
