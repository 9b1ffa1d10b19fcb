package io.batchpilot.bench;

import io.batchpilot.gemini.GeminiClient;
import io.batchpilot.gemini.GeminiConfig;
import io.batchpilot.gemini.GeminiException;
import io.batchpilot.simulator.GeminiSimulator;
import io.batchpilot.simulator.SimulatorConfig;
import io.batchpilot.simulator.SyntheticReceipts;
import java.util.Arrays;

/**
 * Milliseconds per call against the simulator (no latency, no limits), one thread: one shared
 * GeminiClient (pooled keep-alive connection) against a new client per call (a new connection each
 * time), side by side in alternating rounds. Prints a markdown table of medians and ratios.
 */
public final class GeminiClientPoolBenchmark {
    private static final String MODEL = "gemini-2.5-flash";
    private static final int CALLS_PER_ROUND = 100;
    private static final int ROUNDS = 7;

    private interface Call {
        void run(GeminiClient client) throws GeminiException;
    }

    public static void main(String[] args) throws Exception {
        // The JDK HttpServer under the simulator keeps Nagle on unless told: its header and body writes
        // would then wait for the client's delayed ACK (about 40 ms) on every reused connection.
        System.setProperty("sun.net.httpserver.nodelay", "true");
        byte[] png = SyntheticReceipts.png(5, 300, 1.4);
        try (GeminiSimulator simulator = GeminiSimulator.start(SimulatorConfig.defaults())) {
            GeminiConfig config = GeminiConfig.of(simulator.baseUrl(), "benchmark-key-0123456789");
            System.out.printf("| call | shared client, ms/call | client per call, ms/call | ratio per call / shared |%n");
            System.out.println("|---|---|---|---|");
            row("countTokens (short text)", config, c -> c.countTokens(MODEL, "Corner Shop, total 10.80"));
            row("extractReceipt (300 px PNG inline)", config, c -> c.extractReceipt(MODEL, png, "image/png"));
            System.out.printf("(median of %d alternating rounds of %d sequential calls)%n", ROUNDS, CALLS_PER_ROUND);
        }
    }

    private static void row(String name, GeminiConfig config, Call call) throws Exception {
        double[] shared = new double[ROUNDS];
        double[] perCall = new double[ROUNDS];
        try (GeminiClient client = new GeminiClient(config)) {
            round(() -> call.run(client)); // warm-up
            for (int r = 0; r < ROUNDS; r++) {
                shared[r] = round(() -> call.run(client));
                perCall[r] = round(() -> {
                    try (GeminiClient own = new GeminiClient(config)) {
                        call.run(own);
                    }
                });
            }
        }
        double s = median(shared);
        double p = median(perCall);
        System.out.printf("| %s | %.1f | %.1f | %.2f |%n", name, s, p, p / s);
    }

    private interface Step {
        void run() throws GeminiException;
    }

    private static double round(Step step) throws GeminiException {
        long start = System.nanoTime();
        for (int i = 0; i < CALLS_PER_ROUND; i++) {
            step.run();
        }
        return (System.nanoTime() - start) / 1e6 / CALLS_PER_ROUND;
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }
}
