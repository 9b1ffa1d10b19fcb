package io.batchpilot.bench;

import static io.batchpilot.jooq.Tables.QUOTA_LIMITS;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchpilot.simulator.GeminiSimulator;
import io.batchpilot.simulator.LatencyDistribution;
import io.batchpilot.simulator.ModelLimits;
import io.batchpilot.simulator.RecordedRequest;
import io.batchpilot.simulator.SimulatorConfig;
import io.batchpilot.simulator.WindowAudit;
import io.batchpilot.limiter.Admission;
import io.batchpilot.limiter.QuotaGate;
import io.batchpilot.limiter.Strategy;
import io.batchpilot.store.Jooq;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import javax.sql.DataSource;
import okhttp3.MediaType;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.RequestBody;
import okhttp3.Response;

/**
 * N workers (threads; each seed limiter is its own instance, as separate processes would have)
 * send generateContent calls of 100..1100 input tokens to the simulator for a fixed time; the
 * simulator's log gives the steady-state use of the binding limit, the 429s and the busiest window
 * of what was sent (overrun factor = that / limit).
 */
final class UtilisationRun {

  private static final Duration WINDOW = Duration.ofMillis(Integer.getInteger("bench.window.ms", 2000));
  private static final int BUCKETS = Integer.getInteger("bench.buckets", 200);
  private static final int REQUESTS_PER_WINDOW = 20;
  private static final long TOKENS_PER_WINDOW = 18_000;
  private static final Duration RUN = Duration.ofSeconds(Integer.getInteger("bench.utilisation.seconds", 16));
  private static final int[] WORKERS = {1, 4, 16};
  private static final String KEY = "bench-key";
  private static final ObjectMapper JSON = new ObjectMapper();

  private UtilisationRun() {}

  record Outcome(double utilisation, long rateLimited, double overrun, long sent, String grantToSend) {}

  /** Milliseconds from each grant (database clock) to the moment its request is handed to HTTP. */
  private static final Queue<Long> grantToSendMs = new ConcurrentLinkedQueue<>();

  static void printTable(DataSource dataSource, QuotaGate gate) throws Exception {
    int margin = Integer.getInteger("bench.margin.ms", 40);
    System.out.printf(Locale.ROOT, "utilisation of %d requests / %d ms (tokens 100..1100, limit %d), %d s per run;"
        + " gate: %d buckets, margin %d ms, bound window / (window + margin + bucket) = %.1f%%%n",
        REQUESTS_PER_WINDOW, WINDOW.toMillis(), TOKENS_PER_WINDOW, RUN.toSeconds(), BUCKETS, margin,
        100.0 * WINDOW.toMillis() / (WINDOW.toMillis() + margin + WINDOW.toMillis() / (double) BUCKETS));
    System.out.println("| workers | limiter | sent | steady-state use of the request limit | 429s | busiest window / limit"
        + " | grant to send p50 / p99 / max ms |");
    System.out.println("|---:|---|---:|---:|---:|---:|---:|");
    int run = 0;
    for (int workers : WORKERS) {
      String model = "bench-util-" + (++run);
      Jooq.using(dataSource).insertInto(QUOTA_LIMITS)
          .set(QUOTA_LIMITS.PROVIDER, "gemini").set(QUOTA_LIMITS.MODEL, model)
          .set(QUOTA_LIMITS.REQUESTS_PER_MINUTE, REQUESTS_PER_WINDOW)
          .set(QUOTA_LIMITS.INPUT_TOKENS_PER_MINUTE, TOKENS_PER_WINDOW)
          .set(QUOTA_LIMITS.WINDOW_MS, (int) WINDOW.toMillis())
          .set(QUOTA_LIMITS.BUCKETS_PER_WINDOW, BUCKETS)
          .set(QUOTA_LIMITS.SAFETY_MARGIN_MS, margin)
          .execute();
      print(workers, "quota gate (PostgreSQL)", measure(model, workers, (http, base, random) -> gateWorker(gate, model, http, base, random)));
      print(workers, "seed AdaptiveRateLimiter, one per worker", measure(model, workers, (http, base, random) -> seedWorker(model, http, base, random)));
    }
  }

  private static void print(int workers, String limiter, Outcome o) {
    System.out.printf(Locale.ROOT, "| %d | %s | %d | %.1f%% | %d | %.2f | %s |%n", workers, limiter, o.sent(),
        o.utilisation() * 100, o.rateLimited(), o.overrun(), o.grantToSend());
  }

  interface Worker {
    void run(OkHttpClient http, String baseUrl, Random random) throws Exception;
  }

  private static long end;

