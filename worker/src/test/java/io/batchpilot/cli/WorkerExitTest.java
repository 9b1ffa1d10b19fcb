package io.batchpilot.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import static io.batchpilot.jooq.Tables.BATCHPILOT_WORKER_HEARTBEATS;

import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.db.testing.TestPostgres;
import io.batchpilot.store.Jooq;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.jooq.DSLContext;
import org.junit.jupiter.api.Test;

/** `batchpilot worker` in its own JVM, as a supervisor runs it: the exit code and the one line it prints. */
class WorkerExitTest {

  /** A worker JVM, its stderr in a file that the test reads while it runs. */
  private record WorkerJvm(Process process, Path err) implements AutoCloseable {

    static WorkerJvm start(String databaseUrl) throws IOException {
      Path err = Files.createTempFile("worker-", ".err");
      ProcessBuilder builder = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
          "-cp", System.getProperty("java.class.path"), Main.class.getName(), "worker", "--database-url", databaseUrl,
          "--gemini-base-url", "http://127.0.0.1:9")
          .redirectOutput(ProcessBuilder.Redirect.DISCARD)
          .redirectError(err.toFile());
      builder.environment().put("GEMINI_API_KEY", "worker-exit-test-key");
      builder.environment().remove("DATABASE_URL");
      return new WorkerJvm(builder.start(), err);
    }

    String stderr() throws IOException {
      return Files.readString(err, StandardCharsets.UTF_8);
    }

    int awaitExit() throws Exception {
      assertTrue(process.waitFor(90, TimeUnit.SECONDS), "the worker did not exit:\n" + stderr());
      return process.exitValue();
    }

    @Override
    public void close() throws IOException {
      process.destroyForcibly();
      Files.deleteIfExists(err);
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0)) {
      return socket.getLocalPort();
    }
  }

  @Test
  void aDatabaseThatDoesNotAnswerIsExit4WithOneLine() throws Exception {
    try (WorkerJvm worker = WorkerJvm.start("postgresql://postgres@127.0.0.1:" + freePort() + "/postgres")) {
      assertEquals(ExitCode.UNAVAILABLE, worker.awaitExit(), worker.stderr());
      List<String> lines = worker.stderr().lines().toList();
      assertEquals(1, lines.size(), worker.stderr());
      assertTrue(lines.get(0).startsWith("batchpilot: cannot connect to postgresql://postgres@127.0.0.1:"), lines.get(0));
    }
  }

  @Test
  void aDatabaseWithoutTheSchemaIsExit2SayingToMigrate() throws Exception {
    try (TestDatabase db = TestPostgres.get().createDatabase(false);
         WorkerJvm worker = WorkerJvm.start(db.url().withCredentials())) {
      assertEquals(ExitCode.USAGE, worker.awaitExit(), worker.stderr());
      List<String> lines = worker.stderr().lines().toList();
      assertEquals(1, lines.size(), worker.stderr());
      assertTrue(lines.get(0).contains("no batchpilot schema: run `batchpilot migrate`"), lines.get(0));
    }
  }

  @Test
  void aCleanSigtermIsExit0() throws Exception {
    try (TestDatabase db = TestPostgres.get().createDatabase(true);
         WorkerJvm worker = WorkerJvm.start(db.url().withCredentials())) {
      DSLContext dsl = Jooq.using(db.dataSource());
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (dsl.fetchCount(BATCHPILOT_WORKER_HEARTBEATS) == 0 && System.nanoTime() < deadline) {
        assertTrue(worker.process().isAlive(), "the worker ended before it started:\n" + worker.stderr());
        Thread.sleep(100);
      }
      assertEquals(1, dsl.fetchCount(BATCHPILOT_WORKER_HEARTBEATS), "the worker did not start:\n" + worker.stderr());
      worker.process().destroy(); // SIGTERM
      assertEquals(ExitCode.OK, worker.awaitExit(), worker.stderr());
      assertEquals(1, dsl.fetchCount(BATCHPILOT_WORKER_HEARTBEATS, BATCHPILOT_WORKER_HEARTBEATS.STOPPED_AT.isNotNull()),
          "the worker closed as on a clean shutdown");
    }
  }
}
