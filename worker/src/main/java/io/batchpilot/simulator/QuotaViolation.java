package io.batchpilot.simulator;

/** One quota a request would have exceeded; becomes a QuotaFailure violation in the 429 body. */
public record QuotaViolation(Kind kind, long limit) {

    public enum Kind { REQUESTS_PER_MINUTE, INPUT_TOKENS_PER_MINUTE, REQUESTS_PER_DAY }

    /** Google's quotaId, with the -FreeTier suffix on the free tier. */
    public String quotaId(boolean freeTier) {
        String id = switch (kind) {
            case REQUESTS_PER_MINUTE -> "GenerateRequestsPerMinutePerProjectPerModel";
            case INPUT_TOKENS_PER_MINUTE -> "GenerateContentInputTokensPerModelPerMinute";
            case REQUESTS_PER_DAY -> "GenerateRequestsPerDayPerProjectPerModel";
        };
        return freeTier ? id + "-FreeTier" : id;
    }

    /** Google's quotaMetric: requests and input tokens are separate metrics; per day shares the requests metric. */
    public String quotaMetric(boolean freeTier) {
        String tier = freeTier ? "free_tier_" : "paid_tier_";
        return switch (kind) {
            case REQUESTS_PER_MINUTE, REQUESTS_PER_DAY -> "generativelanguage.googleapis.com/generate_content_" + tier + "requests";
            case INPUT_TOKENS_PER_MINUTE -> "generativelanguage.googleapis.com/generate_content_" + tier + "input_token_count";
        };
    }
}
