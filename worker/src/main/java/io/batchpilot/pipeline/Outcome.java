package io.batchpilot.pipeline;

import com.fasterxml.jackson.databind.JsonNode;
import io.batchpilot.limiter.Permit;
import io.batchpilot.gemini.Usage;
import java.time.Duration;
import java.util.Objects;
import java.util.UUID;

/**
 * How one attempt at one file ended, as the completer writes it. Build one with the factories;
 * the worker adds the attempt's duration ({@link #withDurationMs}).
 *
 * @param status           the file's next status: completed, failed, or pending (retry, release, wait)
 * @param countsAttempt    false when the attempt did not really happen (a release, a quota wait, a 429, a
 *                         refused key): the claim's attempt is given back and max_attempts never hits
 * @param retryDelay       for pending: how long until the file may be claimed again
 * @param sessionError     a message for the whole session (a spent daily quota, a refused key)
 * @param sessionFailed    the session stops: no file of it can succeed until a person acts
 * @param inputTokens      the tokens of a call Google billed (null: no billed call, e.g. a duplicate or a 503);
 *                         outputTokens is the answer, thinkingTokens the model's thinking (billed as output),
 *                         tokensUsed all of them (totalTokenCount)
 * @param contentSha256    the validated content's hash, stored so later duplicates can find this file
 * @param call             the quota permit of the attempt's Gemini call, if it made one: written with
 *                         the outcome (which then counts the call, not the permit) and ended only after
 *                         it, so a worker killed in between never loses the call nor counts it twice
 */
