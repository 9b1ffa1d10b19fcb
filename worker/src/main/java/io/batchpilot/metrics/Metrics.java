package io.batchpilot.metrics;

import com.codahale.metrics.Clock;
import com.codahale.metrics.Counter;
import com.codahale.metrics.Gauge;
import com.codahale.metrics.Histogram;
import com.codahale.metrics.MetricRegistry;
import com.codahale.metrics.SlidingTimeWindowArrayReservoir;
import com.codahale.metrics.Timer;
import java.util.concurrent.TimeUnit;
import java.util.function.IntSupplier;
import java.util.function.LongSupplier;

/**
 * The worker's measurements, one typed method per thing the pipeline measures. Names and tags are
 * what the dashboards query ({@code batchpilot_metric_snapshots.name} and {@code tags}); change
 * one here and in {@code grafana/dashboards} together (DashboardQueriesTest catches a mismatch).
 *
 * <p>Timers and histograms keep the last minute of samples, so their percentiles describe the
 * last minute rather than the worker's whole life.
 */
public final class Metrics {

  /** Timer {model, outcome}: each Gemini call; its count is the calls, outcome rate_limited the 429s. */
  public static final String GEMINI_CALL = "gemini.call";
  /** Timer {model}: how long a file waited at the quota gate before its call was admitted. */
  public static final String GATE_WAIT = "gate.wait";
  /** Timer: one claim statement. */
  public static final String CLAIM = "claim";
  /** Counter: files claimed. */
  public static final String FILES_CLAIMED = "files.claimed";
  /** Counter {model}: files completed. */
  public static final String FILES_COMPLETED = "files.completed";
  /** Counter {model, error_type}: attempts that will be retried. */
  public static final String FILES_RETRIED = "files.retried";
  /** Counter {model, error_type}: files failed for good. */
  public static final String FILES_FAILED = "files.failed";
  /** Histograms {model}: tokens of each completed file. */
  public static final String FILE_INPUT_TOKENS = "file.input_tokens";
  public static final String FILE_OUTPUT_TOKENS = "file.output_tokens";
  /** Gauge: files this worker is processing now. */
  public static final String FILES_IN_FLIGHT = "files.in_flight";
  /** Gauge: files waiting to be claimed, as the pipeline last saw them. */
  public static final String FILES_BACKLOG = "files.backlog";

  /** The outcome of a Gemini call that succeeded; failures use {@code GeminiError.errorType()}. */
  public static final String OK = "ok";

  private static final long WINDOW_SECONDS = 60;

  private final MetricRegistry registry;
  private final Clock clock;
  private volatile IntSupplier inFlight = () -> 0;
  private volatile LongSupplier backlog = () -> 0L;

  public Metrics() {
    this(new MetricRegistry(), Clock.defaultClock());
  }

  /** With the clock that timestamps samples in the one-minute windows (tests pass their own). */
  public Metrics(MetricRegistry registry, Clock clock) {
    this.registry = registry;
    this.clock = clock;
  }

  public MetricRegistry registry() {
    return registry;
  }

  /** A Gemini call of {@code model} that ended with {@code outcome} ({@link #OK} or an error_type). */
  public void geminiCall(String model, String outcome, long nanos) {
    timer(MetricKey.of(GEMINI_CALL, "model", model, "outcome", outcome)).update(nanos, TimeUnit.NANOSECONDS);
  }

  public void gateWait(String model, long nanos) {
    timer(MetricKey.of(GATE_WAIT, "model", model)).update(nanos, TimeUnit.NANOSECONDS);
  }

  /** One claim statement that took {@code nanos} and returned {@code files} files. */
  public void claim(int files, long nanos) {
    timer(MetricKey.of(CLAIM)).update(nanos, TimeUnit.NANOSECONDS);
    counter(MetricKey.of(FILES_CLAIMED)).inc(files);
  }

  public void fileCompleted(String model, long inputTokens, long outputTokens) {
    counter(MetricKey.of(FILES_COMPLETED, "model", model)).inc();
    histogram(MetricKey.of(FILE_INPUT_TOKENS, "model", model)).update(inputTokens);
    histogram(MetricKey.of(FILE_OUTPUT_TOKENS, "model", model)).update(outputTokens);
  }

  public void fileRetried(String model, String errorType) {
    counter(MetricKey.of(FILES_RETRIED, "model", model, "error_type", errorType)).inc();
  }

  public void fileFailed(String model, String errorType) {
    counter(MetricKey.of(FILES_FAILED, "model", model, "error_type", errorType)).inc();
  }

  /** Where the number of files in flight comes from (the executor); also the heartbeat's in_flight. A later call replaces it. */
  public void inFlight(IntSupplier supplier) {
    inFlight = supplier;
    registry.gauge(MetricKey.of(FILES_IN_FLIGHT).registryName(), () -> (Gauge<Integer>) () -> inFlight.getAsInt());
  }

  public int inFlight() {
    return inFlight.getAsInt();
  }

  /** Where the backlog comes from; read once per report, so it should be cheap. A later call replaces it. */
  public void backlog(LongSupplier supplier) {
    backlog = supplier;
    registry.gauge(MetricKey.of(FILES_BACKLOG).registryName(), () -> (Gauge<Long>) () -> backlog.getAsLong());
  }

  private Timer timer(MetricKey key) {
    return registry.timer(key.registryName(),
        () -> new Timer(new SlidingTimeWindowArrayReservoir(WINDOW_SECONDS, TimeUnit.SECONDS, clock), clock));
  }

  private Histogram histogram(MetricKey key) {
    return registry.histogram(key.registryName(),
        () -> new Histogram(new SlidingTimeWindowArrayReservoir(WINDOW_SECONDS, TimeUnit.SECONDS, clock)));
  }

  private Counter counter(MetricKey key) {
    return registry.counter(key.registryName());
  }
}
