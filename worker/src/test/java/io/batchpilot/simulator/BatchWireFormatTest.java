package io.batchpilot.simulator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchpilot.embeddings.SettableClock;
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

/** The simulator's Batch Mode bodies against the ones Google returned (gemini-fixtures/) and the documented REST shapes. */
class BatchWireFormatTest {

    private static final String INLINE_BATCH = "{\"batch\":{\"display_name\":\"capitals-batch\",\"input_config\":{\"requests\":"
            + "{\"requests\":[" + item("France", "request-1") + "," + item("Japan", "request-2") + "," + item("Brazil", "request-3")
            + "]}}}}";

    private static String item(String country, String key) {
        return "{\"request\":" + SimulatorHttp.textRequest("What is the capital of " + country + "?")
                + ",\"metadata\":{\"key\":\"" + key + "\"}}";
    }

    private static JsonNode fixture(String name) throws IOException {
        try (InputStream in = BatchWireFormatTest.class.getResourceAsStream("/gemini-fixtures/" + name)) {
            return SimulatorHttp.JSON.readTree(in);
        }
    }

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

    private static SimulatorHttp.Reply get(GeminiSimulator sim, String path) throws Exception {
        return SimulatorHttp.send(HttpRequest.newBuilder(URI.create(sim.baseUrl() + path)).header("x-goog-api-key", "k").GET().build());
    }

    @Test
    void createAnswersThePendingOperationGoogleReturnsFieldByField() throws Exception {
        try (GeminiSimulator sim = GeminiSimulator.start(SimulatorConfig.defaults())) {
            SimulatorHttp.Reply r = SimulatorHttp.post(sim, "/v1beta/models/gemini-2.5-flash-lite:batchGenerateContent", "k", INLINE_BATCH);
            assertEquals(200, r.status(), r.raw());
            assertEquals(paths(fixture("200-batch-create-pending.json"), "", new TreeSet<>()), paths(r.body(), "", new TreeSet<>()));
            JsonNode meta = r.body().get("metadata");
            assertEquals(r.body().get("name"), meta.get("name"));
            assertTrue(r.body().get("name").asText().matches("batches/[a-z0-9]{36}"));
            assertEquals("models/gemini-2.5-flash-lite", meta.get("model").asText());
            assertEquals("3", meta.get("batchStats").get("requestCount").asText(), "int64 travels as a string");
            assertEquals(SimulatedBatches.BATCH_TYPE, meta.get("@type").asText());
        }
    }

    @Test
    void aSucceededInlineJobCarriesEveryFieldGoogleSendsAndTheKeysInRequestOrder() throws Exception {
        SettableClock clock = new SettableClock();
        try (GeminiSimulator sim = GeminiSimulator.start(SimulatorConfig.defaults().withClock(clock))) {
            String name = SimulatorHttp.post(sim, "/v1beta/models/gemini-2.5-flash-lite:batchGenerateContent", "k", INLINE_BATCH)
                    .body().get("name").asText();
            clock.advance(Duration.ofSeconds(5));
            SimulatorHttp.Reply r = get(sim, "/v1beta/" + name);
            assertEquals(200, r.status());
            Set<String> google = paths(fixture("200-batch-get-succeeded-inline.json"), "", new TreeSet<>());
            Set<String> ours = paths(r.body(), "", new TreeSet<>());
            Set<String> missing = new TreeSet<>(google);
            missing.removeAll(ours);
            assertEquals(Set.of(), missing, "every field Google sent, of the same type");

            JsonNode inlined = r.body().get("response").get("inlinedResponses").get("inlinedResponses");
            assertEquals(3, inlined.size());
            for (int i = 0; i < 3; i++) {
                assertEquals("request-" + (i + 1), inlined.get(i).get("metadata").get("key").asText());
            }
            // python-genai reads the same output from metadata.output, without the @type.
            ObjectNode response = r.body().get("response").deepCopy();
            response.remove("@type");
            assertEquals(response, r.body().get("metadata").get("output"));
            assertEquals(SimulatedBatches.OUTPUT_TYPE, r.body().get("response").get("@type").asText());
        }
    }

    @Test
    void aFileJobReadsKeyedJsonlAndWritesAResultsFileOfKeyedLines() throws Exception {
        SettableClock clock = new SettableClock();
        String jsonl = "{\"key\":\"a\",\"request\":" + SimulatorHttp.textRequest("one") + "}\n"
                + "{\"key\":\"b\",\"request\":{\"contents\":[]}}\n"
                + "not json\n";
        try (GeminiSimulator sim = GeminiSimulator.start(SimulatorConfig.defaults().withClock(clock))) {
            SimulatorHttp.Reply start = SimulatorHttp.send(HttpRequest.newBuilder(URI.create(sim.baseUrl() + "/upload/v1beta/files"))
                    .header("x-goog-api-key", "k").header("X-Goog-Upload-Protocol", "resumable")
                    .header("X-Goog-Upload-Command", "start").header("X-Goog-Upload-Header-Content-Type", "application/jsonl")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"file\":{\"display_name\":\"in.jsonl\"}}")).build());
            String uploadUrl = start.headers().firstValue("X-Goog-Upload-URL").orElseThrow();
            String file = SimulatorHttp.send(HttpRequest.newBuilder(URI.create(uploadUrl)).header("x-goog-api-key", "k")
                    .header("X-Goog-Upload-Command", "upload, finalize").header("X-Goog-Upload-Offset", "0")
                    .POST(HttpRequest.BodyPublishers.ofString(jsonl)).build()).body().get("file").get("name").asText();

