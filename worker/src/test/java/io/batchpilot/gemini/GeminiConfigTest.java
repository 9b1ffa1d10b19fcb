package io.batchpilot.gemini;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Settings are refused at startup with the variable to fix named, and the key is never shown. */
class GeminiConfigTest {

    @Test
    void defaultsPointAtGoogle() {
        GeminiConfig config = GeminiConfig.fromEnvironment(Map.of("GEMINI_API_KEY", "k"));
        assertEquals("https://generativelanguage.googleapis.com", config.baseUrl());
        assertEquals(Duration.ofSeconds(10), config.connectTimeout());
        assertEquals(Duration.ofSeconds(120), config.readTimeout());
        assertEquals(Duration.ofSeconds(300), config.callTimeout());
    }

    @Test
    void environmentOverridesEveryTimeout() {
        GeminiConfig config = GeminiConfig.fromEnvironment(Map.of("GEMINI_API_KEY", "k", "GEMINI_BASE_URL", "http://127.0.0.1:8089",
                "GEMINI_CONNECT_TIMEOUT", "3s", "GEMINI_READ_TIMEOUT", "30s", "GEMINI_CALL_TIMEOUT", "1m",
                "GEMINI_FILE_POLL_INTERVAL", "250ms", "GEMINI_FILE_API_THRESHOLD_BYTES", "20000000"));
        assertEquals(new GeminiConfig("http://127.0.0.1:8089", "k", Duration.ofSeconds(3), Duration.ofSeconds(30),
                Duration.ofSeconds(60), Duration.ofMillis(250), 20_000_000L), config);
    }

    @Test
    void theFileApiThresholdIsGooglesInlineLimitAndCannotExceedIt() {
        assertEquals(GeminiClient.INLINE_REQUEST_LIMIT_BYTES,
                GeminiConfig.fromEnvironment(Map.of("GEMINI_API_KEY", "k")).fileApiThresholdBytes());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GeminiConfig.fromEnvironment(
                Map.of("GEMINI_API_KEY", "k", "GEMINI_FILE_API_THRESHOLD_BYTES", "100000001")));
        assertTrue(e.getMessage().contains("GEMINI_FILE_API_THRESHOLD_BYTES"), e.getMessage());
    }

    @Test
    void aMissingKeySaysWhereToGetOne() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GeminiConfig.fromEnvironment(Map.of()));
        assertTrue(e.getMessage().startsWith("GEMINI_API_KEY is not set"), e.getMessage());
    }

    @Test
    void aKeyWithSpacesIsRefusedWithoutQuotingIt() {
        IllegalArgumentException quoted = assertThrows(IllegalArgumentException.class,
                () -> GeminiConfig.of(GeminiConfig.BASE_URL.defaultValue(), "\"secret-key\""));
        assertFalse(quoted.getMessage().contains("secret-key"));
        IllegalArgumentException spaces = assertThrows(IllegalArgumentException.class,
                () -> GeminiConfig.of(GeminiConfig.BASE_URL.defaultValue(), "secret-key\n"));
        assertTrue(spaces.getMessage().startsWith("GEMINI_API_KEY contains whitespace, quotes"), spaces.getMessage());
        assertFalse(spaces.getMessage().contains("secret-key"));
    }

    @Test
    void plainHttpIsAllowedOnlyToThisMachine() {
        GeminiConfig.of("http://localhost:9000", "k");
        GeminiConfig.of("http://127.0.0.1:9000", "k");
        GeminiConfig.of("http://[::1]:9000", "k");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GeminiConfig.of("http://gemini.internal:80", "k"));
        assertTrue(e.getMessage().contains("GEMINI_BASE_URL") && e.getMessage().contains("unencrypted"), e.getMessage());
    }

    @Test
    void aBaseUrlWithAQueryIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> GeminiConfig.of("https://generativelanguage.googleapis.com/?key=abc", "k"));
        assertTrue(e.getMessage().startsWith("GEMINI_BASE_URL"), e.getMessage());
        assertFalse(e.getMessage().contains("key=abc"), "a key pasted into the URL is not echoed");
    }

    @Test
    void timeoutsMustBePositiveAndTheCallAtLeastAsLongAsARead() {
        GeminiConfig base = GeminiConfig.of(GeminiConfig.BASE_URL.defaultValue(), "k");
        IllegalArgumentException zero = assertThrows(IllegalArgumentException.class,
                () -> base.withTimeouts(Duration.ZERO, Duration.ofSeconds(1), Duration.ofSeconds(1)));
        assertTrue(zero.getMessage().startsWith("GEMINI_CONNECT_TIMEOUT must be more than 0s; got 0s"), zero.getMessage());
        IllegalArgumentException shortCall = assertThrows(IllegalArgumentException.class,
                () -> base.withTimeouts(Duration.ofSeconds(1), Duration.ofSeconds(60), Duration.ofSeconds(30)));
        assertTrue(shortCall.getMessage().startsWith("GEMINI_CALL_TIMEOUT (30s) is shorter"), shortCall.getMessage());
        IllegalArgumentException notANumber = assertThrows(IllegalArgumentException.class,
                () -> GeminiConfig.fromEnvironment(Map.of("GEMINI_API_KEY", "k", "GEMINI_READ_TIMEOUT", "120")));
        assertTrue(notANumber.getMessage().startsWith("GEMINI_READ_TIMEOUT must be a duration with its unit"),
                notANumber.getMessage());
    }

    @Test
    void toStringHidesTheKey() {
        String text = GeminiConfig.of(GeminiConfig.BASE_URL.defaultValue(), "AIzaSy-secret").toString();
        assertFalse(text.contains("AIzaSy-secret"), text);
        assertTrue(text.contains("apiKey=<redacted>"), text);
    }
}
