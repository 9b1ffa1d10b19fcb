package io.batchpilot.gemini;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A non-2xx Gemini response body ({@code google.rpc.Status}: code, message, status, details) and its
 * classification into a {@link GeminiException}. Tolerates bodies that are not JSON (a proxy's HTML
 * page): the HTTP status alone then decides.
 */
record RpcStatus(int httpCode, String status, String message, List<String> errorInfoReasons,
                 List<QuotaViolation> violations, Optional<Duration> retryInfoDelay) {

    /** One {@code google.rpc.QuotaFailure} violation; quotaValue is sometimes absent. */
    record QuotaViolation(String quotaMetric, String quotaId, String quotaValue) {
        boolean perDay() {
            return quotaId != null && quotaId.contains("PerDay");
        }
    }

    private static final String TYPE_PREFIX = "type.googleapis.com/google.rpc.";
    private static final Pattern PROTO_DURATION = Pattern.compile("^(\\d+(?:\\.\\d{1,9})?)s$");
    // Google's 429 text carries the unrounded delay, e.g. "Please retry in 20.70617005s." or "in 630.3ms."
    private static final Pattern RETRY_IN_TEXT = Pattern.compile("(?i)retry in (\\d+(?:\\.\\d+)?)\\s*(ms|s)\\b");
    private static final int MAX_NON_JSON_EXCERPT = 200;

    static RpcStatus parse(int httpCode, byte[] body, ObjectMapper json) {
        JsonNode error = null;
        try {
            JsonNode root = json.readTree(body);
            if (root != null && root.path("error").isObject()) {
                error = root.get("error");
            }
        } catch (IOException notJson) {
            // fall through: classified by the HTTP status, with an excerpt of the body for the message
        }
        if (error == null) {
            String text = new String(body, StandardCharsets.UTF_8).strip();
            String excerpt = text.length() > MAX_NON_JSON_EXCERPT ? text.substring(0, MAX_NON_JSON_EXCERPT) + "…" : text;
            return new RpcStatus(httpCode, "", excerpt.isEmpty() ? "(empty body)" : "(not a Google error body) " + excerpt,
                    List.of(), List.of(), Optional.empty());
        }
        List<String> reasons = new ArrayList<>();
        List<QuotaViolation> violations = new ArrayList<>();
        Optional<Duration> retryDelay = Optional.empty();
        for (JsonNode detail : error.path("details")) {
            String type = detail.path("@type").asText("");
            if (type.equals(TYPE_PREFIX + "ErrorInfo")) {
                reasons.add(detail.path("reason").asText(""));
            } else if (type.equals(TYPE_PREFIX + "QuotaFailure")) {
                for (JsonNode v : detail.path("violations")) {
                    violations.add(new QuotaViolation(text(v, "quotaMetric"), text(v, "quotaId"), text(v, "quotaValue")));
                }
            } else if (type.equals(TYPE_PREFIX + "RetryInfo")) {
                retryDelay = protoDuration(detail.path("retryDelay").asText(""));
            }
        }
        return new RpcStatus(httpCode, error.path("status").asText(""), error.path("message").asText(""),
                List.copyOf(reasons), List.copyOf(violations), retryDelay);
    }

    /**
     * The failure this response means for a call to {@code model}. Every message is passed through
     * the redactor, since it quotes the server.
     */
    GeminiException toException(String model, KeyRedactor redactor) {
        String said = redactor.redact(message);
        String context = " (HTTP " + httpCode + (status.isEmpty() ? "" : " " + status) + "; Google said: " + said + ")";
        if (httpCode == 429) {
            return quotaException(model, context);
        }
        if (httpCode == 503) {
            return new GeminiException(GeminiError.OVERLOADED,
                    "model " + model + " is overloaded, which is unrelated to our quota: retry with backoff" + context,
                    retryDelay().orElse(null), null, null);
        }
        if (httpCode >= 500) {
            return new GeminiException(GeminiError.SERVER_ERROR,
                    "Gemini failed on its side for model " + model + ": retry with backoff" + context,
                    retryDelay().orElse(null), null, null);
        }
        if (errorInfoReasons.stream().anyMatch(r -> r.startsWith("API_KEY_"))) {
            return new GeminiException(GeminiError.PERMISSION_DENIED,
                    "the API key was refused (" + String.join(", ", errorInfoReasons)
                            + "): set GEMINI_API_KEY to a valid key from https://aistudio.google.com/apikey" + context);
        }
        if (httpCode == 401 || httpCode == 403) {
            String advice = message.toLowerCase(Locale.ROOT).contains("leaked")
                    ? "Google blocked this API key as leaked: create a new key and set GEMINI_API_KEY to it"
                    : "the API key may not use model " + model + ": check the key's project, API restrictions and GEMINI_API_KEY";
            return new GeminiException(GeminiError.PERMISSION_DENIED, advice + context);
        }
        if (httpCode == 404) {
            return new GeminiException(GeminiError.NOT_FOUND,
                    "model " + model + " (or the uploaded file) was not found: check the model name against"
                            + " https://ai.google.dev/gemini-api/docs/models" + context);
        }
        if (httpCode == 408) {
            return new GeminiException(GeminiError.TIMEOUT, "Gemini timed out waiting for the request: retry" + context);
        }
        return new GeminiException(GeminiError.INVALID_REQUEST,
                "Gemini rejected the request for model " + model + " as invalid; retrying will not help" + context);
    }

    private GeminiException quotaException(String model, String context) {
        Optional<QuotaViolation> perDay = violations.stream().filter(QuotaViolation::perDay).findFirst();
        if (perDay.isPresent()) {
            return new GeminiException(GeminiError.QUOTA_EXHAUSTED,
                    "the daily quota " + perDay.get().quotaId() + limit(perDay.get()) + " for model " + model
                            + " is used up: work is parked until it resets at midnight America/Los_Angeles,"
                            + " or raise the quota in Google AI Studio" + context,
                    retryDelay().orElse(null), perDay.get().quotaId(), null);
        }
        Optional<Duration> delay = retryDelay();
        String quotaId = violations.isEmpty() ? null : violations.get(0).quotaId();
        String which = violations.isEmpty() ? "a rate limit" : "quota " + String.join(", ",
                violations.stream().map(v -> v.quotaId() + limit(v)).toList());
        return new GeminiException(GeminiError.RATE_LIMITED,
                "model " + model + " hit " + which + ": "
                        + delay.map(d -> "the fleet waits " + seconds(d) + " as the server asked, then retries")
                        .orElse("retry with backoff (the server gave no delay)") + context,
                delay.orElse(null), quotaId, null);
    }

    /**
     * The server's delay: RetryInfo is whole seconds rounded down ("20s" for 20.706 s), the message
     * text has the exact value, so the longer of the two is the one that honours the server.
     */
    Optional<Duration> retryDelay() {
        Optional<Duration> fromText = retryDelayInText(message);
        if (retryInfoDelay.isPresent() && fromText.isPresent()) {
            return Optional.of(retryInfoDelay.get().compareTo(fromText.get()) >= 0 ? retryInfoDelay.get() : fromText.get());
        }
        return retryInfoDelay.isPresent() ? retryInfoDelay : fromText;
    }

    static Optional<Duration> protoDuration(String value) {
        Matcher m = PROTO_DURATION.matcher(value.strip());
        return m.matches() ? Optional.of(fromSeconds(new BigDecimal(m.group(1)))) : Optional.empty();
    }

    static Optional<Duration> retryDelayInText(String text) {
        Matcher m = RETRY_IN_TEXT.matcher(text);
        if (!m.find()) {
            return Optional.empty();
        }
        BigDecimal amount = new BigDecimal(m.group(1));
        return Optional.of(fromSeconds(m.group(2).equalsIgnoreCase("ms") ? amount.movePointLeft(3) : amount));
    }

    private static Duration fromSeconds(BigDecimal seconds) {
        BigDecimal nanos = seconds.movePointRight(9).setScale(0, java.math.RoundingMode.CEILING);
        return Duration.ofNanos(nanos.longValueExact());
    }

    private static String limit(QuotaViolation v) {
        return v.quotaValue() == null ? "" : " (limit " + v.quotaValue() + ")";
    }

    private static String seconds(Duration d) {
        return BigDecimal.valueOf(d.toNanos()).movePointLeft(9).stripTrailingZeros().toPlainString() + "s";
    }

    private static String text(JsonNode node, String field) {
        JsonNode value = node.get(field);
        return value == null || value.isNull() ? null : value.asText();
    }
}
