package io.batchpilot.embeddings;

import io.batchpilot.settings.Durations;
import io.batchpilot.limiter.Strategy;
import io.batchpilot.pipeline.Backoff;
import io.batchpilot.settings.WholeNumbers;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;

/**
 * Settings of the {@link EmbeddingBatcher}, checked when it is built; each is documented once in the
 * README (section "Embeddings") with its default and environment variable.
 *
 * @param model         BATCHPILOT_EMBEDDING_MODEL, default {@value #DEFAULT_MODEL}; needs a
 *                      {@code quota_limits} row (the gate refuses a model it has no limits for)
 * @param dimensions    BATCHPILOT_EMBEDDING_DIMENSIONS, default {@value #DEFAULT_DIMENSIONS}; sent as
 *                      outputDimensionality and must equal the column's (fixed at migration time)
 * @param batchSize     BATCHPILOT_EMBEDDING_BATCH_SIZE, default and most {@value #MAX_BATCH_SIZE}
 *                      (batchEmbedContents' limit): texts per request
 * @param batchTokens   BATCHPILOT_EMBEDDING_BATCH_TOKENS, default {@value #DEFAULT_BATCH_TOKENS}: the
 *                      most estimated input tokens per request, kept under the model's per-minute limit
 * @param linger        BATCHPILOT_EMBEDDING_LINGER, default 1s: how long a batch that is not
 *                      full waits for more texts once due ones are seen
 * @param pollInterval  BATCHPILOT_EMBEDDING_POLL_INTERVAL, default 250ms: how often due embeddings are looked for
 * @param lease         BATCHPILOT_EMBEDDING_LEASE, default 10m: how long a claim holds its
 *                      files; must outlast one batchEmbedContents call
 * @param maxAttempts   BATCHPILOT_EMBEDDING_MAX_ATTEMPTS, default {@value #DEFAULT_MAX_ATTEMPTS}:
 *                      attempts before a file's embedding is failed (quota waits do not count)
 * @param backoff       BATCHPILOT_EMBEDDING_BACKOFF_BASE (1s) and _CAP (5m): exponential
 *                      with full jitter between attempts
 * @param strategy      BATCHPILOT_EMBEDDING_STRATEGY, default adaptive: the share of the embedding
 *                      model's quota the batches may use
 */
