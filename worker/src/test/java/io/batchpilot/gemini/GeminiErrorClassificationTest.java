package io.batchpilot.gemini;

import static io.batchpilot.gemini.GeminiBodies.captured;
import static io.batchpilot.gemini.GeminiBodies.constructed;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;
import mockwebserver3.SocketEffect;
import mockwebserver3.junit5.StartStop;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Every failure Gemini (or the network) can hand us, classified from the real body. */
class GeminiErrorClassificationTest {
    private static final byte[] PNG = TestImages.png(300, 200);

    @StartStop
    private final MockWebServer server = new MockWebServer();
    private GeminiClient client;

    @BeforeEach
    void startClient() {
        client = new GeminiClient(GeminiConfig.of(server.url("/").toString(), "test-key")
                .withTimeouts(Duration.ofSeconds(2), Duration.ofMillis(300), Duration.ofSeconds(5)));
    }

    @AfterEach
    void stopClient() {
        client.close();
    }

    static Stream<Arguments> errorBodies() {
        return Stream.of(
                // file, status, error, retryDelay (null: none), quotaId (null: none)
                Arguments.of(captured("429-requests-per-minute-free-tier.json"), 429, GeminiError.RATE_LIMITED,
                        Duration.ofNanos(20_706_170_050L), "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"),
                Arguments.of(constructed("429-without-retry-info.json"), 429, GeminiError.RATE_LIMITED,
                        Duration.ofNanos(20_706_170_050L), "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"),
                Arguments.of(constructed("429-fractional-retry-info.json"), 429, GeminiError.RATE_LIMITED,
                        Duration.ofMillis(1500), "GenerateContentPaidTierInputTokensPerModelPerMinute"),
                Arguments.of(constructed("429-minute-requests-and-input-tokens.json"), 429, GeminiError.RATE_LIMITED,
                        Duration.ofNanos(7_250_314_000L), "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"),
                Arguments.of(constructed("429-help-only.json"), 429, GeminiError.RATE_LIMITED, null, null),
                Arguments.of(constructed("429-requests-per-day-free-tier.json"), 429, GeminiError.QUOTA_EXHAUSTED,
                        Duration.ofNanos(43_112_946_000L), "GenerateRequestsPerDayPerProjectPerModel-FreeTier"),
                Arguments.of(constructed("429-minute-and-day.json"), 429, GeminiError.QUOTA_EXHAUSTED,
                        Duration.ofMillis(12_500), "GenerateRequestsPerDayPerProjectPerModel-FreeTier"),
                Arguments.of(captured("503-overloaded.json"), 503, GeminiError.OVERLOADED, null, null),
                Arguments.of(constructed("503-high-demand.json"), 503, GeminiError.OVERLOADED, null, null),
                Arguments.of(constructed("500-internal.json"), 500, GeminiError.SERVER_ERROR, null, null),
                Arguments.of(constructed("504-deadline-exceeded.json"), 504, GeminiError.SERVER_ERROR, null, null),
                Arguments.of(constructed("502-proxy-html.html"), 502, GeminiError.SERVER_ERROR, null, null),
                Arguments.of(captured("400-api-key-invalid.json"), 400, GeminiError.PERMISSION_DENIED, null, null),
                Arguments.of(constructed("400-invalid-argument.json"), 400, GeminiError.INVALID_REQUEST, null, null),
                Arguments.of(constructed("403-key-leaked.json"), 403, GeminiError.PERMISSION_DENIED, null, null),
                Arguments.of(constructed("403-permission-denied.json"), 403, GeminiError.PERMISSION_DENIED, null, null),
                Arguments.of(constructed("404-model-not-found.json"), 404, GeminiError.NOT_FOUND, null, null));
    }

    @ParameterizedTest(name = "HTTP {1} -> {2}")
    @MethodSource("errorBodies")
    void everyErrorBodyIsClassifiedWithItsRetryabilityDelayAndQuota(String body, int status, GeminiError expected,
                                                                      Duration delay, String quotaId) {
        server.enqueue(new MockResponse.Builder().code(status).setHeader("Content-Type", "application/json").body(body).build());

        GeminiException e = assertThrows(GeminiException.class, () -> client.extractReceipt("gemini-2.5-flash", PNG, "image/png"));

        assertEquals(expected, e.error(), e.getMessage());
        assertEquals(expected.retryable(), e.retryable());
        assertEquals(Optional.ofNullable(delay), e.retryDelay(), e.getMessage());
        assertEquals(Optional.ofNullable(quotaId), e.quotaId());
        assertTrue(e.getMessage().contains("HTTP " + status), e.getMessage());
    }

