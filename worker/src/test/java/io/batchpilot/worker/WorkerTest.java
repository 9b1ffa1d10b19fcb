package io.batchpilot.worker;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;
import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_SESSIONS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.zaxxer.hikari.HikariDataSource;
import io.batchpilot.db.ConnectionPools;
import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.metrics.Metrics;
import io.batchpilot.notify.NotifierConfig;
import io.batchpilot.pipeline.ClaimedFile;
import io.batchpilot.pipeline.FileProcessor;
import io.batchpilot.pipeline.Outcome;
import io.batchpilot.session.NewFile;
import io.batchpilot.session.NewSession;
import io.batchpilot.session.Progress;
import io.batchpilot.session.Sessions;
import io.batchpilot.store.Jooq;
import io.batchpilot.testing.Eventually;
import io.batchpilot.testing.JobRow;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.jooq.DSLContext;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(PostgresExtension.class)
class WorkerTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Duration DEADLINE = Duration.ofSeconds(60);
  /** Only a NOTIFY (or a finished file) can wake these workers within a test's deadline. */
  private static final WorkerConfig NOTIFY_ONLY = WorkerConfig.defaults().withConcurrency(4)
      .withNotifier(new NotifierConfig(Duration.ofMinutes(10), Duration.ofMillis(50), Duration.ofSeconds(1)));

  private final TestDatabase db;
  private final DSLContext dsl;
  private final Sessions sessions;

  WorkerTest(TestDatabase db) {
    this.db = db;
    this.dsl = Jooq.using(db.dataSource());
    this.sessions = new Sessions(db.dataSource());
  }

  @BeforeEach
  void empty() {
    dsl.deleteFrom(BATCH_UPLOAD_SESSIONS).execute();
  }

  private UUID submit(String name, int files, int maxConcurrent) {
    List<NewFile> list = new ArrayList<>();
    for (int i = 0; i < files; i++) {
      list.add(NewFile.at(name + "-" + i + ".png", "image/png", "file:" + name + "/" + i + ".png"));
    }
    return sessions.submit(new NewSession(name, null, null, "gemini-2.5-flash", maxConcurrent, "balanced"), list);
  }

  /** Extracts "the file's name" as its result; every fifth file is overloaded on its first attempt. */
  private static final class RecordingProcessor implements FileProcessor {
    final Map<UUID, AtomicInteger> completions = new ConcurrentHashMap<>();
    final AtomicInteger retries = new AtomicInteger();

    @Override
    public Outcome process(ClaimedFile file) {
      int order = Integer.parseInt(file.originalFilename().replaceAll("\\D", ""));
      if (order % 5 == 0 && file.attempts() == 1) {
        retries.incrementAndGet();
        return Outcome.retry(file, "overloaded", "the model is overloaded", Duration.ZERO, 1);
      }
      completions.computeIfAbsent(file.id(), k -> new AtomicInteger()).incrementAndGet();
      ObjectNode result = JSON.createObjectNode().put("file", file.originalFilename());
      return Outcome.completed(file, result, null, 258, 40, 298, 1);
    }
  }

  @Test
  void twoHundredFilesAcrossThreeWorkersCompleteOnceWithExactCounters() throws Exception {
    UUID session = submit("fleet", 200, 12);
    RecordingProcessor processor = new RecordingProcessor();
    List<HikariDataSource> pools = new ArrayList<>();
    List<Worker> workers = new ArrayList<>();
    try {
      for (int i = 0; i < 3; i++) {
        HikariDataSource pool = ConnectionPools.open(db.url(), 3, "worker-test-" + i);
        pools.add(pool);
        Worker worker = new Worker(NOTIFY_ONLY, pool, db.url(), processor, new Metrics());
        workers.add(worker);
        worker.start();
      }

      Eventually.await("200 files completed", DEADLINE, () -> sessions.progress(session).completed() == 200);
    } finally {
      for (Worker w : workers) {
        w.stop();
      }
      pools.forEach(HikariDataSource::close);
    }

    assertEquals(200, processor.completions.size());
    assertTrue(processor.completions.values().stream().allMatch(c -> c.get() == 1), "no file is completed twice");
    assertEquals(40, processor.retries.get());
    Progress p = sessions.progress(session);
    assertEquals(0, p.pending() + p.processing() + p.failed());
    assertEquals(240, p.apiCalls(), "200 successful calls and 40 retried ones");
    assertEquals(200L * 298, p.tokensUsed());
    assertTrue(workers.stream().allMatch(w -> w.filesClaimed() > 0), "every worker took a share");
    dsl.selectFrom(BATCH_UPLOAD_FILES).where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session)).fetch().forEach(r -> {
      assertEquals(r.getOriginalFilename(), JSON.valueToTree(readJson(r.getResult().data())).get("file").asText());
      assertEquals(Integer.parseInt(r.getOriginalFilename().replaceAll("\\D", "")) % 5 == 0 ? 2 : 1, r.getApiCallsMade());
      assertNull(JobRow.extraction(dsl, r.getId()).claimedBy());
    });
  }

  @Test
  void retriesAreClaimedAgainWhenDueNotAtTheNextPoll() throws Exception {
    Duration poll = Duration.ofSeconds(10);
    WorkerConfig longPoll = NOTIFY_ONLY.withNotifier(new NotifierConfig(poll, Duration.ofMillis(50), Duration.ofSeconds(1)));
    UUID session = submit("due", 2, 10);
    // Two delays: the worker's one timer must ring for the first and then be set again for the second.
    Map<String, Duration> delays = Map.of("due-0.png", Duration.ofMillis(200), "due-1.png", Duration.ofMillis(700));
    Map<String, Long> retriedAt = new ConcurrentHashMap<>();
    Map<String, Long> claimedAgainAt = new ConcurrentHashMap<>();
    FileProcessor retryOnce = file -> {
      if (file.attempts() == 1) {
        retriedAt.put(file.originalFilename(), System.nanoTime());
        return Outcome.retry(file, "overloaded", "the model is overloaded", delays.get(file.originalFilename()), 1);
      }
      claimedAgainAt.put(file.originalFilename(), System.nanoTime());
      return Outcome.completed(file, JSON.createObjectNode(), null, 1, 1, 2, 1);
    };
    try (Worker worker = new Worker(longPoll, db.dataSource(), db.url(), retryOnce, new Metrics())) {
      worker.start();
      Eventually.await("both retries completed", DEADLINE, () -> sessions.progress(session).completed() == 2);
    }

    for (var delay : delays.entrySet()) {
      Duration waited = Duration.ofNanos(claimedAgainAt.get(delay.getKey()) - retriedAt.get(delay.getKey()));
      assertTrue(waited.compareTo(delay.getValue()) >= 0, delay.getKey() + " was claimed again before it was due: " + waited);
      assertTrue(waited.compareTo(poll.dividedBy(2)) < 0, delay.getKey() + ", due after " + delay.getValue()
          + ", was claimed again only after " + waited + ": the worker waited for its poll");
    }
  }

  @Test
  void aSessionAtItsMaxConcurrentGetsItsNextFileWhenAnOutcomeIsWrittenNotAtTheNextPoll() throws Exception {
    // One file at a time; the poll is 10 minutes away, and a finished file sends no notification.
    UUID session = submit("one-at-a-time", 8, 1);
    FileProcessor instant = file -> Outcome.completed(file, JSON.createObjectNode(), null, 258, 40, 298, 1);
    try (Worker worker = new Worker(NOTIFY_ONLY, db.dataSource(), db.url(), instant, new Metrics())) {
      worker.start();
      Eventually.await("8 files completed one after another", Duration.ofSeconds(20),
          () -> sessions.progress(session).completed() == 8);
    }
  }

  @Test
  void resumeWakesTheFleetThroughNotify() throws Exception {
    UUID session = submit("resume", 10, 10);
    sessions.pause(session);
    RecordingProcessor processor = new RecordingProcessor();
    try (Worker worker = new Worker(NOTIFY_ONLY, db.dataSource(), db.url(), processor, new Metrics())) {
      worker.start();
      Eventually.await("the worker listening", DEADLINE, () -> worker.notifier().backendPid() != 0);
      assertEquals(10, sessions.progress(session).pending(), "a paused session is not claimed");

      sessions.resume(session);

      Eventually.await("all files completed after the resume", DEADLINE, () -> sessions.progress(session).completed() == 10);
    }
  }

  @Test
  void stopFinishesInFlightFilesAndClaimsNoMore() throws Exception {
    UUID session = submit("stop", 10, 10);
    CountDownLatch started = new CountDownLatch(4);
    CountDownLatch finish = new CountDownLatch(1);
    FileProcessor slow = file -> {
      started.countDown();
      finish.await();
      return Outcome.completed(file, JSON.createObjectNode(), null, 1, 1, 2, 1);
    };
    Worker worker = new Worker(NOTIFY_ONLY.withShutdownGrace(Duration.ofSeconds(60)), db.dataSource(), db.url(), slow, new Metrics());
    worker.start();
    started.await();

    Thread stopping = new Thread(() -> {
      try {
        worker.stop();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
    stopping.start();
    Eventually.await("the worker stopped claiming", DEADLINE, () -> !worker.claiming());
    finish.countDown();
    stopping.join();

    Progress p = sessions.progress(session);
    assertEquals(4, p.completed(), "files in flight finish within the grace period");
    assertEquals(6, p.pending(), "no file is claimed after the stop");
    assertEquals(0, p.processing());
  }

  @Test
  void stopAfterTheGracePeriodReleasesUnfinishedFilesWithoutSpendingAttempts() throws Exception {
    UUID session = submit("release", 6, 10);
    CountDownLatch started = new CountDownLatch(4);
    FileProcessor stuck = file -> {
      started.countDown();
      new CountDownLatch(1).await();
      throw new AssertionError("unreachable");
    };
    Worker worker = new Worker(NOTIFY_ONLY.withShutdownGrace(Duration.ZERO), db.dataSource(), db.url(), stuck, new Metrics());
    worker.start();
    started.await();

    worker.stop();

    Progress p = sessions.progress(session);
    assertEquals(6, p.pending());
    assertEquals(0, p.processing());
    dsl.selectFrom(BATCH_UPLOAD_FILES).where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session)).fetch().forEach(r -> {
      assertEquals(0, JobRow.extraction(dsl, r.getId()).attempts());
      assertNull(JobRow.extraction(dsl, r.getId()).claimedBy());
    });
  }

  @Test
  void aWorkerWhoseOutcomesCannotBeWrittenStopsClaimingAtItsThreadsPlusOneBatch() throws Exception {
    UUID session = submit("stalled", 40, 100);
    WorkerConfig d = NOTIFY_ONLY;
    // 4 threads and outcomes written 8 at a time: at most 12 files held while no outcome can be written.
    WorkerConfig config = new WorkerConfig(4, d.claimBatch(), d.claimCooldown(), d.lease(), d.heartbeat(), 8,
        d.shutdownGrace(), d.fairShare(), d.notifier());
    AtomicInteger mostHeld = new AtomicInteger();
    AtomicReference<Worker> self = new AtomicReference<>();
    FileProcessor instant = file -> {
      mostHeld.accumulateAndGet(self.get().inFlight(), Math::max);
      return Outcome.completed(file, JSON.createObjectNode().put("file", file.originalFilename()), null, 258, 40, 298, 1);
    };
    dsl.execute("ALTER FUNCTION batchpilot_private.complete_files(jsonb) RENAME TO complete_files_stalled");
    try (Worker worker = new Worker(config, db.dataSource(), db.url(), instant, new Metrics())) {
      self.set(worker);
      try {
        worker.start();
        Eventually.await("12 files claimed", DEADLINE, () -> worker.filesClaimed() >= 12);
      } finally {
        dsl.execute("ALTER FUNCTION batchpilot_private.complete_files_stalled(jsonb) RENAME TO complete_files");
      }
      Eventually.await("all files completed once the outcomes can be written", DEADLINE,
          () -> sessions.progress(session).completed() == 40);
    }
    assertTrue(mostHeld.get() <= 12, "held " + mostHeld.get() + " files while no outcome could be written");
  }

  private static Object readJson(String text) {
    try {
      return JSON.readTree(text);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }
}
