package io.batchpilot.simulator;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

/**
 * How the simulator runs Batch Mode jobs ({@link SimulatedBatches}). A job waits {@code pendingDelay}
 * in BATCH_STATE_PENDING, runs {@code runningDelay} in BATCH_STATE_RUNNING (its requests finishing in
 * order, evenly), then ends; a job not done {@code expireAfter} after its creation expires, as
 * Google's do after 48 hours.
 *
 * @param jobFailureRate    share of jobs that end BATCH_STATE_FAILED halfway through running
 * @param jobExpiryRate     share of jobs Google "never gets to": PENDING until {@code expireAfter}, then EXPIRED
 * @param requestErrorRate  share of requests answered with an error (google.rpc.Status INTERNAL) instead of a response
 * @param maxConcurrentJobs pending or running jobs per API key (Google: 100 per project); 0 = unlimited
 * @param defaultEnqueuedTokens input tokens of all pending and running jobs per (key, model), for a
 *                          model not in {@code enqueuedTokensByModel}; 0 = unlimited
 */
public record BatchConfig(
        Duration pendingDelay,
        Duration runningDelay,
        Duration expireAfter,
        double jobFailureRate,
        double jobExpiryRate,
        double requestErrorRate,
        int maxConcurrentJobs,
        long defaultEnqueuedTokens,
        Map<String, Long> enqueuedTokensByModel) {

    /** Google's "Concurrent batch requests: 100" (rate-limits page, read 2026-12-03). */
    public static final int GOOGLE_CONCURRENT_JOBS = 100;
    /** Google: a job pending or running for more than 48 hours expires (batch guide, read 2026-12-03). */
    public static final Duration GOOGLE_EXPIRY = Duration.ofHours(48);

    public static final BatchConfig DEFAULTS = new BatchConfig(Duration.ofSeconds(2), Duration.ofSeconds(3), GOOGLE_EXPIRY,
            0, 0, 0, GOOGLE_CONCURRENT_JOBS, 0, Map.of());

    public BatchConfig {
        if (pendingDelay.isNegative() || runningDelay.isNegative()) {
            throw new IllegalArgumentException("batch pending and running delays must not be negative, were "
                    + pendingDelay + " and " + runningDelay);
        }
        if (expireAfter.isNegative() || expireAfter.isZero()) {
            throw new IllegalArgumentException("batch expire-after must be positive, was " + expireAfter);
        }
        for (double rate : new double[] {jobFailureRate, jobExpiryRate, requestErrorRate}) {
            if (!(rate >= 0 && rate <= 1)) {
                throw new IllegalArgumentException("batch fault rates must be in [0,1]; job-failed=" + jobFailureRate
                        + " job-expired=" + jobExpiryRate + " request-error=" + requestErrorRate);
            }
        }
        if (jobFailureRate + jobExpiryRate > 1 + 1e-9) {
            throw new IllegalArgumentException("batch job-failed and job-expired rates add up to "
                    + (jobFailureRate + jobExpiryRate) + "; they must add up to at most 1");
        }
        if (maxConcurrentJobs < 0 || defaultEnqueuedTokens < 0) {
            throw new IllegalArgumentException("batch quotas must be >= 0 (0 = unlimited), were concurrent-jobs="
                    + maxConcurrentJobs + " enqueued-tokens=" + defaultEnqueuedTokens);
        }
        enqueuedTokensByModel.forEach((model, tokens) -> {
            if (tokens < 0) {
                throw new IllegalArgumentException("batch enqueued tokens for " + model + " must be >= 0, was " + tokens);
            }
        });
        enqueuedTokensByModel = Map.copyOf(enqueuedTokensByModel);
    }

    public long enqueuedTokensFor(String model) {
        return enqueuedTokensByModel.getOrDefault(model, defaultEnqueuedTokens);
    }

    public BatchConfig withDelays(Duration pending, Duration running) {
        return new BatchConfig(pending, running, expireAfter, jobFailureRate, jobExpiryRate, requestErrorRate,
                maxConcurrentJobs, defaultEnqueuedTokens, enqueuedTokensByModel);
    }

    public BatchConfig withExpireAfter(Duration d) {
        return new BatchConfig(pendingDelay, runningDelay, d, jobFailureRate, jobExpiryRate, requestErrorRate,
                maxConcurrentJobs, defaultEnqueuedTokens, enqueuedTokensByModel);
    }

    /** Rates by {@code --batch-fault} name: job-failed, job-expired, request-error. */
    public BatchConfig withFault(String name, double rate) {
        return switch (name) {
            case "job-failed" -> new BatchConfig(pendingDelay, runningDelay, expireAfter, rate, jobExpiryRate,
                    requestErrorRate, maxConcurrentJobs, defaultEnqueuedTokens, enqueuedTokensByModel);
            case "job-expired" -> new BatchConfig(pendingDelay, runningDelay, expireAfter, jobFailureRate, rate,
                    requestErrorRate, maxConcurrentJobs, defaultEnqueuedTokens, enqueuedTokensByModel);
            case "request-error" -> new BatchConfig(pendingDelay, runningDelay, expireAfter, jobFailureRate, jobExpiryRate,
                    rate, maxConcurrentJobs, defaultEnqueuedTokens, enqueuedTokensByModel);
            default -> throw new IllegalArgumentException("unknown batch fault '" + name
                    + "'; known: job-failed, job-expired, request-error");
        };
    }

    public BatchConfig withMaxConcurrentJobs(int n) {
        return new BatchConfig(pendingDelay, runningDelay, expireAfter, jobFailureRate, jobExpiryRate, requestErrorRate,
                n, defaultEnqueuedTokens, enqueuedTokensByModel);
    }

    public BatchConfig withEnqueuedTokens(long tokens) {
        return new BatchConfig(pendingDelay, runningDelay, expireAfter, jobFailureRate, jobExpiryRate, requestErrorRate,
                maxConcurrentJobs, tokens, enqueuedTokensByModel);
    }

    public BatchConfig withEnqueuedTokens(String model, long tokens) {
        Map<String, Long> m = new HashMap<>(enqueuedTokensByModel);
        m.put(model, tokens);
        return new BatchConfig(pendingDelay, runningDelay, expireAfter, jobFailureRate, jobExpiryRate, requestErrorRate,
                maxConcurrentJobs, defaultEnqueuedTokens, m);
    }
}
