package io.batchpilot.metrics;

import com.codahale.metrics.Clock;
import com.codahale.metrics.Counter;
import com.codahale.metrics.Gauge;
import com.codahale.metrics.Histogram;
import com.codahale.metrics.Metric;
import com.codahale.metrics.MetricRegistry;
import com.codahale.metrics.SlidingTimeWindowArrayReservoir;
import com.codahale.metrics.Timer;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.TimeUnit;
import java.util.function.IntSupplier;
import java.util.function.LongSupplier;

/**
 * The worker's measurements, one typed method per thing the pipeline measures. Names and tags are
 * what the dashboards query ({@code batchpilot_metric_snapshots.name} and {@code tags}); change
 * one here and in {@code grafana/dashboards} together (DashboardQueriesTest catches a mismatch).
 *
 * <p>Timers and histograms keep the last minute of samples, so their percentiles describe the
 * last minute rather than the worker's whole life. One instance per worker process, passed to the
 * parts that measure; the methods are safe to call from any thread and cheap enough for the hot path.
 */
public final class Metrics {

  /** Timer {model, outcome}: each Gemini call; its count is the calls, outcome rate_limited the 429s. */
  public static final String GEMINI_CALL = "gemini.call";
  /** Timer {model}: one file's time at the quota gate, sleeps included, until admitted or sent back to the queue. */
  public static final String GATE_WAIT = "gate.wait";
  /** Timer: one claim statement. */
  public static final String CLAIM = "claim";
  /** Counter: files claimed. */
  public static final String FILES_CLAIMED = "files.claimed";
  /** Counter {model}: files completed (duplicates too). */
  public static final String FILES_COMPLETED = "files.completed";
  /** Counter {model, error_type}: attempts that will be retried. */
  public static final String FILES_RETRIED = "files.retried";
  /** Counter {model, error_type}: files failed for good. */
  public static final String FILES_FAILED = "files.failed";
  /** Histograms {model}: tokens of each file completed by a call (not of duplicates, which make none). */
  public static final String FILE_INPUT_TOKENS = "file.input_tokens";
  public static final String FILE_OUTPUT_TOKENS = "file.output_tokens";
  /** Histogram {model}: thinking tokens (thoughtsTokenCount, billed as output) of each file completed by a call. */
  public static final String FILE_THINKING_TOKENS = "file.thinking_tokens";
  /** Gauge: files this worker is processing now. */
  public static final String FILES_IN_FLIGHT = "files.in_flight";
  /** Gauge: files waiting to be claimed, as the pipeline last saw them. */
  public static final String FILES_BACKLOG = "files.backlog";

  /** The outcome of a Gemini call that succeeded; failures use {@code GeminiError.errorType()}. */
  public static final String OK = "ok";

  private static final long WINDOW_SECONDS = 60;

  private final MetricRegistry registry;
  private final Clock clock;
  /** Metrics by name and tag values: a hot-path update then builds no {@link MetricKey} (validated, sorted, spelled). */
  private final ConcurrentMap<Series, Metric> series = new ConcurrentHashMap<>();
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
    timer(new Series(GEMINI_CALL, "model", model, "outcome", outcome)).update(nanos, TimeUnit.NANOSECONDS);
  }

  public void gateWait(String model, long nanos) {
    timer(new Series(GATE_WAIT, "model", model, null, null)).update(nanos, TimeUnit.NANOSECONDS);
  }

  /** One claim statement that took {@code nanos} and returned {@code files} files. */
  public void claim(int files, long nanos) {
    timer(new Series(CLAIM, null, null, null, null)).update(nanos, TimeUnit.NANOSECONDS);
    counter(new Series(FILES_CLAIMED, null, null, null, null)).inc(files);
  }

  /** A file completed by a Gemini call that used these tokens (the answer's, and the model's thinking apart). */
  public void fileCompleted(String model, long inputTokens, long outputTokens, long thinkingTokens) {
    completed(model);
    histogram(new Series(FILE_INPUT_TOKENS, "model", model, null, null)).update(inputTokens);
    histogram(new Series(FILE_OUTPUT_TOKENS, "model", model, null, null)).update(outputTokens);
    histogram(new Series(FILE_THINKING_TOKENS, "model", model, null, null)).update(thinkingTokens);
  }

  /** A file completed from an earlier file's result, without a call: counted, but no tokens. */
  public void duplicateCompleted(String model) {
    completed(model);
  }

  private void completed(String model) {
    counter(new Series(FILES_COMPLETED, "model", model, null, null)).inc();
  }

  public void fileRetried(String model, String errorType) {
    counter(new Series(FILES_RETRIED, "model", model, "error_type", errorType)).inc();
  }

  public void fileFailed(String model, String errorType) {
    counter(new Series(FILES_FAILED, "model", model, "error_type", errorType)).inc();
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

  /** A metric's name and up to two tags, unvalidated: the cache key. */
  private record Series(String name, String key1, String value1, String key2, String value2) {
    String registryName() {
      MetricKey key = key2 != null ? MetricKey.of(name, key1, value1, key2, value2)
          : key1 != null ? MetricKey.of(name, key1, value1) : MetricKey.of(name);
      return key.registryName();
    }
  }

  private Timer timer(Series s) {
    Metric metric = series.get(s);
    return (Timer) (metric != null ? metric : series.computeIfAbsent(s, k -> registry.timer(k.registryName(),
        () -> new Timer(new SlidingTimeWindowArrayReservoir(WINDOW_SECONDS, TimeUnit.SECONDS, clock), clock))));
  }

  private Histogram histogram(Series s) {
    Metric metric = series.get(s);
    return (Histogram) (metric != null ? metric : series.computeIfAbsent(s, k -> registry.histogram(k.registryName(),
        () -> new Histogram(new SlidingTimeWindowArrayReservoir(WINDOW_SECONDS, TimeUnit.SECONDS, clock)))));
  }

  private Counter counter(Series s) {
    Metric metric = series.get(s);
    return (Counter) (metric != null ? metric : series.computeIfAbsent(s, k -> registry.counter(k.registryName())));
  }
}
