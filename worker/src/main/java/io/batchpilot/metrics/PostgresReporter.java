package io.batchpilot.metrics;

import static io.batchpilot.jooq.Tables.BATCHPILOT_METRIC_SNAPSHOTS;

import com.codahale.metrics.Counter;
import com.codahale.metrics.Gauge;
import com.codahale.metrics.Histogram;
import com.codahale.metrics.Meter;
import com.codahale.metrics.MetricFilter;
import com.codahale.metrics.ScheduledReporter;
import com.codahale.metrics.Snapshot;
import com.codahale.metrics.Timer;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchpilot.store.Jooq;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.jooq.DSLContext;
import org.jooq.Field;
import org.jooq.InsertValuesStepN;
import org.jooq.JSONB;
import org.jooq.exception.DataAccessException;
import org.jooq.impl.DSL;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes the registry to {@code batchpilot_metric_snapshots} every report interval: one row per
 * metric, all rows in one INSERT, in the same transaction as the worker's heartbeat. Counts are
 * written with the change since the last snapshot that reached the database, so a failed write
 * loses no events: the next one carries them.
 */
public final class PostgresReporter extends ScheduledReporter {

  private static final Logger log = LoggerFactory.getLogger(PostgresReporter.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  private static final List<Field<?>> COLUMNS = List.of(
      BATCHPILOT_METRIC_SNAPSHOTS.WORKER_ID, BATCHPILOT_METRIC_SNAPSHOTS.NAME, BATCHPILOT_METRIC_SNAPSHOTS.TAGS,
      BATCHPILOT_METRIC_SNAPSHOTS.KIND, BATCHPILOT_METRIC_SNAPSHOTS.COUNT, BATCHPILOT_METRIC_SNAPSHOTS.DELTA,
      BATCHPILOT_METRIC_SNAPSHOTS.VALUE, BATCHPILOT_METRIC_SNAPSHOTS.RATE_1M, BATCHPILOT_METRIC_SNAPSHOTS.MEAN,
      BATCHPILOT_METRIC_SNAPSHOTS.P50, BATCHPILOT_METRIC_SNAPSHOTS.P95, BATCHPILOT_METRIC_SNAPSHOTS.P99,
      BATCHPILOT_METRIC_SNAPSHOTS.MAX);

  private final DSLContext dsl;
  private final MetricsConfig config;
  private final Metrics metrics;
  private final WorkerHeartbeat heartbeat;
  /** Each metric's count in the last snapshot that was committed. */
  private final Map<String, Long> reportedCounts = new HashMap<>();

  public PostgresReporter(Metrics metrics, DataSource dataSource, MetricsConfig config) {
    super(metrics.registry(), "batchpilot-metrics", MetricFilter.ALL, TimeUnit.SECONDS, TimeUnit.MILLISECONDS);
    this.dsl = Jooq.using(dataSource);
    this.config = config;
    this.metrics = metrics;
    this.heartbeat = new WorkerHeartbeat(config);
  }

  /** Writes the heartbeat's first row, then reports every {@link MetricsConfig#reportInterval()}. */
  public void start() {
    heartbeat.started(dsl);
    start(config.reportInterval().toMillis(), TimeUnit.MILLISECONDS);
  }

  /** Stops the schedule after one last report, and marks the worker stopped. */
  @Override
  public void stop() {
    super.stop();
    try {
      heartbeat.stopped(dsl);
    } catch (DataAccessException e) {
      log.warn("worker {}: could not mark its heartbeat stopped: {}", config.workerId(), e.getMessage());
    }
  }

  @Override
  @SuppressWarnings("rawtypes")
  public synchronized void report(SortedMap<String, Gauge> gauges, SortedMap<String, Counter> counters,
      SortedMap<String, Histogram> histograms, SortedMap<String, Meter> meters, SortedMap<String, Timer> timers) {
    List<Object[]> rows = new ArrayList<>();
    Map<String, Long> counts = new HashMap<>();
    gauges.forEach((name, gauge) -> {
      Object value;
      try {
        value = gauge.getValue();
      } catch (RuntimeException e) {
        // A gauge that cannot answer now (its source is down) must not cost the other metrics.
        log.debug("worker {}: gauge {} failed: {}", config.workerId(), name, e.toString());
        return;
      }
      if (value instanceof Number number) {
        rows.add(row(name, "gauge", null, null, number.doubleValue(), null, null));
      }
    });
    counters.forEach((name, counter) -> rows.add(counted(name, "counter", counter.getCount(), counts, null, null)));
    histograms.forEach((name, histogram) ->
        rows.add(counted(name, "histogram", histogram.getCount(), counts, null, values(histogram.getSnapshot(), 1))));
    meters.forEach((name, meter) ->
        rows.add(counted(name, "meter", meter.getCount(), counts, convertRate(meter.getOneMinuteRate()), null)));
    timers.forEach((name, timer) -> rows.add(counted(name, "timer", timer.getCount(), counts,
        convertRate(timer.getOneMinuteRate()), values(timer.getSnapshot(), convertDuration(1)))));
    try {
      write(rows);
      reportedCounts.putAll(counts);
    } catch (DataAccessException e) {
      log.warn("worker {}: metrics snapshot not written ({}); the next report carries these counts",
          config.workerId(), e.getMessage());
    }
  }

  private void write(List<Object[]> rows) {
    int inFlight = metrics.inFlight();
    dsl.transaction(configuration -> {
      DSLContext tx = DSL.using(configuration);
      heartbeat.beat(tx, inFlight);
      if (rows.isEmpty()) {
        return;
      }
      InsertValuesStepN<?> insert = tx.insertInto(BATCHPILOT_METRIC_SNAPSHOTS, COLUMNS);
      for (Object[] row : rows) {
        insert = insert.values(row);
      }
      insert.execute();
    });
  }

  private Object[] counted(String name, String kind, long count, Map<String, Long> counts, Double rate, double[] values) {
    counts.put(name, count);
    long delta = count - reportedCounts.getOrDefault(name, 0L);
    return row(name, kind, count, delta, null, rate, values);
  }

  private Object[] row(String name, String kind, Long count, Long delta, Double value, Double rate, double[] values) {
    MetricKey key = MetricKey.parse(name);
    Object[] row = new Object[COLUMNS.size()];
    row[0] = config.workerId();
    row[1] = key.name();
    row[2] = tags(key);
    row[3] = kind;
    row[4] = count;
    row[5] = delta;
    row[6] = value;
    row[7] = rate;
    if (values != null) {
      for (int i = 0; i < values.length; i++) {
        row[8 + i] = values[i];
      }
    }
    return row;
  }

  /** mean, p50, p95, p99, max of the last minute, scaled to the reported unit; null when empty. */
  private static double[] values(Snapshot snapshot, double scale) {
    if (snapshot.size() == 0) {
      return null;
    }
    double[] values = {snapshot.getMean(), snapshot.getMedian(), snapshot.get95thPercentile(),
        snapshot.get99thPercentile(), snapshot.getMax()};
    return Arrays.stream(values).map(v -> v * scale).toArray();
  }

  private static JSONB tags(MetricKey key) {
    try {
      return JSONB.valueOf(JSON.writeValueAsString(key.tags()));
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("tags of " + key + " cannot be written as JSON", e);
    }
  }
}
