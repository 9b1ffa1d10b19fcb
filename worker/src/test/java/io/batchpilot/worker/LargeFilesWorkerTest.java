package io.batchpilot.worker;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;
import static io.batchpilot.jooq.Tables.QUOTA_LIMITS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.files.BigImages;
import io.batchpilot.gemini.GeminiConfig;
import io.batchpilot.simulator.GeminiSimulator;
import io.batchpilot.simulator.SimulatorConfig;
import io.batchpilot.session.NewFile;
import io.batchpilot.session.NewSession;
import io.batchpilot.session.Sessions;
import io.batchpilot.store.Jooq;
import io.batchpilot.testing.Eventually;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.jooq.DSLContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 17: a worker with a heap smaller than its files completes them. A file's bytes are spooled
 * to a temporary file, decoded from there and (a PDF) sent from there, so no file is ever held
 * whole: held whole (as read, as the copy, as the request's base64), the photo alone needs 40 MB
 * and the PDFs more, so the worker ran out of memory on all three before.
 */
@ExtendWith(PostgresExtension.class)
class LargeFilesWorkerTest {

  private static final String MODEL = "gemini-2.5-flash";
  private static final String KEY = "large-files-key";
  /** Less than any one of the files takes held whole with its copies (the photo alone: 20 MB read, 20 MB copied). */
  private static final String HEAP = "-Xmx40m";

  /** Requests above this go through the File API (Google's inline limit is 100 MB; a PDF of that would take minutes here). */
  private static final long FILE_API_THRESHOLD = 20_000_000L;

  /** The worker's java.io.tmpdir, where it spools its files. */
  @TempDir
  Path tmp;

  @Test
  void aWorkerWithA40MbHeapCompletesAPhotoAndPdfsLargerThanItsHeapAllowsHeldWhole(TestDatabase db) throws Exception {
    Path photo = BigImages.photoJpeg(6000, 4000, 0.95f);
    Path inlinePdf = BigImages.pdfOf(BigImages.photoJpeg(5000, 3000, 0.95f));
    Path uploadedPdf = BigImages.pdfOf(photo);
    assertTrue(Files.size(photo) > 19_000_000, photo + " is " + Files.size(photo) + " bytes");
    assertTrue(Files.size(inlinePdf) > 10_000_000 && 4 * Files.size(inlinePdf) / 3 < FILE_API_THRESHOLD,
        inlinePdf + " is " + Files.size(inlinePdf) + " bytes: it should be large and still go inline");
    assertTrue(4 * Files.size(uploadedPdf) / 3 > FILE_API_THRESHOLD,
        uploadedPdf + " is " + Files.size(uploadedPdf) + " bytes: it should go through the File API");

    DSLContext dsl = Jooq.using(db.dataSource());
    dsl.deleteFrom(QUOTA_LIMITS).execute();
    dsl.insertInto(QUOTA_LIMITS)
        .set(QUOTA_LIMITS.PROVIDER, "gemini").set(QUOTA_LIMITS.MODEL, MODEL)
        .set(QUOTA_LIMITS.REQUESTS_PER_MINUTE, 1000).set(QUOTA_LIMITS.INPUT_TOKENS_PER_MINUTE, 10_000_000L)
        .set(QUOTA_LIMITS.MAX_IN_FLIGHT, 100)
        .execute();
    UUID session = new Sessions(db.dataSource()).submit(new NewSession("large files", null, null, MODEL, 50, "aggressive"),
        List.of(NewFile.at("photo.jpg", "image/jpeg", photo.toUri().toString()),
            NewFile.at("inline.pdf", "application/pdf", inlinePdf.toUri().toString()),
            NewFile.at("uploaded.pdf", "application/pdf", uploadedPdf.toUri().toString())));

    Path log = photo.resolveSibling("large-files-worker.log");
    try (GeminiSimulator sim = GeminiSimulator.start(SimulatorConfig.defaults().withApiKeys(Set.of(KEY)))) {
      ProcessBuilder builder = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
          HEAP, "-XX:+UseSerialGC", "-Djava.io.tmpdir=" + tmp, "-cp", System.getProperty("java.class.path"),
          "io.batchpilot.cli.Main", "worker", "--concurrency", "3",
          "--database-url", db.url().withCredentials(), "--gemini-base-url", sim.baseUrl(),
          "--local-file-root", photo.getParent().toAbsolutePath().toString())
          .redirectErrorStream(true)
          .redirectOutput(log.toFile());
      builder.environment().put("GEMINI_API_KEY", KEY);
      builder.environment().put(GeminiConfig.FILE_API_THRESHOLD_BYTES.name(), Long.toString(FILE_API_THRESHOLD));
      Process worker = builder.start();
      try {
        Eventually.await("every file completed or failed", Duration.ofSeconds(120), () -> {
          assertTrue(worker.isAlive(), "the worker exited: see " + log.toAbsolutePath());
          return dsl.fetchCount(BATCH_UPLOAD_FILES, BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session)
              .and(BATCH_UPLOAD_FILES.STATUS.in("completed", "failed"))) == 3;
        });
      } finally {
        worker.destroyForcibly();
      }
    }
    String outcomes = dsl.select(BATCH_UPLOAD_FILES.ORIGINAL_FILENAME, BATCH_UPLOAD_FILES.STATUS, BATCH_UPLOAD_FILES.ERROR_MESSAGE)
        .from(BATCH_UPLOAD_FILES).where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session))
        .orderBy(BATCH_UPLOAD_FILES.ORIGINAL_FILENAME).fetch()
        .stream().map(r -> r.value1() + " " + r.value2() + (r.value3() == null ? "" : ": " + r.value3()))
        .collect(Collectors.joining("\n"));
    assertEquals("inline.pdf completed\nphoto.jpg completed\nuploaded.pdf completed", outcomes);
    try (Stream<Path> left = Files.list(tmp)) {
      assertEquals(List.of(), left.filter(f -> f.getFileName().toString().startsWith("batchpilot-")).toList(),
          "the temporary copies are deleted once their files are done");
    }
  }
}
