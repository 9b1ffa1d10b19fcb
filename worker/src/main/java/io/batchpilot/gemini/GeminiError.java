package io.batchpilot.gemini;

/**
 * What went wrong with a Gemini call, classified from the real response (or its absence).
 * {@link #errorType()} is the value stored in {@code batch_upload_files.error_type}.
 */
public enum GeminiError {
    /** 429 for a per-minute quota: wait the server's delay, then retry. */
    RATE_LIMITED("rate_limited", true),
    /** 429 for a per-day quota: park until midnight America/Los_Angeles, do not retry before. */
    QUOTA_EXHAUSTED("quota_exhausted", false),
    /** 503: the model is overloaded; unrelated to our quota. */
    OVERLOADED("overloaded", true),
    /** 500, 502, 504 and other 5xx. */
    SERVER_ERROR("server_error", true),
    /** No answer in time, or the connection could not be made or broke before an answer. */
    TIMEOUT("timeout", true),
    /** 400 (other than a refused key) and other 4xx: the same request would fail again. */
    INVALID_REQUEST("invalid_request", false),
    /** 400 API_KEY_INVALID, 401, 403: the key is wrong, leaked, or lacks access. */
    PERMISSION_DENIED("permission_denied", false),
    /** 404: the model (or uploaded file) does not exist. */
    NOT_FOUND("not_found", false),
    /** The model refused or stopped for safety, recitation, blocklist, prohibited content or SPII. */
    BLOCKED_OUTPUT("blocked_output", false),
    /** A truncated body, non-JSON, or a candidate that does not fit the receipt schema. */
    MALFORMED_RESPONSE("malformed_response", true);

    private final String errorType;
    private final boolean retryable;

    GeminiError(String errorType, boolean retryable) {
        this.errorType = errorType;
        this.retryable = retryable;
    }

    /** The {@code batch_upload_files.error_type} value. */
    public String errorType() {
        return errorType;
    }

    /** Whether the same request may succeed later (after {@link GeminiException#retryDelay()} if given). */
    public boolean retryable() {
        return retryable;
    }
}
