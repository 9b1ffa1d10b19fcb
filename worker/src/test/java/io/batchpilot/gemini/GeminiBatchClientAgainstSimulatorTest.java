package io.batchpilot.gemini;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchpilot.embeddings.SettableClock;
import io.batchpilot.simulator.BatchConfig;
import io.batchpilot.simulator.GeminiSimulator;
import io.batchpilot.simulator.RecordedRequest;
import io.batchpilot.simulator.SimulatorConfig;
import io.batchpilot.simulator.SyntheticReceipts;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** GeminiBatchClient against the simulator's Batch Mode: every state, both inputs, errors, quotas, pages. Nothing sleeps: the clock is moved. */
class GeminiBatchClientAgainstSimulatorTest {
    private static final String MODEL = "gemini-2.5-flash";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final SettableClock clock = new SettableClock();

    private GeminiSimulator start(BatchConfig batch) throws Exception {
        return GeminiSimulator.start(SimulatorConfig.defaults().withClock(clock).withBatch(batch));
    }

    private static GeminiBatchClient client(GeminiSimulator sim, String key) {
        return new GeminiBatchClient(GeminiConfig.of(sim.baseUrl(), key));
    }

    private static ObjectNode textRequest(String text) {
        ObjectNode r = JSON.createObjectNode();
        r.putArray("contents").addObject().put("role", "user").putArray("parts").addObject().put("text", text);
        return r;
    }

    private static ObjectNode receiptRequest(byte[] png) {
        ObjectNode r = JSON.createObjectNode();
        var parts = r.putArray("contents").addObject().put("role", "user").putArray("parts");
        parts.addObject().putObject("inlineData").put("mimeType", "image/png").put("data", png);
        parts.addObject().put("text", "Extract the receipt.");
        return r;
    }

