package io.batchpilot.session;

import java.math.BigDecimal;
import java.time.OffsetDateTime;
import java.util.UUID;

/**
 * Where a session stands, read in one query.
 *
 * @param tokensUsed     every token of the session's billed calls (totalTokenCount), thinking included
 * @param thinkingTokens of those, the model's thinking (thoughtsTokenCount), billed as output
 * @param estimatedCompletionAt interactive: the measured ETA; batch: Google's 24-hour target for its files
 */
public record Progress(
    UUID sessionId,
    String status,
    int totalFiles,
    int pending,
    int processing,
    int completed,
    int failed,
    int skipped,
    int apiCalls,
    long tokensUsed,
    long thinkingTokens,
    int rateLimitHits,
    BigDecimal avgFileProcessingTimeMs,
    OffsetDateTime startedAt,
    OffsetDateTime completedAt,
    OffsetDateTime estimatedCompletionAt,
    String errorMessage,
    String name,
    OffsetDateTime createdAt,
    Delivery delivery,
    boolean interactiveFallback) {

  /** Files that will not change any more. */
  public int finished() {
    return completed + failed + skipped;
  }
}
