package io.batchpilot.bench;

import static io.batchpilot.jooq.Tables.QUOTA_LIMITS;

import io.batchpilot.db.DatabaseUrl;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.db.testing.TestPostgres;
import io.batchpilot.limiter.Admission;
import io.batchpilot.limiter.QuotaGate;
import io.batchpilot.limiter.QuotaGateConfig;
import io.batchpilot.limiter.Strategy;
import io.batchpilot.store.Jooq;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.sql.DataSource;

/**
 * Two tables for docs/BENCHMARKS.md. First, acquisitions per second on one hot (provider, model) at
 * 1, 2, 4 and 8 threads, beside pgbench's single-row upsert on the same server in the same run, each
 * configuration repeated and the median kept. Second, utilisation of the binding limit and 429s
 * with 1, 4 and 16 workers against the simulator (2 s window), the gate beside a port of the seed's
 * per-process limiter run the same way. Run:
 * {@code ./mvnw -q -pl worker -am test-compile exec:java -Dexec.classpathScope=test
 * -Dexec.mainClass=io.batchpilot.bench.QuotaGateBenchmark} (env BATCHPILOT_TEST_DATABASE_URL;
 * {@code -Dbench.part=throughput} or {@code utilisation} runs one table).
 */
public final class QuotaGateBenchmark {

  private static final String MODEL = "bench-hot";
  private static final int[] THREADS = {1, 2, 4, 8};
  private static final int SECONDS = Integer.getInteger("bench.seconds", 5);
  private static final int ROUNDS = Integer.getInteger("bench.rounds", 3);

  private QuotaGateBenchmark() {}

  public static void main(String[] args) throws Exception {
    try (TestDatabase db = TestPostgres.get().createDatabase(true)) {
      DataSource dataSource = db.dataSource();
      Jooq.using(dataSource).insertInto(QUOTA_LIMITS)
          .set(QUOTA_LIMITS.PROVIDER, "gemini").set(QUOTA_LIMITS.MODEL, MODEL)
          .set(QUOTA_LIMITS.REQUESTS_PER_MINUTE, Integer.MAX_VALUE)
          .set(QUOTA_LIMITS.INPUT_TOKENS_PER_MINUTE, Long.MAX_VALUE / 4)
          .set(QUOTA_LIMITS.MAX_IN_FLIGHT, 64)
          .execute();
      // As a worker makes it: permits with the worker's lease, kept alive by a heartbeat (here every
      // second, 15x the worker's default rate, so its cost is not hidden by a round that misses it).
      QuotaGate gate = new QuotaGate(dataSource, QuotaGateConfig.defaults(), Duration.ofSeconds(60));
      ScheduledExecutorService heartbeat = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "bench-heartbeat");
        t.setDaemon(true);
        return t;
      });
      heartbeat.scheduleWithFixedDelay(gate::extendPermits, 1, 1, TimeUnit.SECONDS);
      String part = System.getProperty("bench.part", "all");
      if (part.equals("all") || part.equals("utilisation")) {
        UtilisationRun.printTable(dataSource, gate);
      }
      if (!(part.equals("all") || part.equals("throughput"))) {
        return;
      }
      preparePgbench(db.url());

      System.out.printf(Locale.ROOT, "quota gate vs pgbench single-row upsert, %d s x %d rounds, median%n", SECONDS, ROUNDS);
      System.out.println("| threads | gate acquisitions/s (each finished) | pgbench upsert tx/s | ratio |");
      System.out.println("|---:|---:|---:|---:|");
      for (int threads : THREADS) {
        List<Double> gateRates = new ArrayList<>();
        List<Double> pgbenchRates = new ArrayList<>();
        for (int round = 0; round < ROUNDS; round++) {
          gateRates.add(gateRate(gate, threads));
          pgbenchRates.add(pgbenchRate(db.url(), threads));
        }
        double g = median(gateRates);
        double p = median(pgbenchRates);
        System.out.printf(Locale.ROOT, "| %d | %.0f | %.0f | %.2f |%n", threads, g, p, g / p);
      }
    }
  }

  /**
   * Each thread acquires and hands the permit to the gate's finisher in a loop for SECONDS: a
   * permit's whole life, as a worker lives it, with the real count a little under the estimate (as
   * the worker's estimates are), so each finish corrects the count. Only grants count; when the
   * finisher falls behind, the in-flight cap (64) refuses acquisitions.
   */
  private static double gateRate(QuotaGate gate, int threads) throws InterruptedException {
    if (!warmedUp) {
      warmedUp = true;
      gateRate(gate, 1);
    }
    LongAdder granted = new LongAdder();
    AtomicBoolean stop = new AtomicBoolean();
    CountDownLatch done = new CountDownLatch(threads);
    for (int t = 0; t < threads; t++) {
      Thread thread = new Thread(() -> {
        try {
          while (!stop.get()) {
            if (gate.acquire("gemini", MODEL, 500, Strategy.AGGRESSIVE) instanceof Admission.Granted g) {
              gate.finishLater(g.permit(), 500 - ThreadLocalRandom.current().nextInt(101));
              granted.increment();
            }
          }
        } finally {
          done.countDown();
        }
      });
      thread.start();
    }
    long start = System.nanoTime();
    Thread.sleep(SECONDS * 1000L);
    stop.set(true);
    done.await();
    return granted.sum() / ((System.nanoTime() - start) / 1e9);
  }

  private static boolean warmedUp;
  private static Path upsertScript;

  private static void preparePgbench(DatabaseUrl url) throws IOException, InterruptedException {
    run(url, List.of("psql", "-q", "-c",
        "CREATE TABLE bench_upsert (id int PRIMARY KEY, n bigint NOT NULL)"));
    upsertScript = Files.createTempFile("bench-upsert", ".sql");
    Files.writeString(upsertScript, "INSERT INTO bench_upsert VALUES (1, 1) "
        + "ON CONFLICT (id) DO UPDATE SET n = bench_upsert.n + 1;\n", StandardCharsets.UTF_8);
  }

  private static double pgbenchRate(DatabaseUrl url, int clients) throws IOException, InterruptedException {
    String out = run(url, List.of("pgbench", "-n", "-c", String.valueOf(clients), "-j", String.valueOf(clients),
        "-T", String.valueOf(SECONDS), "-f", upsertScript.toString()));
    Matcher m = Pattern.compile("tps = ([0-9.]+)").matcher(out);
    if (!m.find()) {
      throw new IllegalStateException("pgbench printed no tps:\n" + out);
    }
    return Double.parseDouble(m.group(1));
  }

  private static String run(DatabaseUrl url, List<String> command) throws IOException, InterruptedException {
    List<String> full = new ArrayList<>(command);
    full.addAll(List.of("-h", url.host(), "-p", String.valueOf(url.port()), "-U", url.user(), url.database()));
    ProcessBuilder builder = new ProcessBuilder(full).redirectErrorStream(true);
    if (url.password() != null) {
      builder.environment().put("PGPASSWORD", url.password());
    }
    Process process = builder.start();
    String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (process.waitFor() != 0) {
      throw new IllegalStateException(String.join(" ", command) + " failed:\n" + out);
    }
    return out;
  }

  private static double median(List<Double> values) {
    List<Double> sorted = values.stream().sorted().toList();
    return sorted.get(sorted.size() / 2);
  }
}
