package io.batchpilot.gemini;

/**
 * Token counts from a response's {@code usageMetadata}. Google omits zero counts, so a missing
 * field is 0. {@code totalTokens} includes thoughts (prompt + candidates + thoughts).
 */
public record Usage(long promptTokens, long candidatesTokens, long thoughtsTokens, long cachedTokens, long totalTokens) {
}
