package io.batchpilot.gemini;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Optional;

/**
 * The outcome of one request of a finished batch job: the {@code GenerateContentResponse} with its
 * usage, or the error Google reported for that request alone.
 *
 * @param index    position in the job's input (inline responses come back in request order)
 * @param key      the request's key; null only if Google returned neither key nor metadata
 * @param response the GenerateContentResponse, null when the request failed
 * @param usage    the response's usageMetadata (zero counts when it failed)
 * @param error    the request's failure, classified like an interactive call's; null when it succeeded
 */
public record BatchResult(int index, String key, JsonNode response, Usage usage, GeminiException error) {

    public boolean succeeded() {
        return error == null;
    }

    public Optional<GeminiException> failure() {
        return Optional.ofNullable(error);
    }
}
