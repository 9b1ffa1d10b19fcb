package io.batchpilot.simulator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class FaultInjectionTest {

    private static final String MODEL = "gemini-2.5-flash";

    @Test
    void seededFaultsOccurAtTheirRatesAndRepeatExactly() {
        FaultPlan plan = FaultPlan.NONE.with(Fault.OVERLOADED, 0.10).with(Fault.INTERNAL, 0.02)
                .with(Fault.CONNECTION_RESET, 0.05).with(Fault.SAFETY, 0.01);
        int n = 100_000;
        List<Optional<Fault>> first = new ArrayList<>();
        Map<Fault, Integer> counts = new EnumMap<>(Fault.class);
        for (int i = 0; i < n; i++) {
            Optional<Fault> f = plan.decide(FaultPlan.randomFor(42, i));
            first.add(f);
            f.ifPresent(x -> counts.merge(x, 1, Integer::sum));
        }
        // 100k draws: 4.5 standard deviations of a binomial stay well inside these bounds.
        assertEquals(0.10, counts.get(Fault.OVERLOADED) / (double) n, 0.005);
        assertEquals(0.02, counts.get(Fault.INTERNAL) / (double) n, 0.002);
        assertEquals(0.05, counts.get(Fault.CONNECTION_RESET) / (double) n, 0.003);
        assertEquals(0.01, counts.get(Fault.SAFETY) / (double) n, 0.0015);
        assertEquals(null, counts.get(Fault.MALFORMED_JSON));
        for (int i = 0; i < n; i++) {
            assertEquals(first.get(i), plan.decide(FaultPlan.randomFor(42, i)));
        }
        assertThrows(IllegalArgumentException.class, () -> plan.with(Fault.DEADLINE_EXCEEDED, 0.9));
    }

    private static GeminiSimulator always(Fault fault) throws IOException {
        return GeminiSimulator.start(SimulatorConfig.defaults()
                .withFaults(FaultPlan.NONE.with(fault, 1.0).withSlowResponseDelay(Duration.ofSeconds(3))));
    }

    @Test
    void serverErrorsCarryGoogleBodies() throws Exception {
        Object[][] cases = {{Fault.OVERLOADED, 503, "UNAVAILABLE"}, {Fault.INTERNAL, 500, "INTERNAL"},
            {Fault.DEADLINE_EXCEEDED, 504, "DEADLINE_EXCEEDED"}};
        for (Object[] c : cases) {
            try (GeminiSimulator sim = always((Fault) c[0])) {
                SimulatorHttp.Reply r = SimulatorHttp.generate(sim, MODEL, "k", SimulatorHttp.textRequest("hi"));
                assertEquals(c[1], r.status());
                assertEquals(c[2], r.body().get("error").get("status").asText());
                assertEquals((int) c[1], r.body().get("error").get("code").asInt());
                assertEquals(((Fault) c[0]).flag(), sim.requests().get(0).outcome());
                assertTrue(sim.requests().get(0).counted(), "a server error still used the quota slot");
            }
        }
    }

    @Test
    void connectionResetGivesTheClientNoResponse() throws Exception {
        try (GeminiSimulator sim = always(Fault.CONNECTION_RESET)) {
            assertThrows(IOException.class,
                    () -> SimulatorHttp.generate(sim, MODEL, "k", SimulatorHttp.textRequest("hi")));
        }
    }

    @Test
    void malformedJsonIsACutOffBody() throws Exception {
        try (GeminiSimulator sim = always(Fault.MALFORMED_JSON)) {
            SimulatorHttp.Reply r = SimulatorHttp.generate(sim, MODEL, "k", SimulatorHttp.textRequest("hi"));
            assertEquals(200, r.status());
            assertEquals(null, r.body());
            assertTrue(r.raw().startsWith("{\"candidates\""));
        }
    }

    @Test
    void safetyFinishHasNoContent() throws Exception {
        try (GeminiSimulator sim = always(Fault.SAFETY)) {
            SimulatorHttp.Reply r = SimulatorHttp.generate(sim, MODEL, "k", SimulatorHttp.textRequest("hi"));
            assertEquals(200, r.status());
            assertEquals("SAFETY", r.body().get("candidates").get(0).get("finishReason").asText());
            assertTrue(r.body().get("candidates").get(0).path("content").isMissingNode());
        }
    }

    @Test
    void slowResponseOutlastsAShorterClientTimeout() throws Exception {
        try (GeminiSimulator sim = always(Fault.SLOW_RESPONSE)) {
            HttpRequest request = HttpRequest.newBuilder(URI.create(sim.baseUrl() + "/v1beta/models/" + MODEL + ":generateContent"))
                    .timeout(Duration.ofMillis(300)).header("x-goog-api-key", "k")
                    .POST(HttpRequest.BodyPublishers.ofString(SimulatorHttp.textRequest("hi"))).build();
            assertThrows(HttpTimeoutException.class,
                    () -> HttpClient.newHttpClient().send(request, HttpResponse.BodyHandlers.ofString()));
        }
    }
}
