package io.batchpilot.worker;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;
import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_SESSIONS;
import static io.batchpilot.jooq.Tables.QUOTA_LIMITS;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.zaxxer.hikari.HikariDataSource;
import io.batchpilot.db.ConnectionPools;
import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.limiter.Admission;
import io.batchpilot.limiter.QuotaGate;
import io.batchpilot.limiter.QuotaGateConfig;
import io.batchpilot.limiter.Strategy;
import io.batchpilot.metrics.Metrics;
import io.batchpilot.notify.NotifierConfig;
import io.batchpilot.pipeline.FileProcessor;
import io.batchpilot.pipeline.Outcome;
import io.batchpilot.session.NewFile;
import io.batchpilot.session.NewSession;
import io.batchpilot.session.Sessions;
import io.batchpilot.store.Jooq;
import io.batchpilot.testing.Eventually;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.function.Function;
import javax.sql.DataSource;
import org.jooq.DSLContext;
import org.jooq.impl.DSL;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Sessions share the fleet: judged by counts of finished files at the instant one session ended,
 * never by timings, so a loaded machine slows the run without changing the verdict.
 */
@ExtendWith(PostgresExtension.class)
class FairShareTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String MODEL = "fair-share-test";
  private static final Duration DEADLINE = Duration.ofSeconds(120);
  private static final WorkerConfig CONFIG = WorkerConfig.defaults().withConcurrency(8)
      .withNotifier(new NotifierConfig(Duration.ofSeconds(1), Duration.ofMillis(50), Duration.ofSeconds(1)));

  private final TestDatabase db;
  private final DSLContext dsl;
  private final Sessions sessions;

  FairShareTest(TestDatabase db) {
    this.db = db;
    this.dsl = Jooq.using(db.dataSource());
    this.sessions = new Sessions(db.dataSource());
  }

  @BeforeEach
  void empty() {
    dsl.deleteFrom(BATCH_UPLOAD_SESSIONS).execute();
    dsl.deleteFrom(QUOTA_LIMITS).execute();
  }

  private UUID submit(String name, int files) {
    List<NewFile> list = new ArrayList<>(files);
    for (int i = 0; i < files; i++) {
      list.add(NewFile.at(name + "-" + i + ".png", "image/png", "file:" + name + "/" + i + ".png"));
    }
    return sessions.submit(new NewSession(name, null, null, MODEL, 1000, "aggressive"), list);
  }

  @Test
  void twoEqualSessionsUnderABindingQuotaGetEqualShares() throws Exception {
    // 40 requests a second through the real gate: the quota, not the 16 threads, sets the pace.
    dsl.insertInto(QUOTA_LIMITS)
        .set(QUOTA_LIMITS.PROVIDER, "gemini").set(QUOTA_LIMITS.MODEL, MODEL)
        .set(QUOTA_LIMITS.REQUESTS_PER_MINUTE, 40).set(QUOTA_LIMITS.INPUT_TOKENS_PER_MINUTE, 1_000_000_000L)
        .set(QUOTA_LIMITS.WINDOW_MS, 1000).set(QUOTA_LIMITS.BUCKETS_PER_WINDOW, 100)
        .set(QUOTA_LIMITS.SAFETY_MARGIN_MS, 50).set(QUOTA_LIMITS.MAX_IN_FLIGHT, 1000)
        .execute();
    int files = 200;
    UUID a = submit("a", files);
    UUID b = submit("b", files);

    runFleet(pool -> gateBound(new QuotaGate(pool, QuotaGateConfig.defaults())),
        () -> sessions.progress(a).completed() + sessions.progress(b).completed() == 2 * files);

    OffsetDateTime aEnd = lastCompletion(a);
    OffsetDateTime bEnd = lastCompletion(b);
    UUID later = aEnd.isBefore(bEnd) ? b : a;
    int laterDone = completedBy(later, aEnd.isBefore(bEnd) ? aEnd : bEnd);
    // The other session still has its share of the 16 threads in flight then; all but those are done.
    assertTrue(laterDone >= files * 0.9, "when the first session finished, the other had " + laterDone
        + " of " + files + " files done: its throughput was not within 10%");
  }

  @Test
  void tenThousandFileSessionDoesNotDelayATenFileOne() throws Exception {
    UUID big = submit("big", 10_000);
    UUID small = submit("small", 10);
    FileProcessor instant = file -> Outcome.completed(file, JSON.createObjectNode(), null, 1, 1, 2, 1);

    runFleet(pool -> instant, () -> sessions.progress(small).completed() == 10);

    int bigDone = completedBy(big, lastCompletion(small));
    assertTrue(bigDone < 100, "the 10-file session submitted after a 10,000-file one waited for " + bigDone
        + " of the big one's files; it should get a turn in the first claims");
  }

  /** Two workers, each on its own pool, until {@code done}. */
  private void runFleet(Function<DataSource, FileProcessor> processor, java.util.function.BooleanSupplier done) throws Exception {
    List<HikariDataSource> pools = new ArrayList<>();
    List<Worker> workers = new ArrayList<>();
    try {
      for (int i = 0; i < 2; i++) {
        HikariDataSource pool = ConnectionPools.open(db.url(), 3, "fair-share-" + i);
        pools.add(pool);
        Worker worker = new Worker(CONFIG, pool, db.url(), processor.apply(pool), new Metrics());
        workers.add(worker);
        worker.start();
      }
      Eventually.await("the sessions' files completed", DEADLINE, done);
    } finally {
      for (Worker w : workers) {
        w.stop();
      }
      pools.forEach(HikariDataSource::close);
    }
  }

  /** Completes a file once the gate grants its request. */
  private static FileProcessor gateBound(QuotaGate gate) {
    return file -> {
      Admission admission = gate.acquireWithin("gemini", MODEL, 1, Strategy.AGGRESSIVE, Duration.ofSeconds(30));
      if (admission instanceof Admission.Granted granted) {
        gate.release(granted.permit());
        return Outcome.completed(file, JSON.createObjectNode(), null, 1, 1, 2, 1);
      }
      return Outcome.deferred(file, ((Admission.Wait) admission).delay(), "quota");
    };
  }

  private OffsetDateTime lastCompletion(UUID session) {
    return dsl.select(DSL.max(BATCH_UPLOAD_FILES.PROCESSING_COMPLETED_AT)).from(BATCH_UPLOAD_FILES)
        .where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session)).fetchOne().value1();
  }

  private int completedBy(UUID session, OffsetDateTime instant) {
    return dsl.fetchCount(BATCH_UPLOAD_FILES, BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session)
        .and(BATCH_UPLOAD_FILES.STATUS.eq("completed"))
        .and(BATCH_UPLOAD_FILES.PROCESSING_COMPLETED_AT.le(instant)));
  }
}