    @Test
    void retryabilityFollowsWhatWaitingCanFix() {
        assertTrue(GeminiError.RATE_LIMITED.retryable());
        assertFalse(GeminiError.QUOTA_EXHAUSTED.retryable(), "a per-day quota parks until the reset");
        assertTrue(GeminiError.OVERLOADED.retryable());
        assertTrue(GeminiError.SERVER_ERROR.retryable());
        assertTrue(GeminiError.TIMEOUT.retryable());
        assertTrue(GeminiError.MALFORMED_RESPONSE.retryable());
        assertFalse(GeminiError.INVALID_REQUEST.retryable());
        assertFalse(GeminiError.PERMISSION_DENIED.retryable());
        assertFalse(GeminiError.NOT_FOUND.retryable());
        assertFalse(GeminiError.BLOCKED_OUTPUT.retryable());
    }

    @Test
    void errorTypesAreTheValuesTheFilesTableAccepts() {
        assertEquals("rate_limited", GeminiError.RATE_LIMITED.errorType());
        assertEquals("quota_exhausted", GeminiError.QUOTA_EXHAUSTED.errorType());
        assertEquals("overloaded", GeminiError.OVERLOADED.errorType());
        assertEquals("server_error", GeminiError.SERVER_ERROR.errorType());
        assertEquals("timeout", GeminiError.TIMEOUT.errorType());
        assertEquals("invalid_request", GeminiError.INVALID_REQUEST.errorType());
        assertEquals("permission_denied", GeminiError.PERMISSION_DENIED.errorType());
        assertEquals("not_found", GeminiError.NOT_FOUND.errorType());
        assertEquals("blocked_output", GeminiError.BLOCKED_OUTPUT.errorType());
        assertEquals("malformed_response", GeminiError.MALFORMED_RESPONSE.errorType());
    }

    @Test
    void aRefusedKeyTellsWhichSettingToFix() {
        server.enqueue(new MockResponse.Builder().code(400).body(captured("400-api-key-invalid.json")).build());
        GeminiException e = assertThrows(GeminiException.class, () -> client.extractReceipt("gemini-2.5-flash", PNG, "image/png"));
        assertTrue(e.getMessage().startsWith("the API key was refused (API_KEY_INVALID): set GEMINI_API_KEY to a valid key"),
                e.getMessage());
    }

    @Test
    void aLeakedKeyIsReportedAsLeaked() {
        server.enqueue(new MockResponse.Builder().code(403).body(constructed("403-key-leaked.json")).build());
        GeminiException e = assertThrows(GeminiException.class, () -> client.extractReceipt("gemini-2.5-flash", PNG, "image/png"));
        assertTrue(e.getMessage().contains("leaked: create a new key and set GEMINI_API_KEY"), e.getMessage());
    }

    static Stream<Arguments> unusableAnswers() {
        return Stream.of(
                Arguments.of(constructed("200-prompt-blocked.json"), GeminiError.BLOCKED_OUTPUT, 300L),
                Arguments.of(constructed("200-finish-safety.json"), GeminiError.BLOCKED_OUTPUT, 300L),
                Arguments.of(constructed("200-max-tokens-truncated-json.json"), GeminiError.MALFORMED_RESPONSE, 8492L),
                Arguments.of(constructed("200-schema-violation.json"), GeminiError.MALFORMED_RESPONSE, 340L),
                Arguments.of(constructed("200-not-json-text.json"), GeminiError.MALFORMED_RESPONSE, 315L));
    }

    @ParameterizedTest(name = "{1}, {2} tokens billed")
    @MethodSource("unusableAnswers")
    void aBlockedOrGarbledAnswerIsClassifiedAndCarriesTheTokensItBilled(String body, GeminiError expected, long totalTokens) {
        server.enqueue(new MockResponse.Builder().code(200).body(body).build());
        GeminiException e = assertThrows(GeminiException.class, () -> client.extractReceipt("gemini-2.5-flash", PNG, "image/png"));
        assertEquals(expected, e.error(), e.getMessage());
        assertEquals(totalTokens, e.usage().orElseThrow().totalTokens());
    }

