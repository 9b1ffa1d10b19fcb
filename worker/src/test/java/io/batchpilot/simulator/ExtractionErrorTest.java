package io.batchpilot.simulator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchpilot.embeddings.SettableClock;
import java.net.URI;
import java.net.http.HttpRequest;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Wrong answers at a configured rate: each kind as a model would give it, billed, logged, and the same in Batch Mode. */
class ExtractionErrorTest {

    private static final byte[] PNG = SyntheticReceipts.png(31, 600, 1.5);
    private static final JsonNode TRUTH = SyntheticReceipts.receipt(31).toJson();

    private static SimulatorConfig always(ExtractionError error) {
        return SimulatorConfig.defaults().withExtractionErrors(ExtractionErrorPlan.NONE.with(error, 1.0));
    }

    private static JsonNode candidate(SimulatorHttp.Reply r) {
        assertEquals(200, r.status(), r.raw());
        return r.body().get("candidates").get(0);
    }

    private static String text(JsonNode candidate) {
        return candidate.get("content").get("parts").get(0).get("text").asText();
    }

    @Test
    void aWrongTotalIsValidJsonWithOneDigitOfTheTotalMisread() throws Exception {
        try (GeminiSimulator sim = GeminiSimulator.start(always(ExtractionError.WRONG_TOTAL))) {
            JsonNode c = candidate(SimulatorHttp.generate(sim, "m", "k", SimulatorHttp.fileRequest(PNG, "image/png")));
            ObjectNode answer = (ObjectNode) SimulatorHttp.JSON.readTree(text(c));
            assertEquals("STOP", c.get("finishReason").asText());
            assertNotEquals(0, TRUTH.get("total").decimalValue().compareTo(answer.get("total").decimalValue()));
            assertEquals(TRUTH.get("total").decimalValue().toPlainString().length(),
                    answer.get("total").decimalValue().toPlainString().length(), "one digit replaced, none added");
            answer.set("total", TRUTH.get("total"));
            assertEquals(SimulatorHttp.parsed(TRUTH), SimulatorHttp.parsed(answer), "everything else is the truth");
            assertEquals("wrong-total", sim.requests().get(0).outcome());
        }
    }

    @Test
    void aMissingDateIsNull() throws Exception {
        try (GeminiSimulator sim = GeminiSimulator.start(always(ExtractionError.MISSING_DATE))) {
            JsonNode answer = SimulatorHttp.JSON.readTree(text(candidate(
                    SimulatorHttp.generate(sim, "m", "k", SimulatorHttp.fileRequest(PNG, "image/png")))));
            assertTrue(answer.get("date").isNull());
            assertEquals(TRUTH.get("merchant"), answer.get("merchant"));
        }
    }

    @Test
    void malformedJsonIsAWholeBodyWhoseAnswerDoesNotParse() throws Exception {
        try (GeminiSimulator sim = GeminiSimulator.start(always(ExtractionError.MALFORMED_JSON))) {
            SimulatorHttp.Reply r = SimulatorHttp.generate(sim, "m", "k", SimulatorHttp.fileRequest(PNG, "image/png"));
            JsonNode c = candidate(r);
            assertEquals("STOP", c.get("finishReason").asText());
            assertThrows(JsonProcessingException.class, () -> SimulatorHttp.JSON.readTree(text(c)));
            assertTrue(r.body().get("usageMetadata").get("candidatesTokenCount").asLong() > 0, "billed like an answer");
        }
    }

    @Test
    void aMaxTokensAnswerIsCutOffAndBillsOnlyWhatWasWritten() throws Exception {
        try (GeminiSimulator sim = GeminiSimulator.start(always(ExtractionError.MAX_TOKENS))) {
            for (int i = 0; i < 5; i++) {
                SimulatorHttp.Reply r = SimulatorHttp.generate(sim, "m", "k", SimulatorHttp.fileRequest(PNG, "image/png"));
                JsonNode c = candidate(r);
                String cut = text(c);
                assertEquals("MAX_TOKENS", c.get("finishReason").asText());
                assertTrue(TRUTH.toString().startsWith(cut) && cut.length() < TRUTH.toString().length(), cut);
                assertEquals(SimulatorTokenizer.text(cut), r.body().get("usageMetadata").get("candidatesTokenCount").asLong());
            }
            assertEquals(List.of("max-tokens"), sim.requests().stream().map(RecordedRequest::outcome).distinct().toList());
        }
    }

