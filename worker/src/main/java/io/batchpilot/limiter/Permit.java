package io.batchpilot.limiter;

import java.util.Objects;
import java.util.UUID;

/** One granted request: in flight until {@link QuotaGate#release released} or its lease ends. */
public record Permit(UUID id, String provider, String model, long estimatedInputTokens) {
  public Permit {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(provider, "provider");
    Objects.requireNonNull(model, "model");
  }
}