            SimulatorHttp.Reply created = SimulatorHttp.post(sim, "/v1beta/models/gemini-2.5-flash:batchGenerateContent", "k",
                    "{\"batch\":{\"display_name\":\"from a file\",\"input_config\":{\"file_name\":\"" + file + "\"}}}");
            assertEquals(200, created.status(), created.raw());
            assertEquals(file, created.body().get("metadata").get("inputConfig").get("fileName").asText());
            clock.advance(Duration.ofSeconds(5));
            JsonNode done = get(sim, "/v1beta/" + created.body().get("name").asText()).body();
            assertEquals(Set.of("successfulRequestCount", "failedRequestCount", "requestCount"),
                    fieldNames(done.get("metadata").get("batchStats")));
            String results = done.get("response").get("responsesFile").asText();
            assertTrue(results.startsWith("files/batch-"), results);
            assertFalse(done.get("response").has("inlinedResponses"));

            SimulatorHttp.Reply download = get(sim, "/download/v1beta/" + results + ":download?alt=media");
            assertEquals(200, download.status());
            String[] lines = download.raw().split("\n");
            assertEquals(3, lines.length);
            JsonNode a = SimulatorHttp.JSON.readTree(lines[0]);
            assertEquals(Set.of("key", "response"), fieldNames(a));
            assertTrue(a.get("response").get("usageMetadata").get("promptTokenCount").asLong() > 0);
            JsonNode b = SimulatorHttp.JSON.readTree(lines[1]);
            assertEquals(Set.of("key", "error"), fieldNames(b));
            assertEquals(3, b.get("error").get("code").asInt(), "INVALID_ARGUMENT, as a google.rpc.Status code");
            assertEquals(Set.of("error"), fieldNames(SimulatorHttp.JSON.readTree(lines[2])), "a line that is no request has no key");

            JsonNode meta = get(sim, "/v1beta/" + results).body();
            assertEquals("GENERATED", meta.get("source").asText());
            assertTrue(meta.get("downloadUri").asText().endsWith(results + ":download?alt=media"));
        }
    }

    @Test
    void overTheBatchQuotaCreateAnswersGoogles429Body() throws Exception {
        BatchConfig one = BatchConfig.DEFAULTS.withMaxConcurrentJobs(1);
        try (GeminiSimulator sim = GeminiSimulator.start(SimulatorConfig.defaults().withBatch(one))) {
            assertEquals(200, SimulatorHttp.post(sim, "/v1beta/models/m:batchGenerateContent", "k", INLINE_BATCH).status());
            SimulatorHttp.Reply refused = SimulatorHttp.post(sim, "/v1beta/models/m:batchGenerateContent", "k", INLINE_BATCH);
            assertEquals(429, refused.status());
            assertEquals(fixture("429-batch-quota.json"), refused.body());
            assertEquals(200, SimulatorHttp.post(sim, "/v1beta/models/m:batchGenerateContent", "another-key", INLINE_BATCH).status(),
                    "the quota is per project (key)");
        }
    }

    @Test
    void malformedCreatesAreRefusedAsGoogleRefusesThem() throws Exception {
        try (GeminiSimulator sim = GeminiSimulator.start(SimulatorConfig.defaults())) {
            String noName = "{\"batch\":{\"input_config\":{\"requests\":{\"requests\":[" + item("France", "k1") + "]}}}}";
            assertEquals("INVALID_ARGUMENT", SimulatorHttp.post(sim, "/v1beta/models/m:batchGenerateContent", "k", noName)
                    .body().get("error").get("status").asText());
            String both = "{\"batch\":{\"display_name\":\"x\",\"input_config\":{\"file_name\":\"files/abc\",\"requests\":"
                    + "{\"requests\":[]}}}}";
            assertEquals(400, SimulatorHttp.post(sim, "/v1beta/models/m:batchGenerateContent", "k", both).status());
            String missingFile = "{\"batch\":{\"display_name\":\"x\",\"input_config\":{\"file_name\":\"files/nope\"}}}";
            assertEquals(403, SimulatorHttp.post(sim, "/v1beta/models/m:batchGenerateContent", "k", missingFile).status());
            assertEquals(404, get(sim, "/v1beta/batches/doesnotexist").status());
            assertTrue(sim.batches().jobs().isEmpty());
            assertEquals(Set.of("batchGenerateContent", "getBatch"),
                    new TreeSet<>(sim.requests().stream().map(RecordedRequest::method).toList()));
        }
    }

    @Test
    void batchFlagsAreRead() {
        SimulatorConfig c = SimulatorConfig.parse(new String[] {"--batch-pending", "1s", "--batch-running=4s", "--batch-expire-after",
            "30s", "--batch-fault", "job-expired=0.25", "--batch-fault", "request-error=0.1", "--batch-concurrent-jobs", "3",
            "--batch-enqueued-tokens", "1000", "--batch-enqueued-tokens", "gemini-2.5-flash=3000000"}, Map.of());
        BatchConfig b = c.batch();
        assertEquals(Duration.ofSeconds(1), b.pendingDelay());
        assertEquals(Duration.ofSeconds(4), b.runningDelay());
        assertEquals(Duration.ofSeconds(30), b.expireAfter());
        assertEquals(0.25, b.jobExpiryRate());
        assertEquals(0.1, b.requestErrorRate());
        assertEquals(3, b.maxConcurrentJobs());
        assertEquals(1000, b.enqueuedTokensFor("gemini-2.5-pro"));
        assertEquals(3_000_000, b.enqueuedTokensFor("gemini-2.5-flash"));
        assertEquals(Duration.ofSeconds(2),
                SimulatorConfig.parse(new String[0], Map.of("BATCHPILOT_SIM_BATCH_PENDING", "2s"))
                        .batch().pendingDelay());
    }

    private static Set<String> fieldNames(JsonNode node) {
        Set<String> names = new TreeSet<>();
        node.fieldNames().forEachRemaining(names::add);
        return names;
    }
}
