package io.batchpilot.simulator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.time.Duration;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/** The simulator's bodies against the responses Google really returned (test resources gemini-fixtures/). */
class WireFormatTest {

    private static JsonNode fixture(String name) throws IOException {
        try (InputStream in = WireFormatTest.class.getResourceAsStream("/gemini-fixtures/" + name)) {
            return SimulatorHttp.JSON.readTree(in);
        }
    }

    /** Every field path in the tree (array elements merged), so shapes compare field by field. */
    private static Set<String> paths(JsonNode node, String prefix, Set<String> out) {
        if (node.isObject()) {
            Iterator<Map.Entry<String, JsonNode>> it = node.fields();
            while (it.hasNext()) {
                Map.Entry<String, JsonNode> e = it.next();
                String p = prefix + "/" + e.getKey();
                out.add(p + ":" + e.getValue().getNodeType());
                paths(e.getValue(), p, out);
            }
        } else if (node.isArray()) {
            node.forEach(n -> paths(n, prefix + "[]", out));
        }
        return out;
    }

    @Test
    void rateLimitBodyMatchesTheFreeTierFixtureFieldByField() throws Exception {
        SimulatorConfig config = SimulatorConfig.defaults().withFreeTier(true)
                .withModelLimits("gemini-2.5-flash", new ModelLimits(5, 0, 0));
        try (GeminiSimulator sim = GeminiSimulator.start(config)) {
            SimulatorHttp.Reply r = null;
            for (int i = 0; i < 6; i++) {
                r = SimulatorHttp.generate(sim, "gemini-2.5-flash", "k", SimulatorHttp.textRequest("x"));
            }
            assertEquals(429, r.status());
            JsonNode expected = fixture("429-requests-per-minute-free-tier.json").deepCopy();
            ObjectNode actual = r.body().deepCopy();
            assertEquals(paths(expected, "", new TreeSet<>()), paths(actual, "", new TreeSet<>()));
            // Everything but the timing is identical: the message's prefix and quota line, and the violation.
            String expectedMessage = expected.get("error").get("message").asText();
            String actualMessage = actual.get("error").get("message").asText();
            String stable = expectedMessage.substring(0, expectedMessage.indexOf("Please retry in"));
            assertTrue(actualMessage.startsWith(stable), actualMessage);
            assertTrue(actual.get("error").get("details").get(2).get("retryDelay").asText().matches("\\d+s"));
            ((ObjectNode) expected.get("error")).remove("message");
            ((ObjectNode) actual.get("error")).remove("message");
            ((ObjectNode) expected.get("error").get("details").get(2)).remove("retryDelay");
            ((ObjectNode) actual.get("error").get("details").get(2)).remove("retryDelay");
            assertEquals(expected, actual);
        }
    }

    @Test
    void overloadedAndInvalidKeyBodiesEqualTheFixtures() throws Exception {
        try (GeminiSimulator sim = GeminiSimulator.start(SimulatorConfig.defaults()
                .withFaults(FaultPlan.NONE.with(Fault.OVERLOADED, 1.0)).withApiKeys(Set.of("right-key")))) {
            SimulatorHttp.Reply overloaded = SimulatorHttp.generate(sim, "m", "right-key", SimulatorHttp.textRequest("x"));
            assertEquals(503, overloaded.status());
            assertEquals(fixture("503-overloaded.json"), overloaded.body());
            SimulatorHttp.Reply wrongKey = SimulatorHttp.generate(sim, "m", "wrong-key", SimulatorHttp.textRequest("x"));
            assertEquals(400, wrongKey.status());
            assertEquals(fixture("400-api-key-invalid.json"), wrongKey.body());
            assertFalse(sim.requests().toString().contains("wrong-key"), "the log holds fingerprints, never keys");
        }
    }

    @Test
    void successBodyHasTheFixturesShapeAndOmitsZeroCounts() throws Exception {
        try (GeminiSimulator sim = GeminiSimulator.start(SimulatorConfig.defaults().withThoughtsTokens(438))) {
            SimulatorHttp.Reply r = SimulatorHttp.generate(sim, "gemini-3-flash-preview", "k",
                    SimulatorHttp.textRequest("x".repeat(238))); // one 238-letter word: 34 tokens of 7 letters
            assertEquals(200, r.status());
            assertEquals(paths(fixture("200-generate-content.json"), "", new TreeSet<>()), paths(r.body(), "", new TreeSet<>()));
            JsonNode usage = r.body().get("usageMetadata");
            assertEquals(34, usage.get("promptTokenCount").asLong());
            assertEquals(usage.get("promptTokenCount").asLong() + usage.get("candidatesTokenCount").asLong() + 438,
                    usage.get("totalTokenCount").asLong());
            assertEquals("gemini-3-flash-preview", r.body().get("modelVersion").asText());
        }
        try (GeminiSimulator sim = GeminiSimulator.start(SimulatorConfig.defaults())) {
            JsonNode usage = SimulatorHttp.generate(sim, "m", "k", SimulatorHttp.textRequest("x")).body().get("usageMetadata");
            assertTrue(usage.path("thoughtsTokenCount").isMissingNode(), "zero counts are omitted: " + usage);
        }
    }