  private static Outcome measure(String model, int workers, Worker worker) throws Exception {
    SimulatorConfig config = SimulatorConfig.defaults().withWindow(WINDOW)
        .withModelLimits(model, new ModelLimits(REQUESTS_PER_WINDOW, TOKENS_PER_WINDOW, 0))
        .withApiKeys(Set.of(KEY))
        .withLatency(LatencyDistribution.uniform(Duration.ofMillis(10), Duration.ofMillis(60)));
    OkHttpClient http = new OkHttpClient.Builder().callTimeout(Duration.ofSeconds(30)).build();
    try (GeminiSimulator simulator = GeminiSimulator.start(config)) {
      grantToSendMs.clear();
      end = System.currentTimeMillis() + RUN.toMillis();
      CountDownLatch done = new CountDownLatch(workers);
      for (int w = 0; w < workers; w++) {
        Random random = new Random(w);
        new Thread(() -> {
          try {
            worker.run(http, simulator.baseUrl(), random);
          } catch (Exception e) {
            e.printStackTrace();
          } finally {
            done.countDown();
          }
        }).start();
      }
      done.await();
      List<RecordedRequest> sent = simulator.requests().stream().filter(r -> r.metered() && r.model().equals(model)).toList();
      WindowAudit audit = simulator.audit().values().stream().filter(a -> a.model().equals(model)).findFirst().orElseThrow();
      Instant from = sent.get(0).arrival().plus(WINDOW.multipliedBy(2));
      Instant to = Instant.ofEpochMilli(end).minus(WINDOW);
      long admitted = sent.stream().filter(r -> r.counted() && !r.arrival().isBefore(from) && r.arrival().isBefore(to)).count();
      double allowed = REQUESTS_PER_WINDOW * (Duration.between(from, to).toMillis() / (double) WINDOW.toMillis());
      return new Outcome(admitted / allowed, audit.rateLimited(),
          audit.maxRequestsInWindow() / (double) REQUESTS_PER_WINDOW, sent.size(), spread());
    } finally {
      http.dispatcher().executorService().shutdown();
      http.connectionPool().evictAll();
    }
  }

  private static void gateWorker(QuotaGate gate, String model, OkHttpClient http, String baseUrl, Random random)
      throws Exception {
    while (System.currentTimeMillis() < end) {
      long tokens = 100 + random.nextInt(1001);
      Admission admission = gate.acquireWithin("gemini", model, tokens, Strategy.AGGRESSIVE,
          Duration.ofMillis(Math.max(0, end - System.currentTimeMillis())));
      if (!(admission instanceof Admission.Granted g)) {
        continue;
      }
      boolean finished = false;
      Request request = request(baseUrl, model, tokens);
      grantToSendMs.add(System.currentTimeMillis() - g.permit().grantedAt().toEpochMilli());
      try (Response response = http.newCall(request).execute()) {
        JsonNode body = JSON.readTree(response.body().string());
        if (response.code() == 200) {
          gate.finish(g.permit(), body.path("usageMetadata").path("promptTokenCount").asLong());
          finished = true;
        } else if (response.code() == 429) {
          gate.rateLimited("gemini", model, retryDelay(body));
        }
      } finally {
        if (!finished) {
          gate.release(g.permit());
        }
      }
    }
  }

  private static void seedWorker(String model, OkHttpClient http, String baseUrl, Random random) throws Exception {
    SeedAdaptiveRateLimiter limiter = new SeedAdaptiveRateLimiter(new SeedAdaptiveRateLimiter.Config(
        4, REQUESTS_PER_WINDOW, TOKENS_PER_WINDOW, 5, 2.0, WINDOW.toMillis(), WINDOW.toMillis()));
    while (System.currentTimeMillis() < end) {
      long tokens = 100 + random.nextInt(1001);
      SeedAdaptiveRateLimiter.Permission permission = limiter.acquirePermission(tokens);
      if (!permission.allowed()) {
        Thread.sleep(Math.max(1, Math.min(permission.delayMs(), end - System.currentTimeMillis())));
        continue;
      }
      try (Response response = http.newCall(request(baseUrl, model, tokens)).execute()) {
        JsonNode body = JSON.readTree(response.body().string());
        if (response.code() == 200) {
          limiter.recordSuccess(body.path("usageMetadata").path("promptTokenCount").asLong());
        } else {
          limiter.recordRateLimit();
        }
      }
    }
  }

  /** p50 / p99 / max of grantToSendMs, or "-" for a limiter without grants. */
  private static String spread() {
    List<Long> sorted = grantToSendMs.stream().sorted().toList();
    if (sorted.isEmpty()) {
      return "-";
    }
    return sorted.get(sorted.size() / 2) + " / " + sorted.get((int) Math.min(sorted.size() - 1, sorted.size() * 0.99))
        + " / " + sorted.get(sorted.size() - 1);
  }

  /** RetryInfo's whole-second retryDelay ("1s"), or one window when absent. */
  private static Duration retryDelay(JsonNode body) {
    for (JsonNode detail : body.path("error").path("details")) {
      String delay = detail.path("retryDelay").asText("");
      if (delay.endsWith("s")) {
        return Duration.ofMillis((long) (Double.parseDouble(delay.substring(0, delay.length() - 1)) * 1000));
      }
    }
    return WINDOW;
  }

  private static Request request(String baseUrl, String model, long tokens) throws IOException {
    ObjectNode body = JSON.createObjectNode();
    body.putArray("contents").addObject().putArray("parts").addObject().put("text", "7".repeat((int) tokens)); // one token a digit
    return new Request.Builder()
        .url(baseUrl + "/v1beta/models/" + model + ":generateContent")
        .header("x-goog-api-key", KEY)
        .post(RequestBody.create(JSON.writeValueAsBytes(body), MediaType.get("application/json")))
        .build();
  }
}
