package io.batchpilot.embeddings;

import io.batchpilot.limiter.Strategy;
import io.batchpilot.pipeline.Backoff;
import io.batchpilot.settings.Kind;
import io.batchpilot.settings.Range;
import io.batchpilot.settings.Setting;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Settings of the {@link EmbeddingBatcher}, checked when it is built; each is declared below, once,
 * with its environment variable, default, range and text.
 *
 * @param model         needs a {@code quota_limits} row (the gate refuses a model it has no limits for)
 * @param dimensions    sent as outputDimensionality and must equal the column's (fixed at migration time)
 * @param batchSize     texts per request, at most batchEmbedContents' limit
 * @param batchTokens   the most estimated input tokens per request, kept under the model's per-minute limit
 * @param linger        how long a batch that is not full waits for more texts once due ones are seen
 * @param pollInterval  how often due embeddings are looked for
 * @param lease         how long a claim holds its files; must outlast one batchEmbedContents call
 * @param maxAttempts   attempts before a file's embedding is failed (quota waits do not count)
 * @param backoff       exponential with full jitter between attempts
 * @param strategy      the share of the embedding model's quota the batches may use
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
  /** batchEmbedContents takes at most this many texts. */
  public static final int MAX_BATCH_SIZE = 100;

  public static final Setting<String> MODEL = Setting.of("BATCHPILOT_EMBEDDING_MODEL",
      Kind.text("a model id (lower-case letters, digits, '.' and '-')"), "gemini-embedding-001",
      "the embedding model; needs a `quota_limits` row");
  public static final Setting<Integer> DIMENSIONS = Setting.integer("BATCHPILOT_EMBEDDING_DIMENSIONS", 768,
      Range.between(1, 3072), "`outputDimensionality`; must match the migrated column (gemini-embedding-001 answers "
          + "128 to 3072)");
  public static final Setting<Integer> BATCH_SIZE = Setting.integer("BATCHPILOT_EMBEDDING_BATCH_SIZE", MAX_BATCH_SIZE,
      Range.between(1, MAX_BATCH_SIZE), "texts per request (batchEmbedContents takes at most 100)");
  public static final Setting<Long> BATCH_TOKENS = Setting.wholeNumber("BATCHPILOT_EMBEDDING_BATCH_TOKENS", 20_000L,
      Range.atLeast(1L), "most estimated input tokens per request");
  public static final Setting<Duration> LINGER = Setting.duration("BATCHPILOT_EMBEDDING_LINGER", "1s",
      Range.atLeast(Duration.ZERO), "how long a partial batch waits for more texts")
      .formerly("BATCHPILOT_EMBEDDING_LINGER_MS");
  public static final Setting<Duration> POLL_INTERVAL = Setting.duration("BATCHPILOT_EMBEDDING_POLL_INTERVAL", "250ms",
      Range.above(Duration.ZERO), "how often due embeddings are looked for").formerly("BATCHPILOT_EMBEDDING_POLL_MS");
  /** Longer than a Gemini call may take ({@link io.batchpilot.gemini.GeminiConfig#CALL_TIMEOUT}, 300s). */
  public static final Setting<Duration> LEASE = Setting.duration("BATCHPILOT_EMBEDDING_LEASE", "10m",
      Range.above(Duration.ZERO), "how long a claim holds its files (longer than a Gemini call's timeout)")
      .formerly("BATCHPILOT_EMBEDDING_LEASE_SECONDS");
  public static final Setting<Integer> MAX_ATTEMPTS = Setting.integer("BATCHPILOT_EMBEDDING_MAX_ATTEMPTS", 5,
      Range.between(1, 100), "attempts before a file's embedding is `failed` (quota waits do not count)");
  public static final Setting<Duration> BACKOFF_BASE = Setting.duration("BATCHPILOT_EMBEDDING_BACKOFF_BASE", "1s",
      Range.above(Duration.ZERO), "the first backoff between attempts; it doubles up to the cap, with full jitter")
      .formerly("BATCHPILOT_EMBEDDING_BACKOFF_BASE_MS");
  public static final Setting<Duration> BACKOFF_CAP = Setting.duration("BATCHPILOT_EMBEDDING_BACKOFF_CAP", "5m",
      Range.above(Duration.ZERO), "the longest backoff between attempts, and how often embeddings refused for the API key are tried again; at least the base")
      .formerly("BATCHPILOT_EMBEDDING_BACKOFF_CAP_MS");
  public static final Setting<Strategy> STRATEGY = Setting.of("BATCHPILOT_EMBEDDING_STRATEGY",
      Kind.oneOf(Strategy::sqlName, Strategy.values()), Strategy.ADAPTIVE,
      "share of the embedding model's quota the batches may use");
  public static final List<Setting<?>> SETTINGS = List.of(MODEL, DIMENSIONS, BATCH_SIZE, BATCH_TOKENS, LINGER,
      POLL_INTERVAL, LEASE, MAX_ATTEMPTS, BACKOFF_BASE, BACKOFF_CAP, STRATEGY);

  public EmbeddingConfig {
    if (model == null || !model.matches("[a-z0-9][a-z0-9.-]*")) {
      throw new IllegalArgumentException(MODEL.name() + " '" + model
          + "' is not a model id: use lower-case letters, digits, '.' and '-', e.g. " + MODEL.defaultValue());
    }
    DIMENSIONS.check(dimensions);
    BATCH_SIZE.check(batchSize);
    BATCH_TOKENS.check(batchTokens);
    LINGER.check(linger);
    POLL_INTERVAL.check(pollInterval);
    LEASE.check(lease);
    MAX_ATTEMPTS.check(maxAttempts);
    Objects.requireNonNull(backoff, "backoff");
    STRATEGY.check(strategy);
  }

  public static EmbeddingConfig defaults() {
    return new EmbeddingConfig(MODEL.defaultValue(), DIMENSIONS.defaultValue(), BATCH_SIZE.defaultValue(),
        BATCH_TOKENS.defaultValue(), LINGER.defaultValue(), POLL_INTERVAL.defaultValue(), LEASE.defaultValue(),
        MAX_ATTEMPTS.defaultValue(), new Backoff(BACKOFF_BASE.defaultValue(), BACKOFF_CAP.defaultValue()),
        STRATEGY.defaultValue());
  }

  /** Reads the settings declared above; unset ones take their defaults. */
  public static EmbeddingConfig fromEnvironment(Map<String, String> env) {
    Duration base = BACKOFF_BASE.from(env);
    Duration cap = BACKOFF_CAP.from(env);
    if (cap.compareTo(base) < 0) {
      throw new IllegalArgumentException(BACKOFF_CAP.name() + " (" + cap + ") must be at least " + BACKOFF_BASE.name()
          + " (" + base + ")");
    }
    return new EmbeddingConfig(MODEL.from(env), DIMENSIONS.from(env), BATCH_SIZE.from(env), BATCH_TOKENS.from(env),
        LINGER.from(env), POLL_INTERVAL.from(env), LEASE.from(env), MAX_ATTEMPTS.from(env), new Backoff(base, cap),
        STRATEGY.from(env));
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
}
