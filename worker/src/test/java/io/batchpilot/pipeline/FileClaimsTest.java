package io.batchpilot.pipeline;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;
import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_SESSIONS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.session.NewFile;
import io.batchpilot.session.NewSession;
import io.batchpilot.session.Sessions;
import io.batchpilot.store.Jobs;
import io.batchpilot.store.Jooq;
import io.batchpilot.testing.JobRow;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.jooq.DSLContext;
import org.jooq.impl.DSL;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(PostgresExtension.class)
class FileClaimsTest {

  private static final Duration LEASE = Duration.ofSeconds(60);

  private final TestDatabase db;
  private final DSLContext dsl;
  private final FileClaims claims;

  FileClaimsTest(TestDatabase db) {
    this.db = db;
    this.dsl = Jooq.using(db.dataSource());
    this.claims = new FileClaims(db.dataSource());
  }

  @BeforeEach
  void empty() {
    dsl.deleteFrom(BATCH_UPLOAD_SESSIONS).execute();
  }

  @Test
  void claimSetsHolderLeaseAttemptAndStartsThePendingSession() {
    UUID session = Batches.submit(db.dataSource(), "start", 3, 10);

    List<ClaimedFile> claimed = claims.claim("w1", 2, LEASE);

    assertEquals(2, claimed.size());
    for (ClaimedFile f : claimed) {
      var row = dsl.selectFrom(BATCH_UPLOAD_FILES).where(BATCH_UPLOAD_FILES.ID.eq(f.id())).fetchOne();
      assertEquals("processing", row.getStatus());
      assertEquals("w1", JobRow.extraction(dsl, row.getId()).claimedBy());
      assertEquals(1, JobRow.extraction(dsl, row.getId()).attempts());
      assertEquals(1, f.attempts());
      assertNotNull(row.getProcessingStartedAt());
      assertTrue(JobRow.extraction(dsl, row.getId()).leaseExpiresAt().isAfter(row.getProcessingStartedAt().plusSeconds(59)));
      assertEquals("gemini-2.5-flash", f.model());
    }
    var s = new Sessions(db.dataSource()).progress(session);
    assertEquals("processing", s.status());
    assertNotNull(s.startedAt());
    assertEquals(2, s.processing());
    assertEquals(1, s.pending());
  }

  @Test
  void maxConcurrentHoldsAcrossConcurrentClaimers() throws Exception {
    UUID session = Batches.submit(db.dataSource(), "capped", 50, 5);
    int claimers = 6;
    CyclicBarrier start = new CyclicBarrier(claimers);
    ExecutorService pool = Executors.newFixedThreadPool(claimers);
    try {
      List<Future<Integer>> results = new ArrayList<>();
      for (int i = 0; i < claimers; i++) {
        String worker = "w" + i;
        Callable<Integer> claim = () -> {
          start.await();
          return claims.claim(worker, 10, LEASE).size();
        };
        results.add(pool.submit(claim));
      }
      int total = 0;
      for (Future<Integer> r : results) {
        total += r.get();
      }
      assertEquals(5, total, "six workers claiming at once must take exactly max_concurrent files");
    } finally {
      pool.shutdownNow();
    }
    assertEquals(5, new Sessions(db.dataSource()).progress(session).processing());
  }

  @Test
  void bigSessionDoesNotStarveSmallOne() {
    UUID big = Batches.submit(db.dataSource(), "big", 2000, 1000);
    UUID small = Batches.submit(db.dataSource(), "small", 10, 1000);

    Map<UUID, Long> bySession = claims.claim("w1", 20, LEASE).stream()
        .collect(Collectors.groupingBy(ClaimedFile::sessionId, Collectors.counting()));

    assertEquals(10L, bySession.get(small), "every file of the small session gets a turn in the first claim");
    assertEquals(10L, bySession.get(big));
  }

  @Test
  void twoEqualSessionsShareEveryClaimEvenly() {
    UUID a = Batches.submit(db.dataSource(), "a", 300, 1000);
    UUID b = Batches.submit(db.dataSource(), "b", 300, 1000);

    for (int round = 0; round < 5; round++) {
      Map<UUID, Long> bySession = claims.claim("w1", 40, LEASE).stream()
          .collect(Collectors.groupingBy(ClaimedFile::sessionId, Collectors.counting()));
      assertEquals(Map.of(a, 20L, b, 20L), bySession);
    }
  }

