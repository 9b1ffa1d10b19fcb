package io.batchpilot.bench;

import com.codahale.metrics.Clock;
import com.codahale.metrics.Histogram;
import com.codahale.metrics.MetricRegistry;
import com.codahale.metrics.SlidingTimeWindowArrayReservoir;
import com.codahale.metrics.Timer;
import io.batchpilot.metrics.MetricKey;
import io.batchpilot.metrics.Metrics;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * What the pipeline's measurements cost per file: one gate wait, one Gemini call and one completion
 * (a counter and two histograms) as {@link Metrics} records them, beside the same updates with the
 * metric's {@link MetricKey} built and spelled on every call (what Metrics did before it cached its
 * lookups). Threads share one registry, as a worker's file threads do. Medians of repeated rounds,
 * side by side in one run. Args: files per thread per round (default 200000).
 */
public final class MetricsBenchmark {

  private static final int ROUNDS = 7;
  private static final String[] MODELS = {"gemini-2.5-flash", "gemini-2.5-flash-lite"};
  private static final String[] OUTCOMES = {Metrics.OK, Metrics.OK, Metrics.OK, "overloaded"};

  private MetricsBenchmark() {}

  public static void main(String[] args) throws Exception {
    int files = args.length > 0 ? Integer.parseInt(args[0]) : 200_000;
    System.out.println("| threads | cached lookups (ns/file, median) | MetricKey per call (ns/file, median) | ratio | "
        + "share of the wall time at 2,000 files/s, cached |");
    System.out.println("|---:|---:|---:|---:|---:|");
    for (int threads : new int[] {1, 4}) {
      double[] cached = new double[ROUNDS];
      double[] keyed = new double[ROUNDS];
      for (int round = -1; round < ROUNDS; round++) {
        // Alternated so load on the machine falls on both alike; round -1 warms up.
        double c = nanosPerFile(threads, files, new CachedPath());
        double k = nanosPerFile(threads, files, new KeyPerCallPath());
        if (round >= 0) {
          cached[round] = c;
          keyed[round] = k;
        }
      }
      double c = median(cached);
      double k = median(keyed);
      System.out.printf("| %d | %.0f | %.0f | %.2f | %.2f%% |%n", threads, c, k, k / c, c * 2000 / 1e9 * 100);
    }
  }

  /** The measurements of one file. */
  interface Path {
    void file(int i);
  }

  private static final class CachedPath implements Path {
    final Metrics metrics = new Metrics();

    @Override
    public void file(int i) {
      String model = MODELS[i & 1];
      metrics.gateWait(model, 1_000 + i);
      metrics.geminiCall(model, OUTCOMES[i & 3], 800_000 + i);
      metrics.fileCompleted(model, 258, 120, 400);
    }
  }

  private static final class KeyPerCallPath implements Path {
    final MetricRegistry registry = new MetricRegistry();

    @Override
    public void file(int i) {
      String model = MODELS[i & 1];
      timer(MetricKey.of(Metrics.GATE_WAIT, "model", model)).update(1_000 + i, TimeUnit.NANOSECONDS);
      timer(MetricKey.of(Metrics.GEMINI_CALL, "model", model, "outcome", OUTCOMES[i & 3]))
          .update(800_000 + i, TimeUnit.NANOSECONDS);
      registry.counter(MetricKey.of(Metrics.FILES_COMPLETED, "model", model).registryName()).inc();
      histogram(MetricKey.of(Metrics.FILE_INPUT_TOKENS, "model", model)).update(258);
      histogram(MetricKey.of(Metrics.FILE_OUTPUT_TOKENS, "model", model)).update(120);
      histogram(MetricKey.of(Metrics.FILE_THINKING_TOKENS, "model", model)).update(400);
    }

    private Timer timer(MetricKey key) {
      return registry.timer(key.registryName(), () -> new Timer(
          new SlidingTimeWindowArrayReservoir(60, TimeUnit.SECONDS, Clock.defaultClock()), Clock.defaultClock()));
    }

    private Histogram histogram(MetricKey key) {
      return registry.histogram(key.registryName(),
          () -> new Histogram(new SlidingTimeWindowArrayReservoir(60, TimeUnit.SECONDS, Clock.defaultClock())));
    }
  }

  private static double nanosPerFile(int threads, int files, Path path) throws InterruptedException {
    List<Thread> workers = new ArrayList<>();
    long start = System.nanoTime();
    for (int t = 0; t < threads; t++) {
      Thread thread = new Thread(() -> {
        for (int i = 0; i < files; i++) {
          path.file(i);
        }
      });
      workers.add(thread);
      thread.start();
    }
    for (Thread thread : workers) {
      thread.join();
    }
    // Wall time per file of all threads: what the fleet of file threads spends together.
    return (double) (System.nanoTime() - start) / ((long) files * threads);
  }

  private static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    return sorted[sorted.length / 2];
  }
}
