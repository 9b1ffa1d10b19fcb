package io.batchpilot.embeddings;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;
import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_SESSIONS;
import static io.batchpilot.jooq.Tables.RECEIPT_EMBEDDINGS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.jooq.tables.records.BatchUploadFilesRecord;
import io.batchpilot.maintenance.LeaseRescuer;
import io.batchpilot.store.JobKind;
import io.batchpilot.store.Jobs;
import io.batchpilot.store.Jooq;
import io.batchpilot.testing.JobRow;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CyclicBarrier;
import java.util.stream.Collectors;
import org.jooq.DSLContext;
import org.jooq.JSONB;
import org.jooq.exception.DataAccessException;
import org.jooq.impl.DSL;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(PostgresExtension.class)
class EmbeddingQueueTest {

  private static final Duration LEASE = Duration.ofMinutes(5);

  private TestDatabase db;
  private DSLContext dsl;
  private EmbeddingQueue queue;

  @BeforeEach
  void clean(TestDatabase db) {
    this.db = db;
    this.dsl = Jooq.using(db.dataSource());
    this.queue = new EmbeddingQueue(db.dataSource());
    dsl.deleteFrom(BATCH_UPLOAD_SESSIONS).execute();
  }

  @Test
  void completingAnExtractionQueuesItsEmbeddingInTheSameStatement() {
    UUID file = ExtractedFiles.completed(db.dataSource(), null, 1).files().get(0);

    BatchUploadFilesRecord row = fileRow(file);
    assertEquals("pending", JobRow.embedding(dsl, row.getId()).status());
    assertEquals(0, JobRow.embedding(dsl, row.getId()).attempts());
    assertTrue(queue.anyDue());
  }

  @Test
  void aFileNotYetExtractedHasNoEmbeddingWork() {
    UUID session = dsl.insertInto(BATCH_UPLOAD_SESSIONS).set(BATCH_UPLOAD_SESSIONS.TOTAL_FILES, 1)
        .returning(BATCH_UPLOAD_SESSIONS.ID).fetchOne().getId();
    UUID file = dsl.insertInto(BATCH_UPLOAD_FILES).set(BATCH_UPLOAD_FILES.BATCH_SESSION_ID, session)
        .set(BATCH_UPLOAD_FILES.ORIGINAL_FILENAME, "a.png").returning(BATCH_UPLOAD_FILES.ID).fetchOne().getId();
    dsl.update(BATCH_UPLOAD_FILES).set(BATCH_UPLOAD_FILES.STATUS, "failed").where(BATCH_UPLOAD_FILES.ID.eq(file)).execute();

    assertNull(JobRow.embedding(dsl, file));
    assertFalse(queue.anyDue());
    assertTrue(queue.claim("w1", 100, 1, LEASE).isEmpty());
  }

  @Test
  void aClaimWaitingForAFullBatchTakesNothingUntilEnoughAreDue() {
    ExtractedFiles.completed(db.dataSource(), null, 50);

    assertTrue(queue.claim("w1", 100, 100, LEASE).isEmpty(), "50 due, a full batch is 100");
    assertEquals(50, queue.claim("w1", 100, 1, LEASE).size(), "after the linger, whatever is due");
    assertFalse(queue.anyDue());
  }

  @Test
  void concurrentWorkersNeverClaimTheSameEmbedding() throws Exception {
    ExtractedFiles.completed(db.dataSource(), null, 150);
    int workers = 4;
    CyclicBarrier start = new CyclicBarrier(workers);
    List<CompletableFuture<List<ClaimedEmbedding>>> claims = new ArrayList<>();
    for (int w = 0; w < workers; w++) {
      String worker = "w" + w;
      claims.add(CompletableFuture.supplyAsync(() -> {
        try {
          start.await();
        } catch (Exception e) {
          throw new IllegalStateException(e);
        }
        List<ClaimedEmbedding> mine = new ArrayList<>();
        for (List<ClaimedEmbedding> got = queue.claim(worker, 10, 1, LEASE); !got.isEmpty();
            got = queue.claim(worker, 10, 1, LEASE)) {
          mine.addAll(got);
        }
        return mine;
      }));
    }
    List<UUID> all = new ArrayList<>();
    for (CompletableFuture<List<ClaimedEmbedding>> claim : claims) {
      claim.get().forEach(c -> all.add(c.fileId()));
    }
    assertEquals(150, all.size());
    assertEquals(150, new HashSet<>(all).size(), "no file claimed twice");
  }

