package io.batchpilot.gemini;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.simulator.GeminiSimulator;
import io.batchpilot.simulator.ModelLimits;
import io.batchpilot.simulator.RecordedRequest;
import io.batchpilot.simulator.SimulatorConfig;
import io.batchpilot.simulator.SimulatorTokenizer;
import io.batchpilot.simulator.SyntheticReceipt;
import io.batchpilot.simulator.SyntheticReceipts;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/** The client against the simulator: the wire formats meet, and a burst's 429s carry the delay the server meant. */
class GeminiClientAgainstSimulatorTest {
    private static final String MODEL = "gemini-2.5-flash";
    private static final Duration WINDOW = Duration.ofSeconds(60);

    @Test
    void aBurstOverTheLimitYields429sWhoseDelayTheClientReports() throws Exception {
        int limit = 3;
        int burst = 8;
        SimulatorConfig config = SimulatorConfig.defaults().withWindow(WINDOW).withFreeTier(true)
                .withModelLimits(MODEL, new ModelLimits(limit, 0, 0));
        try (GeminiSimulator simulator = GeminiSimulator.start(config);
             GeminiClient client = new GeminiClient(GeminiConfig.of(simulator.baseUrl(), "sim-key"))) {
            byte[] png = SyntheticReceipts.png(42, 300, 1.4);
            ExecutorService pool = Executors.newFixedThreadPool(burst);
            List<Future<Object>> outcomes = new ArrayList<>();
            try {
                for (int i = 0; i < burst; i++) {
                    Callable<Object> call = () -> {
                        try {
                            return client.extractReceipt(MODEL, png, "image/png");
                        } catch (GeminiException e) {
                            return e;
                        }
                    };
                    outcomes.add(pool.submit(call));
                }
                List<Duration> reported = new ArrayList<>();
                int extracted = 0;
                for (Future<Object> outcome : outcomes) {
                    Object result = outcome.get();
                    if (result instanceof ExtractionResult) {
                        extracted++;
                        continue;
                    }
                    GeminiException e = (GeminiException) result;
                    assertEquals(GeminiError.RATE_LIMITED, e.error(), e.getMessage());
                    assertTrue(e.retryable());
                    assertEquals("GenerateRequestsPerMinutePerProjectPerModel-FreeTier", e.quotaId().orElseThrow());
                    reported.add(e.retryDelay().orElseThrow(() -> new AssertionError("no delay: " + e.getMessage())));
                }
                assertEquals(limit, extracted);

                // The strict window frees a place when the oldest admitted request is 60 s old: the delay
                // for a request rejected at r is (first admitted arrival + 60 s) - r, to the nanosecond,
                // longer than RetryInfo's whole seconds.
                List<RecordedRequest> log = simulator.requests().stream().filter(r -> r.method().equals("generateContent")).toList();
                long firstAdmitted = log.stream().filter(r -> r.status() == 200).mapToLong(RecordedRequest::arrivalNanos).min().orElseThrow();
                List<Duration> expected = new ArrayList<>(log.stream().filter(r -> r.status() == 429)
                        .map(r -> Duration.ofNanos(firstAdmitted + WINDOW.toNanos() - r.arrivalNanos())).toList());
                Collections.sort(expected);
                Collections.sort(reported);
                assertEquals(expected, reported);
                assertTrue(reported.stream().allMatch(d -> d.compareTo(WINDOW) < 0 && d.toNanos() % 1_000_000_000L != 0));
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void aDailyQuotaUsedUpIsQuotaExhaustedAndNotRetryable() throws Exception {
        SimulatorConfig config = SimulatorConfig.defaults().withModelLimits(MODEL, new ModelLimits(0, 0, 1));
        try (GeminiSimulator simulator = GeminiSimulator.start(config);
             GeminiClient client = new GeminiClient(GeminiConfig.of(simulator.baseUrl(), "sim-key"))) {
            byte[] png = SyntheticReceipts.png(7, 300, 1.4);
            client.extractReceipt(MODEL, png, "image/png");
            GeminiException e = org.junit.jupiter.api.Assertions.assertThrows(GeminiException.class,
                    () -> client.extractReceipt(MODEL, png, "image/png"));
            assertEquals(GeminiError.QUOTA_EXHAUSTED, e.error(), e.getMessage());
            assertFalse(e.retryable());
            assertTrue(e.quotaId().orElseThrow().contains("PerDay"));
        }
    }

    @Test
    void syntheticReceiptsComeBackAsTheirGroundTruthBilledByTheSimulatorsOwnTokenRules() throws Exception {
        try (GeminiSimulator simulator = GeminiSimulator.start(SimulatorConfig.defaults());
             GeminiClient client = new GeminiClient(GeminiConfig.of(simulator.baseUrl(), "sim-key"))) {
            List<SyntheticReceipts.Sample> samples = List.of(
                    new SyntheticReceipts.Sample("small.png", "image/png", SyntheticReceipts.png(11, 300, 1.4), SyntheticReceipts.receipt(11)),
                    new SyntheticReceipts.Sample("tiled.jpg", "image/jpeg", SyntheticReceipts.jpeg(12, 900, 2.0, 0.85f),
                            SyntheticReceipts.receipt(12)),
                    new SyntheticReceipts.Sample("two-pages.pdf", "application/pdf", SyntheticReceipts.pdf(13, 2), SyntheticReceipts.receipt(13)));
            long promptTokens = SimulatorTokenizer.text(ReceiptSchema.PROMPT);
            long firstTextEstimate = client.estimateInputTokens((byte[]) null, null, ReceiptSchema.PROMPT);
            assertNotEquals(promptTokens, firstTextEstimate, "4 characters a token is Google's rule of thumb, not its count");
            long thumbnailGap = 0;
            for (SyntheticReceipts.Sample sample : samples) {
                long estimate = client.estimateInputTokens(sample.bytes(), sample.mimeType(), ReceiptSchema.PROMPT);
                ExtractionResult result = client.extractReceipt(MODEL, sample.bytes(), sample.mimeType());

                SyntheticReceipt truth = sample.truth();
                Receipt receipt = result.receipt();
                assertEquals(truth.merchant(), receipt.merchant(), sample.filename());
                assertEquals(truth.date(), receipt.date());
                assertEquals(truth.currency(), receipt.currency());
                assertEquals(truth.subtotal(), receipt.subtotal());
                assertEquals(truth.tax(), receipt.tax());
                assertEquals(truth.total(), receipt.total());
                assertEquals(truth.lineItems().size(), receipt.lineItems().size());
                for (int i = 0; i < truth.lineItems().size(); i++) {
                    SyntheticReceipt.Item t = truth.lineItems().get(i);
                    assertEquals(new LineItem(t.description(), t.quantity(), t.unitPrice(), t.amount()), receipt.lineItems().get(i));
                }
                long billedFile = SimulatorTokenizer.file(sample.bytes(), sample.mimeType());
                assertEquals(billedFile + promptTokens, result.usage().promptTokens(), sample.filename() + ": billed by the simulator's rules");
                // Beyond where the two image rules differ, the estimate is within 10% of the bill (its text part).
                long fileGap = TokenCounter.fileTokens(sample.bytes(), sample.mimeType()) - billedFile;
                assertTrue(Math.abs(estimate - fileGap - result.usage().promptTokens()) <= promptTokens / 10,
                        sample.filename() + ": estimate " + estimate + ", file gap " + fileGap + ", billed " + result.usage().promptTokens());
                if (sample.filename().equals("small.png")) {
                    thumbnailGap = fileGap;
                }
            }
            // 300 x 420: the client's 768 px grid says one tile, Google's crop unit (200 px) says 2 x 3.
            assertEquals(258 - 6 * 258, thumbnailGap, "the gate's reconcile has real work to do");
            long learned = client.estimateInputTokens((byte[]) null, null, ReceiptSchema.PROMPT);
            assertTrue(Math.abs(learned - promptTokens) < Math.abs(firstTextEstimate - promptTokens),
                    "the text estimate moved toward the billed count: " + firstTextEstimate + " -> " + learned + " (billed " + promptTokens + ")");
        }
    }

    @Test
    void largeFilesTravelThroughTheSimulatorsFileApi() throws Exception {
        try (GeminiSimulator simulator = GeminiSimulator.start(SimulatorConfig.defaults());
             GeminiClient client = new GeminiClient(GeminiConfig.of(simulator.baseUrl(), "sim-key")
                     .withFileApiThresholdBytes(1_000_000))) {
            // A one-page PDF padded past the threshold's 1 MB of request: bytes after %%EOF are ignored by readers.
            byte[] padded = java.util.Arrays.copyOf(SyntheticReceipts.pdf(3, 1), 1_100_000);

            ExtractionResult result = client.extractReceipt(MODEL, padded, "application/pdf");

            assertEquals(258 + SimulatorTokenizer.text(ReceiptSchema.PROMPT), result.usage().promptTokens());
            List<String> methods = simulator.requests().stream().map(RecordedRequest::method).toList();
            assertEquals(List.of("upload", "upload", "generateContent"), methods.subList(0, 3)); // then the delete
        }
    }
}
