package io.batchpilot.gemini;

import java.time.Duration;
import java.util.Objects;
import java.util.Optional;

/**
 * A failed Gemini call, classified. The message says what happened and what to do; it never
 * contains the API key (the client redacts anything the server echoes back).
 */
public final class GeminiException extends Exception {
    private static final long serialVersionUID = 1L;

    private final GeminiError error;
    private final Duration retryDelay;
    private final String quotaId;
    private final Usage usage;

    GeminiException(GeminiError error, String message, Duration retryDelay, String quotaId, Throwable cause) {
        this(error, message, retryDelay, quotaId, cause, null);
    }

    private GeminiException(GeminiError error, String message, Duration retryDelay, String quotaId, Throwable cause,
                            Usage usage) {
        super(message, cause);
        this.error = Objects.requireNonNull(error, "error");
        this.retryDelay = retryDelay;
        this.quotaId = quotaId;
        this.usage = usage;
    }

    GeminiException(GeminiError error, String message) {
        this(error, message, null, null, null);
    }

    GeminiException(GeminiError error, String message, Throwable cause) {
        this(error, message, null, null, cause);
    }

    /** The same failure, carrying the tokens a 200 response billed although its content was unusable. */
    GeminiException withUsage(Usage billed, String context) {
        return new GeminiException(error, getMessage() + context, retryDelay, quotaId, getCause(), billed);
    }

    public GeminiError error() {
        return error;
    }

    public boolean retryable() {
        return error.retryable();
    }

    /** The delay the server asked for (RetryInfo, or the "Please retry in" text), if it gave one. */
    public Optional<Duration> retryDelay() {
        return Optional.ofNullable(retryDelay);
    }

    /** The violated quota's id, e.g. {@code GenerateRequestsPerMinutePerProjectPerModel-FreeTier}. */
    public Optional<String> quotaId() {
        return Optional.ofNullable(quotaId);
    }

    /**
     * Tokens billed although the call failed: set when Gemini answered 200 but blocked or garbled the
     * output, so the quota ledger can be reconciled with what was really spent.
     */
    public Optional<Usage> usage() {
        return Optional.ofNullable(usage);
    }
}
