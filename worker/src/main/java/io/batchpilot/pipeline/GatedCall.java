package io.batchpilot.pipeline;

import io.batchpilot.gemini.GeminiException;
import io.batchpilot.gemini.Usage;
import io.batchpilot.limiter.Admission;
import io.batchpilot.limiter.Permit;
import io.batchpilot.limiter.QuotaGate;
import io.batchpilot.limiter.Strategy;
import io.batchpilot.limiter.WaitReason;
import io.batchpilot.metrics.Metrics;
import io.batchpilot.store.DatabaseOutage;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;
import java.util.UUID;
import java.util.function.Function;

/**
 * One Gemini call through the quota gate, for every kind of work (a receipt, a batch of embeddings):
 * acquire, call, end or hand on the permit, tell the gate about a 429 or a spent daily quota, and
 * say what it came to as one {@link Decision}. The rules, once for every kind:
 *
 * <ul>
 *   <li>the gate's wait is held up to {@code maxWait}; a longer one is {@link Deferred}, or
 *       {@link DailyQuotaSpent} while the model is parked;</li>
 *   <li>a 429 blocks the fleet for the server's retryDelay, else the backoff ({@link RateLimited});</li>
 *   <li>a per-day 429 parks the model for the fleet until midnight Pacific ({@link DailyQuotaSpent});</li>
 *   <li>a refused key can succeed only once a person acts ({@link KeyRefused});</li>
 *   <li>any other retryable failure goes again after the server's retryDelay, else the backoff, full
 *       jitter ({@link Retryable}); the rest fail ({@link Permanent});</li>
 *   <li>only an answer, a retryable and a permanent failure spend an attempt ({@link Decision#spendsAttempt});</li>
 *   <li>a 200 whose answer is unusable is billed: its failure carries the usage ({@link Failure#billed}).</li>
 * </ul>
 *
 * <p>The permit of a call that was made comes with the decision, and is ended ({@link #end}) only
 * once the outcome is written: a worker killed in between never loses the call from its session's
 * count. A database outage met on the way is waited out, holding the work, with no attempt spent.
 */
public final class GatedCall {

  /**
   * What one call asks the gate for.
   *
   * @param describe names the work in logs, e.g. "file 1f… ('r1.png') of session 9a…"
   * @param fileId   the file the call is for (may be null): a permit its worker never ends still
   *                 counts the call in that file's session
   * @param attempt  which attempt this is (1 for the first): the backoff grows with it
   */
  public record Request(String describe, String provider, String model, long estimatedInputTokens, Strategy strategy,
                        UUID fileId, int attempt) {
    public Request {
      Objects.requireNonNull(describe, "describe");
      Objects.requireNonNull(provider, "provider");
      Objects.requireNonNull(model, "model");
      Objects.requireNonNull(strategy, "strategy");
    }

    /** The call for one claimed file, in its session's strategy. */
    public static Request forFile(ClaimedFile file, long estimatedInputTokens) {
      return new Request(file.describe(), file.provider(), file.model(), estimatedInputTokens,
          Strategy.fromSqlName(file.processingStrategy()), file.id(), file.attempts());
    }
  }

  /** The request to Gemini, sent once the gate grants it. */
  @FunctionalInterface
  public interface Call<T> {
    T send() throws GeminiException;
  }

  /** What one gated call came to. */
  public sealed interface Decision<T>
      permits Answered, Deferred, DailyQuotaSpent, Failure {

    /** The call's permit, to {@link #end} once the outcome is written; null when no call was made. */
    CallPermit call();

    /** Whether this counts as an attempt: only what the work itself ran into does, never the quota or the key. */
    boolean spendsAttempt();
  }

  /** A call that was made and failed. */
  public sealed interface Failure<T> extends Decision<T> permits RateLimited, KeyRefused, Retryable, Permanent {
    GeminiException error();

    /** The tokens Google billed for it: a 200 whose answer was blocked, cut off or not the JSON asked for. */
    default Optional<Usage> billed() {
      return error().usage();
    }
  }

  /** Granted and answered; {@code usage} is null for an answer that reports none (batchEmbedContents). */
  public record Answered<T>(T answer, Usage usage, CallPermit call) implements Decision<T> {
    @Override
    public boolean spendsAttempt() {
      return true;
    }
  }

