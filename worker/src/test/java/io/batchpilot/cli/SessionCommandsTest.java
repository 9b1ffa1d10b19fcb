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

  private void fail(UUID session, String filename, String errorType, String message) {
    dsl.update(BATCH_UPLOAD_FILES).set(BATCH_UPLOAD_FILES.STATUS, "failed").set(BATCH_UPLOAD_FILES.ERROR_TYPE, errorType)
        .set(BATCH_UPLOAD_FILES.ERROR_MESSAGE, message)
        .where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session), BATCH_UPLOAD_FILES.ORIGINAL_FILENAME.eq(filename)).execute();
  }
}
