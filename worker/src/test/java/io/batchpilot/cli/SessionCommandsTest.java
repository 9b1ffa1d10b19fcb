package io.batchpilot.cli;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;
import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_SESSIONS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
}
