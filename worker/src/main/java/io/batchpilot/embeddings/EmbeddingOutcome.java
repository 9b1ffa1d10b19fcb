package io.batchpilot.embeddings;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Duration;
import java.util.Objects;
import java.util.UUID;

/**
 * How one claimed embedding ended, as {@code batchpilot_private.record_embeddings} reads it. Built
 * only through the factories, so each status carries the fields it needs.
 */
public final class EmbeddingOutcome {

  private final ObjectNode json;

  private EmbeddingOutcome(ClaimedEmbedding claim, String status) {
    json = JsonNodeFactory.instance.objectNode()
        .put("id", claim.fileId().toString())
        .put("claimed_by", claim.claimedBy())
        .put("attempts", claim.attempts())
        .put("status", status);
  }

  /** The vector is stored and the embedding job completes. */
  public static EmbeddingOutcome completed(ClaimedEmbedding claim, String model, String taskType, String content,
      float[] vector) {
    EmbeddingOutcome outcome = new EmbeddingOutcome(claim, "completed");
    outcome.json.put("model", model).put("task_type", taskType).put("content", content);
    ArrayNode values = outcome.json.putArray("embedding");
    for (float v : vector) {
      values.add(v);
    }
    return outcome;
  }

  /** A failed attempt that may succeed later: pending again after {@code delay}. */
  public static EmbeddingOutcome retry(ClaimedEmbedding claim, Duration delay, String errorType, String message) {
    EmbeddingOutcome outcome = new EmbeddingOutcome(claim, "pending");
    outcome.json.put("retry_delay_ms", delay.toMillis())
        .put("error_type", Objects.requireNonNull(errorType, "errorType"))
        .put("error_message", message);
    return outcome;
  }

  /** Not tried at all (the quota gate said wait, or the batch was full): pending again, no attempt spent. */
  public static EmbeddingOutcome postpone(ClaimedEmbedding claim, Duration delay) {
    EmbeddingOutcome outcome = new EmbeddingOutcome(claim, "pending");
    outcome.json.put("retry_delay_ms", delay.toMillis()).put("counts_attempt", false);
    return outcome;
  }

  /**
   * Turned away by the quota or the key (a 429, a spent daily quota, a refused key): pending again
   * after {@code delay}, no attempt spent, and the row says why.
   */
  public static EmbeddingOutcome postpone(ClaimedEmbedding claim, Duration delay, String errorType, String message) {
    EmbeddingOutcome outcome = postpone(claim, delay);
    outcome.json.put("error_type", Objects.requireNonNull(errorType, "errorType")).put("error_message", message);
    return outcome;
  }

  /** Given up: the embedding stays failed with its reason; the extraction is untouched. */
  public static EmbeddingOutcome failed(ClaimedEmbedding claim, String errorType, String message) {
    EmbeddingOutcome outcome = new EmbeddingOutcome(claim, "failed");
    outcome.json.put("error_type", Objects.requireNonNull(errorType, "errorType")).put("error_message", message);
    return outcome;
  }

  public UUID fileId() {
    return UUID.fromString(json.get("id").asText());
  }

  /** False for a postponement: the claim's attempt is given back. */
  public boolean countsAttempt() {
    return json.path("counts_attempt").asBoolean(true);
  }

  public String status() {
    return json.get("status").asText();
  }

  ObjectNode json() {
    return json;
  }

  @Override
  public String toString() {
    return "EmbeddingOutcome[" + json.get("id").asText() + " " + status() + "]";
  }
}