    private static List<BatchRequest> requests(int n) {
        List<BatchRequest> list = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            list.add(new BatchRequest("file-" + i, textRequest("receipt number " + i)));
        }
        return list;
    }

    private static Map<String, BatchResult> byKey(List<BatchResult> results) {
        return results.stream().collect(Collectors.toMap(BatchResult::key, r -> r));
    }

    @Test
    void inlineJobMovesFromPendingThroughRunningToSucceededAndAnswersEachKeyAsInteractiveCallsDo() throws Exception {
        byte[] png = SyntheticReceipts.png(7, 900, 1.3);
        try (GeminiSimulator sim = start(BatchConfig.DEFAULTS.withDelays(Duration.ofSeconds(10), Duration.ofSeconds(40)));
             GeminiBatchClient batches = client(sim, "k")) {
            List<BatchRequest> requests = new ArrayList<>(requests(3));
            requests.add(new BatchRequest("receipt", receiptRequest(png)));
            BatchJob created = batches.create(MODEL, "receipts", requests);
            assertEquals(BatchState.PENDING, created.state());
            assertEquals(MODEL, created.model());
            assertEquals("receipts", created.displayName());
            assertNull(created.inputFile(), "four small requests go inline");
            assertEquals(new BatchJob.Stats(4, 0, 0, 4), created.stats());
            assertNull(created.endTime());

            clock.advance(Duration.ofSeconds(10));
            assertEquals(BatchState.RUNNING, batches.get(created.name()).state());
            clock.advance(Duration.ofSeconds(20)); // half the running time: half the requests done, in order
            BatchJob running = batches.get(created.name());
            assertEquals(BatchState.RUNNING, running.state());
            assertEquals(new BatchJob.Stats(4, 2, 0, 2), running.stats());
            assertThrows(IllegalStateException.class, () -> batches.results(running));

            clock.advance(Duration.ofSeconds(20));
            BatchJob done = batches.get(created.name());
            assertEquals(BatchState.SUCCEEDED, done.state());
            assertTrue(done.state().terminal());
            assertEquals(new BatchJob.Stats(4, 4, 0, 0), done.stats());
            assertEquals(created.createTime().plusSeconds(50), done.endTime());
            assertNull(done.responsesFile(), "inline input, inline responses");

            List<BatchResult> results = batches.results(done);
            assertEquals(List.of("file-0", "file-1", "file-2", "receipt"), results.stream().map(BatchResult::key).toList());
            assertTrue(results.stream().allMatch(BatchResult::succeeded));
            // The same request answered interactively carries the same usage and the same extraction.
            JsonNode interactive = generateContent(sim, receiptRequest(png));
            BatchResult receipt = byKey(results).get("receipt");
            assertEquals(interactive.get("usageMetadata"), receipt.response().get("usageMetadata"));
            assertEquals(interactive.get("candidates"), receipt.response().get("candidates"));
            assertEquals(interactive.get("usageMetadata").get("promptTokenCount").asLong(), receipt.usage().promptTokens());
            assertTrue(receipt.usage().candidatesTokens() > 0);
        }
    }

    @Test
    void requestsOverTheInlineThresholdGoAsAnUploadedJsonlFileAndComeBackInAResultsFile() throws Exception {
        try (GeminiSimulator sim = start(BatchConfig.DEFAULTS); GeminiBatchClient batches = client(sim, "k")) {
            BatchJob created = batches.create(MODEL, "big", requests(5), 200);
            assertNotNull(created.inputFile(), "a create request over 200 bytes goes as a file");
            assertTrue(created.inputFile().startsWith("files/"));
            clock.advance(Duration.ofSeconds(5));
            BatchJob done = batches.get(created.name());
            assertEquals(BatchState.SUCCEEDED, done.state());
            assertTrue(done.inlineResults().isEmpty());
            assertTrue(done.responsesFile().startsWith("files/batch-"), done.responsesFile());
            List<BatchResult> results = batches.results(done);
            assertEquals(Set.of("file-0", "file-1", "file-2", "file-3", "file-4"),
                    results.stream().map(BatchResult::key).collect(Collectors.toSet()));
            assertTrue(results.stream().allMatch(r -> r.succeeded() && r.usage().promptTokens() > 0));

            List<String> methods = sim.requests().stream().map(RecordedRequest::method).toList();
            assertEquals(List.of("upload", "upload", "batchGenerateContent", "getBatch", "downloadFile"), methods);
            RecordedRequest create = sim.requests().get(2);
            assertEquals(MODEL, create.model());
            assertEquals(sim.batches().jobs().get(0).enqueuedTokens(), create.inputTokens(), "the log names the enqueued tokens");
            assertTrue(create.inputTokens() > 0);
            assertFalse(create.counted(), "batch calls use none of the interactive quota");
        }
    }

    @Test
    void aRequestThatFailsComesBackAloneWithItsErrorClassified() throws Exception {
        BatchConfig errors = BatchConfig.DEFAULTS.withFault("request-error", 0.5);
        try (GeminiSimulator sim = start(errors); GeminiBatchClient batches = client(sim, "k")) {
            List<BatchRequest> requests = new ArrayList<>(requests(20));
            requests.add(new BatchRequest("no-contents", JSON.createObjectNode()));
            BatchJob created = batches.create(MODEL, "errors", requests);
            clock.advance(Duration.ofSeconds(5));
            BatchJob done = batches.get(created.name());
            assertEquals(BatchState.SUCCEEDED, done.state(), "per-request errors do not fail the job");
            Map<String, BatchResult> results = byKey(batches.results(done));

            GeminiException invalid = results.get("no-contents").failure().orElseThrow();
            assertEquals(GeminiError.INVALID_REQUEST, invalid.error());
            assertFalse(invalid.retryable());
            assertTrue(invalid.getMessage().contains("'no-contents'") && invalid.getMessage().contains(created.name()),
                    invalid.getMessage());

            List<BatchResult> injected = results.values().stream().filter(r -> !r.succeeded() && !r.key().equals("no-contents")).toList();
            assertTrue(injected.size() > 3 && injected.size() < 17, "about half of 20: " + injected.size());
            assertTrue(injected.stream().allMatch(r -> r.error().error() == GeminiError.SERVER_ERROR && r.error().retryable()));
            assertTrue(injected.stream().allMatch(r -> r.response() == null && r.usage().totalTokens() == 0));
            assertEquals(new BatchJob.Stats(21, 21 - injected.size() - 1, injected.size() + 1, 0), done.stats());
        }
    }

    @Test
    void cancellingEndsTheJobCancelledWithoutResultsAndFreesItsPlace() throws Exception {
        try (GeminiSimulator sim = start(BatchConfig.DEFAULTS.withMaxConcurrentJobs(1)); GeminiBatchClient batches = client(sim, "k")) {
            BatchJob first = batches.create(MODEL, "first", requests(2));
            GeminiException full = assertThrows(GeminiException.class, () -> batches.create(MODEL, "second", requests(2)));
            assertEquals(GeminiError.RATE_LIMITED, full.error());
            assertTrue(full.retryable());
            assertTrue(full.getMessage().contains("batch quota is full"), full.getMessage());
            assertTrue(full.retryDelay().isEmpty(), "Google's batch 429 gives no delay");

            clock.advance(Duration.ofSeconds(3)); // running
            batches.cancel(first.name());
            BatchJob cancelled = batches.get(first.name());
            assertEquals(BatchState.CANCELLED, cancelled.state());
            assertEquals(1, cancelled.failure().orElseThrow().code());
            assertEquals(clock.instant(), cancelled.endTime());
            assertThrows(IllegalStateException.class, () -> batches.results(cancelled));
            clock.advance(Duration.ofSeconds(10));
            assertEquals(BatchState.CANCELLED, batches.get(first.name()).state(), "cancelled stays cancelled");
            batches.cancel(first.name()); // a finished job: nothing changes

            assertEquals(BatchState.PENDING, batches.create(MODEL, "second", requests(2)).state());
        }
    }

    @Test
    void aJobGoogleNeverReachesExpiresFortyEightHoursAfterItsCreation() throws Exception {
        try (GeminiSimulator sim = start(BatchConfig.DEFAULTS.withFault("job-expired", 1.0)); GeminiBatchClient batches = client(sim, "k")) {
            BatchJob created = batches.create(MODEL, "late", requests(3));
            clock.advance(Duration.ofHours(47).plusMinutes(59));
            BatchJob waiting = batches.get(created.name());
            assertEquals(BatchState.PENDING, waiting.state());
            assertEquals(new BatchJob.Stats(3, 0, 0, 3), waiting.stats());
            clock.advance(Duration.ofMinutes(1));
            BatchJob expired = batches.get(created.name());
            assertEquals(BatchState.EXPIRED, expired.state());
            assertEquals(4, expired.failure().orElseThrow().code());
            assertEquals(created.createTime().plus(Duration.ofHours(48)), expired.endTime());
            IllegalStateException none = assertThrows(IllegalStateException.class, () -> batches.results(expired));
            assertTrue(none.getMessage().contains("send its requests again"), none.getMessage());
        }
    }

    @Test
    void aFailedJobFailsHalfwayThroughRunningWithItsError() throws Exception {
        try (GeminiSimulator sim = start(BatchConfig.DEFAULTS.withFault("job-failed", 1.0)); GeminiBatchClient batches = client(sim, "k")) {
            BatchJob created = batches.create(MODEL, "doomed", requests(4));
            clock.advance(Duration.ofMillis(3400)); // 2 s pending + 1.4 s of 3 s running
            assertEquals(BatchState.RUNNING, batches.get(created.name()).state());
            clock.advance(Duration.ofMillis(200));
            BatchJob failed = batches.get(created.name());
            assertEquals(BatchState.FAILED, failed.state());
            assertEquals(13, failed.failure().orElseThrow().code());
            assertEquals(new BatchJob.Stats(4, 2, 0, 2), failed.stats());
            assertTrue(failed.inlineResults().isEmpty());
        }
    }

    @Test
    void enqueuedTokensPerModelRefuseANewJobUntilAnActiveOneEnds() throws Exception {
        long oneJob;
        try (GeminiSimulator probe = start(BatchConfig.DEFAULTS); GeminiBatchClient c = client(probe, "k")) {
            c.create(MODEL, "probe", requests(3));
            oneJob = probe.batches().jobs().get(0).enqueuedTokens();
        }
        BatchConfig quota = BatchConfig.DEFAULTS.withEnqueuedTokens(MODEL, oneJob + oneJob / 2);
        try (GeminiSimulator sim = start(quota); GeminiBatchClient batches = client(sim, "k")) {
            BatchJob first = batches.create(MODEL, "first", requests(3));
            GeminiException full = assertThrows(GeminiException.class, () -> batches.create(MODEL, "second", requests(3)));
            assertEquals(GeminiError.RATE_LIMITED, full.error());
            RecordedRequest refused = sim.requests().get(sim.requests().size() - 1);
            assertEquals(429, refused.status());
            assertEquals("batch_enqueued_tokens_exceeded", refused.outcome());
            assertEquals(oneJob, refused.inputTokens());

            assertEquals(BatchState.PENDING, batches.create("gemini-2.5-pro", "other model", requests(3)).state(),
                    "enqueued tokens count per model");
            batches.delete(first.name());
            assertThrows(GeminiException.class, () -> batches.create(MODEL, "second", requests(3)),
                    "deleting does not cancel: the job keeps its tokens until it ends");
            clock.advance(Duration.ofSeconds(5));
            assertEquals(BatchState.PENDING, batches.create(MODEL, "second", requests(3)).state());
        }
    }

    @Test
    void listPagesThroughThisKeysJobsNewestFirstAndForgetsDeletedOnes() throws Exception {
        try (GeminiSimulator sim = start(BatchConfig.DEFAULTS); GeminiBatchClient batches = client(sim, "k");
             GeminiBatchClient other = client(sim, "another-key")) {
            List<String> created = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                created.add(batches.create(MODEL, "job " + i, requests(1)).name());
            }
            other.create(MODEL, "someone else's", requests(1));

            List<String> seen = new ArrayList<>();
            List<Integer> sizes = new ArrayList<>();
            String token = null;
            do {
                BatchPage page = batches.list(2, token);
                sizes.add(page.jobs().size());
                page.jobs().forEach(j -> seen.add(j.name()));
                token = page.next().orElse(null);
            } while (token != null);
            assertEquals(List.of(2, 2, 1), sizes);
            List<String> newestFirst = new ArrayList<>(created);
            Collections.reverse(newestFirst);
            assertEquals(newestFirst, seen);

            batches.delete(created.get(2));
            BatchPage all = batches.list(0, null);
            assertEquals(4, all.jobs().size());
            assertTrue(all.next().isEmpty());
            assertFalse(all.jobs().stream().anyMatch(j -> j.name().equals(created.get(2))));
            GeminiException gone = assertThrows(GeminiException.class, () -> batches.get(created.get(2)));
            assertEquals(GeminiError.NOT_FOUND, gone.error());
            assertTrue(gone.getMessage().contains("batch job " + created.get(2) + " was not found"), gone.getMessage());
            assertEquals(GeminiError.NOT_FOUND, assertThrows(GeminiException.class, () -> other.get(created.get(0))).error(),
                    "another project's job is not found");
            assertEquals(1, other.list(0, null).jobs().size());
            assertTrue(sim.batches().jobs().get(2).deleted());
        }
    }

    @Test
    void keysMustBeUniqueAndNamesMustBeBatchNames() throws Exception {
        try (GeminiSimulator sim = start(BatchConfig.DEFAULTS); GeminiBatchClient batches = client(sim, "k")) {
            List<BatchRequest> twice = List.of(new BatchRequest("a", textRequest("x")), new BatchRequest("a", textRequest("y")));
            assertThrows(IllegalArgumentException.class, () -> batches.create(MODEL, "dup", twice));
            assertEquals(GeminiError.INVALID_REQUEST, assertThrows(GeminiException.class, () -> batches.get("files/abc")).error());
            assertTrue(sim.requests().isEmpty(), "refused before anything was sent");
        }
    }

    private static JsonNode generateContent(GeminiSimulator sim, ObjectNode request) throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                        URI.create(sim.baseUrl() + "/v1beta/models/" + MODEL + ":generateContent"))
                .header("x-goog-api-key", "k").header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(request))).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        return JSON.readTree(r.body());
    }
}