public record Outcome(
    ClaimedFile file,
    Status status,
    boolean countsAttempt,
    Duration retryDelay,
    JsonNode result,
    JsonNode receipt,
    UUID duplicateOf,
    String errorType,
    String errorMessage,
    long durationMs,
    Integer inputTokens,
    Integer outputTokens,
    Integer thinkingTokens,
    int tokensUsed,
    int apiCalls,
    boolean rateLimited,
    String sessionError,
    boolean sessionFailed,
    byte[] contentSha256,
    CallPermit call) {

  /**
   * The permit a call was granted, and what to end it with once the outcome is written.
   *
   * @param actualInputTokens the response's prompt tokens; null ends it without a count (a failed call)
   */
  public record CallPermit(Permit permit, Long actualInputTokens) {
    public CallPermit {
      Objects.requireNonNull(permit, "permit");
    }
  }

  public enum Status {
    COMPLETED("completed"), FAILED("failed"), PENDING("pending");

    private final String column;

    Status(String column) {
      this.column = column;
    }

    /** The batch_upload_files.status value. */
    public String column() {
      return column;
    }
  }

  public Outcome {
    Objects.requireNonNull(file, "file");
    Objects.requireNonNull(status, "status");
    retryDelay = retryDelay == null ? Duration.ZERO : retryDelay;
  }

  /** The extraction succeeded with one API call, which used {@code usage}. */
  public static Outcome completed(ClaimedFile file, JsonNode result, JsonNode receipt, Usage usage) {
    return new Outcome(file, Status.COMPLETED, true, null, result, receipt, null, null, null, 0,
        tokens(usage.promptTokens()), tokens(usage.candidatesTokens()), tokens(usage.thoughtsTokens()),
        tokens(usage.totalTokens()), 1, false, null, false, null, null);
  }

  /** The extraction succeeded with these API calls' tokens, none of them thinking. */
  public static Outcome completed(ClaimedFile file, JsonNode result, JsonNode receipt,
                                  int inputTokens, int outputTokens, int totalTokens, int apiCalls) {
    return new Outcome(file, Status.COMPLETED, true, null, result, receipt, null, null, null, 0,
        inputTokens, outputTokens, 0, totalTokens, apiCalls, false, null, false, null, null);
  }

  /** Same content was already extracted for the same team and model: its result, no API call. */
  public static Outcome duplicate(ClaimedFile file, UUID earlierFile, JsonNode result, JsonNode receipt) {
    return new Outcome(file, Status.COMPLETED, true, null, result, receipt, earlierFile, null, null, 0,
        null, null, null, 0, 0, false, null, false, null, null);
  }

  /** A failure worth another try after {@code delay}; past max_attempts the file fails instead. */
  public static Outcome retry(ClaimedFile file, String errorType, String message, Duration delay, int apiCalls) {
    return new Outcome(file, Status.PENDING, true, delay, null, null, null, errorType, message, 0,
        null, null, null, 0, apiCalls, false, null, false, null, null);
  }

  /**
   * Gemini answered 429 for a per-minute quota: the quota's doing, not the file's. The file goes
   * back after {@code delay} without spending an attempt (the fleet waits out the block with it),
   * so a file never fails for the quota however often it meets one.
   */
  public static Outcome rateLimited(ClaimedFile file, String errorType, String message, Duration delay) {
    return new Outcome(file, Status.PENDING, false, delay, null, null, null, errorType, message, 0,
        null, null, null, 0, 1, true, null, false, null, null);
  }

  /** A failure that another try would repeat: the file fails now. */
  public static Outcome failed(ClaimedFile file, String errorType, String message, int apiCalls) {
    return new Outcome(file, Status.FAILED, true, null, null, null, null, errorType, message, 0,
        null, null, null, 0, apiCalls, false, null, false, null, null);
  }

  /** The model's daily quota is spent: the file waits for the reset, and the session says why. */
  public static Outcome waitForQuota(ClaimedFile file, Duration untilReset, String sessionMessage, int apiCalls) {
    return new Outcome(file, Status.PENDING, false, untilReset, null, null, null, "quota_exhausted",
        sessionMessage, 0, null, null, null, 0, apiCalls, true, sessionMessage, false, null, null);
  }

  /** Nothing in the session can succeed until a person acts (a refused key): the session stops, the file waits. */
  public static Outcome stopSession(ClaimedFile file, String errorType, String sessionMessage, int apiCalls) {
    return new Outcome(file, Status.PENDING, false, null, null, null, null, errorType, sessionMessage, 0,
        null, null, null, 0, apiCalls, false, sessionMessage, true, null, null);
  }

  /** The file was not worked on (shutdown): back to pending at once, the attempt given back. */
  public static Outcome released(ClaimedFile file) {
    return new Outcome(file, Status.PENDING, false, null, null, null, null, null, null, 0,
        null, null, null, 0, 0, false, null, false, null, null);
  }

  /**
   * The worker stopped while the file was being processed (its grace period ran out): the attempt
   * may have reached Gemini, so it stays counted, and a file that always outlasts the grace period
   * reaches max_attempts instead of coming back for ever.
   */
  public static Outcome interrupted(ClaimedFile file, String message) {
    return new Outcome(file, Status.PENDING, true, null, null, null, null, "timeout", message, 0,
        null, null, null, 0, 0, false, null, false, null, null);
  }

  /**
   * The file goes back to the queue through no doing of its own (its batch job expired or was
   * cancelled): the attempt is given back, and the file says why.
   */
  public static Outcome requeued(ClaimedFile file, String errorType, String message) {
    return new Outcome(file, Status.PENDING, false, null, null, null, null, errorType, message, 0,
        null, null, null, 0, 0, false, null, false, null, null);
  }

  /** The quota gate asked for a longer wait than is worth holding a thread: try again after it. */
  public static Outcome deferred(ClaimedFile file, Duration delay, String reason) {
    return new Outcome(file, Status.PENDING, false, delay, null, null, null, null, reason, 0,
        null, null, null, 0, 0, false, null, false, null, null);
  }

  /**
   * The file goes back to the queue after a failed call and will be tried again: a retry (spending
   * an attempt) or a 429 (not spending one). Releases, deferrals and quota waits are not retries.
   */
  public boolean isRetry() {
    return status == Status.PENDING && errorType != null && sessionError == null && (countsAttempt || rateLimited);
  }

  public Outcome withDurationMs(long ms) {
    return new Outcome(file, status, countsAttempt, retryDelay, result, receipt, duplicateOf, errorType,
        errorMessage, ms, inputTokens, outputTokens, thinkingTokens, tokensUsed, apiCalls, rateLimited, sessionError,
        sessionFailed, contentSha256, call);
  }

  public Outcome withContentSha256(byte[] sha256) {
    return new Outcome(file, status, countsAttempt, retryDelay, result, receipt, duplicateOf, errorType,
        errorMessage, durationMs, inputTokens, outputTokens, thinkingTokens, tokensUsed, apiCalls, rateLimited,
        sessionError, sessionFailed, sha256, call);
  }

  public Outcome withCall(CallPermit permit) {
    return new Outcome(file, status, countsAttempt, retryDelay, result, receipt, duplicateOf, errorType,
        errorMessage, durationMs, inputTokens, outputTokens, thinkingTokens, tokensUsed, apiCalls, rateLimited,
        sessionError, sessionFailed, contentSha256, permit);
  }

  /**
   * The failed call was billed all the same (Gemini answered 200, but the answer was blocked, cut off
   * or not the receipt's JSON): its tokens are recorded like a completion's, so the spend is the bill.
   */
  public Outcome withBilledUsage(Usage usage) {
    return new Outcome(file, status, countsAttempt, retryDelay, result, receipt, duplicateOf, errorType,
        errorMessage, durationMs, tokens(usage.promptTokens()), tokens(usage.candidatesTokens()),
        tokens(usage.thoughtsTokens()), tokens(usage.totalTokens()), apiCalls, rateLimited, sessionError, sessionFailed,
        contentSha256, call);
  }

  private static int tokens(long count) {
    return Math.toIntExact(count);
  }
}
