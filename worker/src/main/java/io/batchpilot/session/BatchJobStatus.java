package io.batchpilot.session;

import java.time.OffsetDateTime;
import java.util.UUID;

/**
 * One Gemini batch job holding files of a session, as {@code batchpilot_session_batch_jobs} reports
 * it.
 *
 * @param name          Google's {@code batches/...}; null until Google accepted the job
 * @param state         creating, pending, running, then succeeded, failed, cancelled, expired or abandoned
 * @param files         the session's files in the job
 * @param filesAtGoogle of those, the ones still at Google (not completed, failed or sent back)
 * @param dueBy         Google's target, 24 hours from the job's creation
 */
public record BatchJobStatus(UUID jobId, String name, String model, BatchJobState state, int files, int filesAtGoogle,
                             OffsetDateTime createdAt, OffsetDateTime submittedAt, OffsetDateTime endedAt,
                             OffsetDateTime dueBy, String errorMessage) {

  /** Google may still be working on it. */
  public boolean live() {
    return state.live();
  }
}