    @Test
    void everyBlockingFinishReasonIsBlockedOutput() {
        for (String reason : new String[] {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}) {
            server.enqueue(new MockResponse.Builder().code(200)
                    .body(constructed("200-finish-safety.json").replace("\"SAFETY\"", "\"" + reason + "\"")).build());
            GeminiException e = assertThrows(GeminiException.class, () -> client.extractReceipt("gemini-2.5-flash", PNG, "image/png"));
            assertEquals(GeminiError.BLOCKED_OUTPUT, e.error(), reason);
            assertTrue(e.getMessage().contains("finishReason " + reason), e.getMessage());
        }
    }

    @Test
    void aTruncatedMaxTokensAnswerSaysSo() {
        server.enqueue(new MockResponse.Builder().code(200).body(constructed("200-max-tokens-truncated-json.json")).build());
        GeminiException e = assertThrows(GeminiException.class, () -> client.extractReceipt("gemini-2.5-flash", PNG, "image/png"));
        assertTrue(e.getMessage().contains("not JSON") && e.getMessage().endsWith("(finishReason MAX_TOKENS)"), e.getMessage());
    }

    @Test
    void aBodyThatIsNotCompleteJsonIsMalformedAndRetryable() {
        server.enqueue(new MockResponse.Builder().code(200).body(constructed("200-truncated-body.txt")).build());
        GeminiException e = assertThrows(GeminiException.class, () -> client.extractReceipt("gemini-2.5-flash", PNG, "image/png"));
        assertEquals(GeminiError.MALFORMED_RESPONSE, e.error());
        assertTrue(e.retryable());
    }

    @Test
    void aBodyCutOffBeforeItsContentLengthIsMalformed() {
        server.enqueue(new MockResponse.Builder().code(200)
                .body(GeminiBodies.generateContentAnswering(GeminiBodies.RECEIPT_JSON))
                .onResponseBody(SocketEffect.ShutdownConnection.INSTANCE)
                .build());
        GeminiException e = assertThrows(GeminiException.class, () -> client.extractReceipt("gemini-2.5-flash", PNG, "image/png"));
        assertEquals(GeminiError.MALFORMED_RESPONSE, e.error(), e.getMessage());
        assertTrue(e.getMessage().contains("broke off"), e.getMessage());
    }

    @Test
    void noAnswerWithinTheReadTimeoutIsTimeout() {
        server.enqueue(new MockResponse.Builder().code(200).headersDelay(3, TimeUnit.SECONDS)
                .body(GeminiBodies.generateContentAnswering(GeminiBodies.RECEIPT_JSON)).build());
        GeminiException e = assertThrows(GeminiException.class, () -> client.extractReceipt("gemini-2.5-flash", PNG, "image/png"));
        assertEquals(GeminiError.TIMEOUT, e.error(), e.getMessage());
        assertTrue(e.retryable());
        assertTrue(e.getMessage().contains("GEMINI_READ_TIMEOUT"), e.getMessage());
    }

    @Test
    void aConnectionDroppedBeforeTheAnswerIsTimeoutAndNotResentSilently() {
        server.enqueue(new MockResponse.Builder().onResponseStart(new SocketEffect.CloseSocket()).build());
        server.enqueue(new MockResponse.Builder().code(200)
                .body(GeminiBodies.generateContentAnswering(GeminiBodies.RECEIPT_JSON)).build());
        GeminiException e = assertThrows(GeminiException.class, () -> client.extractReceipt("gemini-2.5-flash", PNG, "image/png"));
        assertEquals(GeminiError.TIMEOUT, e.error(), e.getMessage());
        assertEquals(1, server.getRequestCount(), "a resend would spend quota the gate never granted");
    }

    @Test
    void aRedirectIsNotFollowed() {
        server.enqueue(new MockResponse.Builder().code(307).setHeader("Location", "https://elsewhere.example/steal").build());
        GeminiException e = assertThrows(GeminiException.class, () -> client.extractReceipt("gemini-2.5-flash", PNG, "image/png"));
        assertEquals(GeminiError.INVALID_REQUEST, e.error());
        assertEquals(1, server.getRequestCount());
    }

    @Test
    void aModelNameThatIsNotAnIdIsRefusedBeforeAnyCall() {
        GeminiException e = assertThrows(GeminiException.class, () -> client.extractReceipt("../files/x?alt=", PNG, "image/png"));
        assertEquals(GeminiError.INVALID_REQUEST, e.error());
        assertEquals(0, server.getRequestCount());
    }
}
