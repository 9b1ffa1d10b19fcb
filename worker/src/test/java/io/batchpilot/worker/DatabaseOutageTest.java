package io.batchpilot.worker;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;
import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_SESSIONS;
import static io.batchpilot.jooq.Tables.QUOTA_LIMITS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.zaxxer.hikari.HikariDataSource;
import io.batchpilot.db.ConnectionPools;
import io.batchpilot.db.EmbeddedPostgres;
import io.batchpilot.db.Migrator;
import io.batchpilot.files.DuplicateFinder;
import io.batchpilot.files.FileSource;
import io.batchpilot.files.FileSourceConfig;
import io.batchpilot.files.FileValidator;
import io.batchpilot.files.FileValidatorConfig;
import io.batchpilot.files.ImagePreprocessor;
import io.batchpilot.files.ImagePreprocessorConfig;
import io.batchpilot.gemini.GeminiClient;
import io.batchpilot.gemini.GeminiConfig;
import io.batchpilot.jooq.tables.records.BatchUploadFilesRecord;
import io.batchpilot.limiter.QuotaGate;
import io.batchpilot.limiter.QuotaGateConfig;
import io.batchpilot.maintenance.LeaseRescuer;
import io.batchpilot.metrics.Metrics;
import io.batchpilot.notify.NotifierConfig;
import io.batchpilot.pipeline.ReceiptProcessor;
import io.batchpilot.session.NewFile;
import io.batchpilot.session.NewSession;
import io.batchpilot.session.Progress;
import io.batchpilot.session.Sessions;
import io.batchpilot.simulator.GeminiSimulator;
import io.batchpilot.simulator.LatencyDistribution;
import io.batchpilot.simulator.SimulatorConfig;
import io.batchpilot.simulator.SyntheticReceipts;
import io.batchpilot.store.Jooq;
import io.batchpilot.testing.Eventually;
import io.batchpilot.testing.JobRow;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import okhttp3.OkHttpClient;
import org.jooq.DSLContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * A database that goes away: an outage mid-batch is waited out without spending attempts, and a
 * worker told to stop while the database is down still stops within its grace period. The server
 * is an embedded PostgreSQL of this class's own, so stopping it touches nobody else's tests.
 */
class DatabaseOutageTest {

  private static final String MODEL = "gemini-2.5-flash";
  private static final String KEY = "outage-test-key";
  private static final Duration DEADLINE = Duration.ofSeconds(60);
  private static final OkHttpClient HTTP = new OkHttpClient();

  private static EmbeddedPostgres server;
  private static HikariDataSource pool;

  @TempDir
  static Path root;

  private DSLContext dsl;
  private Sessions sessions;

  @BeforeAll
  static void startServer() {
    server = EmbeddedPostgres.start();
    pool = ConnectionPools.open(server.url(), 6, "outage-test");
    new Migrator(pool).migrate();
  }

  @AfterAll
  static void stopServer() {
    pool.close();
    server.close();
    HTTP.dispatcher().executorService().shutdown();
  }

  @BeforeEach
  void emptyAndUnlimited() {
    dsl = Jooq.using(pool);
    sessions = new Sessions(pool);
    dsl.deleteFrom(BATCH_UPLOAD_SESSIONS).execute();
    dsl.deleteFrom(QUOTA_LIMITS).execute();
    dsl.insertInto(QUOTA_LIMITS)
        .set(QUOTA_LIMITS.PROVIDER, "gemini").set(QUOTA_LIMITS.MODEL, MODEL)
        .set(QUOTA_LIMITS.REQUESTS_PER_MINUTE, 1_000_000).set(QUOTA_LIMITS.INPUT_TOKENS_PER_MINUTE, 1_000_000_000L)
        .set(QUOTA_LIMITS.MAX_IN_FLIGHT, 1000)
        .execute();
  }

