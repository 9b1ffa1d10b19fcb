package io.batchpilot.cli;

import io.batchpilot.worker.WorkerProcess;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "worker", description = {
    "Run one fleet member until SIGTERM or Ctrl-C: claim files, call Gemini through the global quota",
    "gate, complete them. Run as many as you like, on any machines, against the same database.",
    "On SIGTERM it stops claiming, finishes files in flight (grace BATCHPILOT_SHUTDOWN_GRACE) and",
    "releases the rest. Every setting is an environment variable (README, \"Settings\")."})
final class WorkerCommand implements Callable<Integer> {

  @Mixin DatabaseOptions database;

  @Option(names = "--concurrency",
      description = "Files in flight in this worker (default 16; env BATCHPILOT_CONCURRENCY).")
  Integer concurrency;

  @Option(names = "--gemini-base-url", description = "Where Gemini is (env GEMINI_BASE_URL; default Google). "
      + "The simulator's URL for tests and demos.")
  String geminiBaseUrl;

  @Option(names = "--local-file-root", description = "The folder whose files file: URLs may name "
      + "(env BATCHPILOT_LOCAL_FILE_ROOT; unset: no local files).")
  String localFileRoot;

  @Override
  public Integer call() throws InterruptedException {
    Map<String, String> env = WorkerSettings.overlay(System.getenv(), flags());
    WorkerProcess.Settings settings = WorkerSettings.from(database.url(), env);
    CountDownLatch stop = new CountDownLatch(1);
    CountDownLatch closed = new CountDownLatch(1);
    // SIGTERM: wake the main thread, which closes the worker gracefully, and hold the JVM until it has,
    // or until the longest a close may take (plus a margin): whatever is left then, the leases take over.
    Duration longest = WorkerProcess.longestClose(settings.worker()).plusMillis(500);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      stop.countDown();
      try {
        if (!closed.await(longest.toMillis(), TimeUnit.MILLISECONDS)) {
          System.err.println("batchpilot worker: not stopped within " + longest + "; exiting, the leases of what it "
              + "still held hand those files on");
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, "worker-shutdown"));
    try (WorkerProcess process = WorkerProcess.start(settings)) {
      stop.await();
    } finally {
      closed.countDown();
    }
    return ExitCode.OK;
  }

  private Map<String, String> flags() {
    java.util.HashMap<String, String> flags = new java.util.HashMap<>();
    flags.put("BATCHPILOT_CONCURRENCY", concurrency == null ? null : concurrency.toString());
    flags.put("GEMINI_BASE_URL", geminiBaseUrl);
    flags.put("BATCHPILOT_LOCAL_FILE_ROOT", localFileRoot);
    return flags;
  }
}
