package io.batchpilot.store;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;
import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_SESSIONS;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.UUID;
import org.jooq.DSLContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(PostgresExtension.class)
class JooqTest {

  @Test
  void utcTimestampsRoundTripThroughPgjdbcNg(TestDatabase db) {
    DSLContext dsl = Jooq.using(db.dataSource());
    UUID session = dsl.insertInto(BATCH_UPLOAD_SESSIONS).set(BATCH_UPLOAD_SESSIONS.TOTAL_FILES, 1)
        .set(BATCH_UPLOAD_SESSIONS.USER_ID, (UUID) null)
        .returning(BATCH_UPLOAD_SESSIONS.ID).fetchOne().getId();
    OffsetDateTime due = OffsetDateTime.of(2026, 1, 2, 3, 4, 5, 0, ZoneOffset.UTC);
    UUID file = dsl.insertInto(BATCH_UPLOAD_FILES)
        .set(BATCH_UPLOAD_FILES.BATCH_SESSION_ID, session)
        .set(BATCH_UPLOAD_FILES.ORIGINAL_FILENAME, "a.jpg")
        .set(BATCH_UPLOAD_FILES.PROCESSING_STARTED_AT, due)
        .returning(BATCH_UPLOAD_FILES.ID).fetchOne().getId();

    OffsetDateTime read = dsl.select(BATCH_UPLOAD_FILES.PROCESSING_STARTED_AT).from(BATCH_UPLOAD_FILES)
        .where(BATCH_UPLOAD_FILES.ID.eq(file)).fetchOne().value1();
    assertEquals(due.toInstant(), read.toInstant());
    assertEquals(1, dsl.fetchValue(BATCH_UPLOAD_SESSIONS.FILES_PENDING));
  }
}
