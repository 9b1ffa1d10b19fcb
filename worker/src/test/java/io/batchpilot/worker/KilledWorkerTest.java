package io.batchpilot.worker;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;
import static io.batchpilot.jooq.Tables.QUOTA_PERMITS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchpilot.db.DatabaseUrl;
import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.jooq.tables.records.BatchUploadFilesRecord;
import io.batchpilot.limiter.Admission;
import io.batchpilot.limiter.Permit;
import io.batchpilot.limiter.QuotaGate;
import io.batchpilot.limiter.QuotaGateConfig;
import io.batchpilot.limiter.Strategy;
import io.batchpilot.limiter.WaitReason;
import io.batchpilot.maintenance.LeaseRescuer;
import io.batchpilot.maintenance.SessionProgress;
import io.batchpilot.metrics.Metrics;
import io.batchpilot.notify.NotifierConfig;
import io.batchpilot.pipeline.Outcome;
import io.batchpilot.session.NewFile;
import io.batchpilot.session.NewSession;
import io.batchpilot.session.Sessions;
import io.batchpilot.store.JobKind;
import io.batchpilot.store.JobState;
import io.batchpilot.store.Jobs;
import io.batchpilot.store.Jooq;
import io.batchpilot.testing.Eventually;
import io.batchpilot.testing.JobRow;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(PostgresExtension.class)
class KilledWorkerTest {

  private static final Duration DEADLINE = Duration.ofSeconds(60);

  private static String urlWithCredentials(DatabaseUrl url) {
    String credentials = url.user() == null ? "" : url.user() + (url.password() == null ? "" : ":" + url.password()) + "@";
    return "postgresql://" + credentials + url.host() + ":" + url.port() + "/" + url.database();
  }