    @Test
    void ratesDecidePerRequestSoARetryCanSucceed() throws Exception {
        SimulatorConfig config = SimulatorConfig.defaults().withExtractionErrors(ExtractionErrorPlan.NONE
                .with(ExtractionError.MAX_TOKENS, 0.3).with(ExtractionError.WRONG_TOTAL, 0.2));
        try (GeminiSimulator sim = GeminiSimulator.start(config)) {
            for (int i = 0; i < 200; i++) {
                assertEquals(200, SimulatorHttp.generate(sim, "m", "k", SimulatorHttp.fileRequest(PNG, "image/png")).status());
            }
            Map<String, Long> outcomes = sim.log().entries().stream().collect(java.util.stream.Collectors.groupingBy(
                    RecordedRequest::outcome, java.util.stream.Collectors.counting()));
            assertEquals(200, outcomes.values().stream().mapToLong(Long::longValue).sum());
            assertTrue(Math.abs(outcomes.get("max-tokens") - 60) < 25, outcomes.toString());
            assertTrue(Math.abs(outcomes.get("wrong-total") - 40) < 20, outcomes.toString());
            assertTrue(outcomes.get("ok") > 60, outcomes.toString());
        }
    }

    @Test
    void batchModeAnswersWithTheSameWrongAnswers() throws Exception {
        SettableClock clock = new SettableClock();
        String item = "{\"request\":" + SimulatorHttp.fileRequest(PNG, "image/png") + ",\"metadata\":{\"key\":\"r\"}}";
        String batch = "{\"batch\":{\"display_name\":\"cut\",\"input_config\":{\"requests\":{\"requests\":[" + item + "," + item + "]}}}}";
        try (GeminiSimulator sim = GeminiSimulator.start(always(ExtractionError.MAX_TOKENS).withClock(clock))) {
            String name = SimulatorHttp.post(sim, "/v1beta/models/m:batchGenerateContent", "k", batch).body().get("name").asText();
            clock.advance(Duration.ofSeconds(10));
            JsonNode done = SimulatorHttp.send(HttpRequest.newBuilder(URI.create(sim.baseUrl() + "/v1beta/" + name))
                    .header("x-goog-api-key", "k").GET().build()).body();
            JsonNode inlined = done.get("response").get("inlinedResponses").get("inlinedResponses");
            assertEquals(2, inlined.size(), done.toString());
            for (JsonNode r : inlined) {
                JsonNode c = r.get("response").get("candidates").get(0);
                assertEquals("MAX_TOKENS", c.get("finishReason").asText());
                assertTrue(TRUTH.toString().startsWith(text(c)));
            }
        }
    }

    @Test
    void theFlagNamesAndRatesAreChecked() {
        SimulatorConfig c = SimulatorConfig.parse(new String[] {"--extraction-error", "wrong-total=0.1",
            "--extraction-error=max-tokens=0.05"}, Map.of("BATCHPILOT_SIM_EXTRACTION_ERROR", "missing-date=0.9"));
        assertEquals(Map.of(ExtractionError.WRONG_TOTAL, 0.1, ExtractionError.MAX_TOKENS, 0.05), c.extractionErrors().rates(),
                "the flags win over the environment");
        assertEquals(Map.of(ExtractionError.MISSING_DATE, 0.2), SimulatorConfig.parse(new String[0],
                Map.of("BATCHPILOT_SIM_EXTRACTION_ERROR", "missing-date=0.2")).extractionErrors().rates());
        assertThrows(IllegalArgumentException.class, () -> SimulatorConfig.parse(new String[] {"--extraction-error", "typo=0.1"}, Map.of()));
        assertThrows(IllegalArgumentException.class, () -> SimulatorConfig.parse(new String[] {"--extraction-error", "wrong-total=2"}, Map.of()));
        assertThrows(IllegalArgumentException.class, () -> ExtractionErrorPlan.NONE.with(ExtractionError.WRONG_TOTAL, 0.6)
                .with(ExtractionError.MAX_TOKENS, 0.6));
    }
}
