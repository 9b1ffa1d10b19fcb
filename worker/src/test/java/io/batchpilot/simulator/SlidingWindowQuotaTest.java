package io.batchpilot.simulator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.math.BigDecimal;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class SlidingWindowQuotaTest {

    private static final String MODEL = "gemini-2.5-flash";
    private static final String KEY = "test-key-1";

    @Test
    void concurrentBurstAdmitsExactlyTheLimitAndTheAuditSeesIt() throws Exception {
        SimulatorConfig config = SimulatorConfig.defaults().withWindow(Duration.ofSeconds(30))
                .withModelLimits(MODEL, new ModelLimits(7, 0, 0));
        try (GeminiSimulator sim = GeminiSimulator.start(config)) {
            ExecutorService pool = Executors.newFixedThreadPool(12);
            List<Future<SimulatorHttp.Reply>> replies = new ArrayList<>();
            for (int i = 0; i < 40; i++) {
                replies.add(pool.submit(() -> SimulatorHttp.generate(sim, MODEL, KEY, SimulatorHttp.textRequest("hello"))));
            }
            int ok = 0;
            int limited = 0;
            for (Future<SimulatorHttp.Reply> f : replies) {
                int status = f.get().status();
                if (status == 200) {
                    ok++;
                } else if (status == 429) {
                    limited++;
                }
            }
            pool.shutdown();
            assertEquals(7, ok);
            assertEquals(33, limited);
            String group = RequestLog.groupKey(GeminiSimulator.fingerprint(KEY), MODEL);
            WindowAudit admitted = sim.auditAdmitted().get(group);
            assertEquals(7, admitted.maxRequestsInWindow());
            WindowAudit arrivals = sim.audit().get(group);
            assertEquals(40, arrivals.maxRequestsInWindow());
            assertEquals(40, arrivals.requests());
            assertEquals(33, arrivals.rateLimited());
        }
    }

    @Test
    void sustainedConcurrentLoadNeverExceedsEitherLimitInAnyWindow() throws Exception {
        // A half-second "minute": 8 threads hammer until 6 windows' worth has been admitted.
        SimulatorConfig config = SimulatorConfig.defaults().withWindow(Duration.ofMillis(500))
                .withModelLimits(MODEL, new ModelLimits(5, 60, 0));
        try (GeminiSimulator sim = GeminiSimulator.start(config)) {
            java.util.concurrent.atomic.AtomicInteger admitted = new java.util.concurrent.atomic.AtomicInteger();
            ExecutorService pool = Executors.newFixedThreadPool(8);
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            List<Future<?>> workers = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                String text = "7".repeat(5 + t); // 5 to 12 tokens: one a digit
                workers.add(pool.submit(() -> {
                    while (admitted.get() < 30 && System.nanoTime() < deadline) {
                        if (SimulatorHttp.generate(sim, MODEL, KEY, SimulatorHttp.textRequest(text)).status() == 200) {
                            admitted.incrementAndGet();
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> w : workers) {
                w.get();
            }
            pool.shutdown();
            assertTrue(admitted.get() >= 30);
            WindowAudit audit = sim.auditAdmitted().get(RequestLog.groupKey(GeminiSimulator.fingerprint(KEY), MODEL));
            assertTrue(audit.maxRequestsInWindow() <= 5, audit.toString());
            assertTrue(audit.maxInputTokensInWindow() <= 60, audit.toString());
            assertTrue(audit.rateLimited() == 0 && sim.audit().values().iterator().next().rateLimited() > 0);
        }
    }

    @Test
    void limitsAreKeptPerKeyAndPerModel() throws Exception {
        SimulatorConfig config = SimulatorConfig.defaults().withWindow(Duration.ofSeconds(30))
                .withDefaultLimits(new ModelLimits(2, 0, 0));
        try (GeminiSimulator sim = GeminiSimulator.start(config)) {
            for (String key : List.of("key-a", "key-b")) {
                for (String model : List.of("m1", "m2")) {
                    assertEquals(200, SimulatorHttp.generate(sim, model, key, SimulatorHttp.textRequest("x")).status());
                    assertEquals(200, SimulatorHttp.generate(sim, model, key, SimulatorHttp.textRequest("x")).status());
                    assertEquals(429, SimulatorHttp.generate(sim, model, key, SimulatorHttp.textRequest("x")).status());
                }
            }
            Map<String, WindowAudit> audit = sim.auditAdmitted();
            assertEquals(4, audit.size());
            audit.values().forEach(a -> assertEquals(2, a.maxRequestsInWindow()));
        }
    }

    @Test
    void retryDelayIsWhenTheOldestRequestLeavesTheWindowTruncatedToWholeSeconds() throws Exception {
        Duration window = Duration.ofSeconds(3);
        SimulatorConfig config = SimulatorConfig.defaults().withWindow(window).withFreeTier(true)
                .withModelLimits(MODEL, new ModelLimits(2, 0, 0));
        try (GeminiSimulator sim = GeminiSimulator.start(config)) {
            SimulatorHttp.generate(sim, MODEL, KEY, SimulatorHttp.textRequest("a"));
            SimulatorHttp.generate(sim, MODEL, KEY, SimulatorHttp.textRequest("b"));
            SimulatorHttp.Reply limited = SimulatorHttp.generate(sim, MODEL, KEY, SimulatorHttp.textRequest("c"));
            assertEquals(429, limited.status());
            assertTrue(limited.headers().firstValue("Retry-After").isEmpty(), "Google sends no Retry-After");

            List<RecordedRequest> log = sim.requests();
            long expectedNanos = log.get(0).arrivalNanos() + window.toNanos() - log.get(2).arrivalNanos();
            JsonNode error = limited.body().get("error");
            assertEquals("RESOURCE_EXHAUSTED", error.get("status").asText());
            Matcher exact = Pattern.compile("Please retry in ([0-9.]+)s\\.$").matcher(error.get("message").asText());
            assertTrue(exact.find(), error.get("message").asText());
            assertEquals(0, new BigDecimal(exact.group(1)).compareTo(BigDecimal.valueOf(expectedNanos, 9)));
            JsonNode retry = error.get("details").get(2);
            assertEquals("type.googleapis.com/google.rpc.RetryInfo", retry.get("@type").asText());
            assertEquals(expectedNanos / 1_000_000_000L + "s", retry.get("retryDelay").asText());
            JsonNode violation = error.get("details").get(1).get("violations").get(0);
            assertEquals("GenerateRequestsPerMinutePerProjectPerModel-FreeTier", violation.get("quotaId").asText());
            assertEquals("2", violation.get("quotaValue").asText());
            assertEquals(MODEL, violation.get("quotaDimensions").get("model").asText());

            // Poll (no sleeping for time): the next admission comes only once the first request has left the window.
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            int status = 429;
            while (status == 429 && System.nanoTime() < deadline) {
                status = SimulatorHttp.generate(sim, MODEL, KEY, SimulatorHttp.textRequest("d")).status();
            }
            assertEquals(200, status);
            List<RecordedRequest> after = sim.requests();
            RecordedRequest admittedAgain = after.get(after.size() - 1);
            assertTrue(admittedAgain.arrivalNanos() - log.get(0).arrivalNanos() >= window.toNanos());
            assertEquals(2, sim.auditAdmitted().values().iterator().next().maxRequestsInWindow());
        }
    }

    @Test
    void inputTokensPerMinuteAreEnforcedAndNamedInTheBody() throws Exception {
        SimulatorConfig config = SimulatorConfig.defaults().withWindow(Duration.ofSeconds(30))
                .withModelLimits(MODEL, new ModelLimits(0, 100, 0));
        String forty = "7".repeat(40); // 40 tokens: the simulator's tokenizer splits digits
        try (GeminiSimulator sim = GeminiSimulator.start(config)) {
            assertEquals(200, SimulatorHttp.generate(sim, MODEL, KEY, SimulatorHttp.textRequest(forty)).status());
            assertEquals(200, SimulatorHttp.generate(sim, MODEL, KEY, SimulatorHttp.textRequest(forty)).status());
            SimulatorHttp.Reply limited = SimulatorHttp.generate(sim, MODEL, KEY, SimulatorHttp.textRequest(forty));
            assertEquals(429, limited.status());
            JsonNode violation = limited.body().get("error").get("details").get(1).get("violations").get(0);
            assertEquals("GenerateContentInputTokensPerModelPerMinute", violation.get("quotaId").asText());
            assertEquals("100", violation.get("quotaValue").asText());
            assertEquals(200, SimulatorHttp.generate(sim, MODEL, KEY, SimulatorHttp.textRequest("7".repeat(20))).status());
            WindowAudit audit = sim.auditAdmitted().values().iterator().next();
            assertEquals(100, audit.maxInputTokensInWindow());
        }
    }

    @Test
    void requestsPerDayAreEnforcedWithThePerDayQuotaIdAndAShortRetryDelay() throws Exception {
        SimulatorConfig config = SimulatorConfig.defaults().withModelLimits(MODEL, new ModelLimits(0, 0, 1)).withFreeTier(true);
        try (GeminiSimulator sim = GeminiSimulator.start(config)) {
            assertEquals(200, SimulatorHttp.generate(sim, MODEL, KEY, SimulatorHttp.textRequest("x")).status());
            SimulatorHttp.Reply limited = SimulatorHttp.generate(sim, MODEL, KEY, SimulatorHttp.textRequest("x"));
            assertEquals(429, limited.status());
            JsonNode violation = limited.body().get("error").get("details").get(1).get("violations").get(0);
            assertEquals("GenerateRequestsPerDayPerProjectPerModel-FreeTier", violation.get("quotaId").asText());
            // Like Google: a short delay that does not announce the reset; the quotaId is what says "per day".
            assertEquals("60s", limited.body().get("error").get("details").get(2).get("retryDelay").asText());
        }
    }

    @Test
    void rejectedRequestsDoNotCountTowardTheWindow() throws Exception {
        SimulatorConfig config = SimulatorConfig.defaults().withWindow(Duration.ofSeconds(30))
                .withModelLimits(MODEL, new ModelLimits(1, 0, 0));
        try (GeminiSimulator sim = GeminiSimulator.start(config)) {
            SimulatorHttp.generate(sim, MODEL, KEY, SimulatorHttp.textRequest("x"));
            for (int i = 0; i < 5; i++) {
                SimulatorHttp.generate(sim, MODEL, KEY, SimulatorHttp.textRequest("x"));
            }
            List<RecordedRequest> log = sim.requests();
            assertTrue(log.get(0).counted());
            log.subList(1, 6).forEach(r -> assertFalse(r.counted()));
            assertEquals(1, sim.auditAdmitted().values().iterator().next().maxRequestsInWindow());
        }
    }
}
