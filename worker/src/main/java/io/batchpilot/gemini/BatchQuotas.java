package io.batchpilot.gemini;

import java.util.Map;

/**
 * Google's published Batch Mode limits, separate from the interactive RPM/TPM/RPD ones. Read on
 * 2026-12-03 from https://ai.google.dev/gemini-api/docs/rate-limits ("Batch API rate limits") and
 * https://ai.google.dev/gemini-api/docs/batch-api; they change, so check the page before relying on them.
 */
public final class BatchQuotas {

    /** "Concurrent batch requests: 100": pending or running jobs per project. */
    public static final int CONCURRENT_JOBS = 100;
    /** Inline requests suit "smaller batches that keep the total request size under 20MB" (decimal, the safe reading). */
    public static final long INLINE_REQUEST_BYTES = 20_000_000L;
    /** "Input file size limit: 2GB" for an uploaded JSONL input file. */
    public static final long INPUT_FILE_BYTES = 2_000_000_000L;
    /** A job not finished within 48 hours expires (BATCH_STATE_EXPIRED). */
    public static final long EXPIRY_HOURS = 48;

    /**
     * "Batch enqueued tokens" on Tier 1: the input tokens of all pending and running jobs of one model.
     * Tier 2 is 400,000,000 for the Flash models and 500,000,000 for Pro and Flash-Lite; the page lists no free-tier row.
     */
    public static final Map<String, Long> TIER_1_ENQUEUED_TOKENS = Map.of(
            "gemini-3-pro-preview", 50_000_000L,
            "gemini-3-flash-preview", 3_000_000L,
            "gemini-2.5-pro", 5_000_000L,
            "gemini-2.5-flash", 3_000_000L,
            "gemini-2.5-flash-lite", 10_000_000L,
            "gemini-2.0-flash", 10_000_000L,
            "gemini-2.0-flash-lite", 10_000_000L);

    private BatchQuotas() {
    }
}
