package io.batchpilot.limiter;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.zaxxer.hikari.HikariDataSource;
import io.batchpilot.db.ConnectionPools;
import io.batchpilot.db.DatabaseUrl;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.LongAdder;
import okhttp3.MediaType;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.RequestBody;
import okhttp3.Response;

/**
 * One worker JVM of {@link QuotaGateFleetTest}: {@code threads} threads each acquire from the gate
 * (random input sizes), call the simulator's generateContent and finish the permit with
 * promptTokenCount (release it after a 429), as a worker does, until the end instant. Prints {@code ready} once connected, then reads the end
 * (epoch milliseconds) from standard input, so JVMs that start at different speeds run together;
 * prints {@code granted=N ok=N rate_limited=N grant_to_send_ms_p50/p99/max=a/b/c} on exit.
 *
 * <p>Arguments: database URL, simulator base URL, model, threads, seed.
 */
public final class QuotaGateFleetMember {

  static final String API_KEY = "fleet-test-key";
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final MediaType JSON_TYPE = MediaType.get("application/json");

  private QuotaGateFleetMember() {}

  public static void main(String[] args) throws Exception {
    DatabaseUrl database = DatabaseUrl.parse("database", args[0]);
    String baseUrl = args[1];
    String model = args[2];
    int threads = Integer.parseInt(args[3]);
    long seed = Long.parseLong(args[4]);

    LongAdder granted = new LongAdder();
    LongAdder ok = new LongAdder();
    LongAdder rateLimited = new LongAdder();
    // Answers "wait" for requests or tokens: the fleet offered more than the limit.
    LongAdder refused = new LongAdder();
    // From the grant (database clock) to handing the request to the HTTP client (same host's
    // clock): the client's share of the spread the safety margin must cover.
    java.util.Queue<Long> grantToSendMs = new java.util.concurrent.ConcurrentLinkedQueue<>();
    OkHttpClient http = new OkHttpClient.Builder().callTimeout(Duration.ofSeconds(30)).build();
    try (HikariDataSource pool = ConnectionPools.open(database, threads, "fleet-member-" + seed)) {
      QuotaGate gate = new QuotaGate(pool, QuotaGateConfig.defaults());
      gate.status("gemini", model).orElseThrow();
      System.out.println("ready");
      System.out.flush();
      long end = Long.parseLong(new java.io.BufferedReader(
          new java.io.InputStreamReader(System.in, java.nio.charset.StandardCharsets.US_ASCII)).readLine().trim());
      CountDownLatch done = new CountDownLatch(threads);
      for (int t = 0; t < threads; t++) {
        Random random = new Random(seed * 1000 + t);
        new Thread(() -> {
          try {
            while (System.currentTimeMillis() < end) {
              long tokens = 100 + random.nextInt(1001);
              Admission admission = gate.acquire("gemini", model, tokens, Strategy.AGGRESSIVE);
              if (admission instanceof Admission.Wait wait) {
                if (wait.reason() == WaitReason.REQUESTS || wait.reason() == WaitReason.INPUT_TOKENS) {
                  refused.increment();
                }
                Thread.sleep(QuotaGate.withJitter(wait.delay(), QuotaGateConfig.defaults().maxJitter()).toMillis());
                continue;
              }
              Admission.Granted g = (Admission.Granted) admission;
              granted.increment();
              grantToSendMs.add(System.currentTimeMillis() - g.permit().grantedAt().toEpochMilli());
              boolean finished = false;
              try (Response response = http.newCall(generateContent(baseUrl, model, tokens)).execute()) {
                JsonNode body = JSON.readTree(response.body().string());
                if (response.code() == 200) {
                  ok.increment();
                  // As a worker ends its permits: batched on the gate's finisher thread.
                  gate.finishLater(g.permit(), body.path("usageMetadata").path("promptTokenCount").asLong());
                  finished = true;
                } else if (response.code() == 429) {
                  rateLimited.increment();
                  gate.rateLimited("gemini", model, Duration.ofSeconds(1));
                } else {
                  throw new IllegalStateException("simulator answered " + response.code() + ": " + body);
                }
              } finally {
                if (!finished) {
                  gate.releaseLater(g.permit());
                }
              }
            }
          } catch (Exception e) {
            e.printStackTrace();
          } finally {
            done.countDown();
          }
        }, "fleet-" + seed + "-" + t).start();
      }
      done.await();
      gate.close();
    } finally {
      http.dispatcher().executorService().shutdown();
      http.connectionPool().evictAll();
    }
    System.out.println("granted=" + granted.sum() + " ok=" + ok.sum() + " rate_limited=" + rateLimited.sum()
        + " refused=" + refused.sum()
        + " grant_to_send_ms_p50/p99/max=" + percentiles(grantToSendMs));
  }

  private static String percentiles(java.util.Collection<Long> values) {
    List<Long> sorted = values.stream().sorted().toList();
    if (sorted.isEmpty()) {
      return "-";
    }
    return sorted.get(sorted.size() / 2) + "/" + sorted.get(sorted.size() * 99 / 100) + "/" + sorted.get(sorted.size() - 1);
  }

  /** A text prompt of exactly {@code tokens} input tokens by the simulator's rules (it splits digits). */
  private static Request generateContent(String baseUrl, String model, long tokens) throws Exception {
    ObjectNode body = JSON.createObjectNode();
    body.putArray("contents").addObject().putArray("parts").addObject().put("text", "7".repeat((int) tokens)); // one token a digit
    return new Request.Builder()
        .url(baseUrl + "/v1beta/models/" + model + ":generateContent")
        .header("x-goog-api-key", API_KEY)
        .post(RequestBody.create(JSON.writeValueAsBytes(body), JSON_TYPE))
        .build();
  }
}
