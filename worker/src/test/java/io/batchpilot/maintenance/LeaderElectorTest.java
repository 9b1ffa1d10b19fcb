package io.batchpilot.maintenance;

import static io.batchpilot.jooq.Tables.BATCHPILOT_LEADER;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.DatabaseUrl;
import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.jooq.tables.records.BatchpilotLeaderRecord;
import io.batchpilot.store.Jooq;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.jooq.DSLContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(PostgresExtension.class)
class LeaderElectorTest {

  private static final Duration TERM = Duration.ofSeconds(2);
  private static final Duration RENEW = Duration.ofMillis(200);

  private DSLContext dsl;

  @BeforeEach
  void clear(TestDatabase db) {
    dsl = Jooq.using(db.dataSource());
    dsl.deleteFrom(BATCHPILOT_LEADER).execute();
  }

  @AfterEach
  void clearAfter() {
    dsl.deleteFrom(BATCHPILOT_LEADER).execute();
  }

  private BatchpilotLeaderRecord row() {
    return dsl.selectFrom(BATCHPILOT_LEADER).fetchOne();
  }

  /** Ends the current term now, as if its leader had stopped renewing it long enough ago. */
  private void expireTerm() {
    dsl.execute("update public.batchpilot_leader set elected_at = clock_timestamp() - interval '1 minute',"
        + " expires_at = clock_timestamp() - interval '1 second'");
  }

  @Test
  void oneLeaderAtATimeAndAnExpiredTermPassesToAnother(TestDatabase db) {
    LeaderElector a = new LeaderElector(db.dataSource(), "worker-a", TERM, RENEW);
    LeaderElector b = new LeaderElector(db.dataSource(), "worker-b", TERM, RENEW);

    assertTrue(a.attemptOnce());
    assertFalse(b.attemptOnce());
    assertTrue(a.isLeader());
    assertFalse(b.isLeader());

    var electedAt = row().getElectedAt();
    var firstExpiry = row().getExpiresAt();
    assertTrue(a.attemptOnce(), "the leader renews its term");
    assertEquals(electedAt, row().getElectedAt(), "a renewal keeps the election time");
    assertTrue(!row().getExpiresAt().isBefore(firstExpiry), "a renewal moves the expiry on");

    expireTerm();
    assertTrue(b.attemptOnce());
    assertEquals("worker-b", row().getLeaderId());
    assertFalse(a.attemptOnce(), "the old leader cannot take its lapsed term back");
    assertFalse(a.isLeader());
    assertTrue(b.isLeader());
  }

  @Test
  void aLeaderStopsBelievingItLeadsWhenItsTermRunsOutUnrenewed(TestDatabase db) {
    AtomicLong nanos = new AtomicLong(1_000);
    LeaderElector a = new LeaderElector(db.dataSource(), "worker-a", TERM, RENEW, nanos::get);
    assertTrue(a.attemptOnce());
    nanos.addAndGet(TERM.toNanos() - 1);
    assertTrue(a.isLeader());
    nanos.addAndGet(1);
    assertFalse(a.isLeader(), "no renewal: the term is over, whatever the row says");
  }

  @Test
  void aClosedLeaderResignsSoAnotherTakesOverAtOnce(TestDatabase db) {
    LeaderElector a = new LeaderElector(db.dataSource(), "worker-a", TERM, RENEW);
    LeaderElector b = new LeaderElector(db.dataSource(), "worker-b", TERM, RENEW);
    assertTrue(a.attemptOnce());
    a.close();
    assertFalse(a.isLeader());
    assertTrue(b.attemptOnce());
  }

  @Test
  void aKilledLeaderIsReplacedOnceItsTermEnds(TestDatabase db) throws Exception {
    DatabaseUrl url = db.url();
    ProcessBuilder builder = new ProcessBuilder(
        ProcessHandle.current().info().command().orElse("java"),
        "-cp", System.getProperty("java.class.path"),
        LeaderProcess.class.getName(), "worker-killed", String.valueOf(TERM.toMillis()), String.valueOf(RENEW.toMillis()))
        .redirectErrorStream(true);
    builder.environment().put(LeaderProcess.ENV_DATABASE_URL, "postgresql://" + url.user()
        + (url.password() == null ? "" : ":" + url.password()) + "@" + url.host() + ":" + url.port() + "/" + url.database());
    Process leader = builder.start();
    try (LeaderElector survivor = new LeaderElector(db.dataSource(), "worker-survivor", TERM, RENEW)) {
      BufferedReader out = new BufferedReader(new InputStreamReader(leader.getInputStream(), StandardCharsets.UTF_8));
      String line;
      while ((line = out.readLine()) != null && !line.equals(LeaderProcess.LEADING)) {
        // the child's log lines
      }
      assertEquals(LeaderProcess.LEADING, line, "the child process never became leader");
      survivor.start();
      assertFalse(survivor.attemptOnce(), "the living leader keeps its term");
      assertEquals("worker-killed", row().getLeaderId());

      leader.destroyForcibly(); // kill -9: no resignation
      assertTrue(leader.waitFor(30, TimeUnit.SECONDS));
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (!survivor.isLeader() && System.nanoTime() < deadline) {
        Thread.sleep(50); // polling for an outcome of other threads, with a deadline
      }
      assertTrue(survivor.isLeader(), "no worker took over from the killed leader");
      BatchpilotLeaderRecord now = row();
      assertEquals("worker-survivor", now.getLeaderId());
    } finally {
      leader.destroyForcibly();
    }
  }
}
