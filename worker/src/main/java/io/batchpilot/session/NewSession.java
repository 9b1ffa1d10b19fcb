package io.batchpilot.session;

import java.util.Objects;
import java.util.UUID;

/**
 * A batch to be registered. {@code userId} and {@code teamId} decide who sees it (row-level
 * security); {@code maxConcurrent} caps its files in flight across the whole fleet (interactive
 * delivery); {@code interactiveFallback} sends a batch session's files interactive when their batch
 * job expires or fails, instead of into a new job.
 */
public record NewSession(String name, UUID userId, UUID teamId, String model, int maxConcurrent, String processingStrategy,
                         Delivery delivery, boolean interactiveFallback) {

  public NewSession {
    Objects.requireNonNull(model, "model");
    Objects.requireNonNull(processingStrategy, "processingStrategy");
    Objects.requireNonNull(delivery, "delivery");
    if (maxConcurrent < 1 || maxConcurrent > 1000) {
      throw new IllegalArgumentException("max_concurrent of session '" + name + "' must be between 1 and 1000, was " + maxConcurrent);
    }
    if (interactiveFallback && delivery != Delivery.BATCH) {
      throw new IllegalArgumentException("interactive_fallback of session '" + name + "' applies to batch delivery only:"
          + " set delivery batch, or leave the fallback off");
    }
  }

  /** An interactive session. */
  public NewSession(String name, UUID userId, UUID teamId, String model, int maxConcurrent, String processingStrategy) {
    this(name, userId, teamId, model, maxConcurrent, processingStrategy, Delivery.INTERACTIVE, false);
  }

  /** This session with {@code delivery} (and, for batch, the fallback). */
  public NewSession withDelivery(Delivery delivery, boolean interactiveFallback) {
    return new NewSession(name, userId, teamId, model, maxConcurrent, processingStrategy, delivery, interactiveFallback);
  }
}
