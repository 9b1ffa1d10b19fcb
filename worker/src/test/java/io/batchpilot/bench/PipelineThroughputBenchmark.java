package io.batchpilot.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.zaxxer.hikari.HikariDataSource;
import io.batchpilot.db.ConnectionPools;
import io.batchpilot.db.DatabaseUrl;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.db.testing.TestPostgres;
import io.batchpilot.metrics.Metrics;
import io.batchpilot.pipeline.FileProcessor;
import io.batchpilot.pipeline.Outcome;
import io.batchpilot.session.NewFile;
import io.batchpilot.session.NewSession;
import io.batchpilot.session.Sessions;
import io.batchpilot.store.Jooq;
import io.batchpilot.worker.Worker;
import io.batchpilot.worker.WorkerConfig;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Files per second through claim, process and complete, for 1 to 4 workers in one JVM (separate
 * pools), with an instant processor, beside pgbench running the textbook one-row SKIP LOCKED claim
 * on the same server in the same run. Prints a markdown table of medians.
 *
 * <p>Arguments: files per run (default 10000), runs per row (default 1), worker counts (default
 * {@code 1,2,3,4}), claim cooldowns in ms (default {@code 0,5}: without and with the default).
 */
public final class PipelineThroughputBenchmark {

  private static final ObjectMapper JSON = new ObjectMapper();

  public static void main(String[] args) throws Exception {
    int files = args.length > 0 ? Integer.parseInt(args[0]) : 10_000;
    int runs = args.length > 1 ? Integer.parseInt(args[1]) : 1;
    int[] workerCounts = ints(args.length > 2 ? args[2] : "1,2,3,4");
    int[] cooldowns = ints(args.length > 3 ? args[3] : "0," + WorkerConfig.CLAIM_COOLDOWN.defaultValue().toMillis());
    try (TestDatabase db = TestPostgres.get().createDatabase(true)) {
      System.out.println("| workers | claim cooldown ms | pipeline files/s (median of " + runs
          + ") | DB round trips per file | pgbench SKIP LOCKED claims/s | pipeline / pgbench |");
      System.out.println("|---|---|---|---|---|---|");
      for (int workers : workerCounts) {
        double[][] rates = new double[cooldowns.length][runs];
        double[][] trips = new double[cooldowns.length][runs];
        double[] pgbench = new double[runs];
        for (int r = 0; r < runs; r++) {
          // Every setting in every run, next to each other, so load changes hit them alike.
          for (int c = 0; c < cooldowns.length; c++) {
            double[] run = pipeline(db, workers, files, Duration.ofMillis(cooldowns[c]));
            rates[c][r] = run[0];
            trips[c][r] = run[1];
          }
          pgbench[r] = pgbench(db.url(), workers, files);
        }
        double bench = median(pgbench);
        for (int c = 0; c < cooldowns.length; c++) {
          double rate = median(rates[c]);
          System.out.printf(Locale.ROOT, "| %d | %d | %.0f | %.3f | %.0f | %.2f |%n",
              workers, cooldowns[c], rate, median(trips[c]), bench, rate / bench);
        }
      }
    }
  }

  private static int[] ints(String list) {
    return Arrays.stream(list.split(",")).mapToInt(Integer::parseInt).toArray();
  }

  /** Returns {files per second, round trips per file}. */
  private static double[] pipeline(TestDatabase db, int workerCount, int files, Duration cooldown) throws Exception {
    // TRUNCATE, not DELETE: deleting files one by one checks duplicate_of references row by row.
    Jooq.using(db.dataSource()).execute("TRUNCATE public.batch_upload_sessions CASCADE");
    List<NewFile> list = new ArrayList<>(files);
    for (int i = 0; i < files; i++) {
      list.add(NewFile.at("f" + i + ".png", "image/png", "file:bench/" + i + ".png"));
    }
    Sessions sessions = new Sessions(db.dataSource());
    FileProcessor instant = file -> Outcome.completed(file, JSON.createObjectNode().put("ok", true), null, 258, 10, 268, 1);
    WorkerConfig config = WorkerConfig.defaults().withConcurrency(32).withClaimCooldown(cooldown);
    List<HikariDataSource> pools = new ArrayList<>();
    List<Worker> workers = new ArrayList<>();
    for (int i = 0; i < workerCount; i++) {
      HikariDataSource pool = ConnectionPools.open(db.url(), 3, "bench-" + i);
      pools.add(pool);
      workers.add(new Worker(config, pool, db.url(), instant, new Metrics()));
    }
    UUID session = sessions.submit(new NewSession("bench", null, null, "gemini-2.5-flash", 1000, "balanced"), list);
    long start = System.nanoTime();
    workers.forEach(Worker::start);
    long deadline = System.nanoTime() + 300_000_000_000L;
    int done;
    while ((done = sessions.progress(session).completed()) < files) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("only " + done + " of " + files + " files completed in 5 minutes: " + sessions.progress(session));
      }
      Thread.sleep(20);
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    long roundTrips = 0;
    for (Worker w : workers) {
      w.stop();
      roundTrips += w.claimStatements() + w.completionWrites();
    }
    pools.forEach(HikariDataSource::close);
    return new double[] {files / seconds, roundTrips / (double) files};
  }

  /** pgbench, W clients, each claiming one row at a time with SKIP LOCKED until the queue is empty. */
  private static double pgbench(DatabaseUrl url, int clients, int rows) throws Exception {
    try (Connection c = DriverManager.getConnection(url.pgjdbcNgUrl(), url.user(), url.password());
         Statement s = c.createStatement()) {
      s.execute("DROP TABLE IF EXISTS bench_queue");
      s.execute("CREATE TABLE bench_queue (id bigint PRIMARY KEY, status text NOT NULL DEFAULT 'pending', claimed_by text)");
      s.execute("INSERT INTO bench_queue (id) SELECT g FROM generate_series(1, " + rows + ") g");
      s.execute("CREATE INDEX ON bench_queue (id) WHERE status = 'pending'");
      s.execute("VACUUM ANALYZE bench_queue");
    }
    Path script = Files.createTempFile("claim", ".sql");
    Files.writeString(script, "UPDATE bench_queue SET status = 'processing', claimed_by = 'pgbench' WHERE id = "
        + "(SELECT id FROM bench_queue WHERE status = 'pending' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED);\n");
    List<String> command = new ArrayList<>(Arrays.asList("pgbench", "-n", "-h", url.host(), "-p", String.valueOf(url.port()),
        "-c", String.valueOf(clients), "-j", String.valueOf(clients), "-t", String.valueOf(rows / clients),
        "-f", script.toString()));
    if (url.user() != null) {
      command.addAll(List.of("-U", url.user()));
    }
    command.add(url.database());
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
    if (url.password() != null) {
      pb.environment().put("PGPASSWORD", url.password());
    }
    Process p = pb.start();
    StringBuilder out = new StringBuilder();
    try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      r.lines().forEach(l -> out.append(l).append('\n'));
    }
    p.waitFor();
    Files.deleteIfExists(script);
    Matcher m = Pattern.compile("tps = ([0-9.]+)").matcher(out);
    if (!m.find()) {
      throw new IllegalStateException("pgbench printed no tps:\n" + out);
    }
    return Double.parseDouble(m.group(1));
  }

  static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    int n = sorted.length;
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }
}