  @Test
  void anEmbeddingWhoseWorkerStoppedIsClaimedAgainAndTheStaleOutcomeIsIgnored() {
    UUID file = ExtractedFiles.completed(db.dataSource(), null, 1).files().get(0);
    ClaimedEmbedding first = queue.claim("dead-worker", 100, 1, LEASE).get(0);
    assertTrue(queue.claim("live-worker", 100, 1, LEASE).isEmpty(), "held while the lease runs");
    // The lease runs out: moved into the past rather than waited for.
    dsl.update(Jobs.JOBS)
        .set(Jobs.LEASE_EXPIRES_AT, DSL.field("clock_timestamp() - interval '1 second'", OffsetDateTime.class))
        .where(Jobs.FILE_ID.eq(file)).and(Jobs.kindIs(JobKind.EMBEDDING)).execute();
    assertEquals(1, new LeaseRescuer(db.dataSource(), 10).runOnce().pending(), "the shared rescue takes it back");

    ClaimedEmbedding second = queue.claim("live-worker", 100, 1, LEASE).get(0);
    assertEquals(file, second.fileId());
    assertEquals(2, second.attempts());

    assertEquals(0, queue.record(List.of(EmbeddingOutcome.completed(first, "m", "RETRIEVAL_DOCUMENT", "x",
        vector(768, 1)))), "the dead worker's claim no longer holds");
    assertEquals(1, queue.record(List.of(EmbeddingOutcome.completed(second, "m", "RETRIEVAL_DOCUMENT", "x",
        vector(768, 2)))));
    assertEquals("completed", JobRow.embedding(dsl, fileRow(file).getId()).status());
    Float[] stored = dsl.select(RECEIPT_EMBEDDINGS.EMBEDDING).from(RECEIPT_EMBEDDINGS).fetchOne().value1();
    assertEquals(2f, stored[0], "the live worker's vector");
  }

  @Test
  void aCompletedEmbeddingStoresItsVectorAndText() {
    UUID file = ExtractedFiles.completed(db.dataSource(), null, 1).files().get(0);
    ClaimedEmbedding claim = queue.claim("w1", 100, 1, LEASE).get(0);

    queue.record(List.of(EmbeddingOutcome.completed(claim, "gemini-embedding-001", "RETRIEVAL_DOCUMENT",
        "Merchant: Shop 0\n", vector(768, 0.25f))));

    BatchUploadFilesRecord row = fileRow(file);
    assertEquals("completed", JobRow.embedding(dsl, row.getId()).status());
    assertTrue(JobRow.embedding(dsl, row.getId()).finishedAt() != null);
    assertNull(JobRow.embedding(dsl, row.getId()).claimedBy());
    var stored = dsl.selectFrom(RECEIPT_EMBEDDINGS).fetchOne();
    assertEquals(768, stored.getDimensions());
    assertEquals(768, stored.getEmbedding().length);
    assertEquals(0.25f, stored.getEmbedding()[767]);
    assertEquals("Merchant: Shop 0\n", stored.getContent());
    assertEquals(claim.sessionId(), stored.getBatchSessionId());
  }

  @Test
  void aVectorOfTheWrongSizeIsRefusedByTheSchema() {
    ExtractedFiles.completed(db.dataSource(), null, 1);
    ClaimedEmbedding claim = queue.claim("w1", 100, 1, LEASE).get(0);

    assertThrows(DataAccessException.class, () -> queue.record(List.of(
        EmbeddingOutcome.completed(claim, "gemini-embedding-001", "RETRIEVAL_DOCUMENT", "x", vector(3072, 1)))));
    assertEquals(768, queue.columnDimensions());
  }

