package io.batchpilot.cli;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;
import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_SESSIONS;
import static io.batchpilot.jooq.Tables.QUOTA_LIMITS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.store.Jooq;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.OffsetDateTime;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jooq.DSLContext;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

@ExtendWith(PostgresExtension.class)
class SessionCommandsTest {

  private static final Pattern SESSION_ID = Pattern.compile("session ([0-9a-f-]{36})");

  private final TestDatabase db;
  private final DSLContext dsl;
  private final String url;

  SessionCommandsTest(TestDatabase db) {
    this.db = db;
    this.dsl = Jooq.using(db.dataSource());
    this.url = db.url().withCredentials();
  }

  @BeforeEach
  void empty() {
    dsl.deleteFrom(BATCH_UPLOAD_SESSIONS).execute();
  }

  private UUID submit(Path folder) {
    CliRun run = CliRun.of("submit", "--database-url", url, folder.toString());
    assertEquals(ExitCode.OK, run.exitCode(), run.err());
    Matcher m = SESSION_ID.matcher(run.out());
    assertTrue(m.find(), run.out());
    return UUID.fromString(m.group(1));
  }

  @Test
  void submitRegistersEverySupportedFileOfAFolderAsPendingFileUrls(@TempDir Path folder) throws Exception {
    Files.write(folder.resolve("a.jpg"), new byte[] {1});
    Files.createDirectories(folder.resolve("nested"));
    Files.write(folder.resolve("nested/b.PDF"), new byte[] {1});
    Files.write(folder.resolve("notes.txt"), new byte[] {1});

    UUID session = submit(folder);

    assertEquals(2, dsl.fetchCount(BATCH_UPLOAD_FILES, BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session)
        .and(BATCH_UPLOAD_FILES.STATUS.eq("pending")).and(BATCH_UPLOAD_FILES.SOURCE_URL.startsWith("file:"))));
    assertEquals("application/pdf", dsl.select(BATCH_UPLOAD_FILES.FILE_TYPE).from(BATCH_UPLOAD_FILES)
        .where(BATCH_UPLOAD_FILES.ORIGINAL_FILENAME.eq("b.PDF")).fetchOne().value1());
    assertEquals(2, dsl.select(BATCH_UPLOAD_SESSIONS.TOTAL_FILES).from(BATCH_UPLOAD_SESSIONS)
        .where(BATCH_UPLOAD_SESSIONS.ID.eq(session)).fetchOne().value1());
  }

  @Test
  void aFolderWithNoSupportedFilesIsRefusedAndChangesNothing(@TempDir Path folder) throws Exception {
    Files.write(folder.resolve("notes.txt"), new byte[] {1});
    CliRun run = CliRun.of("submit", "--database-url", url, folder.toString());
    assertEquals(ExitCode.USAGE, run.exitCode());
    assertTrue(run.err().contains("no supported files"), run.err());
    assertEquals(0, dsl.fetchCount(BATCH_UPLOAD_SESSIONS));
  }

  @Test
  void anUnknownOrMalformedSessionIdSaysSoWithItsOwnExitCode() {
    UUID unknown = UUID.randomUUID();
    for (String command : new String[] {"status", "pause", "resume", "cancel"}) {
      CliRun missing = CliRun.of(command, "--database-url", url, unknown.toString());
      assertEquals(ExitCode.NOT_FOUND, missing.exitCode(), command + ": " + missing.err());
      assertTrue(missing.err().contains("no batch session " + unknown), missing.err());

      CliRun malformed = CliRun.of(command, "--database-url", url, "not-a-session");
      assertEquals(ExitCode.USAGE, malformed.exitCode(), command + ": " + malformed.err());
      assertTrue(malformed.err().contains("'not-a-session' is not a session id"), malformed.err());
    }
  }

  @Test
  void pauseResumeAndCancelSteerTheSessionAndRefuseWhatItsStateDoesNotAllow(@TempDir Path folder) throws Exception {
    Files.write(folder.resolve("a.png"), new byte[] {1});
    Files.write(folder.resolve("b.png"), new byte[] {1});
    UUID session = submit(folder);
    String id = session.toString();

    assertEquals(ExitCode.FAILED, CliRun.of("resume", "--database-url", url, id).exitCode(), "nothing to resume");
    assertEquals(ExitCode.OK, CliRun.of("pause", "--database-url", url, id).exitCode());
    assertEquals("paused", status(session));
    assertEquals(ExitCode.OK, CliRun.of("resume", "--database-url", url, id).exitCode());
    assertEquals("processing", status(session));

    CliRun cancel = CliRun.of("cancel", "--database-url", url, id);
    assertEquals(ExitCode.OK, cancel.exitCode(), cancel.err());
    assertTrue(cancel.out().contains("2 files skipped"), cancel.out());
    assertEquals(2, dsl.fetchCount(BATCH_UPLOAD_FILES, BATCH_UPLOAD_FILES.STATUS.eq("skipped")));
    CliRun again = CliRun.of("cancel", "--database-url", url, id);
    assertEquals(ExitCode.FAILED, again.exitCode());
    assertTrue(again.err().contains("already ended"), again.err());

    CliRun status = CliRun.of("status", "--database-url", url, id);
    assertEquals(ExitCode.OK, status.exitCode(), status.err());
    assertTrue(status.out().contains("cancelled") && status.out().contains("2 skipped"), status.out());
    CliRun list = CliRun.of("status", "--database-url", url);
    assertTrue(list.out().contains(id), list.out());
  }

  private String status(UUID session) {
    return dsl.select(BATCH_UPLOAD_SESSIONS.STATUS).from(BATCH_UPLOAD_SESSIONS)
        .where(BATCH_UPLOAD_SESSIONS.ID.eq(session)).fetchOne().value1();
  }

  @Test
  void anUnknownStrategyIsRefusedBeforeAnythingIsWrittenListingTheStrategies(@TempDir Path folder) throws Exception {
    Files.write(folder.resolve("a.jpg"), new byte[] {1});
    CliRun run = CliRun.of("submit", "--database-url", url, "--strategy", "fast", folder.toString());
    assertEquals(ExitCode.USAGE, run.exitCode(), run.err());
    assertEquals(1, run.err().lines().count(), run.err());
    assertTrue(run.err().contains("'fast'") && run.err().contains("conservative, balanced, aggressive, adaptive"), run.err());
    assertEquals(0, dsl.fetchCount(BATCH_UPLOAD_SESSIONS));
  }

  @Test
  void aModelWithoutQuotaLimitsIsRefusedBeforeAnythingIsWrittenListingTheModels(@TempDir Path folder) throws Exception {
    Files.write(folder.resolve("a.jpg"), new byte[] {1});
    CliRun run = CliRun.of("submit", "--database-url", url, "--model", "gemini-9", folder.toString());
    assertEquals(ExitCode.USAGE, run.exitCode(), run.err());
    assertEquals(1, run.err().lines().count(), run.err());
    for (String model : dsl.select(QUOTA_LIMITS.MODEL).from(QUOTA_LIMITS).fetch(QUOTA_LIMITS.MODEL)) {
      assertTrue(run.err().contains(model), model + " is not listed: " + run.err());
    }
    assertTrue(run.err().contains("'gemini-9'") && run.err().contains("gemini-2.5-flash"), run.err());
    assertEquals(0, dsl.fetchCount(BATCH_UPLOAD_SESSIONS));
  }

  @Test
  void submitJsonPrintsTheSessionAsOneObject(@TempDir Path folder) throws Exception {
    Files.write(folder.resolve("a.jpg"), new byte[] {1});
    Files.write(folder.resolve("b.jpg"), new byte[] {1});
    CliRun run = CliRun.of("submit", "--database-url", url, "--json", "--name", "receipts", folder.toString());
    assertEquals(ExitCode.OK, run.exitCode(), run.err());
    assertEquals(1, run.out().lines().count(), run.out());
    JsonNode json = JsonOutput.MAPPER.readTree(run.out());
    UUID id = UUID.fromString(json.path("id").asText());
    assertEquals("receipts", json.path("name").asText());
    assertEquals("pending", json.path("status").asText());
    assertEquals(2, json.path("total_files").asInt());
    assertEquals("receipts", dsl.select(BATCH_UPLOAD_SESSIONS.SESSION_NAME).from(BATCH_UPLOAD_SESSIONS)
        .where(BATCH_UPLOAD_SESSIONS.ID.eq(id)).fetchOne().value1());
  }

  @Test
  void statusTakesTheShortIdProgressPrintsAndShowsNameCreationAndFailedFilesErrors(@TempDir Path folder) throws Exception {
    Files.write(folder.resolve("a.png"), new byte[] {1});
    Files.write(folder.resolve("b.png"), new byte[] {1});
    UUID session = submit(folder);
    fail(session, "b.png", "invalid_file", "the file is empty: upload it again");

    CliRun status = CliRun.of("status", "--database-url", url, session.toString().substring(0, 8));
    assertEquals(ExitCode.OK, status.exitCode(), "a session still running is not failed: " + status.err());
    assertTrue(status.out().contains("session      " + session), status.out());
    assertTrue(status.out().contains("name         " + folder.getFileName()), status.out());
    assertTrue(status.out().lines().anyMatch(l -> l.matches("created      \\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2} .*")),
        status.out());
    assertTrue(status.out().contains("b.png: invalid_file: the file is empty: upload it again"), status.out());
    assertTrue(!status.out().contains("a.png"), "only failed files without --files: " + status.out());

    CliRun files = CliRun.of("status", "--database-url", url, session.toString().substring(0, 8), "--files");
    assertEquals(ExitCode.OK, files.exitCode(), files.err());
    assertTrue(files.out().lines().anyMatch(l -> l.startsWith("a.png") && l.contains("pending")), files.out());
    assertTrue(files.out().lines().anyMatch(l -> l.startsWith("b.png") && l.contains("failed")
        && l.contains("invalid_file: the file is empty")), files.out());
  }

  @Test
  void statusOfAFailedSessionExits1AndItsJsonCarriesTheFiles(@TempDir Path folder) throws Exception {
    Files.write(folder.resolve("a.png"), new byte[] {1});
    UUID session = submit(folder);
    fail(session, "a.png", "permission_denied", "the API key was refused");
    dsl.update(BATCH_UPLOAD_SESSIONS).set(BATCH_UPLOAD_SESSIONS.STATUS, "failed")
        .set(BATCH_UPLOAD_SESSIONS.ERROR_MESSAGE, "the API key was refused").where(BATCH_UPLOAD_SESSIONS.ID.eq(session)).execute();

    assertEquals(ExitCode.FAILED, CliRun.of("status", "--database-url", url, session.toString()).exitCode());
    CliRun json = CliRun.of("status", "--database-url", url, session.toString(), "--json", "--files");
    assertEquals(ExitCode.FAILED, json.exitCode(), json.err());
    JsonNode node = JsonOutput.MAPPER.readTree(json.out());
    assertEquals(session.toString(), node.path("id").asText());
    assertEquals("failed", node.path("status").asText());
    assertEquals(1, node.path("files_failed").asInt());
    assertTrue(node.path("created_at").asText().endsWith("Z"), node.toString());
    assertEquals("a.png", node.path("files").path(0).path("filename").asText());
    assertEquals("permission_denied", node.path("files").path(0).path("error_type").asText());

    JsonNode list = JsonOutput.MAPPER.readTree(CliRun.of("status", "--database-url", url, "--json").out());
    assertEquals(session.toString(), list.path("sessions").path(0).path("id").asText());
  }

  @Test
  void aShortIdOfSeveralSessionsAsksForMoreAndOneOfNoneIsNotFound() {
    UUID first = UUID.fromString("abcd0000-0000-4000-8000-000000000001");
    UUID second = UUID.fromString("abcd0000-0000-4000-8000-000000000002");
    for (UUID id : new UUID[] {first, second}) {
      dsl.insertInto(BATCH_UPLOAD_SESSIONS).set(BATCH_UPLOAD_SESSIONS.ID, id)
          .set(BATCH_UPLOAD_SESSIONS.MODEL, "gemini-2.5-flash").set(BATCH_UPLOAD_SESSIONS.TOTAL_FILES, 0).execute();
    }
    CliRun several = CliRun.of("status", "--database-url", url, "abcd0000");
    assertEquals(ExitCode.USAGE, several.exitCode(), several.err());
    assertTrue(several.err().contains(first.toString()) && several.err().contains(second.toString()), several.err());
    assertEquals(ExitCode.OK, CliRun.of("status", "--database-url", url, "abcd0000-0000-4000-8000-000000000002").exitCode());
    CliRun none = CliRun.of("pause", "--database-url", url, "ffff9999");
    assertEquals(ExitCode.NOT_FOUND, none.exitCode(), none.err());
    assertTrue(none.err().contains("no batch session whose id starts with ffff9999"), none.err());
  }

  @Test
  void submitWritesTheDeliveryAndInteractiveFallbackInteractiveWithoutFallbackByDefault(@TempDir Path folder) throws Exception {
    Files.write(folder.resolve("a.jpg"), new byte[] {1});
    UUID plain = submit(folder);
    assertEquals("interactive", column(plain, BATCH_UPLOAD_SESSIONS.DELIVERY));
    assertEquals(false, column(plain, BATCH_UPLOAD_SESSIONS.INTERACTIVE_FALLBACK));

    CliRun batch = CliRun.of("submit", "--database-url", url, "--delivery", "batch", "--interactive-fallback", folder.toString());
    assertEquals(ExitCode.OK, batch.exitCode(), batch.err());
    assertTrue(batch.out().contains("batch delivery: within 24 h, interactive if a job expires or fails"), batch.out());
    Matcher m = SESSION_ID.matcher(batch.out());
    assertTrue(m.find(), batch.out());
    UUID id = UUID.fromString(m.group(1));
    assertEquals("batch", column(id, BATCH_UPLOAD_SESSIONS.DELIVERY));
    assertEquals(true, column(id, BATCH_UPLOAD_SESSIONS.INTERACTIVE_FALLBACK));

    CliRun noFallback = CliRun.of("submit", "--database-url", url, "--delivery", "BATCH", "--json", folder.toString());
    assertEquals(ExitCode.OK, noFallback.exitCode(), noFallback.err());
    JsonNode json = JsonOutput.MAPPER.readTree(noFallback.out());
    assertEquals("batch", json.path("delivery").asText());
    assertEquals(false, json.path("interactive_fallback").asBoolean(true));
    assertEquals(false, column(UUID.fromString(json.path("id").asText()), BATCH_UPLOAD_SESSIONS.INTERACTIVE_FALLBACK));
  }

  @Test
  void aBadDeliveryIsRefusedInOneLineNamingTheFlagAndTheAcceptedValues(@TempDir Path folder) throws Exception {
    Files.write(folder.resolve("a.jpg"), new byte[] {1});
    CliRun run = CliRun.of("submit", "--database-url", url, "--delivery", "overnight", folder.toString());
    assertEquals(ExitCode.USAGE, run.exitCode(), run.err());
    assertEquals(1, run.err().lines().count(), run.err());
    assertTrue(run.err().contains("--delivery 'overnight'") && run.err().contains("interactive or batch"), run.err());
    assertEquals(0, dsl.fetchCount(BATCH_UPLOAD_SESSIONS));
  }

  @Test
  void interactiveFallbackWithoutBatchDeliveryIsRefusedNamingBothFlags(@TempDir Path folder) throws Exception {
    Files.write(folder.resolve("a.jpg"), new byte[] {1});
    CliRun run = CliRun.of("submit", "--database-url", url, "--interactive-fallback", folder.toString());
    assertEquals(ExitCode.USAGE, run.exitCode(), run.err());
    assertEquals(1, run.err().lines().count(), run.err());
    assertTrue(run.err().contains("--interactive-fallback") && run.err().contains("--delivery batch"), run.err());
    assertEquals(0, dsl.fetchCount(BATCH_UPLOAD_SESSIONS));
  }

  @Test
  void batchDeliveryOfAModelWithoutBatchLimitsIsRefusedListingTheModelsThatHaveThem(@TempDir Path folder) throws Exception {
    Files.write(folder.resolve("a.jpg"), new byte[] {1});
    String model = "interactive-only-" + UUID.randomUUID().toString().substring(0, 8);
    dsl.insertInto(QUOTA_LIMITS).set(QUOTA_LIMITS.PROVIDER, "gemini").set(QUOTA_LIMITS.MODEL, model)
        .set(QUOTA_LIMITS.REQUESTS_PER_MINUTE, 10).set(QUOTA_LIMITS.INPUT_TOKENS_PER_MINUTE, 100_000L).execute();
    try {
      CliRun run = CliRun.of("submit", "--database-url", url, "--model", model, "--delivery", "batch", folder.toString());
      assertEquals(ExitCode.USAGE, run.exitCode(), run.err());
      assertEquals(1, run.err().lines().count(), run.err());
      assertTrue(run.err().contains("'" + model + "' has no row in batch_quota_limits")
          && run.err().contains("gemini-2.5-flash"), run.err());
      assertEquals(0, dsl.fetchCount(BATCH_UPLOAD_SESSIONS));
      assertEquals(ExitCode.OK, CliRun.of("submit", "--database-url", url, "--model", model, folder.toString()).exitCode(),
          "interactive delivery needs only quota_limits");
    } finally {
      dsl.deleteFrom(BATCH_UPLOAD_SESSIONS).execute();
      dsl.deleteFrom(QUOTA_LIMITS).where(QUOTA_LIMITS.MODEL.eq(model)).execute();
    }
  }

  @Test
  void statusShowsABatchSessionsDeliveryAndItsJobsStateFilesAtGoogleAndDueBy(@TempDir Path folder) throws Exception {
    for (String name : new String[] {"a.png", "b.png", "c.png"}) {
      Files.write(folder.resolve(name), new byte[] {1});
    }
    CliRun submitted = CliRun.of("submit", "--database-url", url, "--delivery", "batch", folder.toString());
    assertEquals(ExitCode.OK, submitted.exitCode(), submitted.err());
    Matcher m = SESSION_ID.matcher(submitted.out());
    assertTrue(m.find(), submitted.out());
    UUID session = UUID.fromString(m.group(1));
    // a.png and b.png went into a job now at Google, where b.png is done; c.png was in one that expired.
    UUID running = batchJob("running", "batches/status-test-running", session, "a.png", "b.png");
    endJob(session, "b.png", "completed");
    dsl.update(BATCH_UPLOAD_FILES).set(BATCH_UPLOAD_FILES.STATUS, "completed")
        .where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session), BATCH_UPLOAD_FILES.ORIGINAL_FILENAME.eq("b.png")).execute();
    UUID expired = batchJob("expired", null, session, "c.png");
    dsl.execute("UPDATE batchpilot_private.batch_jobs SET created_at = now() - interval '25 hours',"
        + " ended_at = now() - interval '1 hour', error_message = 'the job expired at Google' WHERE id = ?", expired);
    endJob(session, "c.png", "available");
    dsl.update(BATCH_UPLOAD_FILES).set(BATCH_UPLOAD_FILES.STATUS, "pending")
        .where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session), BATCH_UPLOAD_FILES.ORIGINAL_FILENAME.eq("c.png")).execute();
    OffsetDateTime dueBy = dsl.resultQuery("SELECT created_at + interval '24 hours' FROM batchpilot_private.batch_jobs"
        + " WHERE id = ?", running).fetchOne(0, OffsetDateTime.class);

    CliRun status = CliRun.of("status", "--database-url", url, session.toString());
    assertEquals(ExitCode.OK, status.exitCode(), status.err());
    assertTrue(status.out().contains("delivery     batch (Gemini Batch Mode, half price, within 24 h; an expired or failed"
        + " job's files go into a new job)"), status.out());
    assertTrue(status.out().contains("\nbatch jobs\n"), status.out());
    String runningLine = status.out().lines().filter(l -> l.contains(running.toString())).findFirst().orElseThrow();
    assertTrue(runningLine.strip().startsWith("running") && runningLine.contains("1 of 2 files")
        && runningLine.contains(dueBy.atZoneSameInstant(ZoneId.systemDefault()).format(SECONDS))
        && runningLine.contains("batches/status-test-running"), runningLine);
    String expiredLine = status.out().lines().filter(l -> l.contains(expired.toString())).findFirst().orElseThrow();
    assertTrue(expiredLine.strip().startsWith("expired") && expiredLine.contains("0 of 1 file ")
        && expiredLine.contains("ended ") && expiredLine.contains("(never at Google): the job expired at Google"), expiredLine);
    assertTrue(status.out().indexOf(running.toString()) < status.out().indexOf(expired.toString()), "newest first");

    JsonNode json = JsonOutput.MAPPER.readTree(CliRun.of("status", "--database-url", url, session.toString(), "--json").out());
    assertEquals("batch", json.path("delivery").asText());
    JsonNode first = json.path("batch_jobs").path(0);
    assertEquals(running.toString(), first.path("job_id").asText());
    assertEquals("running", first.path("state").asText());
    assertEquals(2, first.path("files").asInt());
    assertEquals(1, first.path("files_at_google").asInt());
    assertEquals(dueBy.toInstant().toString(), first.path("due_by").asText());
    assertEquals("expired", json.path("batch_jobs").path(1).path("state").asText());
    assertEquals(2, json.path("batch_jobs").size());
  }

  @Test
  void statusOfAnInteractiveSessionSaysSoAndListsNoBatchJobs(@TempDir Path folder) throws Exception {
    Files.write(folder.resolve("a.png"), new byte[] {1});
    UUID session = submit(folder);
    CliRun status = CliRun.of("status", "--database-url", url, session.toString());
    assertTrue(status.out().contains("delivery     interactive\n"), status.out());
    assertTrue(!status.out().contains("batch jobs"), status.out());
    JsonNode json = JsonOutput.MAPPER.readTree(CliRun.of("status", "--database-url", url, session.toString(), "--json").out());
    assertEquals("interactive", json.path("delivery").asText());
    assertEquals(0, json.path("batch_jobs").size());
  }

  private static final DateTimeFormatter SECONDS = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss xxx");

  /** A batch job as a worker writes it, holding these files of the session, each claimed by it. */
  private UUID batchJob(String state, String name, UUID session, String... filenames) {
    UUID job = dsl.resultQuery("INSERT INTO batchpilot_private.batch_jobs (provider, model, name, state, requests, submitted_at)"
        + " VALUES ('gemini', 'gemini-2.5-flash', ?, ?::batchpilot_private.batch_job_state, ?,"
        + " CASE WHEN ?::text IS NULL THEN NULL ELSE now() END) RETURNING id", name, state, filenames.length, name)
        .fetchOne(0, UUID.class);
    for (String filename : filenames) {
      dsl.execute("UPDATE public.batch_upload_files SET status = 'processing'"
          + " WHERE batch_session_id = ? AND original_filename = ?", session, filename);
      dsl.execute("UPDATE batchpilot_private.jobs j SET state = 'running', claimed_by = 'batch:' || ?::text,"
          + " lease_expires_at = now() + interval '1 day', attempts = attempts + 1 FROM public.batch_upload_files f"
          + " WHERE f.id = j.file_id AND j.kind = 'extraction' AND f.batch_session_id = ? AND f.original_filename = ?",
          job, session, filename);
      dsl.execute("INSERT INTO batchpilot_private.batch_job_files (job_id, file_id, attempts) SELECT ?, j.file_id, j.attempts"
          + " FROM batchpilot_private.jobs j JOIN public.batch_upload_files f ON f.id = j.file_id"
          + " WHERE j.kind = 'extraction' AND f.batch_session_id = ? AND f.original_filename = ?", job, session, filename);
    }
    return job;
  }

  private <T> T column(UUID session, org.jooq.TableField<?, T> field) {
    return dsl.select(field).from(BATCH_UPLOAD_SESSIONS).where(BATCH_UPLOAD_SESSIONS.ID.eq(session)).fetchOne().value1();
  }

  private void fail(UUID session, String filename, String errorType, String message) {
    dsl.update(BATCH_UPLOAD_FILES).set(BATCH_UPLOAD_FILES.STATUS, "failed").set(BATCH_UPLOAD_FILES.ERROR_TYPE, errorType)
        .set(BATCH_UPLOAD_FILES.ERROR_MESSAGE, message)
        .where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session), BATCH_UPLOAD_FILES.ORIGINAL_FILENAME.eq(filename)).execute();
  }

  /** The batch job's hold on a file ends: its extraction job goes to {@code state}. */
  private void endJob(UUID session, String filename, String state) {
    dsl.execute("UPDATE batchpilot_private.jobs j SET state = ?::batchpilot_private.job_state, claimed_by = NULL,"
        + " lease_expires_at = NULL FROM public.batch_upload_files f WHERE f.id = j.file_id AND j.kind = 'extraction'"
        + " AND f.batch_session_id = ? AND f.original_filename = ?", state, session, filename);
  }
}
