package io.batchpilot.bench;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;

import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.db.testing.TestPostgres;
import io.batchpilot.simulator.GeminiSimulator;
import io.batchpilot.simulator.LatencyDistribution;
import io.batchpilot.simulator.SimulatorConfig;
import io.batchpilot.simulator.SyntheticReceipts;
import io.batchpilot.session.NewFile;
import io.batchpilot.session.NewSession;
import io.batchpilot.session.Sessions;
import io.batchpilot.store.Jooq;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.jooq.DSLContext;

/**
 * Resident memory of a real worker process ({@code java [flags] -jar worker/target/batchpilot.jar
 * worker --concurrency 20}) with 10,000 files queued and 20 in flight: the Gemini simulator (in this
 * JVM) answers after a minute, so the 20 files the worker claims stay in flight while VmRSS is read
 * from /proc/&lt;pid&gt;/status every 250 ms for the sampling period. One row per set of JVM flags,
 * each on emptied tables of one database.
 *
 * <p>Arguments: seconds of sampling (default 30), then any number of flag sets, each one argument
 * with the flags separated by spaces; a {@code NAME=value} among them goes into the worker's
 * environment (e.g. {@code MALLOC_ARENA_MAX=2}). Default: see {@link #DEFAULT_FLAG_SETS}.
 * Needs the packaged jar: {@code ./mvnw -q -pl worker -am package -DskipTests}.
 */
public final class WorkerMemoryBenchmark {

  private static final int QUEUED = 10_000;
  private static final int IN_FLIGHT = 20;
  private static final List<String> DEFAULT_FLAG_SETS = List.of(
      "",
      "-Xmx128m -XX:+UseSerialGC",
      "-Xmx64m -XX:+UseSerialGC",
      "MALLOC_ARENA_MAX=2 -Xmx64m -XX:+UseSerialGC",
      "MALLOC_ARENA_MAX=2 -Xmx64m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dio.netty.allocator.type=unpooled");

  public static void main(String[] args) throws Exception {
    int seconds = args.length > 0 ? Integer.parseInt(args[0]) : 30;
    List<String> flagSets = args.length > 1 ? Arrays.asList(args).subList(1, args.length)
        : DEFAULT_FLAG_SETS;
    Path jar = Path.of("worker", "target", "batchpilot.jar");
    if (!Files.exists(jar)) {
      throw new IllegalStateException(jar.toAbsolutePath() + " is missing: run ./mvnw -q -pl worker -am package -DskipTests first");
    }
    Path folder = Files.createTempDirectory("memory-bench-");
    Path receipt = folder.resolve("receipt.png");
    Files.write(receipt, SyntheticReceipts.png(7, 600, 2.0));
    List<String> rows = new ArrayList<>();
    try (GeminiSimulator simulator = GeminiSimulator.start(SimulatorConfig.defaults().withApiKeys(Set.of("bench"))
        .withLatency(LatencyDistribution.fixed(Duration.ofSeconds(seconds + 60))));
         TestDatabase db = TestPostgres.get().createDatabase(true)) {
      for (String flags : flagSets) {
        rows.add(measure(db, jar, flags, folder, receipt, simulator, seconds));
      }
    }
    System.out.printf(Locale.ROOT, "%n| JVM flags | files queued | in flight | max RSS MB | median RSS MB | samples |%n");
    System.out.println("|---|---|---|---|---|---|");
    rows.forEach(System.out::println);
  }

  private static String measure(TestDatabase db, Path jar, String flags, Path folder, Path receipt, GeminiSimulator simulator,
                                int seconds) throws Exception {
    DSLContext dsl = Jooq.using(db.dataSource());
    dsl.execute("TRUNCATE public.batch_upload_sessions CASCADE");
    List<NewFile> files = new ArrayList<>(QUEUED);
    for (int i = 0; i < QUEUED; i++) {
      files.add(NewFile.at("r" + i + ".png", "image/png", receipt.toUri().toString()));
    }
    new Sessions(db.dataSource()).submit(new NewSession("memory", null, null, "gemini-2.5-flash", 1000, "aggressive"), files);
    List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
    Map<String, String> environment = new HashMap<>(Map.of("GEMINI_API_KEY", "bench"));
    for (String flag : flags.isBlank() ? new String[0] : flags.trim().split("\\s+")) {
      if (flag.matches("[A-Z_]+=.*")) {
        environment.put(flag.substring(0, flag.indexOf('=')), flag.substring(flag.indexOf('=') + 1));
      } else {
        command.add(flag);
      }
    }
    command.addAll(List.of("-jar", jar.toString(), "worker", "--concurrency", String.valueOf(IN_FLIGHT),
        "--database-url", db.url().withCredentials(), "--gemini-base-url", simulator.baseUrl(),
        "--local-file-root", folder.toString()));
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD);
    builder.environment().putAll(environment);
    Process worker = builder.start();
    try {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (dsl.fetchCount(BATCH_UPLOAD_FILES, BATCH_UPLOAD_FILES.STATUS.eq("processing")) < IN_FLIGHT) {
        if (System.nanoTime() > deadline || !worker.isAlive()) {
          throw new IllegalStateException("the worker (flags '" + flags + "') did not get " + IN_FLIGHT + " files in flight within 60 s");
        }
        Thread.sleep(100);
      }
      List<Long> kb = new ArrayList<>();
      long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
      while (System.nanoTime() < end) {
        kb.add(residentKb(worker.pid()));
        Thread.sleep(250);
      }
      int inFlight = dsl.fetchCount(BATCH_UPLOAD_FILES, BATCH_UPLOAD_FILES.STATUS.eq("processing"));
      Collections.sort(kb);
      return String.format(Locale.ROOT, "| %s | %d | %d | %.0f | %.0f | %d |", flags.isBlank() ? "(none)" : "`" + flags + "`",
          QUEUED - inFlight, inFlight, kb.get(kb.size() - 1) / 1024.0, kb.get(kb.size() / 2) / 1024.0, kb.size());
    } finally {
      // kill -9: a graceful stop would wait out the shutdown grace for files that never finish.
      worker.destroyForcibly();
      worker.waitFor(30, TimeUnit.SECONDS);
    }
  }

  private static long residentKb(long pid) throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc", String.valueOf(pid), "status"))) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("\\D", ""));
      }
    }
    throw new IllegalStateException("no VmRSS in /proc/" + pid + "/status");
  }

  private WorkerMemoryBenchmark() {}
}
