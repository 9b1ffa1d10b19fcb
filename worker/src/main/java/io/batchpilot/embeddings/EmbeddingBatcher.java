package io.batchpilot.embeddings;

import io.batchpilot.gemini.EmbeddingOptions;
import io.batchpilot.gemini.GeminiClient;
import io.batchpilot.gemini.GeminiError;
import io.batchpilot.gemini.GeminiException;
import io.batchpilot.gemini.TokenCounter;
import io.batchpilot.limiter.Admission;
import io.batchpilot.limiter.Permit;
import io.batchpilot.limiter.QuotaGate;
import io.batchpilot.metrics.Metrics;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
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
 * embed the same file at once. A batch is one quota acquisition: one request and all its tokens.
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
  private final QuotaGate gate;
  private final String workerId;
  private final Clock clock;
  private final Metrics metrics;
  private final EmbeddingOptions options;
  private final Object roundLock = new Object();
  private ScheduledExecutorService timer;
  // When this worker first saw due embeddings that did not fill a batch; local, as a linger is.
  private Instant lingerStartedAt;

  /**
   * @param metrics where each batchEmbedContents call is measured (model = the embedding model)
   * @throws IllegalStateException when the configured dimensionality differs from the one the
   *     schema was migrated with
   */
  public EmbeddingBatcher(EmbeddingConfig config, DataSource dataSource, GeminiClient gemini, QuotaGate gate,
      String workerId, Clock clock, Metrics metrics) {
    this.config = config;
    this.queue = new EmbeddingQueue(dataSource);
    this.gemini = gemini;
    this.gate = gate;
    this.workerId = workerId;
    this.clock = clock;
    this.metrics = metrics;
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
        Round round = send(claimed);
        total = total.plus(round.result());
        if (round.quotaWait()) {
          return total;
        }
      }
    }
  }

  /** One claimed batch's result; quotaWait when the gate or the server said to hold off. */
  private record Round(RunResult result, boolean quotaWait) {}

  private Round send(List<ClaimedEmbedding> claimed) {
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
    if (!batch.isEmpty()) {
      Admission admission = gate.acquire(EmbeddingConfig.PROVIDER, config.model(), tokens, config.strategy());
      if (admission instanceof Admission.Wait wait) {
        batch.forEach(c -> outcomes.add(EmbeddingOutcome.postpone(c, wait.delay())));
      } else {
        requests = 1;
        outcomes.addAll(embed(((Admission.Granted) admission).permit(), batch, texts));
      }
    }
    queue.record(outcomes);
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
    // Texts left over for the token budget go in the next round; a quota wait ends this one.
    Set<UUID> sent = new HashSet<>();
    batch.forEach(c -> sent.add(c.fileId()));
    boolean quotaWait = outcomes.stream().anyMatch(o -> !o.countsAttempt() && sent.contains(o.fileId()));
    return new Round(new RunResult(requests, embedded, retried, failed, postponed), quotaWait);
  }

  private List<EmbeddingOutcome> embed(Permit permit, List<ClaimedEmbedding> batch, List<String> texts) {
    List<EmbeddingOutcome> outcomes = new ArrayList<>(batch.size());
    long sentAt = System.nanoTime();
    try {
      List<float[]> vectors = gemini.embedBatch(config.model(), texts, options);
      metrics.geminiCall(config.model(), Metrics.OK, System.nanoTime() - sentAt);
      for (int i = 0; i < batch.size(); i++) {
        outcomes.add(EmbeddingOutcome.completed(batch.get(i), config.model(), TASK_TYPE, texts.get(i), vectors.get(i)));
      }
    } catch (GeminiException e) {
      metrics.geminiCall(config.model(), e.error().errorType(), System.nanoTime() - sentAt);
      Duration quotaWait = reportQuota(e);
      for (ClaimedEmbedding c : batch) {
        outcomes.add(quotaWait != null ? EmbeddingOutcome.postpone(c, quotaWait) : afterFailure(c, e));
      }
    } finally {
      // batchEmbedContents reports no token usage: the estimate stands as the reconciled count.
      gate.release(permit);
    }
    return outcomes;
  }

  /**
   * A 429 is the quota's doing, not the texts': tells the gate once for the batch (which blocks or
   * parks the fleet) and returns how long the batch waits, spending no attempt; null otherwise.
   */
  private Duration reportQuota(GeminiException e) {
    if (e.error() == GeminiError.RATE_LIMITED) {
      Duration delay = e.retryDelay().orElse(config.backoff().base());
      gate.rateLimited(EmbeddingConfig.PROVIDER, config.model(), delay, e.quotaId().orElse(null));
      return delay;
    }
    if (e.error() == GeminiError.QUOTA_EXHAUSTED) {
      // Parked until the daily reset; the next claim's acquire answers how long that is.
      gate.dailyQuotaExhausted(EmbeddingConfig.PROVIDER, config.model());
      return Duration.ZERO;
    }
    return null;
  }

  private EmbeddingOutcome afterFailure(ClaimedEmbedding c, GeminiException e) {
    GeminiError error = e.error();
    String what = "embedding file " + c.fileId() + " with " + config.model() + " failed (" + error.errorType() + "): "
        + e.getMessage();
    if (!error.retryable() || c.attempts() >= config.maxAttempts()) {
      return EmbeddingOutcome.failed(c, error.errorType(), what + (error.retryable()
          ? "; gave up after " + c.attempts() + " attempts (BATCHPILOT_EMBEDDING_MAX_ATTEMPTS)" : ""));
    }
    Duration delay = config.backoff().delay(c.attempts());
    if (e.retryDelay().isPresent() && e.retryDelay().get().compareTo(delay) > 0) {
      delay = e.retryDelay().get();
    }
    return EmbeddingOutcome.retry(c, delay, error.errorType(),
        what + "; attempt " + c.attempts() + " of " + config.maxAttempts() + ", retried in " + delay.toMillis() + " ms");
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
