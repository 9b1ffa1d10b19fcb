package io.batchpilot.bench;

import io.batchpilot.simulator.GeminiSimulator;
import io.batchpilot.simulator.SimulatorConfig;
import io.batchpilot.simulator.SyntheticReceipts;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * How many generateContent calls a second the simulator (JDK HttpServer, 64 threads, no latency,
 * no limits) answers, so a benchmark of the fleet knows the simulator is not what it measures.
 * Prints one Markdown row per (payload, concurrency), medians of 3 rounds.
 */
public final class SimulatorThroughputBench {

    public static void main(String[] args) throws Exception {
        int requests = args.length > 0 ? Integer.parseInt(args[0]) : 1000;
        String text = "{\"contents\":[{\"parts\":[{\"text\":\"Extract the receipt.\"}]}]}";
        String image = "{\"contents\":[{\"parts\":[{\"text\":\"Extract the receipt.\"},{\"inlineData\":{\"mimeType\":\"image/jpeg\","
                + "\"data\":\"" + Base64.getEncoder().encodeToString(SyntheticReceipts.jpeg(5, 1280 * 10 / 14, 1.4, 0.85f)) + "\"}}]}]}";
        System.out.println("| payload | concurrent clients | requests | requests/s (median of 3) | p50 ms | p99 ms |");
        System.out.println("|---|---|---|---|---|---|");
        try (GeminiSimulator sim = GeminiSimulator.start(SimulatorConfig.defaults())) {
            HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            for (String[] payload : new String[][] {{"text", text}, {"914x1280 JPEG receipt", image}}) {
                int n = payload[0].equals("text") ? requests : requests / 4;
                for (int concurrency : new int[] {1, 8, 32}) {
                    double[] rates = new double[3];
                    long[] latencies = null;
                    for (int round = 0; round < 3; round++) {
                        long[] l = new long[n];
                        long t0 = System.nanoTime();
                        run(client, sim, payload[1], n, concurrency, l);
                        rates[round] = n / ((System.nanoTime() - t0) / 1e9);
                        latencies = l;
                    }
                    Arrays.sort(rates);
                    Arrays.sort(latencies);
                    System.out.printf(Locale.ROOT, "| %s | %d | %d | %.0f | %.1f | %.1f |%n", payload[0], concurrency, n, rates[1],
                            latencies[n / 2] / 1e6, latencies[(int) (n * 0.99)] / 1e6);
                }
            }
        }
    }

    private static void run(HttpClient client, GeminiSimulator sim, String body, int n, int concurrency, long[] latencies)
            throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(concurrency);
        try {
            List<Future<?>> futures = new ArrayList<>();
            java.util.concurrent.atomic.AtomicInteger next = new java.util.concurrent.atomic.AtomicInteger();
            for (int c = 0; c < concurrency; c++) {
                futures.add(pool.submit(() -> {
                    int i;
                    while ((i = next.getAndIncrement()) < n) {
                        HttpRequest request = HttpRequest.newBuilder(URI.create(sim.baseUrl()
                                        + "/v1beta/models/gemini-2.5-flash:generateContent"))
                                .timeout(Duration.ofSeconds(30)).header("x-goog-api-key", "bench")
                                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
                        long t = System.nanoTime();
                        HttpResponse<Void> r = client.send(request, HttpResponse.BodyHandlers.discarding());
                        latencies[i] = System.nanoTime() - t;
                        if (r.statusCode() != 200) {
                            throw new IllegalStateException("simulator answered " + r.statusCode());
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                f.get();
            }
        } finally {
            pool.shutdown();
        }
    }

    private SimulatorThroughputBench() {
    }
}
