package io.batchpilot.metrics;

import static io.batchpilot.metrics.SimulatedRun.MODEL;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.codahale.metrics.Counting;
import com.codahale.metrics.Histogram;
import com.codahale.metrics.Metric;
import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.embeddings.EmbeddingConfig;
import io.batchpilot.simulator.RecordedRequest;
import io.batchpilot.store.Jooq;
import io.batchpilot.worker.WorkerProcess;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.stream.Collectors;
import org.jooq.DSLContext;
import org.jooq.Record;
import org.jooq.impl.DSL;
import org.jooq.impl.SQLDataType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The pipeline's measurements agree with what happened: every Gemini call the simulator answered,
 * by outcome (503s and 429s included), every claim, every file completed, retried and failed, and
 * the tokens of each, summed over a two-worker fleet's registries and compared with the simulator's
 * request log and the file rows. A wire cut anywhere in the pipeline makes a count here fall short.
 */
@ExtendWith(PostgresExtension.class)
class PipelineMetricsTest {

  @TempDir
  Path root;

  @Test
  void everyCallClaimAndOutcomeOfARunIsMeasuredOnceAndReachesTheSnapshots(TestDatabase db) throws Exception {
    List<Metrics> registries = new ArrayList<>();
    long claimStatements = 0;
    long filesClaimed = 0;
    List<RecordedRequest> requests;
    UUID session;
    try (SimulatedRun run = SimulatedRun.run(db, root, 2)) {
      for (WorkerProcess worker : List.copyOf(run.workers)) {
        run.stop(worker);
        registries.add(worker.metrics());
        claimStatements += worker.worker().claimStatements();
        filesClaimed += worker.worker().filesClaimed();
      }
      requests = run.simulator.requests();
      session = run.session;
    }
    DSLContext dsl = Jooq.using(db.dataSource());
    Record files = dsl.fetchOne("SELECT count(*) FILTER (WHERE status = 'completed') AS completed,"
        + " count(*) FILTER (WHERE status = 'failed' AND error_type = 'invalid_file') AS invalid,"
        + " sum(api_calls_made) AS calls, sum(input_tokens) AS input, sum(output_tokens) AS output,"
        + " sum(thinking_tokens) AS thinking"
        + " FROM public.batch_upload_files WHERE batch_session_id = ?", DSL.val(session, SQLDataType.UUID));

    Map<String, Long> extractions = byOutcome(requests, "generateContent");
    assertTrue(extractions.getOrDefault("overloaded", 0L) > 0, "the run had 503s: " + extractions);
    assertTrue(extractions.getOrDefault("rate_limited", 0L) > 0, "the run had 429s: " + extractions);
    assertEquals(extractions, outcomes(registries, MODEL), "Gemini calls by outcome");
    long calls = extractions.values().stream().mapToLong(Long::longValue).sum();
    assertEquals(files.get("calls", Long.class), calls, () -> "the rows' api_calls_made are the simulator's requests;"
        + " the rows:\n" + dsl.fetch("SELECT original_filename, status, (SELECT attempts FROM batchpilot_private.jobs j WHERE j.file_id = f.id"
        + " AND j.kind = 'extraction') AS attempts, api_calls_made, error_type, error_message"
        + " FROM public.batch_upload_files f WHERE batch_session_id = ? ORDER BY original_filename",
        DSL.val(session, SQLDataType.UUID)).format(100) + "\nthe requests:\n" + requests);
    assertEquals(byOutcome(requests, "batchEmbedContents"), outcomes(registries, EmbeddingConfig.MODEL.defaultValue()),
        "embedding calls by outcome");

    assertEquals(calls, count(registries, MetricKey.of(Metrics.GATE_WAIT, "model", MODEL)),
        "one gate wait before each call (none was sent back to the queue)");
    assertEquals(claimStatements, count(registries, MetricKey.of(Metrics.CLAIM)), "claim statements");
    assertEquals(filesClaimed, count(registries, MetricKey.of(Metrics.FILES_CLAIMED)), "files claimed");

    assertEquals(SimulatedRun.GOOD_FILES, files.get("completed", Long.class));
    assertEquals(SimulatedRun.GOOD_FILES, count(registries, MetricKey.of(Metrics.FILES_COMPLETED, "model", MODEL)));
    assertEquals(files.get("input", Long.class), sum(registries, MetricKey.of(Metrics.FILE_INPUT_TOKENS, "model", MODEL)));
    assertEquals(files.get("output", Long.class), sum(registries, MetricKey.of(Metrics.FILE_OUTPUT_TOKENS, "model", MODEL)));
    assertEquals(SimulatedRun.GOOD_FILES * SimulatedRun.THOUGHTS_TOKENS, files.get("thinking", Long.class),
        "every completion's thinking reached its row");
    assertEquals(files.get("thinking", Long.class), sum(registries, MetricKey.of(Metrics.FILE_THINKING_TOKENS, "model", MODEL)));
    assertEquals(1L, files.get("invalid", Long.class));
    assertEquals(1L, count(registries, MetricKey.of(Metrics.FILES_FAILED, "model", MODEL, "error_type", "invalid_file")));
    // With attempts to spare, each failed call is one retry of its file, with the call's error_type.
    for (String error : List.of("overloaded", "rate_limited")) {
      assertEquals(extractions.get(error), count(registries, MetricKey.of(Metrics.FILES_RETRIED, "model", MODEL,
          "error_type", error)), "retries after " + error);
    }

    // What the reporters wrote: the counts' deltas add up to the same calls.
    assertEquals(calls, dsl.resultQuery("SELECT sum(delta) FROM public.batchpilot_metric_snapshots"
        + " WHERE name = 'gemini.call' AND tags->>'model' = {0}", DSL.inline(MODEL)).fetchOne(0, Long.class),
        "snapshot deltas");
  }

  private static Map<String, Long> byOutcome(List<RecordedRequest> requests, String method) {
    return requests.stream().filter(r -> r.method().equals(method))
        .collect(Collectors.groupingBy(RecordedRequest::outcome, TreeMap::new, Collectors.counting()));
  }

  /** Gemini calls of {@code model} by outcome, over the fleet's registries. */
  private static Map<String, Long> outcomes(List<Metrics> registries, String model) {
    Map<String, Long> out = new TreeMap<>();
    for (Metrics metrics : registries) {
      metrics.registry().getTimers().forEach((name, timer) -> {
        MetricKey key = MetricKey.parse(name);
        if (key.name().equals(Metrics.GEMINI_CALL) && model.equals(key.tags().get("model"))) {
          out.merge(key.tags().get("outcome"), timer.getCount(), Long::sum);
        }
      });
    }
    return out;
  }

  private static long count(List<Metrics> registries, MetricKey key) {
    long total = 0;
    for (Metrics metrics : registries) {
      Metric metric = metrics.registry().getMetrics().get(key.registryName());
      total += metric == null ? 0 : ((Counting) metric).getCount();
    }
    return total;
  }

  /** The sum of a histogram's samples (all within its one-minute window in a run this short). */
  private static long sum(List<Metrics> registries, MetricKey key) {
    long total = 0;
    for (Metrics metrics : registries) {
      Histogram histogram = metrics.registry().getHistograms().get(key.registryName());
      if (histogram != null) {
        for (long value : histogram.getSnapshot().getValues()) {
          total += value;
        }
      }
    }
    return total;
  }
}
