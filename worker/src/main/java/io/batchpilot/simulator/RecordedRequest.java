package io.batchpilot.simulator;

import java.time.Instant;

/**
 * One request as the simulator saw it. The key appears only as a fingerprint.
 *
 * @param sequence arrival order (0, 1, ...), the same order the limiter decided in
 * @param arrivalNanos {@link System#nanoTime()} at arrival, for window arithmetic
 * @param method generateContent, batchEmbedContents, embedContent, countTokens, upload, getFile, Batch Mode's
 *               batchGenerateContent, getBatch, listBatches, cancelBatch, deleteBatch, downloadFile, or unknown
 * @param inputTokens the request's input tokens; for batchGenerateContent, the tokens the job enqueues
 * @param counted whether it counted toward the (key, model) quota: admitted by the limiter
 * @param outcome ok, rate_limited, a fault's flag, an extraction error's flag (a 200 with a wrong answer),
 *                invalid_request, unauthenticated, not_found,
 *                batch_concurrent_jobs_exceeded, batch_enqueued_tokens_exceeded
 */
public record RecordedRequest(
        long sequence,
        long arrivalNanos,
        Instant arrival,
        String keyFingerprint,
        String model,
        String method,
        long inputTokens,
        int status,
        String outcome,
        boolean counted) {

    /** Methods that Google meters against the per-model RPM/TPM/RPD quotas. */
    public boolean metered() {
        return isMetered(method);
    }

    static boolean isMetered(String method) {
        return method.equals("generateContent") || method.equals("batchEmbedContents") || method.equals("embedContent");
    }
}
