package io.batchpilot.worker;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;
import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_SESSIONS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.jooq.tables.records.BatchUploadFilesRecord;
import io.batchpilot.maintenance.LeaseRescuer;
import io.batchpilot.metrics.Metrics;
import io.batchpilot.notify.NotifierConfig;
import io.batchpilot.pipeline.FileProcessor;
import io.batchpilot.pipeline.Outcome;
import io.batchpilot.session.NewFile;
import io.batchpilot.session.NewSession;
import io.batchpilot.session.Sessions;
import io.batchpilot.store.Jooq;
import io.batchpilot.testing.Eventually;
import io.batchpilot.testing.JobRow;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.jooq.DSLContext;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Whatever a file's thread throws, the file ends in an outcome, and only live work keeps its lease. */
@ExtendWith(PostgresExtension.class)
class FileThreadFaultsTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Duration DEADLINE = Duration.ofSeconds(30);
  private static final NotifierConfig FAST_POLL = new NotifierConfig(Duration.ofMillis(200), Duration.ofMillis(50),
      Duration.ofSeconds(1));

  private final TestDatabase db;
  private final DSLContext dsl;
  private final Sessions sessions;

  FileThreadFaultsTest(TestDatabase db) {
    this.db = db;
    this.dsl = Jooq.using(db.dataSource());
    this.sessions = new Sessions(db.dataSource());
  }

  @BeforeEach
  void empty() {
    dsl.deleteFrom(BATCH_UPLOAD_SESSIONS).execute();
  }

  private UUID submit(String... names) {
    List<NewFile> files = new ArrayList<>();
    for (String name : names) {
      files.add(NewFile.at(name, "image/png", "file:faults/" + name));
    }
    return sessions.submit(new NewSession("faults", null, null, "gemini-2.5-flash", 10, "balanced"), files);
  }

  private BatchUploadFilesRecord file(UUID session, String name) {
    return dsl.selectFrom(BATCH_UPLOAD_FILES).where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session))
        .and(BATCH_UPLOAD_FILES.ORIGINAL_FILENAME.eq(name)).fetchOne();
  }

  @Test
  void errorsInAFilesThreadSpendAnAttemptEachAndFailTheFileAtMaxAttemptsWhileTheOthersComplete() throws Exception {
    UUID session = submit("oom.png", "deep.png", "assert.png", "a.png", "b.png", "c.png");
    Map<String, Set<String>> threads = new ConcurrentHashMap<>();
    FileProcessor processor = file -> {
      threads.computeIfAbsent(file.originalFilename(), k -> ConcurrentHashMap.newKeySet())
          .add(Thread.currentThread().getName());
      switch (file.originalFilename()) {
        case "oom.png" -> throw new OutOfMemoryError("Java heap space");
        case "deep.png" -> throw new StackOverflowError();
        case "assert.png" -> throw new AssertionError("a decoder's internal check");
        default -> {
          return Outcome.completed(file, JSON.createObjectNode(), null, 1, 1, 2, 1);
        }
      }
    };
    // One thread: if an Error killed it for good, nothing after the first poison file would run.
    WorkerConfig config = WorkerConfig.defaults().withConcurrency(1).withNotifier(FAST_POLL);
    try (Worker worker = new Worker(config, db.dataSource(), db.url(), processor, new Metrics())) {
      worker.start();
      Eventually.await("the good files completed and the poison ones failed", DEADLINE, () -> {
        var p = sessions.progress(session);
        return p.completed() == 3 && p.failed() == 3;
      });
    }

    BatchUploadFilesRecord oom = file(session, "oom.png");
    assertEquals("failed", oom.getStatus());
    assertEquals(5, JobRow.extraction(dsl, oom.getId()).attempts(), "every Error spent an attempt, up to max_attempts");
    assertEquals("processing_failed", oom.getErrorType());
    assertTrue(oom.getErrorMessage().contains("ran out of memory on this file")
        && oom.getErrorMessage().contains("BATCHPILOT_JAVA_OPTS=-Xmx")
        && oom.getErrorMessage().contains("BATCHPILOT_CONCURRENCY"), oom.getErrorMessage());
    assertTrue(file(session, "deep.png").getErrorMessage().contains("StackOverflowError"));
    assertTrue(file(session, "assert.png").getErrorMessage().contains("a decoder's internal check"));
    assertEquals(5, threads.get("oom.png").size(), "each Error ended its thread and a fresh one took the next file: "
        + threads.get("oom.png"));
    for (String good : List.of("a.png", "b.png", "c.png")) {
      assertEquals(1, JobRow.extraction(dsl, file(session, good).getId()).attempts());
    }
  }

  /** An Error whose description fails too: no outcome can be made, and the thread ends without one. */
  private static final class UndescribableError extends Error {
    @Override
    public String toString() {
      throw new OutOfMemoryError("describing the error");
    }

    @Override
    public String getMessage() {
      throw new OutOfMemoryError("describing the error");
    }
  }

  @Test
  void aFileWhoseThreadDiedWithoutAnOutcomeIsNotKeptAliveByTheHeartbeatAndIsRescued() throws Exception {
    UUID session = submit("orphan.png");
    AtomicInteger calls = new AtomicInteger();
    FileProcessor processor = file -> {
      if (calls.incrementAndGet() == 1) {
        throw new UndescribableError();
      }
      return Outcome.completed(file, JSON.createObjectNode(), null, 1, 1, 2, 1);
    };
    // Heartbeats every 100 ms: under the old heartbeat the orphan's 1 s lease would never run out.
    WorkerConfig config = WorkerConfig.defaults().withConcurrency(2).withNotifier(FAST_POLL)
        .withLease(Duration.ofSeconds(1), Duration.ofMillis(100));
    LeaseRescuer rescuer = new LeaseRescuer(db.dataSource(), 100);
    try (Worker worker = new Worker(config, db.dataSource(), db.url(), processor, new Metrics())) {
      worker.start();
      Eventually.await("the orphaned file rescued and completed", DEADLINE, () -> {
        rescuer.runOnce();
        return sessions.progress(session).completed() == 1;
      });
    }
    assertEquals(2, calls.get());
    assertEquals(2, JobRow.extraction(dsl, file(session, "orphan.png").getId()).attempts(), "the orphaned attempt stays counted");
  }

  @Test
  void aStopAfterTheGracePeriodKeepsTheAttemptOfAFileBeingProcessedAndGivesBackTheOthers() throws Exception {
    UUID session = submit("s0.png", "s1.png", "s2.png", "s3.png", "s4.png", "s5.png");
    CountDownLatch started = new CountDownLatch(4);
    AtomicBoolean release = new AtomicBoolean();
    // A call that ignores interrupts (a socket read, say): the worker cannot know it did not reach Gemini.
    FileProcessor deaf = file -> {
      started.countDown();
      while (!release.get()) {
        Thread.onSpinWait();
      }
      return Outcome.completed(file, JSON.createObjectNode(), null, 1, 1, 2, 1);
    };
    WorkerConfig config = WorkerConfig.defaults().withConcurrency(4).withNotifier(FAST_POLL)
        .withShutdownGrace(Duration.ZERO);
    Worker worker = new Worker(config, db.dataSource(), db.url(), deaf, new Metrics());
    try {
      worker.start();
      started.await();
      long stopStart = System.nanoTime();
      worker.stop();
      assertTrue(Duration.ofNanos(System.nanoTime() - stopStart).compareTo(Worker.STOP_OVERRUN) < 0);
    } finally {
      release.set(true);
    }

    var rows = dsl.selectFrom(BATCH_UPLOAD_FILES).where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session)).fetch();
    assertEquals(6, rows.stream().filter(r -> JobRow.extraction(dsl, r.getId()).status().equals("pending")).count(),
        "every file is due again");
    assertEquals(4, rows.stream().filter(r -> JobRow.extraction(dsl, r.getId()).attempts() == 1).count(), "the four started attempts stay counted");
    assertEquals(2, rows.stream().filter(r -> JobRow.extraction(dsl, r.getId()).attempts() == 0).count(), "the two never claimed are untouched");
    rows.stream().filter(r -> JobRow.extraction(dsl, r.getId()).attempts() == 1).forEach(r -> {
      JobRow job = JobRow.extraction(dsl, r.getId());
      assertEquals("timeout", job.errorType());
      assertTrue(job.errorMessage().contains("BATCHPILOT_SHUTDOWN_GRACE"), job.errorMessage());
    });
    rows.forEach(r -> assertNull(JobRow.extraction(dsl, r.getId()).claimedBy()));
    assertNotEquals(0, rows.size());
  }
}
