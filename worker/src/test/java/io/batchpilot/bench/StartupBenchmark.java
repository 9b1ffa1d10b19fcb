package io.batchpilot.bench;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;

import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.db.testing.TestPostgres;
import io.batchpilot.simulator.GeminiSimulator;
import io.batchpilot.simulator.SimulatorConfig;
import io.batchpilot.simulator.SyntheticReceipts;
import io.batchpilot.session.NewFile;
import io.batchpilot.session.NewSession;
import io.batchpilot.session.Sessions;
import io.batchpilot.store.Jooq;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.jooq.DSLContext;
import org.jooq.Record2;
import org.jooq.impl.DSL;

/**
 * Startup to first claim: from launching {@code java [flags] -jar worker/target/batchpilot.jar worker}
 * to the moment the database stamps the first file's claim (processing_started_at, the database's
 * clock on this same machine). A pending file is waiting before the worker starts. Also the time to
 * that file's completion, so that a start which only postpones work past the claim shows.
 *
 * <p>Arguments: runs (default 7), then any number of variants {@code name=JVM flags} (default one
 * variant, {@code default=} with no flags); flags that start with {@code @path} launch that jar
 * instead of worker/target/batchpilot.jar (an earlier build, for a side-by-side of code changes).
 * Run it from the repository's root. The variants take turns within each run, in a rotating
 * order, so that a change in the machine's load falls on all of them alike. Prints one markdown
 * table. Needs the packaged jar: {@code ./mvnw -q -B -DskipTests -pl worker -am package}.
 */
public final class StartupBenchmark {

  private static final Path DEFAULT_JAR = Path.of("worker", "target", "batchpilot.jar");

  /** A named way to launch: JVM flags, and a jar of its own when its first token is {@code @path}. */
  private record Variant(String name, Path jar, List<String> flags) {
    static Variant parse(String arg, Path defaultJar) {
      int eq = arg.indexOf('=');
      if (eq < 1) {
        throw new IllegalArgumentException("a variant is name=[@jar] JVM flags (e.g. 'cds=-XX:SharedArchiveFile=x.jsa'), not '" + arg + "'");
      }
      String rest = arg.substring(eq + 1).trim();
      List<String> flags = new ArrayList<>(rest.isEmpty() ? List.of() : Arrays.asList(rest.split("\\s+")));
      Path jar = defaultJar;
      if (!flags.isEmpty() && flags.get(0).startsWith("@")) {
        jar = Path.of(flags.remove(0).substring(1));
      }
      if (!Files.exists(jar)) {
        throw new IllegalArgumentException(arg + ": there is no jar at " + jar);
      }
      return new Variant(arg.substring(0, eq), jar, List.copyOf(flags));
    }

    String describe() {
      List<String> all = new ArrayList<>(flags);
      if (!jar.equals(DEFAULT_JAR)) {
        all.add(0, "-jar " + jar);
      }
      return all.isEmpty() ? "(none)" : "`" + String.join(" ", all) + "`";
    }
  }

  /** Milliseconds from launch to the claim and to the completion of the waiting file. */
  private record Timing(long claimMs, long completedMs) {}

  public static void main(String[] args) throws Exception {
    int runs = args.length > 0 ? Integer.parseInt(args[0]) : 7;
    List<Variant> variants = new ArrayList<>();
    for (int i = 1; i < args.length; i++) {
      variants.add(Variant.parse(args[i], DEFAULT_JAR));
    }
    if (variants.isEmpty()) {
      variants.add(Variant.parse("default=", DEFAULT_JAR));
    }
    Path folder = Files.createTempDirectory("startup-bench-");
    Path receipt = folder.resolve("receipt.png");
    Files.write(receipt, SyntheticReceipts.png(7, 600, 2.0));
    Map<Variant, List<Timing>> timings = new LinkedHashMap<>();
    variants.forEach(v -> timings.put(v, new ArrayList<>()));
    try (GeminiSimulator simulator = GeminiSimulator.start(SimulatorConfig.defaults().withApiKeys(Set.of("bench")))) {
      for (int run = 0; run < runs; run++) {
        for (int i = 0; i < variants.size(); i++) {
          Variant variant = variants.get((run + i) % variants.size());
          Timing timing = once(variant, simulator, folder, receipt);
          timings.get(variant).add(timing);
          System.out.printf(Locale.ROOT, "run %d %s: claim %d ms, completed %d ms%n", run + 1, variant.name(),
              timing.claimMs(), timing.completedMs());
        }
      }
    }
    System.out.printf(Locale.ROOT, "%n| variant | JVM flags | runs | median ms | min ms | max ms | completed, median ms |%n"
        + "|---|---|---|---|---|---|---|%n");
    timings.forEach((variant, list) -> {
      long[] claims = list.stream().mapToLong(Timing::claimMs).sorted().toArray();
      long[] completions = list.stream().mapToLong(Timing::completedMs).sorted().toArray();
      System.out.printf(Locale.ROOT, "| %s | %s | %d | %d | %d | %d | %d |%n", variant.name(),
          variant.describe(),
          claims.length, claims[claims.length / 2], claims[0], claims[claims.length - 1], completions[completions.length / 2]);
    });
  }

  private static Timing once(Variant variant, GeminiSimulator simulator, Path folder, Path receipt) throws Exception {
    try (TestDatabase db = TestPostgres.get().createDatabase(true)) {
      DSLContext dsl = Jooq.using(db.dataSource());
      new Sessions(db.dataSource()).submit(new NewSession("startup", null, null, "gemini-2.5-flash", 1, "aggressive"),
          List.of(NewFile.at("receipt.png", "image/png", receipt.toUri().toString())));
      List<String> command = new ArrayList<>();
      command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
      command.addAll(variant.flags());
      command.addAll(List.of("-jar", variant.jar().toString(), "worker",
          "--database-url", db.url().withCredentials(), "--gemini-base-url", simulator.baseUrl(),
          "--local-file-root", folder.toString()));
      ProcessBuilder builder = new ProcessBuilder(command)
          .redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.DISCARD);
      builder.environment().put("GEMINI_API_KEY", "bench");
      OffsetDateTime launched = dsl.select(DSL.currentOffsetDateTime()).fetchOne().value1();
      Process worker = builder.start();
      Record2<OffsetDateTime, OffsetDateTime> stamps = null;
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      try {
        while ((stamps == null || stamps.value2() == null) && System.nanoTime() < deadline) {
          stamps = dsl.select(BATCH_UPLOAD_FILES.PROCESSING_STARTED_AT, BATCH_UPLOAD_FILES.PROCESSING_COMPLETED_AT)
              .from(BATCH_UPLOAD_FILES).fetchOne();
          if (stamps.value2() == null) {
            Thread.sleep(5);
          }
        }
      } finally {
        worker.destroy();
        worker.waitFor(30, TimeUnit.SECONDS);
      }
      if (stamps == null || stamps.value2() == null) {
        throw new IllegalStateException(variant.name() + ": the worker completed nothing within 60 s (exit code "
            + (worker.isAlive() ? "none yet" : worker.exitValue()) + "); run the same command by hand to see its log");
      }
      return new Timing(Duration.between(launched, stamps.value1()).toMillis(), Duration.between(launched, stamps.value2()).toMillis());
    }
  }

  private StartupBenchmark() {}
}
