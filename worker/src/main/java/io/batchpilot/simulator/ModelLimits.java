package io.batchpilot.simulator;

/**
 * Limits for one (API key, model): requests and input tokens per window (a minute at Google, shorter
 * in tests), requests per day (resets at midnight America/Los_Angeles). Zero means unlimited.
 */
public record ModelLimits(long requestsPerMinute, long inputTokensPerMinute, long requestsPerDay) {

    public static final ModelLimits UNLIMITED = new ModelLimits(0, 0, 0);

    public ModelLimits {
        if (requestsPerMinute < 0 || inputTokensPerMinute < 0 || requestsPerDay < 0) {
            throw new IllegalArgumentException("model limits must be >= 0 (0 = unlimited), were rpm="
                    + requestsPerMinute + " tpm=" + inputTokensPerMinute + " rpd=" + requestsPerDay);
        }
    }

    /** Parses {@code rpm/tpm/rpd}, e.g. {@code 10/250000/250}. */
    public static ModelLimits parse(String setting, String text) {
        String[] parts = text.trim().split("/");
        if (parts.length != 3) {
            throw new IllegalArgumentException(setting + " must be rpm/tpm/rpd (0 = unlimited), e.g. 10/250000/250; was '"
                    + text + "'");
        }
        try {
            return new ModelLimits(Long.parseLong(parts[0].trim()), Long.parseLong(parts[1].trim()),
                    Long.parseLong(parts[2].trim()));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(setting + " must hold whole numbers rpm/tpm/rpd; was '" + text + "'", e);
        }
    }
}
