package io.batchpilot.gemini;

import static io.batchpilot.gemini.GeminiBodies.captured;
import static io.batchpilot.gemini.GeminiBodies.constructed;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.read.ListAppender;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;
import mockwebserver3.RecordedRequest;
import mockwebserver3.SocketEffect;
import mockwebserver3.junit5.StartStop;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * Plants a canary API key, drives every failure path and fails if the canary shows up anywhere it
 * could leak: a log line (DEBUG and up, stack traces included), an exception's message, toString or
 * stack trace, any value's toString, a request URL, header (other than x-goog-api-key) or body.
 */
class ApiKeyCanaryTest {
    private static final String CANARY = "AIzaSyCANARY-0123456789-do-not-leak-me";
    private static final String MODEL = "gemini-2.5-flash";
    private static final byte[] PNG = TestImages.png(120, 80);

    @StartStop
    private final MockWebServer server = new MockWebServer();
    private final ListAppender<ILoggingEvent> logs = new ListAppender<>();
    private final List<String> captured = new ArrayList<>();
    private final Set<GeminiError> seen = EnumSet.noneOf(GeminiError.class);
    private Logger root;
    private Level rootLevel;
    private GeminiClient client;

    @BeforeEach
    void plantCanary() {
        root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        rootLevel = root.getLevel();
        root.setLevel(Level.DEBUG);
        logs.start();
        root.addAppender(logs);
        GeminiConfig config = GeminiConfig.of(server.url("/").toString(), CANARY)
                .withTimeouts(Duration.ofSeconds(2), Duration.ofMillis(300), Duration.ofSeconds(5))
                .withFileActivePollInterval(Duration.ofMillis(1)).withFileApiThresholdBytes(1_000_000);
        client = new GeminiClient(config);
        captured.add(config.toString());
        captured.add(client.toString());
    }

    @AfterEach
    void restoreLogging() {
        client.close();
        root.detachAppender(logs);
        root.setLevel(rootLevel);
    }

    @Test
    void theKeyAppearsNowhereButItsHeaderOnAnyPath() throws Exception {
        // Every HTTP error body, on each kind of call.
        List<String> bodies = List.of(captured("429-requests-per-minute-free-tier.json"), captured("400-api-key-invalid.json"),
                captured("503-overloaded.json"), constructed("429-requests-per-day-free-tier.json"),
                constructed("429-minute-requests-and-input-tokens.json"), constructed("429-minute-and-day.json"),
                constructed("429-help-only.json"), constructed("429-without-retry-info.json"),
                constructed("429-fractional-retry-info.json"), constructed("403-key-leaked.json"),
                constructed("403-permission-denied.json"), constructed("404-model-not-found.json"),
                constructed("400-invalid-argument.json"), constructed("500-internal.json"), constructed("503-high-demand.json"),
                constructed("504-deadline-exceeded.json"), constructed("502-proxy-html.html"));
        int[] codes = {429, 400, 503, 429, 429, 429, 429, 429, 429, 403, 403, 404, 400, 500, 503, 504, 502};
        for (int i = 0; i < bodies.size(); i++) {
            for (Call call : Call.values()) {
                server.enqueue(response(codes[i], bodies.get(i)));
                expectFailure(call);
            }
        }
        // A server (or proxy) that echoes the key back in its message.
        server.enqueue(response(400, "{\"error\":{\"code\":400,\"message\":\"API key " + CANARY
                + " not valid.\",\"status\":\"INVALID_ARGUMENT\",\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\","
                + "\"reason\":\"API_KEY_INVALID\",\"domain\":\"googleapis.com\",\"metadata\":{\"key\":\"" + CANARY + "\"}}]}}"));
        expectFailure(Call.EXTRACT);
        server.enqueue(response(500, "<html>upstream said key=" + CANARY + "</html>"));
        expectFailure(Call.COUNT);
        // 200s that are blocked, garbled or truncated.
        for (String name : List.of("200-prompt-blocked.json", "200-finish-safety.json", "200-max-tokens-truncated-json.json",
                "200-schema-violation.json", "200-not-json-text.json", "200-truncated-body.txt")) {
            server.enqueue(response(200, constructed(name)));
            expectFailure(Call.EXTRACT);
        }
        server.enqueue(response(200, "{\"embeddings\":[]}"));
        expectFailure(Call.EMBED_BATCH);
        // The network: no answer in time, a dropped connection, a body cut short, a redirect.
        server.enqueue(new MockResponse.Builder().code(200).headersDelay(3, TimeUnit.SECONDS).body("{}").build());
        expectFailure(Call.EXTRACT);
        server.enqueue(new MockResponse.Builder().onResponseStart(new SocketEffect.CloseSocket()).build());
        expectFailure(Call.EMBED);
        server.enqueue(new MockResponse.Builder().code(200).body(GeminiBodies.generateContentAnswering(GeminiBodies.RECEIPT_JSON))
                .onResponseBody(SocketEffect.ShutdownConnection.INSTANCE).build());
        expectFailure(Call.EXTRACT);
        server.enqueue(new MockResponse.Builder().code(302).setHeader("Location", "https://elsewhere.example/").build());
        expectFailure(Call.EXTRACT);
        // Refused before any call.
        record(assertThrows(GeminiException.class, () -> client.extractReceipt("models/../x", PNG, "image/png")));
        record(assertThrows(GeminiException.class, () -> client.extractReceipt(MODEL, PNG, "not a mime type")));
        // The File API: no upload URL, a file Gemini could not process, a failed delete (logged), then success.
        byte[] large = new byte[2_000_000];
        server.enqueue(response(200, "{}"));
        record(assertThrows(GeminiException.class, () -> client.extractReceipt(MODEL, large, "application/pdf")));
        enqueueUpload("FAILED");
        record(assertThrows(GeminiException.class, () -> client.extractReceipt(MODEL, large, "application/pdf")));
        enqueueUpload("ACTIVE");
        server.enqueue(response(200, GeminiBodies.generateContentAnswering(GeminiBodies.RECEIPT_JSON)));
        server.enqueue(response(500, constructed("500-internal.json")));
        ExtractionResult result = client.extractReceipt(MODEL, large, "application/pdf");
        captured.add(result.toString());
        captured.add(result.receipt().toString());
        captured.add(result.usage().toString());
        // Successful calls of every kind, so their values are checked too.
        server.enqueue(response(200, GeminiBodies.generateContentAnswering(GeminiBodies.RECEIPT_JSON)));
        captured.add(client.extractReceipt(MODEL, PNG, "image/png").toString());
        server.enqueue(response(200, "{\"totalTokens\":7}"));
        captured.add(Long.toString(client.countTokens(MODEL, "seven tokens")));
        captured.add(EmbeddingOptions.forDocuments().toString());
        captured.add(client.toString());
        // Settings refused at startup: the messages name the setting, never the value of the key.
        recordMessage(assertThrows(IllegalArgumentException.class, () -> GeminiConfig.of(server.url("/").toString(), CANARY + " ")));
        recordMessage(assertThrows(IllegalArgumentException.class,
                () -> GeminiConfig.fromEnvironment(Map.of("GEMINI_API_KEY", CANARY, "GEMINI_BASE_URL", "http://example.com"))));

        assertEquals(EnumSet.allOf(GeminiError.class), seen, "every GeminiError was driven");
        assertTrue(logs.list.stream().anyMatch(e -> e.getLevel() == Level.DEBUG && e.getLoggerName().startsWith("io.batchpilot.gemini")),
                "the client's own DEBUG lines were captured");
        assertTrue(logs.list.stream().anyMatch(e -> e.getLevel() == Level.WARN), "the failed delete was logged");
        for (ILoggingEvent event : logs.list) {
            captured.add(event.getFormattedMessage());
            if (event.getThrowableProxy() != null) {
                captured.add(ThrowableProxyUtil.asString(event.getThrowableProxy()));
            }
        }
        int requests = server.getRequestCount();
        assertTrue(requests >= 90, "drove " + requests + " requests");
        for (int i = 0; i < requests; i++) {
            RecordedRequest request = server.takeRequest(1, TimeUnit.SECONDS);
            if (request == null) {
                break;
            }
            String header = request.getHeaders().get(GeminiClient.API_KEY_HEADER);
            assertEquals(CANARY, header, "the key travels in x-goog-api-key on " + request.getRequestLine());
            captured.add(request.getRequestLine());
            captured.add(String.valueOf(request.getUrl()));
            captured.add(request.getHeaders().newBuilder().removeAll(GeminiClient.API_KEY_HEADER).build().toString());
            if (request.getBody() != null) {
                captured.add(request.getBody().string(java.nio.charset.StandardCharsets.ISO_8859_1));
            }
        }

        for (String text : captured) {
            if (text != null && text.contains(CANARY)) {
                fail("the API key leaked into: " + text.replace(CANARY, "<<CANARY>>"));
            }
        }
        assertTrue(captured.stream().anyMatch(t -> t.contains(KeyRedactor.REDACTED)), "an echoed key was redacted, not dropped silently");
    }