  /** The gate asked for a longer wait than is worth holding a thread: nothing was sent; try again after {@code delay}. */
  public record Deferred<T>(Duration delay, WaitReason reason, String message) implements Decision<T> {
    @Override
    public CallPermit call() {
      return null;
    }

    @Override
    public boolean spendsAttempt() {
      return false;
    }
  }

  /**
   * The model's daily quota is spent (the gate has it parked, or Gemini said so now and the gate
   * parks it for the fleet): wait {@code untilReset}; {@code message} says so to a person.
   * {@code call} is null when the gate said so before anything was sent.
   */
  public record DailyQuotaSpent<T>(Duration untilReset, String message, CallPermit call) implements Decision<T> {
    @Override
    public boolean spendsAttempt() {
      return false;
    }
  }

  /** A 429 for a per-minute quota, reported to the gate, which blocks the fleet for {@code delay}. */
  public record RateLimited<T>(GeminiException error, Duration delay, CallPermit call) implements Failure<T> {
    @Override
    public boolean spendsAttempt() {
      return false;
    }
  }

  /** Gemini refused the API key: nothing can succeed until a person sets a good one. */
  public record KeyRefused<T>(GeminiException error, CallPermit call) implements Failure<T> {
    @Override
    public boolean spendsAttempt() {
      return false;
    }
  }

  /** A failure the same request may get past after {@code delay}. */
  public record Retryable<T>(GeminiException error, Duration delay, CallPermit call) implements Failure<T> {
    @Override
    public boolean spendsAttempt() {
      return true;
    }
  }

  /** A failure the same request would meet again. */
  public record Permanent<T>(GeminiException error, CallPermit call) implements Failure<T> {
    @Override
    public boolean spendsAttempt() {
      return true;
    }
  }

  private static final DateTimeFormatter RESET_TIME =
      DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm 'UTC'", Locale.ROOT).withZone(ZoneOffset.UTC);

  private final QuotaGate gate;
  private final Backoff backoff;
  private final Duration maxWait;
  private final String work;
  private final Metrics metrics;
  private final Clock clock = Clock.systemUTC();

  /**
   * @param backoff retries and 429s without a server-given delay
   * @param maxWait the longest the gate's wait is held; a longer one is {@link Deferred}
   * @param work    what waits for a spent daily quota, as its message names it ("files", "embeddings")
   * @param metrics where the gate waits and the Gemini calls are measured (by model)
   */
  public GatedCall(QuotaGate gate, Backoff backoff, Duration maxWait, String work, Metrics metrics) {
    this.gate = Objects.requireNonNull(gate, "gate");
    this.backoff = Objects.requireNonNull(backoff, "backoff");
    this.maxWait = Objects.requireNonNull(maxWait, "maxWait");
    this.work = Objects.requireNonNull(work, "work");
    this.metrics = Objects.requireNonNull(metrics, "metrics");
  }

  /** As {@link #call(Request, Call, Function)}, for an answer that reports no token usage. */
  public <T> Decision<T> call(Request request, Call<T> send) throws InterruptedException {
    return call(request, send, answer -> null);
  }

