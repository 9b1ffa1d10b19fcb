package io.batchpilot.pipeline;

import java.util.UUID;

/**
 * A file this worker holds: its row as the claim left it, with what the pipeline needs from its
 * session. {@code claimedBy} and {@code attempts} together identify the claim; a completion that
 * does not match them is a stale holder's and changes nothing.
 */
public record ClaimedFile(
    UUID id,
    UUID sessionId,
    UUID receiptId,
    String originalFilename,
    String fileType,
    Long fileSizeBytes,
    String storageBucket,
    String storagePath,
    String sourceUrl,
    byte[] contentSha256,
    int attempts,
    int maxAttempts,
    String provider,
    String model,
    String processingStrategy,
    UUID teamId,
    UUID userId,
    String claimedBy) {

  /** Names the file and its session, for logs and error messages. */
  public String describe() {
    return "file " + id + " ('" + originalFilename + "') of session " + sessionId;
  }
}
