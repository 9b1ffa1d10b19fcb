package io.batchpilot.gemini;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Objects;

/**
 * One request of a batch job: a {@code GenerateContentRequest} body (as {@code generateContent} takes
 * it) and the key its result comes back with, e.g. the file's id.
 */
public record BatchRequest(String key, ObjectNode request) {
    public BatchRequest {
        if (key == null || key.isBlank()) {
            throw new IllegalArgumentException("a batch request needs a non-empty key: its result is matched by it");
        }
        Objects.requireNonNull(request, "request");
    }
}
