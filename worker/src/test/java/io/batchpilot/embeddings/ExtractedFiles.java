package io.batchpilot.embeddings;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;
import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_SESSIONS;

import io.batchpilot.store.Jooq;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import javax.sql.DataSource;
import org.jooq.DSLContext;
import org.jooq.JSONB;
import org.jooq.Query;

/** A session whose files went through extraction as the pipeline leaves them: completed with a result. */
public final class ExtractedFiles {

  private ExtractedFiles() {}

  public record Session(UUID id, List<UUID> files) {}

  /** A receipt result in the extraction's stored shape; {@code n} varies merchant, items and totals. */
  public static String result(int n) {
    return """
        {"merchant": "Shop %d", "date": "2026-11-%02d", "currency": "USD", "subtotal": %d.50, "tax": 1.25,
         "total": %d.75, "line_items": [{"description": "Item %d", "quantity": 2, "unit_price": %d.25,
         "amount": %d.50}]}""".formatted(n, 1 + n % 28, n, n + 1, n, n, n);
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