    @Test
    void missingKeyIsPermissionDeniedAndQueryKeyIsAccepted() throws Exception {
        try (GeminiSimulator sim = GeminiSimulator.start(SimulatorConfig.defaults())) {
            SimulatorHttp.Reply none = SimulatorHttp.generate(sim, "m", null, SimulatorHttp.textRequest("x"));
            assertEquals(403, none.status());
            assertEquals("PERMISSION_DENIED", none.body().get("error").get("status").asText());
            SimulatorHttp.Reply query = SimulatorHttp.send(HttpRequest.newBuilder(
                    URI.create(sim.baseUrl() + "/v1beta/models/m:generateContent?key=abc"))
                    .POST(HttpRequest.BodyPublishers.ofString(SimulatorHttp.textRequest("x"))).build());
            assertEquals(200, query.status());
        }
    }

    @Test
    void embeddingsHonourDimensionsAreDeterministicAndBatchesStopAt100() throws Exception {
        try (GeminiSimulator sim = GeminiSimulator.start(SimulatorConfig.defaults())) {
            String one = "{\"requests\":[{\"model\":\"models/gemini-embedding-001\",\"content\":{\"parts\":[{\"text\":\"coffee\"}]},"
                    + "\"task_type\":\"RETRIEVAL_DOCUMENT\",\"output_dimensionality\":768},"
                    + "{\"model\":\"models/gemini-embedding-001\",\"content\":{\"parts\":[{\"text\":\"tea\"}]},\"outputDimensionality\":8}]}";
            SimulatorHttp.Reply a = SimulatorHttp.post(sim, "/v1beta/models/gemini-embedding-001:batchEmbedContents", "k", one);
            SimulatorHttp.Reply b = SimulatorHttp.post(sim, "/v1beta/models/gemini-embedding-001:batchEmbedContents", "k", one);
            assertEquals(200, a.status());
            assertEquals(768, a.body().get("embeddings").get(0).get("values").size());
            assertEquals(8, a.body().get("embeddings").get(1).get("values").size());
            assertEquals(a.body(), b.body());
            SimulatorHttp.Reply single = SimulatorHttp.post(sim, "/v1beta/models/gemini-embedding-001:embedContent", "k",
                    "{\"content\":{\"parts\":[{\"text\":\"coffee\"}]},\"outputDimensionality\":768}");
            assertEquals(a.body().get("embeddings").get(0), single.body().get("embedding"));

            StringBuilder many = new StringBuilder("{\"requests\":[");
            for (int i = 0; i < 101; i++) {
                many.append(i == 0 ? "" : ",").append("{\"content\":{\"parts\":[{\"text\":\"t").append(i).append("\"}]}}");
            }
            SimulatorHttp.Reply tooMany = SimulatorHttp.post(sim, "/v1beta/models/gemini-embedding-001:batchEmbedContents", "k",
                    many.append("]}").toString());
            assertEquals(400, tooMany.status());
            assertEquals("INVALID_ARGUMENT", tooMany.body().get("error").get("status").asText());
        }
    }

    @Test
    void countTokensAnswersTotalTokensWithoutUsingQuota() throws Exception {
        try (GeminiSimulator sim = GeminiSimulator.start(SimulatorConfig.defaults().withDefaultLimits(new ModelLimits(1, 0, 0)))) {
            for (int i = 0; i < 3; i++) {
                SimulatorHttp.Reply r = SimulatorHttp.post(sim, "/v1beta/models/m:countTokens", "k",
                        SimulatorHttp.fileRequest(SyntheticReceipts.png(3, 1000, 1.0), "image/png"));
                assertEquals(200, r.status());
                // 1000 x 1000: crop unit 666, 2 x 2 tiles; "Extract the receipt." is 3 words and a full stop.
                assertEquals(4 * 258 + 4, r.body().get("totalTokens").asLong());
            }
            assertEquals(200, SimulatorHttp.generate(sim, "m", "k", SimulatorHttp.textRequest("x")).status());
        }
    }

