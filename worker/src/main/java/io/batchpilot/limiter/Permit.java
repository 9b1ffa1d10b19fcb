package io.batchpilot.limiter;

import java.time.Instant;
import java.util.Objects;
import java.util.UUID;

/**
 * One granted request: in flight until {@link QuotaGate#release released} or its lease ends.
 * {@code grantedAt} is the database's clock at the grant, the instant the quota counted it.
 */
public record Permit(UUID id, String provider, String model, long estimatedInputTokens, Instant grantedAt) {
  public Permit {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(grantedAt, "grantedAt");
    Objects.requireNonNull(provider, "provider");
    Objects.requireNonNull(model, "model");
  }
}