  private UUID submit(String name, int count) throws Exception {
    List<NewFile> files = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      Path path = root.resolve(name + "-" + i + ".png");
      Files.write(path, SyntheticReceipts.png(9000 + i, 300, 1.4));
      files.add(NewFile.at(path.getFileName().toString(), "image/png", path.toUri().toString()));
    }
    return sessions.submit(new NewSession(name, null, null, MODEL, 50, "aggressive"), files);
  }

  private List<BatchUploadFilesRecord> files(UUID session) {
    return dsl.selectFrom(BATCH_UPLOAD_FILES).where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session)).fetch();
  }

  private static ReceiptProcessor processor(HikariDataSource dataSource, GeminiClient gemini) {
    return new ReceiptProcessor(new FileSource(FileSourceConfig.defaults().withLocalRoot(root), HTTP),
        new FileValidator(FileValidatorConfig.defaults()), new DuplicateFinder(dataSource),
        new ImagePreprocessor(ImagePreprocessorConfig.defaults()), new QuotaGate(dataSource, QuotaGateConfig.defaults()),
        gemini, ReceiptProcessor.Config.defaults(), new Metrics());
  }

  @Test
  void aDatabaseRestartMidBatchIsWaitedOutFilesInFlightCompleteAndNoAttemptIsSpent() throws Exception {
    UUID session = submit("restart", 40);
    ch.qos.logback.classic.Logger logger = (ch.qos.logback.classic.Logger) LoggerFactory.getLogger("io.batchpilot");
    ListAppender<ILoggingEvent> log = new ListAppender<>();
    log.start();
    logger.addAppender(log);
    SimulatorConfig slow = SimulatorConfig.defaults().withApiKeys(Set.of(KEY))
        .withLatency(LatencyDistribution.fixed(Duration.ofMillis(300)));
    WorkerConfig config = WorkerConfig.defaults().withConcurrency(4)
        .withNotifier(new NotifierConfig(Duration.ofMillis(300), Duration.ofMillis(50), Duration.ofSeconds(1)));
    // A statement sent as the server stopped gets no answer: it fails after this, and is sent again.
    HikariDataSource workerPool = ConnectionPools.open(server.url(), 4, "outage-worker", Duration.ofSeconds(3));
    try (GeminiSimulator sim = GeminiSimulator.start(slow);
         GeminiClient gemini = new GeminiClient(GeminiConfig.of(sim.baseUrl(), KEY))) {
      try (Worker worker = new Worker(config, workerPool, server.url(), processor(workerPool, gemini), new Metrics())) {
        worker.start();
        Eventually.await("a few files completed", DEADLINE, () -> sessions.progress(session).completed() >= 8);

        server.stopServer();
        int sentBefore = sim.requests().size();
        // Files in flight finish their calls meanwhile; their outcomes wait for the database.
        Eventually.await("the calls in flight answered", DEADLINE, () -> sim.requests().size() > sentBefore
            || worker.inFlight() > 0);
        Thread.sleep(2_000);
        server.restart();

        try {
          Eventually.await("every file completed after the restart", DEADLINE,
              () -> sessions.progress(session).completed() == 40);
        } catch (AssertionError e) {
          Thread.getAllStackTraces().forEach((t, stack) -> {
            if (t.getName().startsWith("batchpilot")) {
              System.out.println("STUCK? " + t.getName() + " " + t.getState());
              for (StackTraceElement frame : stack) {
                System.out.println("    at " + frame);
              }
            }
          });
          throw e;
        }
      }
      Progress p = sessions.progress(session);
      assertEquals(0, p.failed() + p.pending() + p.processing());
      assertEquals(sim.requests().size(), p.apiCalls(), "one call per file: none was repeated for the outage");
      assertEquals(40, p.apiCalls());
      for (BatchUploadFilesRecord row : files(session)) {
        assertEquals(1, JobRow.extraction(dsl, row.getId()).attempts(), row.getOriginalFilename() + ": the outage spent no attempt");
        assertNull(row.getErrorType(), row.getOriginalFilename());
      }
    } finally {
      logger.detachAppender(log);
      workerPool.close();
    }
    List<String> errors = log.list.stream().filter(e -> e.getLevel().isGreaterOrEqual(Level.ERROR))
        .map(ILoggingEvent::getFormattedMessage).toList();
    assertEquals(List.of(), errors, "an outage is not a bug: nothing is logged as an error");
    assertTrue(log.list.stream().anyMatch(e -> e.getFormattedMessage().contains("database")),
        "the outage was seen and waited out");
  }

  @Test
  void sigtermWithTheDatabaseStoppedEndsTheWorkerWithinTheGracePeriodAndLosesNothing() throws Exception {
    UUID session = submit("sigterm", 12);
    Duration grace = Duration.ofSeconds(2);
    Duration lease = Duration.ofSeconds(4);
    SimulatorConfig slow = SimulatorConfig.defaults().withApiKeys(Set.of(KEY))
        .withLatency(LatencyDistribution.fixed(Duration.ofMillis(1500)));
    try (GeminiSimulator sim = GeminiSimulator.start(slow)) {
      ProcessBuilder builder = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
          "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"),
          "io.batchpilot.cli.Main", "worker", "--concurrency", "4",
          "--database-url", server.url().withCredentials(), "--gemini-base-url", sim.baseUrl(),
          "--local-file-root", root.toString())
          .redirectErrorStream(true)
          .redirectOutput(root.resolve("sigterm-worker.log").toFile());
      builder.environment().put("GEMINI_API_KEY", KEY);
      builder.environment().put("BATCHPILOT_SHUTDOWN_GRACE", grace.toSeconds() + "s");
      builder.environment().put("BATCHPILOT_LEASE", lease.toSeconds() + "s");
      builder.environment().put("BATCHPILOT_HEARTBEAT", "1s");
      Process worker = builder.start();
      try {
        Eventually.await("the worker holding files", DEADLINE, () -> {
          assertTrue(worker.isAlive(), "the worker exited early: see " + root.resolve("sigterm-worker.log"));
          return dsl.fetchCount(BATCH_UPLOAD_FILES, BATCH_UPLOAD_FILES.STATUS.eq("processing")) >= 4;
        });
        server.stopServer();
        long termAt = System.nanoTime();
        worker.destroy(); // SIGTERM
        // By design a stop takes at most the grace period, the worker's overrun (Worker.STOP_OVERRUN) and the
        // rest (WorkerProcess.CLOSE_REST): grace + 4.5 s; a few more seconds for the JVM on a busy machine.
        boolean exited = worker.waitFor(grace.plusSeconds(8).toMillis(), TimeUnit.MILLISECONDS);
        Duration took = Duration.ofNanos(System.nanoTime() - termAt);
        assertTrue(exited, "the worker was still running " + took + " after SIGTERM with the database down; see "
            + root.resolve("sigterm-worker.log"));
        System.out.printf("SIGTERM with the database stopped: the worker exited after %d ms (grace %s)%n",
            took.toMillis(), grace);
      } finally {
        worker.destroyForcibly();
        server.restart();
      }

      // Nothing is lost: what the dead worker held comes back when its leases run out.
      LeaseRescuer rescuer = new LeaseRescuer(pool, 100);
      WorkerConfig config = WorkerConfig.defaults().withConcurrency(4)
          .withNotifier(new NotifierConfig(Duration.ofMillis(300), Duration.ofMillis(50), Duration.ofSeconds(1)));
      try (GeminiClient gemini = new GeminiClient(GeminiConfig.of(sim.baseUrl(), KEY));
           Worker survivor = new Worker(config, pool, server.url(), processor(pool, gemini), new Metrics())) {
        survivor.start();
        Eventually.await("every file completed", DEADLINE, () -> {
          rescuer.runOnce();
          return sessions.progress(session).completed() == 12;
        });
      }
      Progress p = sessions.progress(session);
      assertEquals(0, p.failed() + p.pending() + p.processing());
    }
  }
}