  /** A team with {@code sessions} sessions of {@code files} files each. */
  private List<UUID> teamSessions(String name, int sessions, int files) {
    UUID team = dsl.fetchOne("INSERT INTO public.teams (name) VALUES (?) RETURNING id", name).get(0, UUID.class);
    List<UUID> ids = new java.util.ArrayList<>();
    for (int i = 0; i < sessions; i++) {
      List<NewFile> list = new java.util.ArrayList<>();
      for (int f = 0; f < files; f++) {
        list.add(NewFile.at(name + i + "-" + f + ".png", "image/png", "file:" + name + i + "/" + f + ".png"));
      }
      ids.add(new Sessions(db.dataSource()).submit(new NewSession(name + i, null, team, "gemini-2.5-flash", 1000, "balanced"), list));
    }
    return ids;
  }

  /**
   * A fleet's steady state: claims of {@code perClaim} files, each followed by the completion of
   * the oldest files in flight, so about {@code inFlight} stay held; returns the files claimed by
   * the sessions of each group.
   */
  private long[] steadyClaims(FairShare share, int rounds, int perClaim, int inFlight, List<List<UUID>> groups) {
    long[] claimed = new long[groups.size()];
    java.util.ArrayDeque<UUID> held = new java.util.ArrayDeque<>();
    for (int round = 0; round < rounds; round++) {
      for (ClaimedFile f : claims.claim("w1", perClaim, LEASE, share)) {
        held.add(f.id());
        for (int g = 0; g < groups.size(); g++) {
          if (groups.get(g).contains(f.sessionId())) {
            claimed[g]++;
          }
        }
      }
      List<UUID> done = new java.util.ArrayList<>();
      while (held.size() > inFlight) {
        done.add(held.poll());
      }
      dsl.update(BATCH_UPLOAD_FILES).set(BATCH_UPLOAD_FILES.STATUS, "completed")
          .set(BATCH_UPLOAD_FILES.PROCESSING_COMPLETED_AT, OffsetDateTime.now())
          .where(BATCH_UPLOAD_FILES.ID.in(done)).execute();
    }
    return claimed;
  }

  @Test
  void aTeamWithTenSessionsAndATeamWithOneShareTheFleetEqually() {
    List<UUID> ten = teamSessions("ten", 10, 60);
    List<UUID> one = teamSessions("one", 1, 600);

    long[] claimed = steadyClaims(FairShare.TEAM, 100, 4, 16, List.of(ten, one));

    double ratio = (double) Math.min(claimed[0], claimed[1]) / Math.max(claimed[0], claimed[1]);
    assertTrue(ratio >= 0.9, "files claimed by the ten-session team and the one-session team: "
        + java.util.Arrays.toString(claimed) + ", ratio " + ratio);
  }

  @Test
  void atTheSessionLevelEachSessionHasAShareHoweverManyATeamRuns() {
    List<UUID> ten = teamSessions("ten", 10, 60);
    List<UUID> one = teamSessions("one", 1, 600);

    long[] claimed = steadyClaims(FairShare.SESSION, 100, 4, 16, List.of(ten, one));

    // Eleven equal sessions: the ten-session team takes about ten shares in eleven.
    double share = (double) claimed[0] / (claimed[0] + claimed[1]);
    assertEquals(10 / 11.0, share, 0.05, "the ten-session team's share: " + java.util.Arrays.toString(claimed));
  }

  @Test
  void withinATeamsShareItsSessionsShareEqually() {
    List<UUID> team = teamSessions("team", 4, 100);

    Map<UUID, Long> bySession = claims.claim("w1", 40, LEASE, FairShare.TEAM).stream()
        .collect(Collectors.groupingBy(ClaimedFile::sessionId, Collectors.counting()));

    assertEquals(Map.of(team.get(0), 10L, team.get(1), 10L, team.get(2), 10L, team.get(3), 10L), bySession);
  }

