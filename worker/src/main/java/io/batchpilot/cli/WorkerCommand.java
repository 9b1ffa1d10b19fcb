package io.batchpilot.cli;

import com.zaxxer.hikari.pool.HikariPool;
import io.batchpilot.db.DatabaseUrl;
import io.batchpilot.db.SchemaMissingException;
import io.batchpilot.files.FileSourceConfig;
import io.batchpilot.gemini.GeminiConfig;
import io.batchpilot.worker.WorkerConfig;
import io.batchpilot.worker.WorkerProcess;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import sun.misc.Signal;
import sun.misc.SignalHandler;

@Command(name = "worker", description = {
    "Run one fleet member until SIGTERM or Ctrl-C: claim files, call Gemini through the global quota gate, "
        + "complete them. Run as many as you like, on any machines, against the same database.",
    "",
    "On SIGTERM it stops claiming, finishes files in flight (grace BATCHPILOT_SHUTDOWN_GRACE), releases "
        + "the rest and exits 0. Every setting is an environment variable, listed in docs/settings.md; running workers in production: docs/operations.md."})
final class WorkerCommand implements Callable<Integer> {

  @Mixin DatabaseOptions database;

  @Option(names = "--concurrency", paramLabel = "N",
      description = "Files in flight in this worker (default 16; env BATCHPILOT_CONCURRENCY).")
  Integer concurrency;

  @Option(names = "--gemini-base-url", paramLabel = "URL", description = "Where Gemini is (env GEMINI_BASE_URL; "
      + "default Google). The simulator's URL for tests and demos.")
  String geminiBaseUrl;

  @Option(names = "--local-file-root", paramLabel = "FOLDER", description = "The folder whose files file: URLs may "
      + "name (env BATCHPILOT_LOCAL_FILE_ROOT; unset: no local files).")
  String localFileRoot;

  @Override
  public Integer call() throws InterruptedException {
    Map<String, String> env = WorkerSettings.overlay(System.getenv(), flags());
    DatabaseUrl url = database.url();
    WorkerProcess.Settings settings = WorkerSettings.from(url, env);
    CountDownLatch stop = new CountDownLatch(1);
    CountDownLatch closed = new CountDownLatch(1);
    // A shutdown another way (SIGHUP, System.exit elsewhere): hold the JVM
    // until the worker has closed, or until the longest a close may take (plus a margin): whatever is
    // left then, the leases take over.
    Duration longest = WorkerProcess.longestClose(settings.worker()).plusMillis(500);
    Thread hook = new Thread(() -> {
      stop.countDown();
      try {
        if (!closed.await(longest.toMillis(), TimeUnit.MILLISECONDS)) {
          System.err.println("batchpilot worker: not stopped within " + longest + "; exiting, the leases of what it "
              + "still held hand those files on");
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, "worker-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    Map<Signal, SignalHandler> previous = new HashMap<>();
    // SIGTERM and Ctrl-C only wake this thread, which closes the worker and returns 0: the JVM's own
    // shutdown on a signal would exit 143 (128 + 15) however cleanly the worker stopped. Installed
    // before the start, so a signal while it starts (its heartbeat already written) stops it as cleanly.
    for (String name : new String[] {"TERM", "INT"}) {
      Signal signal = new Signal(name);
      previous.put(signal, Signal.handle(signal, s -> {
        stop.countDown();
        watchdog(closed, longest);
      }));
    }
    try (WorkerProcess process = start(url, settings)) {
      stop.await();
    } finally {
      previous.forEach(Signal::handle);
      closed.countDown();
    }
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException shuttingDown) {
      // The JVM is already shutting down: the hook has run, or runs now and returns at once.
    }
    return ExitCode.OK;
  }

  /** The same bound as the shutdown hook's, for a stop by signal: a close that hangs ends the JVM (exit 1). */
  private static void watchdog(CountDownLatch closed, Duration longest) {
    Thread thread = new Thread(() -> {
      try {
        if (!closed.await(longest.toMillis(), TimeUnit.MILLISECONDS)) {
          System.err.println("batchpilot worker: not stopped within " + longest + "; exiting, the leases of what it "
              + "still held hand those files on");
          Runtime.getRuntime().halt(ExitCode.FAILED);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, "worker-stop-watchdog");
    thread.setDaemon(true);
    thread.start();
  }

  /** The worker, or the one line that says why it cannot start: no database (4), no schema (2). */
  private static WorkerProcess start(DatabaseUrl url, WorkerProcess.Settings settings) {
    try {
      return WorkerProcess.start(settings);
    } catch (HikariPool.PoolInitializationException e) {
      throw DatabaseOptions.unavailable(url, e);
    } catch (SchemaMissingException e) {
      throw CliException.usage(url + ": " + e.getMessage());
    }
  }

  private Map<String, String> flags() {
    Map<String, String> flags = new HashMap<>();
    flags.put(WorkerConfig.CONCURRENCY.name(), concurrency == null ? null : concurrency.toString());
    flags.put(GeminiConfig.BASE_URL.name(), geminiBaseUrl);
    flags.put(FileSourceConfig.LOCAL_FILE_ROOT.name(), localFileRoot);
    return flags;
  }
}
