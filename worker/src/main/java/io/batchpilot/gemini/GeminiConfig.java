package io.batchpilot.gemini;

import io.batchpilot.settings.Durations;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;
import okhttp3.HttpUrl;

/**
 * Settings of the {@link GeminiClient}, validated on construction with a message naming the
 * environment variable to fix. {@link #toString()} never shows the API key.
 *
 * @param baseUrl                 GEMINI_BASE_URL, default {@value #DEFAULT_BASE_URL}; plain http only to a
 *                                loopback host (the simulator), so the key never crosses a network unencrypted
 * @param apiKey                  GEMINI_API_KEY, required; sent only in the x-goog-api-key header
 * @param connectTimeout          GEMINI_CONNECT_TIMEOUT, default 10s
 * @param readTimeout             GEMINI_READ_TIMEOUT, default 120s (thinking models are slow to answer)
 * @param callTimeout             GEMINI_CALL_TIMEOUT, default 300s; the whole call, upload included
 * @param fileActivePollInterval  GEMINI_FILE_POLL_INTERVAL, default 1s; how often to ask whether an uploaded
 *                                file is ACTIVE, bounded by the call timeout
 */
public record GeminiConfig(
        String baseUrl,
        String apiKey,
        Duration connectTimeout,
        Duration readTimeout,
        Duration callTimeout,
        Duration fileActivePollInterval) {

    public static final String DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com";
    public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(10);
    public static final Duration DEFAULT_READ_TIMEOUT = Duration.ofSeconds(120);
    public static final Duration DEFAULT_CALL_TIMEOUT = Duration.ofSeconds(300);
    public static final Duration DEFAULT_FILE_ACTIVE_POLL_INTERVAL = Duration.ofSeconds(1);
    private static final Pattern API_KEY_CHARACTERS = Pattern.compile("[A-Za-z0-9._~+/=-]+");

    public GeminiConfig {
        Objects.requireNonNull(baseUrl, "baseUrl");
        if (apiKey == null || apiKey.isBlank()) {
            throw new IllegalArgumentException(
                    "GEMINI_API_KEY is not set: create a key at https://aistudio.google.com/apikey and set GEMINI_API_KEY");
        }
        if (!API_KEY_CHARACTERS.matcher(apiKey).matches()) {
            // Named without the value: the key itself must not reach a log through this message.
            throw new IllegalArgumentException("GEMINI_API_KEY contains whitespace, quotes or other characters an API key"
                    + " does not have: copy the key again without spaces or quotes");
        }
        HttpUrl url = HttpUrl.parse(baseUrl);
        if (url == null) {
            throw new IllegalArgumentException("GEMINI_BASE_URL '" + baseUrl + "' is not an http(s) URL: use e.g. " + DEFAULT_BASE_URL);
        }
        if (url.querySize() > 0 || url.fragment() != null) {
            throw new IllegalArgumentException(
                    "GEMINI_BASE_URL '" + url.newBuilder().query(null).fragment(null) + "' has a query or fragment: give scheme, host and port only");
        }
        if (!url.isHttps() && !isLoopback(url.host())) {
            throw new IllegalArgumentException("GEMINI_BASE_URL '" + baseUrl
                    + "' is plain http to a non-local host: the API key would travel unencrypted; use https://");
        }
        requirePositive(connectTimeout, "GEMINI_CONNECT_TIMEOUT");
        requirePositive(readTimeout, "GEMINI_READ_TIMEOUT");
        requirePositive(callTimeout, "GEMINI_CALL_TIMEOUT");
        requirePositive(fileActivePollInterval, "GEMINI_FILE_POLL_INTERVAL");
        if (callTimeout.compareTo(readTimeout) < 0 || callTimeout.compareTo(connectTimeout) < 0) {
            throw new IllegalArgumentException("GEMINI_CALL_TIMEOUT (" + callTimeout.toSeconds()
                    + "s) is shorter than the connect or read timeout: the whole call must allow at least one of each");
        }
    }

    /** Defaults for everything but the key and base URL. */
    public static GeminiConfig of(String baseUrl, String apiKey) {
        return new GeminiConfig(baseUrl, apiKey, DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT, DEFAULT_CALL_TIMEOUT,
                DEFAULT_FILE_ACTIVE_POLL_INTERVAL);
    }

    /** Reads the settings from environment variables (names in the class comment). */
    public static GeminiConfig fromEnvironment(Map<String, String> env) {
        return new GeminiConfig(
                env.getOrDefault("GEMINI_BASE_URL", DEFAULT_BASE_URL),
                env.get("GEMINI_API_KEY"),
                Durations.fromEnvironment(env, "GEMINI_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT),
                Durations.fromEnvironment(env, "GEMINI_READ_TIMEOUT", DEFAULT_READ_TIMEOUT),
                Durations.fromEnvironment(env, "GEMINI_CALL_TIMEOUT", DEFAULT_CALL_TIMEOUT),
                Durations.fromEnvironment(env, "GEMINI_FILE_POLL_INTERVAL", DEFAULT_FILE_ACTIVE_POLL_INTERVAL));
    }

    public GeminiConfig withTimeouts(Duration connect, Duration read, Duration call) {
        return new GeminiConfig(baseUrl, apiKey, connect, read, call, fileActivePollInterval);
    }

    public GeminiConfig withFileActivePollInterval(Duration interval) {
        return new GeminiConfig(baseUrl, apiKey, connectTimeout, readTimeout, callTimeout, interval);
    }

    HttpUrl httpUrl() {
        return HttpUrl.get(baseUrl);
    }

    @Override
    public String toString() {
        return "GeminiConfig[baseUrl=" + baseUrl + ", apiKey=<redacted>, connectTimeout=" + connectTimeout
                + ", readTimeout=" + readTimeout + ", callTimeout=" + callTimeout
                + ", fileActivePollInterval=" + fileActivePollInterval + "]";
    }

    private static boolean isLoopback(String host) {
        if (host.equals("localhost")) {
            return true;
        }
        if (!host.matches("[0-9.]+|[0-9a-fA-F:]+")) {
            return false; // never resolve a name here: a DNS answer must not decide where the key may go in clear
        }
        try {
            return InetAddress.getByName(host).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }

    private static void requirePositive(Duration value, String setting) {
        if (value == null || value.isNegative() || value.isZero()) {
            throw new IllegalArgumentException(setting + " must be positive, got " + value);
        }
    }

}
