package io.batchpilot.session;

import java.util.Objects;
import java.util.UUID;

/**
 * A batch to be registered. {@code userId} and {@code teamId} decide who sees it (row-level
 * security); {@code maxConcurrent} caps its files in flight across the whole fleet.
 */
public record NewSession(String name, UUID userId, UUID teamId, String model, int maxConcurrent, String processingStrategy) {

  public NewSession {
    Objects.requireNonNull(model, "model");
    Objects.requireNonNull(processingStrategy, "processingStrategy");
    if (maxConcurrent < 1 || maxConcurrent > 1000) {
      throw new IllegalArgumentException("max_concurrent of session '" + name + "' must be between 1 and 1000, was " + maxConcurrent);
    }
  }
}