    private enum Call { EXTRACT, EMBED, EMBED_BATCH, COUNT }

    private void expectFailure(Call call) {
        GeminiException e = assertThrows(GeminiException.class, () -> {
            switch (call) {
                case EXTRACT -> client.extractReceipt(MODEL, PNG, "image/png");
                case EMBED -> client.embed("gemini-embedding-001", "a receipt", EmbeddingOptions.forDocuments());
                case EMBED_BATCH -> client.embedBatch("gemini-embedding-001", List.of("a", "b"), EmbeddingOptions.forDocuments());
                case COUNT -> client.countTokens(MODEL, "a receipt");
            }
        });
        record(e);
    }

    private void record(GeminiException e) {
        seen.add(e.error());
        recordMessage(e);
        captured.add(String.valueOf(e.retryDelay()));
        captured.add(String.valueOf(e.quotaId()));
        captured.add(String.valueOf(e.usage()));
    }

    private void recordMessage(Exception e) {
        captured.add(e.getMessage());
        captured.add(e.toString());
        StringWriter trace = new StringWriter();
        e.printStackTrace(new PrintWriter(trace));
        captured.add(trace.toString());
        assertFalse(e.getMessage().isBlank());
    }

    private void enqueueUpload(String state) {
        server.enqueue(new MockResponse.Builder().code(200)
                .setHeader("X-Goog-Upload-URL", server.url("/upload/v1beta/files?upload_id=u1&upload_protocol=resumable").toString())
                .build());
        server.enqueue(response(200, "{\"file\":{\"name\":\"files/u1\",\"uri\":\"" + server.url("/v1beta/files/u1")
                + "\",\"state\":\"PROCESSING\"}}"));
        server.enqueue(response(200, "{\"name\":\"files/u1\",\"state\":\"" + state + "\"}"));
        if (state.equals("FAILED")) {
            server.enqueue(response(200, "{}")); // the delete
        }
    }

    private static MockResponse response(int code, String body) {
        return new MockResponse.Builder().code(code).setHeader("Content-Type", "application/json").body(body).build();
    }
}