  @Test
  void aFailedEmbeddingLeavesTheExtractionAndCountersAloneAndWaitsForItsRetry() {
    ExtractedFiles.Session session = ExtractedFiles.completed(db.dataSource(), null, 2);
    String resultBefore = fileRow(session.files().get(0)).getResult().data();
    List<ClaimedEmbedding> claimed = queue.claim("w1", 100, 1, LEASE);

    queue.record(List.of(
        EmbeddingOutcome.retry(claimed.get(0), Duration.ofHours(1), "overloaded", "the model is overloaded"),
        EmbeddingOutcome.failed(claimed.get(1), "invalid_request", "refused")));

    for (UUID file : session.files()) {
      BatchUploadFilesRecord row = fileRow(file);
      assertEquals("completed", row.getStatus(), "the extraction stays completed");
      assertTrue(row.getResult() != null);
      assertNull(row.getErrorMessage(), "the file's own error is the extraction's");
    }
    assertEquals(JSONB.valueOf(resultBefore).toString(), fileRow(claimed.get(0).fileId()).getResult().toString());
    Set<String> statuses = session.files().stream().map(f -> JobRow.embedding(dsl, fileRow(f).getId()).status()).collect(Collectors.toSet());
    assertEquals(Set.of("pending", "failed"), statuses);
    BatchUploadFilesRecord retried = fileRow(claimed.get(0).fileId());
    assertEquals("overloaded", JobRow.embedding(dsl, retried.getId()).errorType());
    assertEquals("the model is overloaded", JobRow.embedding(dsl, retried.getId()).errorMessage());
    assertEquals(2, dsl.fetchValue(BATCH_UPLOAD_SESSIONS.FILES_COMPLETED));
    assertFalse(queue.anyDue(), "the retry is an hour away");
    assertTrue(queue.claim("w1", 100, 1, LEASE).isEmpty());
  }

  @Test
  void aPostponedEmbeddingGivesItsAttemptBack() {
    UUID file = ExtractedFiles.completed(db.dataSource(), null, 1).files().get(0);
    ClaimedEmbedding claim = queue.claim("w1", 100, 1, LEASE).get(0);
    assertEquals(1, claim.attempts());

    queue.record(List.of(EmbeddingOutcome.postpone(claim, Duration.ZERO)));

    assertEquals(0, JobRow.embedding(dsl, fileRow(file).getId()).attempts());
    assertEquals(1, queue.claim("w1", 100, 1, LEASE).get(0).attempts());
  }

  @Test
  void aNewExtractionOfACompletedFileIsEmbeddedAgain() {
    UUID file = ExtractedFiles.completed(db.dataSource(), null, 1).files().get(0);
    ClaimedEmbedding claim = queue.claim("w1", 100, 1, LEASE).get(0);
    queue.record(List.of(EmbeddingOutcome.completed(claim, "m", "RETRIEVAL_DOCUMENT", "x", vector(768, 1))));

    dsl.update(BATCH_UPLOAD_FILES).set(BATCH_UPLOAD_FILES.RESULT, JSONB.valueOf(ExtractedFiles.result(7)))
        .where(BATCH_UPLOAD_FILES.ID.eq(file)).execute();

    assertEquals("pending", JobRow.embedding(dsl, fileRow(file).getId()).status());
  }

  private BatchUploadFilesRecord fileRow(UUID file) {
    return dsl.selectFrom(BATCH_UPLOAD_FILES).where(BATCH_UPLOAD_FILES.ID.eq(file)).fetchOne();
  }

  static float[] vector(int size, float value) {
    float[] v = new float[size];
    java.util.Arrays.fill(v, value);
    return v;
  }
}
