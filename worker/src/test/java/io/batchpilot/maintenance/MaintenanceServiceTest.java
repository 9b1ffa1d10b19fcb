package io.batchpilot.maintenance;

import static io.batchpilot.jooq.Tables.BATCHPILOT_LEADER;
import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;
import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_SESSIONS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.store.Jooq;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.jooq.DSLContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(PostgresExtension.class)
class MaintenanceServiceTest {

  private static final MaintenanceConfig FAST = new MaintenanceConfig(Duration.ofSeconds(2),
      Duration.ofMillis(100), Duration.ofMillis(100), Duration.ofMillis(100), Duration.ofMillis(100),
      Duration.ofSeconds(60), Duration.ofMillis(100), Duration.ofDays(30), Duration.ofDays(3), Duration.ofMinutes(60), 100);

  private static void await(String what, BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out waiting until " + what);
      }
      Thread.sleep(20); // polling for the service's threads, with a deadline
    }
  }

  @Test
  void theElectedLeaderRescuesLeasesAndFinishesSessionsThenResignsOnClose(TestDatabase db) throws Exception {
    DSLContext dsl = Jooq.using(db.dataSource());
    MaintenanceRows rows = new MaintenanceRows(dsl);
    UUID session = rows.session("processing", 1);
    UUID file = rows.leased(session, 5, 5, 10);

    try (MaintenanceService first = new MaintenanceService(db.dataSource(), "worker-1", FAST, List.of());
         MaintenanceService second = new MaintenanceService(db.dataSource(), "worker-2", FAST, List.of())) {
      first.start();
      second.start();
      await("a leader is elected", () -> first.elector().isLeader() || second.elector().isLeader());
      assertTrue(!(first.elector().isLeader() && second.elector().isLeader()), "two leaders");

      await("the session is finished", () -> "failed".equals(dsl.fetchValue(BATCH_UPLOAD_SESSIONS.STATUS,
          BATCH_UPLOAD_SESSIONS.ID.eq(session))));
      assertEquals("lease_expired", dsl.fetchValue(BATCH_UPLOAD_FILES.ERROR_TYPE, BATCH_UPLOAD_FILES.ID.eq(file)));

      MaintenanceService leader = first.elector().isLeader() ? first : second;
      MaintenanceService follower = leader == first ? second : first;
      leader.close();
      await("the follower takes over", () -> follower.elector().isLeader());
    }
    assertEquals(0, dsl.fetchCount(BATCHPILOT_LEADER), "the last leader resigned");
  }

  @Test
  void theLeaderKeepsSessionEtasCurrent(TestDatabase db) throws Exception {
    DSLContext dsl = Jooq.using(db.dataSource());
    MaintenanceRows rows = new MaintenanceRows(dsl);
    UUID session = rows.session("processing", 10);
    dsl.execute("update public.batch_upload_sessions set started_at = clock_timestamp() - interval '1 minute' where id = ?", session);
    for (int i = 0; i < 10; i++) {
      UUID file = rows.file(session, i < 2 ? "completed" : "pending");
      // Two files finished a second apart, recently: a pace to estimate from.
      dsl.execute("update public.batch_upload_files set processing_completed_at = clock_timestamp() - make_interval(secs => ?)"
          + " where id = ?", i + 1, file);
    }

    try (MaintenanceService service = new MaintenanceService(db.dataSource(), "worker-1", FAST, List.of())) {
      service.start();
      await("the session has an ETA", () -> dsl.fetchValue(BATCH_UPLOAD_SESSIONS.ESTIMATED_COMPLETION_AT,
          BATCH_UPLOAD_SESSIONS.ID.eq(session)) != null);
    }
  }

  @Test
  void badSettingsAreRefusedByName() {
    IllegalArgumentException renew = assertThrows(IllegalArgumentException.class, () -> new MaintenanceConfig(
        Duration.ofSeconds(2), Duration.ofSeconds(2), Duration.ofSeconds(1), Duration.ofSeconds(1),
        Duration.ofSeconds(1), Duration.ofSeconds(60), Duration.ofSeconds(1), Duration.ofDays(1), Duration.ofDays(1),
        Duration.ofMinutes(60), 10));
    assertTrue(renew.getMessage().startsWith("electionInterval (PT2S) must be at most half of leaderTerm"), renew.getMessage());
    IllegalArgumentException days = assertThrows(IllegalArgumentException.class,
        () -> MaintenanceConfig.fromEnvironment(java.util.Map.of("BATCHPILOT_METRICS_RETENTION", "a week")));
    assertEquals("BATCHPILOT_METRICS_RETENTION must be a duration with its unit, like 500ms, 60s, 2m, 1h or 7d; "
        + "got 'a week'", days.getMessage());
    assertEquals(Duration.ofDays(7), MaintenanceConfig.fromEnvironment(
        java.util.Map.of("BATCHPILOT_LEDGER_RETENTION", "7d")).ledgerRetention());
    assertEquals(Duration.ofHours(36), MaintenanceConfig.fromEnvironment(
        java.util.Map.of("BATCHPILOT_METRICS_RETENTION", "36h")).metricsRetention());
  }
}