    @Test
    void resumableUploadThenGenerateContentByFileUri() throws Exception {
        byte[] pdf = SyntheticReceipts.pdf(77, 2);
        try (GeminiSimulator sim = GeminiSimulator.start(SimulatorConfig.defaults())) {
            SimulatorHttp.Reply start = SimulatorHttp.send(HttpRequest.newBuilder(URI.create(sim.baseUrl() + "/upload/v1beta/files"))
                    .header("x-goog-api-key", "k").header("X-Goog-Upload-Protocol", "resumable")
                    .header("X-Goog-Upload-Command", "start").header("X-Goog-Upload-Header-Content-Length", "" + pdf.length)
                    .header("X-Goog-Upload-Header-Content-Type", "application/pdf").header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"file\":{\"display_name\":\"big.pdf\"}}")).build());
            assertEquals(200, start.status());
            String uploadUrl = start.headers().firstValue("X-Goog-Upload-URL").orElseThrow();
            SimulatorHttp.Reply done = SimulatorHttp.send(HttpRequest.newBuilder(URI.create(uploadUrl))
                    .header("x-goog-api-key", "k").header("X-Goog-Upload-Offset", "0")
                    .header("X-Goog-Upload-Command", "upload, finalize").POST(HttpRequest.BodyPublishers.ofByteArray(pdf)).build());
            assertEquals(200, done.status());
            assertEquals("final", done.headers().firstValue("X-Goog-Upload-Status").orElseThrow());
            JsonNode file = done.body().get("file");
            assertEquals("application/pdf", file.get("mimeType").asText());
            assertEquals("ACTIVE", file.get("state").asText());
            assertEquals("big.pdf", file.get("displayName").asText());

            String request = "{\"contents\":[{\"parts\":[{\"file_data\":{\"mime_type\":\"application/pdf\",\"file_uri\":\""
                    + file.get("uri").asText() + "\"}}]}]}";
            SimulatorHttp.Reply r = SimulatorHttp.generate(sim, "m", "k", request);
            assertEquals(200, r.status());
            assertEquals(2 * 258, r.body().get("usageMetadata").get("promptTokenCount").asLong());
            assertEquals("DOCUMENT", r.body().get("usageMetadata").get("promptTokensDetails").get(0).get("modality").asText());
            assertEquals(SimulatorHttp.parsed(SyntheticReceipts.receipt(77).toJson()),
                    SimulatorHttp.JSON.readTree(r.body().get("candidates").get(0).get("content").get("parts").get(0).get("text").asText()));
        }
    }

    @Test
    void snakeCaseAndCamelCaseRequestsAreReadAlike() throws Exception {
        String data = java.util.Base64.getEncoder().encodeToString(SyntheticReceipts.png(9, 900, 1.0));
        String camel = "{\"systemInstruction\":{\"parts\":[{\"text\":\"You read receipts.\"}]},\"contents\":[{\"parts\":["
                + "{\"inlineData\":{\"mimeType\":\"image/png\",\"data\":\"" + data + "\"}}]}],"
                + "\"generationConfig\":{\"responseMimeType\":\"application/json\"}}";
        String snake = "{\"system_instruction\":{\"parts\":[{\"text\":\"You read receipts.\"}]},\"contents\":[{\"parts\":["
                + "{\"inline_data\":{\"mime_type\":\"image/png\",\"data\":\"" + data + "\"}}]}],"
                + "\"generation_config\":{\"response_mime_type\":\"application/json\"}}";
        try (GeminiSimulator sim = GeminiSimulator.start(SimulatorConfig.defaults())) {
            JsonNode a = SimulatorHttp.generate(sim, "m", "k", camel).body();
            JsonNode b = SimulatorHttp.generate(sim, "m", "k", snake).body();
            assertEquals(a.get("candidates"), b.get("candidates"));
            assertEquals(a.get("usageMetadata"), b.get("usageMetadata"));
            // 900 x 900: crop unit 600, 2 x 2 tiles; "You read receipts." = You, read, receipts (8 letters: 2), "." = 5 tokens.
            assertEquals(4 * 258 + 5, a.get("usageMetadata").get("promptTokenCount").asLong());
            assertEquals("IMAGE", a.get("usageMetadata").get("promptTokensDetails").get(1).get("modality").asText());
        }
    }

    @Test
    void windowLengthIsConfigurable() {
        assertEquals(Duration.ofMillis(1500), SimulatorConfig.parse(new String[] {"--window", "1500ms"}, Map.of()).window());
    }
}
