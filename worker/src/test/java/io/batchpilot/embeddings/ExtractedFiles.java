package io.batchpilot.embeddings;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;
import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_SESSIONS;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.zaxxer.hikari.HikariDataSource;
import io.batchpilot.db.ConnectionPools;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.metrics.Metrics;
import io.batchpilot.pipeline.FileProcessor;
import io.batchpilot.pipeline.Outcome;
import io.batchpilot.session.NewFile;
import io.batchpilot.session.NewSession;
import io.batchpilot.session.Sessions;
import io.batchpilot.store.Jooq;
import io.batchpilot.testing.Eventually;
import io.batchpilot.worker.Worker;
import io.batchpilot.worker.WorkerConfig;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import javax.sql.DataSource;
import org.jooq.DSLContext;
import org.jooq.JSONB;
import org.jooq.Query;

/** A session whose files went through extraction as the pipeline leaves them: completed with a result. */
public final class ExtractedFiles {

  private static final ObjectMapper JSON = new ObjectMapper();

  private ExtractedFiles() {}

  public record Session(UUID id, List<UUID> files) {}

  /** A receipt result in the extraction's stored shape; {@code n} varies merchant, items and totals. */
  public static String result(int n) {
    return """
        {"merchant": "Shop %d", "date": "2026-11-%02d", "currency": "USD", "subtotal": %d.50, "tax": 1.25,
         "total": %d.75, "line_items": [{"description": "Item %d", "quantity": 2, "unit_price": %d.25,
         "amount": %d.50}]}""".formatted(n, 1 + n % 28, n, n + 1, n, n, n);
  }

  /**
   * Submits a session of {@code count} files and lets a real {@link Worker} extract them (the
   * processor answers {@link #result} for file i), as a production session goes through the pipeline.
   */
  public static Session throughPipeline(TestDatabase db, int count) throws Exception {
    Sessions sessions = new Sessions(db.dataSource());
    List<NewFile> list = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      list.add(NewFile.at("receipt-" + i + ".png", "image/png", "file:receipts/" + i + ".png"));
    }
    UUID session = sessions.submit(new NewSession("receipts", null, null, "gemini-2.5-flash", 16, "aggressive"), list);
    FileProcessor extraction = file -> {
      int order = Integer.parseInt(file.originalFilename().replaceAll("\\D", ""));
      try {
        return Outcome.completed(file, JSON.readTree(result(order)), null, 258, 40, 298, 1);
      } catch (JsonProcessingException e) {
        throw new IllegalStateException(e);
      }
    };
    try (HikariDataSource pool = ConnectionPools.open(db.url(), 3, "extraction")) {
      Worker worker = new Worker(WorkerConfig.defaults().withConcurrency(8), pool, db.url(), extraction, new Metrics());
      worker.start();
      try {
        Eventually.await(count + " files extracted", Duration.ofSeconds(120),
            () -> sessions.progress(session).completed() == count);
      } finally {
        worker.stop();
      }
    }
    List<UUID> files = Jooq.using(db.dataSource()).select(BATCH_UPLOAD_FILES.ID).from(BATCH_UPLOAD_FILES)
        .where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session)).orderBy(BATCH_UPLOAD_FILES.UPLOAD_ORDER)
        .fetch(BATCH_UPLOAD_FILES.ID);
    return new Session(session, files);
  }

  /** Creates a session of {@code count} files, then completes them in one statement, as a completer does. */
  public static Session completed(DataSource dataSource, UUID userId, int count) {
    DSLContext dsl = Jooq.using(dataSource);
    UUID session = dsl.insertInto(BATCH_UPLOAD_SESSIONS)
        .set(BATCH_UPLOAD_SESSIONS.TOTAL_FILES, count)
        .set(BATCH_UPLOAD_SESSIONS.USER_ID, userId)
        .returning(BATCH_UPLOAD_SESSIONS.ID).fetchOne().getId();
    List<UUID> files = new ArrayList<>();
    List<Query> inserts = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      UUID file = UUID.randomUUID();
      files.add(file);
      inserts.add(dsl.insertInto(BATCH_UPLOAD_FILES)
          .set(BATCH_UPLOAD_FILES.ID, file)
          .set(BATCH_UPLOAD_FILES.BATCH_SESSION_ID, session)
          .set(BATCH_UPLOAD_FILES.ORIGINAL_FILENAME, "receipt-" + i + ".png")
          .set(BATCH_UPLOAD_FILES.UPLOAD_ORDER, i));
    }
    dsl.batch(inserts).execute();
    List<Query> completions = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      completions.add(dsl.update(BATCH_UPLOAD_FILES)
          .set(BATCH_UPLOAD_FILES.STATUS, "completed")
          .set(BATCH_UPLOAD_FILES.RESULT, JSONB.valueOf(result(i)))
          .where(BATCH_UPLOAD_FILES.ID.eq(files.get(i))));
    }
    dsl.batch(completions).execute();
    return new Session(session, files);
  }
}
