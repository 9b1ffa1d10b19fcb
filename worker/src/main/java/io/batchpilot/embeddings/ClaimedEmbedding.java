package io.batchpilot.embeddings;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.UUID;

/**
 * A file whose embedding this worker holds: the claim ({@code claimedBy} and {@code attempts} as the
 * claim left them, which fence the outcome) and the extraction result to embed.
 */
public record ClaimedEmbedding(UUID fileId, UUID sessionId, int attempts, JsonNode result, String claimedBy) {}
