package io.batchpilot.simulator;

/**
 * The busiest window of the configured length for one (key fingerprint, model): the most requests
 * and the most input tokens that any window held (each maximum over its own busiest window).
 */
public record WindowAudit(String keyFingerprint, String model, long maxRequestsInWindow, long maxInputTokensInWindow,
                          long requests, long rateLimited) {
}
