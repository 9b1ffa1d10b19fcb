package io.batchpilot.pipeline;

import com.fasterxml.jackson.databind.JsonNode;
import io.batchpilot.gemini.Usage;
import java.time.Duration;
import java.util.Objects;
import java.util.UUID;

/**
 * How one attempt at one file ended, as the completer writes it: one case per way it can end, each
 * with only the fields it has. Build one with the factories; the worker adds the attempt's duration
 * ({@link #withDurationMs}). The completer alone turns a case into the row it writes.
 *
 * <p>Whether the attempt counts is the case's: a completion, a retry and a failure spend it; a wait,
 * a 429, a spent daily quota and a refused key give it back, so max_attempts never hits for them.
 */
public sealed interface Outcome permits Outcome.Completed, Outcome.Duplicate, Outcome.Retry, Outcome.RateLimited,
    Outcome.Failed, Outcome.QuotaWait, Outcome.SessionStopped, Outcome.Wait {

  /**
   * What every outcome carries.
   *
   * @param file          the claim being completed
   * @param durationMs    how long the attempt took
   * @param contentSha256 the validated content's hash, stored so later duplicates can find this file
   * @param call          the quota permit of the attempt's Gemini call, if it made one: written with
   *                      the outcome (which then counts the call, not the permit) and ended only after it
   * @param billed        the tokens of a call Google billed (null: none, e.g. a duplicate or a 503)
   */
  record Attempt(ClaimedFile file, long durationMs, byte[] contentSha256, CallPermit call, Usage billed) {
    public Attempt {
      Objects.requireNonNull(file, "file");
    }

    static Attempt of(ClaimedFile file) {
      return new Attempt(file, 0, null, null, null);
    }

    Attempt billed(Usage usage) {
      return new Attempt(file, durationMs, contentSha256, call, usage);
    }
  }

  /** The file's next status. */
  enum Status {
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

  Attempt attempt();

  Status status();

  /** The same outcome with {@code attempt} in place of its own. */
  Outcome with(Attempt attempt);

  default ClaimedFile file() {
    return attempt().file();
  }

  default CallPermit call() {
    return attempt().call();
  }

  default Usage billed() {
    return attempt().billed();
  }

  /** The error_type written with the outcome; null for a completion and a plain wait. */
  default String errorType() {
    return null;
  }

  /** For a file that goes back to pending: how long until it may be claimed again. */
  default Duration retryDelay() {
    return Duration.ZERO;
  }

  /**
   * The file goes back to the queue after a failed call and will be tried again: a retry (spending
   * an attempt) or a 429 (not spending one). Releases, deferrals and quota waits are not retries.
   */
  default boolean isRetry() {
    return (this instanceof Retry || this instanceof RateLimited) && errorType() != null;
  }

  default Outcome withDurationMs(long ms) {
    Attempt a = attempt();
    return with(new Attempt(a.file(), ms, a.contentSha256(), a.call(), a.billed()));
  }

  default Outcome withContentSha256(byte[] sha256) {
    Attempt a = attempt();
    return with(new Attempt(a.file(), a.durationMs(), sha256, a.call(), a.billed()));
  }

  default Outcome withCall(CallPermit permit) {
    Attempt a = attempt();
    return with(new Attempt(a.file(), a.durationMs(), a.contentSha256(), permit, a.billed()));
  }

  /**
   * The failed call was billed all the same (Gemini answered 200, but the answer was blocked, cut off
   * or not the receipt's JSON): its tokens are recorded like a completion's, so the spend is the bill.
   */
  default Outcome withBilledUsage(Usage usage) {
    return with(attempt().billed(usage));
  }

  /** The extraction succeeded with {@code apiCalls} calls, whose tokens are {@link Attempt#billed()}. */
  record Completed(Attempt attempt, JsonNode result, JsonNode receipt, int apiCalls) implements Outcome {
    public Completed {
      Objects.requireNonNull(attempt.billed(), "a completion's billed usage");
    }

    @Override
    public Status status() {
      return Status.COMPLETED;
    }

    @Override
    public Completed with(Attempt attempt) {
      return new Completed(attempt, result, receipt, apiCalls);
    }
  }

  /** Same content was already extracted for the same team and model: its result, no API call. */
  record Duplicate(Attempt attempt, UUID earlierFile, JsonNode result, JsonNode receipt) implements Outcome {
    @Override
    public Status status() {
      return Status.COMPLETED;
    }

    @Override
    public Duplicate with(Attempt attempt) {
      return new Duplicate(attempt, earlierFile, result, receipt);
    }
  }

  /** A failure worth another try after {@code retryDelay}; past max_attempts the file fails instead. */
  record Retry(Attempt attempt, String errorType, String errorMessage, Duration retryDelay, int apiCalls)
      implements Outcome {
    public Retry {
      retryDelay = orZero(retryDelay);
    }

    @Override
    public Status status() {
      return Status.PENDING;
    }

    @Override
    public Retry with(Attempt attempt) {
      return new Retry(attempt, errorType, errorMessage, retryDelay, apiCalls);
    }
  }

  /**
   * Gemini answered 429 for a per-minute quota: the quota's doing, not the file's. The file goes
   * back after {@code retryDelay} without spending an attempt (the fleet waits out the block with
   * it), so a file never fails for the quota however often it meets one. One call was made.
   */
  record RateLimited(Attempt attempt, String errorType, String errorMessage, Duration retryDelay) implements Outcome {
    public RateLimited {
      retryDelay = orZero(retryDelay);
    }

    @Override
    public Status status() {
      return Status.PENDING;
    }

    @Override
    public RateLimited with(Attempt attempt) {
      return new RateLimited(attempt, errorType, errorMessage, retryDelay);
    }
  }

  /** A failure that another try would repeat: the file fails now. */
  record Failed(Attempt attempt, String errorType, String errorMessage, int apiCalls) implements Outcome {
    @Override
    public Status status() {
      return Status.FAILED;
    }

    @Override
    public Failed with(Attempt attempt) {
      return new Failed(attempt, errorType, errorMessage, apiCalls);
    }
  }

  /** The model's daily quota is spent: the file waits for the reset, and the session says why. */
  record QuotaWait(Attempt attempt, Duration retryDelay, String sessionMessage, int apiCalls) implements Outcome {
    public QuotaWait {
      retryDelay = orZero(retryDelay);
    }

    @Override
    public Status status() {
      return Status.PENDING;
    }

    @Override
    public String errorType() {
      return "quota_exhausted";
    }

    @Override
    public QuotaWait with(Attempt attempt) {
      return new QuotaWait(attempt, retryDelay, sessionMessage, apiCalls);
    }
  }

  /** Nothing in the session can succeed until a person acts (a refused key): the session stops, the file waits. */
  record SessionStopped(Attempt attempt, String errorType, String sessionMessage, int apiCalls) implements Outcome {
    @Override
    public Status status() {
      return Status.PENDING;
    }

    @Override
    public SessionStopped with(Attempt attempt) {
      return new SessionStopped(attempt, errorType, sessionMessage, apiCalls);
    }
  }

  /**
   * The file goes back to the queue through no doing of its own, the attempt given back: after
   * {@code retryDelay} (a deferral), at once (a release), with a word on why (errorType and
   * errorMessage may be null).
   */
  record Wait(Attempt attempt, Duration retryDelay, String errorType, String errorMessage) implements Outcome {
    public Wait {
      retryDelay = orZero(retryDelay);
    }

    @Override
    public Status status() {
      return Status.PENDING;
    }

    @Override
    public Wait with(Attempt attempt) {
      return new Wait(attempt, retryDelay, errorType, errorMessage);
    }
  }

  /** The extraction succeeded with one API call, which used {@code usage}. */
  static Outcome completed(ClaimedFile file, JsonNode result, JsonNode receipt, Usage usage) {
    return new Completed(Attempt.of(file).billed(usage), result, receipt, 1);
  }

  /** The extraction succeeded with these API calls' tokens, none of them thinking. */
  static Outcome completed(ClaimedFile file, JsonNode result, JsonNode receipt,
                           int inputTokens, int outputTokens, int totalTokens, int apiCalls) {
    return new Completed(Attempt.of(file).billed(new Usage(inputTokens, outputTokens, 0, 0, totalTokens)), result,
        receipt, apiCalls);
  }

  /** Same content was already extracted for the same team and model: its result, no API call. */
  static Outcome duplicate(ClaimedFile file, UUID earlierFile, JsonNode result, JsonNode receipt) {
    return new Duplicate(Attempt.of(file), earlierFile, result, receipt);
  }

  /** A failure worth another try after {@code delay}; past max_attempts the file fails instead. */
  static Outcome retry(ClaimedFile file, String errorType, String message, Duration delay, int apiCalls) {
    return new Retry(Attempt.of(file), errorType, message, delay, apiCalls);
  }

  /** Gemini answered 429 for a per-minute quota: back after {@code delay}, no attempt spent ({@link RateLimited}). */
  static Outcome rateLimited(ClaimedFile file, String errorType, String message, Duration delay) {
    return new RateLimited(Attempt.of(file), errorType, message, delay);
  }

  /** A failure that another try would repeat: the file fails now. */
  static Outcome failed(ClaimedFile file, String errorType, String message, int apiCalls) {
    return new Failed(Attempt.of(file), errorType, message, apiCalls);
  }

  /** The model's daily quota is spent: the file waits for the reset, and the session says why. */
  static Outcome waitForQuota(ClaimedFile file, Duration untilReset, String sessionMessage, int apiCalls) {
    return new QuotaWait(Attempt.of(file), untilReset, sessionMessage, apiCalls);
  }

  /** Nothing in the session can succeed until a person acts (a refused key): the session stops, the file waits. */
  static Outcome stopSession(ClaimedFile file, String errorType, String sessionMessage, int apiCalls) {
    return new SessionStopped(Attempt.of(file), errorType, sessionMessage, apiCalls);
  }

  /** The file was not worked on (shutdown): back to pending at once, the attempt given back. */
  static Outcome released(ClaimedFile file) {
    return new Wait(Attempt.of(file), Duration.ZERO, null, null);
  }

  /**
   * The worker stopped while the file was being processed (its grace period ran out): the attempt
   * may have reached Gemini, so it stays counted, and a file that always outlasts the grace period
   * reaches max_attempts instead of coming back for ever.
   */
  static Outcome interrupted(ClaimedFile file, String message) {
    return new Retry(Attempt.of(file), "timeout", message, Duration.ZERO, 0);
  }

  /**
   * The file goes back to the queue through no doing of its own (its batch job expired or was
   * cancelled): the attempt is given back, and the file says why.
   */
  static Outcome requeued(ClaimedFile file, String errorType, String message) {
    return new Wait(Attempt.of(file), Duration.ZERO, errorType, message);
  }

  /** The quota gate asked for a longer wait than is worth holding a thread: try again after it. */
  static Outcome deferred(ClaimedFile file, Duration delay, String reason) {
    return new Wait(Attempt.of(file), delay, null, reason);
  }

  private static Duration orZero(Duration delay) {
    return delay == null ? Duration.ZERO : delay;
  }
}