  /**
   * Passes the gate and sends {@code send}, once.
   *
   * @param usageOf the answer's usage (its prompt tokens end the permit), or null if it has none
   * @throws InterruptedException when the worker stops while the gate or the database is waited
   *     for; the permit of a call already made is released, as no outcome will carry it
   */
  public <T> Decision<T> call(Request request, Call<T> send, Function<? super T, Usage> usageOf)
      throws InterruptedException {
    long askedAt = System.nanoTime();
    Admission admission = DatabaseOutage.waitOut(request.describe() + ": asking the quota gate",
        () -> gate.acquireWithin(request.provider(), request.model(), request.estimatedInputTokens(),
            request.strategy(), maxWait, request.fileId()));
    long waited = System.nanoTime() - askedAt;
    if (admission instanceof Admission.Wait wait) {
      metrics.gateWait(request.model(), waited);
      if (wait.reason() == WaitReason.DAILY_QUOTA_EXHAUSTED) {
        return new DailyQuotaSpent<>(wait.delay(),
            dailyQuotaMessage(request.model(), work, clock.instant(), wait.delay()), null);
      }
      return new Deferred<>(wait.delay(), wait.reason(), "waiting " + wait.delay().toSeconds() + " s for the "
          + request.model() + " quota (" + wait.reason().name().toLowerCase(Locale.ROOT) + ")");
    }
    Permit permit = ((Admission.Granted) admission).permit();
    long sentAt = System.nanoTime();
    T answer;
    try {
      answer = send.send();
    } catch (GeminiException e) {
      metrics.geminiCall(request.model(), e.error().errorType(), System.nanoTime() - sentAt);
      // Recorded after the call: nothing may delay a granted request (the first record loads classes),
      // or Gemini's window sees requests closer together than the gate spaced them.
      metrics.gateWait(request.model(), waited);
      // Google counted a billed failure's prompt: the gate's window gets the real count when the permit ends.
      CallPermit call = new CallPermit(permit, e.usage().map(Usage::promptTokens).orElse(null));
      try {
        return failure(request, e, call);
      } catch (InterruptedException | RuntimeException | Error t) {
        gate.releaseLater(permit); // no outcome will carry it
        throw t;
      }
    } catch (RuntimeException | Error e) {
      gate.releaseLater(permit);
      throw e;
    }
    metrics.geminiCall(request.model(), Metrics.OK, System.nanoTime() - sentAt);
    metrics.gateWait(request.model(), waited);
    Usage usage = usageOf.apply(answer);
    return new Answered<>(answer, usage, new CallPermit(permit, usage == null ? null : usage.promptTokens()));
  }

  private <T> Decision<T> failure(Request request, GeminiException e, CallPermit call) throws InterruptedException {
    switch (e.error()) {
      case RATE_LIMITED -> {
        Duration delay = e.retryDelay().orElseGet(() -> backoff.delay(request.attempt()));
        // The whole fleet waits, not just this work.
        DatabaseOutage.waitOut(request.describe() + ": reporting a 429 to the quota gate",
            () -> gate.rateLimited(request.provider(), request.model(), delay, e.quotaId().orElse(null)));
        return new RateLimited<>(e, delay, call);
      }
      case QUOTA_EXHAUSTED -> {
        OffsetDateTime reset = DatabaseOutage.waitOut(request.describe() + ": parking the model's daily quota",
            () -> gate.dailyQuotaExhausted(request.provider(), request.model()));
        Instant now = clock.instant();
        Duration untilReset = Duration.between(now, reset.toInstant());
        return new DailyQuotaSpent<>(untilReset.isNegative() ? Duration.ZERO : untilReset,
            dailyQuotaMessage(request.model(), work, now, untilReset), call);
      }
      case PERMISSION_DENIED -> {
        return new KeyRefused<>(e, call);
      }
      default -> {
        return e.retryable()
            ? new Retryable<>(e, e.retryDelay().orElseGet(() -> backoff.delay(request.attempt())), call)
            : new Permanent<>(e, call);
      }
    }
  }

  /**
   * Ends a call's permit once its outcome is written: with the answer's prompt tokens, which replace
   * the estimate in the gate's window, or without a count. Nothing for a decision that made no call.
   */
  public void end(CallPermit call) {
    if (call == null) {
      return;
    }
    if (call.actualInputTokens() == null) {
      gate.releaseLater(call.permit());
    } else {
      gate.finishLater(call.permit(), call.actualInputTokens());
    }
  }

  /**
   * Says when the quota comes back, as a time and as a wait: "… at midnight Pacific time
   * (2026-12-04 08:00 UTC, in 7 h 12 min) …".
   *
   * @param work what waits: "files", "embeddings"
   */
  static String dailyQuotaMessage(String model, String work, Instant now, Duration untilReset) {
    Duration wait = untilReset.isNegative() ? Duration.ZERO : untilReset;
    String at = RESET_TIME.format(now.plus(wait).plusSeconds(59).truncatedTo(ChronoUnit.MINUTES));
    return "the daily quota of " + model + " is spent; this session's " + work + " wait for its reset at midnight "
        + "Pacific time (" + at + ", in " + wait.toHours() + " h " + wait.toMinutesPart() + " min) and then continue "
        + "by themselves";
  }
}
