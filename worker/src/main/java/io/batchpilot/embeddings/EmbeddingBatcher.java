package io.batchpilot.embeddings;

import io.batchpilot.gemini.EmbeddingOptions;
import io.batchpilot.gemini.GeminiClient;
import io.batchpilot.gemini.GeminiError;
import io.batchpilot.gemini.GeminiException;
import io.batchpilot.gemini.TokenCounter;
import io.batchpilot.limiter.QuotaGate;
import io.batchpilot.metrics.Metrics;
import io.batchpilot.pipeline.GatedCall;
import io.batchpilot.settings.Durations;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Embeds extracted receipts in batches across files: up to {@link EmbeddingConfig#batchSize()} texts
 * per batchEmbedContents call, sent as soon as a batch is full, or once due embeddings have waited
 * {@link EmbeddingConfig#linger()} for company. The rows are the source of truth (claimed with SKIP
 * LOCKED under a lease, outcomes fenced by the claim), so a crash loses nothing and two workers never
 * embed the same file at once. A batch is one {@link GatedCall}: one request and all its tokens, under
 * the rules every Gemini call follows.
 *
 * <p>{@link #runOnce()} does one round and returns what it did, so tests drive it with an injected
 * {@link Clock} instead of sleeping; {@link #start()} runs it every poll interval.
 */
public final class EmbeddingBatcher implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(EmbeddingBatcher.class);
  static final String TASK_TYPE = EmbeddingOptions.TaskType.RETRIEVAL_DOCUMENT.name();

  /** What one {@link #runOnce()} did: requests sent and how the claimed embeddings ended. */
  public record RunResult(int requests, int embedded, int retried, int failed, int postponed) {
    RunResult plus(RunResult o) {
      return new RunResult(requests + o.requests, embedded + o.embedded, retried + o.retried, failed + o.failed,
          postponed + o.postponed);
    }
  }

  private final EmbeddingConfig config;
  private final EmbeddingQueue queue;
  private final GeminiClient gemini;
  private final String workerId;
  private final Clock clock;
  private final GatedCall calls;
  private final EmbeddingOptions options;
  private final Object roundLock = new Object();
  private ScheduledExecutorService timer;
  // When this worker first saw due embeddings that did not fill a batch; local, as a linger is.
  private Instant lingerStartedAt;

  /**
   * @param metrics where each batchEmbedContents call and its wait at the gate are measured (model = the
   *     embedding model)
   * @throws IllegalStateException when the configured dimensionality differs from the one the
   *     schema was migrated with
   */
  public EmbeddingBatcher(EmbeddingConfig config, DataSource dataSource, GeminiClient gemini, QuotaGate gate,
      String workerId, Clock clock, Metrics metrics) {
    this.config = config;
    this.queue = new EmbeddingQueue(dataSource);
    this.gemini = gemini;
    this.workerId = workerId;
    this.clock = clock;
    // A batch never holds its thread at the gate: a wait puts its rows back, due when the quota frees.
    this.calls = new GatedCall(gate, config.backoff(), Duration.ZERO, "embeddings", metrics);
    this.options = new EmbeddingOptions(EmbeddingOptions.TaskType.RETRIEVAL_DOCUMENT, config.dimensions());
    int migrated = queue.columnDimensions();
    if (migrated != config.dimensions()) {
      throw new IllegalStateException("BATCHPILOT_EMBEDDING_DIMENSIONS is " + config.dimensions()
          + " but receipt_embeddings was migrated for " + migrated + "-dimensional vectors: set "
          + "BATCHPILOT_EMBEDDING_DIMENSIONS=" + migrated + ", or migrate a new database with "
          + "batchpilot.embedding_dimensions set (docs/embeddings.md)");
    }
  }

  /** Runs {@link #runOnce()} every poll interval on a thread of its own. */
  public synchronized void start() {
    if (timer != null) {
      return;
    }
    timer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "batchpilot-embeddings-" + workerId);
      t.setDaemon(true);
      return t;
    });
    timer.scheduleWithFixedDelay(this::runLogged, 0, config.pollInterval().toMillis(), TimeUnit.MILLISECONDS);
  }

  /**
   * Sends every full batch that is due, then the partial one if its linger has passed, and records
   * each outcome. Stops early when the quota gate says wait (the rows wait in the database).
   */
  public RunResult runOnce() {
    synchronized (roundLock) {
      RunResult total = new RunResult(0, 0, 0, 0, 0);
      while (true) {
        Instant now = clock.instant();
        boolean lingerOver = lingerStartedAt != null && !now.isBefore(lingerStartedAt.plus(config.linger()));
        List<ClaimedEmbedding> claimed =
            queue.claim(workerId, config.batchSize(), lingerOver ? 1 : config.batchSize(), config.lease());
        if (claimed.isEmpty()) {
          if (lingerOver || !queue.anyDue()) {
            lingerStartedAt = null;
            return total;
          }
          if (lingerStartedAt == null) {
            lingerStartedAt = now;
          }
          if (!config.linger().isZero()) {
            return total;
          }
          continue;
        }
        if (lingerOver) {
          lingerStartedAt = null;
        }
        Round round;
        try {
          round = send(claimed);
        } catch (InterruptedException e) {
          // Stopping while the database is waited for: the claimed rows come back when their lease ends.
          Thread.currentThread().interrupt();
          return total;
        }
        total = total.plus(round.result());
        if (round.quotaWait()) {
          return total;
        }
      }
    }
  }

  /** One claimed batch's result; quotaWait when the gate or the server said to hold off. */
  private record Round(RunResult result, boolean quotaWait) {}

  private Round send(List<ClaimedEmbedding> claimed) throws InterruptedException {
    List<EmbeddingOutcome> outcomes = new ArrayList<>(claimed.size());
    List<ClaimedEmbedding> batch = new ArrayList<>(claimed.size());
    List<String> texts = new ArrayList<>(claimed.size());
    long tokens = 0;
    for (ClaimedEmbedding c : claimed) {
      if (c.attempts() > config.maxAttempts()) {
        outcomes.add(EmbeddingOutcome.failed(c, "lease_expired", "gave up after " + (c.attempts() - 1)
            + " attempts: the workers embedding file " + c.fileId() + " stopped before finishing"));
        continue;
      }
      String text;
      try {
        text = ReceiptText.render(ReceiptResult.read(c.result()));
      } catch (IllegalArgumentException e) {
        outcomes.add(EmbeddingOutcome.failed(c, "invalid_result", "file " + c.fileId()
            + "'s extraction result cannot be embedded (" + e.getMessage() + "): extract the file again"));
        continue;
      }
      long textTokens = TokenCounter.DEFAULT.textTokens(text);
      if (!batch.isEmpty() && tokens + textTokens > config.batchTokens()) {
        // Over BATCHPILOT_EMBEDDING_BATCH_TOKENS: the next batch takes it, no attempt spent.
        outcomes.add(EmbeddingOutcome.postpone(c, Duration.ZERO));
        continue;
      }
      batch.add(c);
      texts.add(text);
      tokens += textTokens;
    }
    int requests = 0;
    boolean quotaWait = false;
    if (!batch.isEmpty()) {
      int attempt = batch.stream().mapToInt(ClaimedEmbedding::attempts).max().getAsInt();
      GatedCall.Decision<List<float[]>> decision = calls.call(
          new GatedCall.Request("embedding " + batch.size() + " files with " + config.model(), EmbeddingConfig.PROVIDER,
              config.model(), tokens, config.strategy(), null, attempt),
          () -> gemini.embedBatch(config.model(), texts, options));
      requests = decision.call() == null ? 0 : 1;
      // The quota or the key turned the batch away: this round ends, the rows wait in the database.
      quotaWait = !decision.spendsAttempt();
      outcomes.addAll(outcomes(batch, texts, decision));
      try {
        queue.record(outcomes);
      } finally {
        // batchEmbedContents reports no usage: the estimate stands. The permit counts no session's
        // call, so one whose outcome could not be written is ended all the same.
        calls.end(decision.call());
      }
    } else {
      queue.record(outcomes);
    }
    int embedded = 0;
    int retried = 0;
    int failed = 0;
    int postponed = 0;
    for (EmbeddingOutcome o : outcomes) {
      switch (o.status()) {
        case "completed" -> embedded++;
        case "failed" -> failed++;
        default -> {
          if (o.countsAttempt()) {
            retried++;
          } else {
            postponed++;
          }
        }
      }
    }
    return new Round(new RunResult(requests, embedded, retried, failed, postponed), quotaWait);
  }

  /** Each embedding's outcome for what the batch's call came to. */
  private List<EmbeddingOutcome> outcomes(List<ClaimedEmbedding> batch, List<String> texts,
                                          GatedCall.Decision<List<float[]>> decision) {
    List<EmbeddingOutcome> outcomes = new ArrayList<>(batch.size());
    if (decision instanceof GatedCall.Answered<List<float[]>> answered) {
      List<float[]> vectors = answered.answer();
      for (int i = 0; i < batch.size(); i++) {
        outcomes.add(EmbeddingOutcome.completed(batch.get(i), config.model(), TASK_TYPE, texts.get(i), vectors.get(i)));
      }
      return outcomes;
    }
    for (ClaimedEmbedding c : batch) {
      outcomes.add(outcome(c, decision));
    }
    return outcomes;
  }

  private EmbeddingOutcome outcome(ClaimedEmbedding c, GatedCall.Decision<List<float[]>> decision) {
    if (decision instanceof GatedCall.Deferred<List<float[]>> deferred) {
      return EmbeddingOutcome.postpone(c, deferred.delay());
    }
    if (decision instanceof GatedCall.DailyQuotaSpent<List<float[]>> spent) {
      return EmbeddingOutcome.postpone(c, spent.untilReset(), GeminiError.QUOTA_EXHAUSTED.errorType(), spent.message());
    }
    GatedCall.Failure<List<float[]>> failure = (GatedCall.Failure<List<float[]>>) decision;
    GeminiException e = failure.error();
    String type = e.error().errorType();
    if (failure instanceof GatedCall.KeyRefused) {
      // No session to stop from here: the embedding waits, spending no attempt, and asks again now and then.
      Duration again = config.backoff().cap();
      return EmbeddingOutcome.postpone(c, again, type, "Gemini refused the API key (" + e.getMessage()
          + "): set GEMINI_API_KEY to a valid key with access to " + config.model() + " and restart the workers; "
          + "file " + c.fileId() + "'s embedding is tried again every " + Durations.format(again) + " until then");
    }
    String what = "embedding file " + c.fileId() + " with " + config.model() + " failed (" + type + "): " + e.getMessage();
    if (failure instanceof GatedCall.RateLimited<List<float[]>> limited) {
      return EmbeddingOutcome.postpone(c, limited.delay(), type, what);
    }
    if (failure instanceof GatedCall.Retryable<List<float[]>> retryable && c.attempts() < config.maxAttempts()) {
      return EmbeddingOutcome.retry(c, retryable.delay(), type, what + "; attempt " + c.attempts() + " of "
          + config.maxAttempts() + ", retried in " + retryable.delay().toMillis() + " ms");
    }
    return EmbeddingOutcome.failed(c, type, what + (failure instanceof GatedCall.Retryable
        ? "; gave up after " + c.attempts() + " attempts (BATCHPILOT_EMBEDDING_MAX_ATTEMPTS)" : ""));
  }

  private void runLogged() {
    try {
      RunResult result = runOnce();
      if (result.requests() > 0 || result.failed() > 0) {
        log.debug("embeddings: {}", result);
      }
    } catch (RuntimeException e) {
      // The claimed rows come back when their lease ends; the next poll tries again.
      log.warn("embedding round failed for worker {}: {}", workerId, e.toString(), e);
    }
  }

  @Override
  public synchronized void close() {
    if (timer != null) {
      timer.shutdownNow();
      try {
        timer.awaitTermination(10, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      timer = null;
    }
  }
}