  @Test
  void fileOfAWorkerKilledMidFileIsRescuedAndCompletedExactlyOnce(TestDatabase db) throws Exception {
    Sessions sessions = new Sessions(db.dataSource());
    UUID session = sessions.submit(new NewSession("kill", null, null, "gemini-2.5-flash", 4, "balanced"),
        List.of(NewFile.at("only.png", "image/png", "file:///nowhere/only.png")));

    ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), StuckWorkerMain.class.getName(), "2000");
    pb.environment().put("BATCHPILOT_DATABASE_URL", urlWithCredentials(db.url()));
    pb.redirectErrorStream(true);
    Process child = pb.start();
    LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();
    Thread reader = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
        r.lines().forEach(lines::add);
      } catch (Exception e) {
        // the child is gone
      }
    });
    reader.setDaemon(true);
    reader.start();
    try {
      String line;
      long end = System.nanoTime() + DEADLINE.toNanos();
      do {
        line = lines.poll(1, TimeUnit.SECONDS);
        assertTrue(System.nanoTime() < end, "the child worker never started its file");
      } while (line == null || !line.startsWith("processing "));
      UUID fileId = UUID.fromString(line.substring("processing ".length()).trim());

      child.destroyForcibly();
      assertTrue(child.waitFor(30, TimeUnit.SECONDS));

      BatchUploadFilesRecord held = Jooq.using(db.dataSource()).selectFrom(BATCH_UPLOAD_FILES)
          .where(BATCH_UPLOAD_FILES.ID.eq(fileId)).fetchOne();
      assertEquals("processing", held.getStatus(), "the dead worker still holds the file until its lease runs out");

      Map<UUID, AtomicInteger> completions = new ConcurrentHashMap<>();
      LeaseRescuer rescuer = new LeaseRescuer(db.dataSource(), 100);
      WorkerConfig config = WorkerConfig.defaults().withConcurrency(2)
          .withNotifier(new NotifierConfig(Duration.ofMillis(200), Duration.ofMillis(50), Duration.ofSeconds(1)));
      try (Worker survivor = new Worker(config, db.dataSource(), db.url(), file -> {
        completions.computeIfAbsent(file.id(), k -> new AtomicInteger()).incrementAndGet();
        return Outcome.completed(file, new ObjectMapper().createObjectNode().put("ok", true), null, 1, 1, 2, 1);
      }, new Metrics())) {
        survivor.start();
        Eventually.await("the file rescued and completed", DEADLINE, () -> {
          rescuer.runOnce();
          return sessions.progress(session).completed() == 1;
        });
      }

      assertEquals(1, completions.get(fileId).get(), "completed exactly once");
      BatchUploadFilesRecord done = Jooq.using(db.dataSource()).selectFrom(BATCH_UPLOAD_FILES)
          .where(BATCH_UPLOAD_FILES.ID.eq(fileId)).fetchOne();
      assertEquals("completed", done.getStatus());
      int attempts = JobRow.extraction(Jooq.using(db.dataSource()), fileId).attempts();
      assertTrue(attempts >= 2, "the killed attempt is counted: " + attempts);
      new SessionProgress(db.dataSource()).runOnce();
      assertEquals("completed", sessions.progress(session).status());
    } finally {
      child.destroyForcibly();
    }
  }

  /**
   * Issue 17, items 1 and 6: a worker killed with two calls in flight. Its heartbeat kept their
   * permits alive past a lease; dead, they stop counting within one lease, so the fleet has its
   * whole in-flight cap back within lease + one window (not permit_lease_ms, 5 minutes); and both
   * calls count in the session's total_api_calls although no outcome ever reported them.
   */
  @Test
  void permitsOfAWorkerKilledMidCallLapseWithinItsLeaseAndTheirCallsAreCounted(TestDatabase db) throws Exception {
    Duration lease = Duration.ofMillis(2000);
    Duration window = Duration.ofMillis(1000);
    String model = "kill-mid-call";
    var dsl = Jooq.using(db.dataSource());
    dsl.execute("insert into public.quota_limits (provider, model, requests_per_minute, input_tokens_per_minute,"
        + " max_in_flight, window_ms, buckets_per_window, safety_margin_ms) values ('gemini', ?, 1000, 1000000, 2, ?, 10, 0)",
        model, (int) window.toMillis());
    Sessions sessions = new Sessions(db.dataSource());
    UUID session = sessions.submit(new NewSession("kill mid-call", null, null, model, 4, "aggressive"),
        List.of(NewFile.at("a.png", "image/png", "file:///nowhere/a.png"),
            NewFile.at("b.png", "image/png", "file:///nowhere/b.png")));

    ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), MidCallWorkerMain.class.getName(),
        Long.toString(lease.toMillis()), "2");
    pb.environment().put("BATCHPILOT_DATABASE_URL", urlWithCredentials(db.url()));
    pb.redirectErrorStream(true);
    Process child = pb.start();
    LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();
    Thread reader = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
        r.lines().forEach(lines::add);
      } catch (Exception e) {
        // the child is gone
      }
    });
    reader.setDaemon(true);
    reader.start();
    QuotaGate fleet = new QuotaGate(db.dataSource(), QuotaGateConfig.defaults());
    try {
      int calling = 0;
      long end = System.nanoTime() + DEADLINE.toNanos();
      while (calling < 2) {
        String line = lines.poll(1, TimeUnit.SECONDS);
        assertTrue(System.nanoTime() < end, "the child worker never made its two calls");
        if (line != null && line.startsWith("calling ")) {
          calling++;
        }
      }
      // Alive, its heartbeat keeps the permits in flight past their first lease.
      Thread.sleep(lease.plus(window).toMillis());
      assertEquals(WaitReason.IN_FLIGHT, waitReason(fleet.acquire("gemini", model, 10, Strategy.AGGRESSIVE)),
          "the live worker's two permits still fill the in-flight cap");

      long killedAt = System.nanoTime();
      child.destroyForcibly();
      assertTrue(child.waitFor(30, TimeUnit.SECONDS));

      // Back at the full quota: the whole in-flight cap (2) granted at once.
      List<Permit> granted = new ArrayList<>();
      while (granted.size() < 2) {
        assertTrue(System.nanoTime() - killedAt < lease.plus(window).toNanos(),
            "the dead worker's permits still counted " + lease.plus(window).toMillis() + " ms after the kill");
        if (fleet.acquire("gemini", model, 10, Strategy.AGGRESSIVE) instanceof Admission.Granted g) {
          granted.add(g.permit());
        } else {
          Thread.sleep(20);
        }
      }
      granted.forEach(fleet::release);

      Eventually.await("the killed worker's files rescued", DEADLINE, () -> {
        new LeaseRescuer(db.dataSource(), 100).runOnce();
        return dsl.fetchCount(Jobs.JOBS, Jobs.BATCH_SESSION_ID.eq(session).and(Jobs.kindIs(JobKind.EXTRACTION))
            .and(Jobs.stateIs(JobState.AVAILABLE))) == 2;
      });
      assertEquals(2, dsl.fetchOne("select total_api_calls from public.batch_upload_sessions where id = ?", session)
          .get(0, Integer.class), "both calls the killed worker sent are counted");
      assertEquals(0, dsl.fetchCount(QUOTA_PERMITS, QUOTA_PERMITS.MODEL.eq(model)));
    } finally {
      child.destroyForcibly();
      fleet.close();
    }
  }

  private static WaitReason waitReason(Admission admission) {
    return admission instanceof Admission.Wait wait ? wait.reason() : null;
  }
}
