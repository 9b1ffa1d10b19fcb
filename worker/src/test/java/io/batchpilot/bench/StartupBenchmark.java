package io.batchpilot.bench;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;

import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.db.testing.TestPostgres;
import io.batchpilot.gemini.simulator.GeminiSimulator;
import io.batchpilot.gemini.simulator.SimulatorConfig;
import io.batchpilot.gemini.simulator.SyntheticReceipts;
import io.batchpilot.session.NewFile;
import io.batchpilot.session.NewSession;
import io.batchpilot.session.Sessions;
import io.batchpilot.store.Jooq;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.jooq.DSLContext;

/**
 * Startup to first claim: from launching {@code java -jar worker/target/batchpilot.jar worker} to
 * the moment the database stamps the first file's claim (processing_started_at, the database's
 * clock on this same machine). A pending file is waiting before the worker starts. Prints the runs
 * and their median.
 *
 * <p>Argument: runs (default 7). Needs the packaged jar: {@code ./mvnw -q -DskipTests package}.
 */
public final class StartupBenchmark {

  public static void main(String[] args) throws Exception {
    int runs = args.length > 0 ? Integer.parseInt(args[0]) : 7;
    Path jar = Path.of("worker", "target", "batchpilot.jar");
    if (!Files.exists(jar)) {
      jar = Path.of("target", "batchpilot.jar");
    }
    Path folder = Files.createTempDirectory("startup-bench-");
    Path receipt = folder.resolve("receipt.png");
    Files.write(receipt, SyntheticReceipts.png(7, 600, 2.0));
    List<Long> millis = new ArrayList<>();
    try (GeminiSimulator simulator = GeminiSimulator.start(SimulatorConfig.defaults().withApiKeys(Set.of("bench")))) {
      for (int run = 0; run < runs; run++) {
        try (TestDatabase db = TestPostgres.get().createDatabase(true)) {
          DSLContext dsl = Jooq.using(db.dataSource());
          new Sessions(db.dataSource()).submit(new NewSession("startup", null, null, "gemini-2.5-flash", 1, "aggressive"),
              List.of(NewFile.at("receipt.png", "image/png", receipt.toUri().toString())));
          ProcessBuilder builder = new ProcessBuilder(
              Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-jar", jar.toString(), "worker",
              "--database-url", db.url().withCredentials(), "--gemini-base-url", simulator.baseUrl(),
              "--local-file-root", folder.toString())
              .redirectErrorStream(true)
              .redirectOutput(ProcessBuilder.Redirect.DISCARD);
          builder.environment().put("GEMINI_API_KEY", "bench");
          OffsetDateTime launched = dsl.select(org.jooq.impl.DSL.currentOffsetDateTime()).fetchOne().value1();
          Process worker = builder.start();
          OffsetDateTime claimed = null;
          long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
          while (claimed == null && System.nanoTime() < deadline) {
            claimed = dsl.select(BATCH_UPLOAD_FILES.PROCESSING_STARTED_AT).from(BATCH_UPLOAD_FILES).fetchOne().value1();
            if (claimed == null) {
              Thread.sleep(5);
            }
          }
          worker.destroy();
          worker.waitFor(30, TimeUnit.SECONDS);
          if (claimed == null) {
            throw new IllegalStateException("the worker claimed nothing within 60 s");
          }
          long ms = java.time.Duration.between(launched, claimed).toMillis();
          millis.add(ms);
          System.out.printf(Locale.ROOT, "run %d: %d ms%n", run + 1, ms);
        }
      }
    }
    Collections.sort(millis);
    System.out.printf(Locale.ROOT, "%n| runs | median ms | min ms | max ms |%n|---|---|---|---|%n| %d | %d | %d | %d |%n",
        runs, millis.get(millis.size() / 2), millis.get(0), millis.get(millis.size() - 1));
  }

  private StartupBenchmark() {}
}
