package io.batchpilot.gemini;

import io.batchpilot.settings.Kind;
import io.batchpilot.settings.Range;
import io.batchpilot.settings.Setting;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;
import okhttp3.HttpUrl;

/**
 * Settings of the {@link GeminiClient}, validated on construction with a message naming the
 * environment variable to fix (each declared below). {@link #toString()} never shows the API key.
 *
 * @param baseUrl                 plain http only to a loopback host (the simulator), so the key never
 *                                crosses a network unencrypted
 * @param apiKey                  required; sent only in the x-goog-api-key header
 * @param connectTimeout          TCP and TLS connect
 * @param readTimeout             thinking models are slow to answer
 * @param callTimeout             the whole call, upload included
 * @param fileActivePollInterval  how often to ask whether an uploaded file is ACTIVE, bounded by the call timeout
 * @param fileApiThresholdBytes   a generateContent request larger than this (base64 included) uploads its file
 *                                through the Files API first; at most {@link GeminiClient#INLINE_REQUEST_LIMIT_BYTES}
 */
public record GeminiConfig(
        String baseUrl,
        String apiKey,
        Duration connectTimeout,
        Duration readTimeout,
        Duration callTimeout,
        Duration fileActivePollInterval,
        long fileApiThresholdBytes) {

    public static final Setting<String> BASE_URL = Setting.of("GEMINI_BASE_URL", Kind.text("an http(s) URL"),
            "https://generativelanguage.googleapis.com",
            "Google, the simulator or another Gemini-compatible endpoint; plain `http://` only to a loopback host");
    public static final Setting<String> API_KEY = Setting.optional("GEMINI_API_KEY", Kind.text("an API key"), "required",
            "the API key from https://aistudio.google.com/apikey; sent in the `x-goog-api-key` header only").keptSecret();
    public static final Setting<Duration> CONNECT_TIMEOUT = Setting.duration("GEMINI_CONNECT_TIMEOUT", "10s",
            Range.above(Duration.ZERO), "TCP and TLS connect").formerly("GEMINI_CONNECT_TIMEOUT_SECONDS");
    public static final Setting<Duration> READ_TIMEOUT = Setting.duration("GEMINI_READ_TIMEOUT", "120s",
            Range.above(Duration.ZERO), "longest silence while waiting for an answer (thinking models are slow)")
            .formerly("GEMINI_READ_TIMEOUT_SECONDS");
    public static final Setting<Duration> CALL_TIMEOUT = Setting.duration("GEMINI_CALL_TIMEOUT", "300s",
            Range.above(Duration.ZERO), "the whole call, File API upload included; at least the connect and read timeouts")
            .formerly("GEMINI_CALL_TIMEOUT_SECONDS");
    public static final Setting<Duration> FILE_POLL_INTERVAL = Setting.duration("GEMINI_FILE_POLL_INTERVAL", "1s",
            Range.above(Duration.ZERO), "how often to ask whether an uploaded file is `ACTIVE`")
            .formerly("GEMINI_FILE_POLL_MILLIS");
    public static final Setting<Long> FILE_API_THRESHOLD_BYTES = Setting.wholeNumber("GEMINI_FILE_API_THRESHOLD_BYTES",
            GeminiClient.INLINE_REQUEST_LIMIT_BYTES, Range.between(1L, GeminiClient.INLINE_REQUEST_LIMIT_BYTES),
            "a request larger than this, in bytes with its file base64-encoded, uploads the file through the Files API "
                    + "first (PDFs over 50 MB always do); 100 MB is Google's inline limit, read on 2026-12-03 from "
                    + "https://ai.google.dev/gemini-api/docs/file-input-methods");
    public static final List<Setting<?>> SETTINGS = List.of(API_KEY, BASE_URL, CONNECT_TIMEOUT, READ_TIMEOUT,
            CALL_TIMEOUT, FILE_POLL_INTERVAL, FILE_API_THRESHOLD_BYTES);
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
            throw new IllegalArgumentException("GEMINI_BASE_URL '" + baseUrl + "' is not an http(s) URL: use e.g. "
                    + BASE_URL.defaultValue());
        }
        if (url.querySize() > 0 || url.fragment() != null) {
            throw new IllegalArgumentException(
                    "GEMINI_BASE_URL '" + url.newBuilder().query(null).fragment(null) + "' has a query or fragment: give scheme, host and port only");
        }
        if (!url.isHttps() && !isLoopback(url.host())) {
            throw new IllegalArgumentException("GEMINI_BASE_URL '" + baseUrl
                    + "' is plain http to a non-local host: the API key would travel unencrypted; use https://");
        }
        CONNECT_TIMEOUT.check(connectTimeout);
        READ_TIMEOUT.check(readTimeout);
        CALL_TIMEOUT.check(callTimeout);
        FILE_POLL_INTERVAL.check(fileActivePollInterval);
        FILE_API_THRESHOLD_BYTES.check(fileApiThresholdBytes);
        if (callTimeout.compareTo(readTimeout) < 0 || callTimeout.compareTo(connectTimeout) < 0) {
            throw new IllegalArgumentException("GEMINI_CALL_TIMEOUT (" + callTimeout.toSeconds()
                    + "s) is shorter than the connect or read timeout: the whole call must allow at least one of each");
        }
    }

    /** Defaults for everything but the key and base URL. */
    public static GeminiConfig of(String baseUrl, String apiKey) {
        return new GeminiConfig(baseUrl, apiKey, CONNECT_TIMEOUT.defaultValue(), READ_TIMEOUT.defaultValue(),
                CALL_TIMEOUT.defaultValue(), FILE_POLL_INTERVAL.defaultValue(), FILE_API_THRESHOLD_BYTES.defaultValue());
    }

    /** Reads the settings declared above; unset ones take their defaults. */
    public static GeminiConfig fromEnvironment(Map<String, String> env) {
        return new GeminiConfig(BASE_URL.from(env), API_KEY.find(env).orElse(null), CONNECT_TIMEOUT.from(env),
                READ_TIMEOUT.from(env), CALL_TIMEOUT.from(env), FILE_POLL_INTERVAL.from(env), FILE_API_THRESHOLD_BYTES.from(env));
    }

    public GeminiConfig withTimeouts(Duration connect, Duration read, Duration call) {
        return new GeminiConfig(baseUrl, apiKey, connect, read, call, fileActivePollInterval, fileApiThresholdBytes);
    }

    public GeminiConfig withFileActivePollInterval(Duration interval) {
        return new GeminiConfig(baseUrl, apiKey, connectTimeout, readTimeout, callTimeout, interval, fileApiThresholdBytes);
    }

    public GeminiConfig withFileApiThresholdBytes(long threshold) {
        return new GeminiConfig(baseUrl, apiKey, connectTimeout, readTimeout, callTimeout, fileActivePollInterval, threshold);
    }

    HttpUrl httpUrl() {
        return HttpUrl.get(baseUrl);
    }

    @Override
    public String toString() {
        return "GeminiConfig[baseUrl=" + baseUrl + ", apiKey=<redacted>, connectTimeout=" + connectTimeout
                + ", readTimeout=" + readTimeout + ", callTimeout=" + callTimeout
                + ", fileActivePollInterval=" + fileActivePollInterval + ", fileApiThresholdBytes=" + fileApiThresholdBytes + "]";
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
}