public record EmbeddingConfig(
    String model,
    int dimensions,
    int batchSize,
    long batchTokens,
    Duration linger,
    Duration pollInterval,
    Duration lease,
    int maxAttempts,
    Backoff backoff,
    Strategy strategy) {

  public static final String PROVIDER = "gemini";
  public static final String DEFAULT_MODEL = "gemini-embedding-001";
  public static final int DEFAULT_DIMENSIONS = 768;
  public static final int MAX_BATCH_SIZE = 100;
  public static final long DEFAULT_BATCH_TOKENS = 20_000;
  public static final Duration DEFAULT_LINGER = Duration.ofSeconds(1);
  public static final Duration DEFAULT_POLL_INTERVAL = Duration.ofMillis(250);
  // Longer than a Gemini call may take (GEMINI_CALL_TIMEOUT, default 300s).
  public static final Duration DEFAULT_LEASE = Duration.ofMinutes(10);
  public static final int DEFAULT_MAX_ATTEMPTS = 5;

  public EmbeddingConfig {
    if (model == null || !model.matches("[a-z0-9][a-z0-9.-]*")) {
      throw new IllegalArgumentException("BATCHPILOT_EMBEDDING_MODEL '" + model
          + "' is not a model id: use lower-case letters, digits, '.' and '-', e.g. " + DEFAULT_MODEL);
    }
    if (dimensions < 1 || dimensions > 3072) {
      throw new IllegalArgumentException("BATCHPILOT_EMBEDDING_DIMENSIONS must be between 1 and 3072 ("
          + DEFAULT_MODEL + " answers 128 to 3072; 768 is recommended), was " + dimensions);
    }
    if (batchSize < 1 || batchSize > MAX_BATCH_SIZE) {
      throw new IllegalArgumentException("BATCHPILOT_EMBEDDING_BATCH_SIZE must be between 1 and " + MAX_BATCH_SIZE
          + " (batchEmbedContents takes at most " + MAX_BATCH_SIZE + " texts), was " + batchSize);
    }
    if (batchTokens < 1) {
      throw new IllegalArgumentException("BATCHPILOT_EMBEDDING_BATCH_TOKENS must be at least 1, was " + batchTokens);
    }
    notNegative("BATCHPILOT_EMBEDDING_LINGER", linger);
    positive("BATCHPILOT_EMBEDDING_POLL_INTERVAL", pollInterval);
    positive("BATCHPILOT_EMBEDDING_LEASE", lease);
    if (maxAttempts < 1 || maxAttempts > 100) {
      throw new IllegalArgumentException("BATCHPILOT_EMBEDDING_MAX_ATTEMPTS must be between 1 and 100, was " + maxAttempts);
    }
    Objects.requireNonNull(backoff, "BATCHPILOT_EMBEDDING_BACKOFF_BASE/_CAP");
    Objects.requireNonNull(strategy, "BATCHPILOT_EMBEDDING_STRATEGY");
  }

  public static EmbeddingConfig defaults() {
    return new EmbeddingConfig(DEFAULT_MODEL, DEFAULT_DIMENSIONS, MAX_BATCH_SIZE, DEFAULT_BATCH_TOKENS,
        DEFAULT_LINGER, DEFAULT_POLL_INTERVAL, DEFAULT_LEASE, DEFAULT_MAX_ATTEMPTS, Backoff.defaults(),
        Strategy.ADAPTIVE);
  }

  /** Reads the settings named in the class comment; unset ones take their defaults. */
  public static EmbeddingConfig fromEnvironment(Map<String, String> env) {
    EmbeddingConfig d = defaults();
    return new EmbeddingConfig(
        env.getOrDefault("BATCHPILOT_EMBEDDING_MODEL", d.model()),
        WholeNumbers.intFromEnvironment(env, "BATCHPILOT_EMBEDDING_DIMENSIONS", d.dimensions()),
        WholeNumbers.intFromEnvironment(env, "BATCHPILOT_EMBEDDING_BATCH_SIZE", d.batchSize()),
        WholeNumbers.fromEnvironment(env, "BATCHPILOT_EMBEDDING_BATCH_TOKENS", d.batchTokens()),
        Durations.fromEnvironment(env, "BATCHPILOT_EMBEDDING_LINGER", d.linger()),
        Durations.fromEnvironment(env, "BATCHPILOT_EMBEDDING_POLL_INTERVAL", d.pollInterval()),
        Durations.fromEnvironment(env, "BATCHPILOT_EMBEDDING_LEASE", d.lease()),
        WholeNumbers.intFromEnvironment(env, "BATCHPILOT_EMBEDDING_MAX_ATTEMPTS", d.maxAttempts()),
        new Backoff(
            Durations.fromEnvironment(env, "BATCHPILOT_EMBEDDING_BACKOFF_BASE", d.backoff().base()),
            Durations.fromEnvironment(env, "BATCHPILOT_EMBEDDING_BACKOFF_CAP", d.backoff().cap())),
        strategy(env, d.strategy()));
  }

  private static Strategy strategy(Map<String, String> env, Strategy fallback) {
    String value = env.get("BATCHPILOT_EMBEDDING_STRATEGY");
    if (value == null || value.isBlank()) {
      return fallback;
    }
    try {
      return Strategy.fromSqlName(value.strip());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("BATCHPILOT_EMBEDDING_STRATEGY: " + e.getMessage(), e);
    }
  }

  public EmbeddingConfig withLinger(Duration value) {
    return new EmbeddingConfig(model, dimensions, batchSize, batchTokens, value, pollInterval, lease, maxAttempts,
        backoff, strategy);
  }

  public EmbeddingConfig withDimensions(int value) {
    return new EmbeddingConfig(model, value, batchSize, batchTokens, linger, pollInterval, lease, maxAttempts,
        backoff, strategy);
  }

  public EmbeddingConfig withBackoff(Backoff value) {
    return new EmbeddingConfig(model, dimensions, batchSize, batchTokens, linger, pollInterval, lease, maxAttempts,
        value, strategy);
  }

  public EmbeddingConfig withMaxAttempts(int value) {
    return new EmbeddingConfig(model, dimensions, batchSize, batchTokens, linger, pollInterval, lease, value,
        backoff, strategy);
  }

  private static void positive(String name, Duration value) {
    if (value == null || value.isNegative() || value.isZero()) {
      throw new IllegalArgumentException(name + " must be positive, was " + value);
    }
  }

  private static void notNegative(String name, Duration value) {
    if (value == null || value.isNegative()) {
      throw new IllegalArgumentException(name + " must be zero or more, was " + value);
    }
  }
}