  @Test
  void anUnknownFairShareLevelIsRefusedByName() {
    Batches.submit(db.dataSource(), "any", 2, 10);
    Exception e = assertThrows(Exception.class, () -> dsl.fetch(
        "SELECT * FROM batchpilot_private.claim_files('w1', 1, interval '1 minute', 'tenant')"));
    assertTrue(e.getMessage().contains("fair_share must be session or team, got tenant"), e.getMessage());
  }

  @Test
  void oneFileClaimsGoToTheSessionWithFewerFilesInFlight() {
    // In steady state a finished file frees one thread, so most claims take one file: each must go
    // to the session with fewer files in flight, not always to the first-submitted one.
    UUID first = Batches.submit(db.dataSource(), "first", 100, 1000);
    UUID second = Batches.submit(db.dataSource(), "second", 100, 1000);

    Map<UUID, Long> bySession = new java.util.HashMap<>();
    for (int i = 0; i < 20; i++) {
      for (ClaimedFile f : claims.claim("w1", 1, LEASE)) {
        bySession.merge(f.sessionId(), 1L, Long::sum);
      }
      long inFlightGap = Math.abs(bySession.getOrDefault(first, 0L) - bySession.getOrDefault(second, 0L));
      assertTrue(inFlightGap <= 1, "files in flight differ by " + inFlightGap + " after " + (i + 1) + " claims: " + bySession);
    }
    assertEquals(Map.of(first, 10L, second, 10L), bySession);
  }

  @Test
  void pausedSessionsAndFilesNotYetDueAreNotClaimed() {
    UUID paused = Batches.submit(db.dataSource(), "paused", 5, 10);
    UUID later = Batches.submit(db.dataSource(), "later", 5, 10);
    new Sessions(db.dataSource()).pause(paused);
    dsl.update(Jobs.JOBS)
        .set(DSL.field(DSL.name("scheduled_at"), OffsetDateTime.class),
            DSL.field("clock_timestamp() + interval '1 hour'", OffsetDateTime.class))
        .where(Jobs.BATCH_SESSION_ID.eq(later))
        .execute();

    assertEquals(List.of(), claims.claim("w1", 20, LEASE));

    new Sessions(db.dataSource()).resume(paused);
    List<ClaimedFile> afterResume = claims.claim("w1", 20, LEASE);
    assertEquals(5, afterResume.size());
    assertTrue(afterResume.stream().allMatch(f -> f.sessionId().equals(paused)));
  }

  @Test
  void heartbeatExtendsOnlyTheHoldersLeases() {
    Batches.submit(db.dataSource(), "beat", 4, 10);
    List<ClaimedFile> mine = claims.claim("w1", 2, Duration.ofSeconds(5));
    List<ClaimedFile> theirs = claims.claim("w2", 2, Duration.ofSeconds(5));

    List<UUID> named = new java.util.ArrayList<>(mine.stream().map(ClaimedFile::id).toList());
    named.add(theirs.get(0).id());
    assertEquals(2, claims.extendLeases("w1", named, Duration.ofHours(1)), "a file another worker holds is not extended");

    Function<ClaimedFile, OffsetDateTime> lease = f -> JobRow.extraction(dsl, f.id()).leaseExpiresAt();
    OffsetDateTime inHalfAnHour = OffsetDateTime.now().plusMinutes(30);
    assertTrue(mine.stream().allMatch(f -> lease.apply(f).isAfter(inHalfAnHour)));
    assertTrue(theirs.stream().allMatch(f -> lease.apply(f).isBefore(inHalfAnHour)));
  }

  @Test
  void heartbeatExtendsOnlyTheFilesItNames() {
    Batches.submit(db.dataSource(), "named", 3, 10);
    List<ClaimedFile> mine = claims.claim("w3", 3, Duration.ofSeconds(5));

    assertEquals(2, claims.extendLeases("w3", List.of(mine.get(0).id(), mine.get(1).id()), Duration.ofHours(1)));

    OffsetDateTime left = JobRow.extraction(dsl, mine.get(2).id()).leaseExpiresAt();
    assertTrue(left.isBefore(OffsetDateTime.now().plusMinutes(30)), "a file whose thread died keeps its old lease");
  }
}
