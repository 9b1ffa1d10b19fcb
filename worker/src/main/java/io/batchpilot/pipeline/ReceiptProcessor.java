package io.batchpilot.pipeline;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchpilot.files.DuplicateFinder;
import io.batchpilot.files.FileLocation;
import io.batchpilot.files.FileSource;
import io.batchpilot.files.FileUnavailableException;
import io.batchpilot.files.FileValidator;
import io.batchpilot.files.ImagePreprocessor;
import io.batchpilot.files.InvalidFileException;
import io.batchpilot.files.LoadedFile;
import io.batchpilot.files.ValidatedFile;
import io.batchpilot.gemini.BatchRequest;
import io.batchpilot.gemini.BatchResult;
import io.batchpilot.gemini.ExtractionResult;
import io.batchpilot.gemini.GeminiClient;
import io.batchpilot.gemini.GeminiError;
import io.batchpilot.gemini.GeminiException;
import io.batchpilot.gemini.LineItem;
import io.batchpilot.gemini.Receipt;
import io.batchpilot.gemini.ReceiptSchema;
import io.batchpilot.limiter.QuotaGate;
import io.batchpilot.metrics.Metrics;
import io.batchpilot.settings.Range;
import io.batchpilot.settings.Setting;
import io.batchpilot.store.DatabaseOutage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One receipt, from its bytes to an {@link Outcome}: load, validate (before spending quota), wait
 * for an identical file in flight, reuse an earlier result for the same content, preprocess,
 * estimate tokens, then one {@link GatedCall} (the quota gate, Gemini, and what the answer means).
 * Every failure becomes an outcome with its error_type; only the completer writes rows.
 */
public final class ReceiptProcessor implements FileProcessor {

  private static final Logger log = LoggerFactory.getLogger(ReceiptProcessor.class);
  private static final ObjectMapper JSON = new ObjectMapper();
  /** About one Gemini call: an identical file in flight has usually finished when this one comes back. */
  static final Duration IDENTICAL_FILE_WAIT = Duration.ofSeconds(5);

  /**
   * @param maxQuotaWait the longest a file waits for the gate while holding a thread; a longer wait
   *                     (a 429 block, a parked model) returns the file to the queue until then
   * @param backoff      retries without a server-given delay
   */
  public record Config(Duration maxQuotaWait, Backoff backoff) {
    public static final Setting<Duration> MAX_QUOTA_WAIT = Setting.duration("BATCHPILOT_MAX_QUOTA_WAIT", "20s",
        Range.atLeast(Duration.ZERO), "longest a file waits at the quota gate holding its thread; a longer wait puts "
            + "it back in the queue, due when the quota frees").formerly("BATCHPILOT_MAX_QUOTA_WAIT_MS");
    public static final List<Setting<?>> SETTINGS = List.of(MAX_QUOTA_WAIT);

    public static Config defaults() {
      return new Config(MAX_QUOTA_WAIT.defaultValue(), Backoff.defaults());
    }

    /** Reads {@link #MAX_QUOTA_WAIT}; the retry backoff is not a setting. */
    public static Config fromEnvironment(Map<String, String> env) {
      return new Config(MAX_QUOTA_WAIT.from(env), Backoff.defaults());
    }

    public Config {
      MAX_QUOTA_WAIT.check(maxQuotaWait);
      if (backoff == null) {
        throw new IllegalArgumentException("retry backoff settings are missing");
      }
    }
  }

  private final FileSource source;
  private final FileValidator validator;
  private final DuplicateFinder duplicates;
  private final ImagePreprocessor preprocessor;
  private final GeminiClient gemini;
  private final Config config;
  private final GatedCall calls;

  /** @param metrics where the gate waits and the Gemini calls are measured */
  public ReceiptProcessor(FileSource source, FileValidator validator, DuplicateFinder duplicates,
                          ImagePreprocessor preprocessor, QuotaGate gate, GeminiClient gemini, Config config,
                          Metrics metrics) {
    this.source = source;
    this.validator = validator;
    this.duplicates = duplicates;
    this.preprocessor = preprocessor;
    this.gemini = gemini;
    this.config = config;
    this.calls = new GatedCall(gate, config.backoff(), config.maxQuotaWait(), "files", metrics);
  }

  @Override
  public Outcome process(ClaimedFile file) throws InterruptedException {
    LoadedFile loaded;
    try {
      loaded = source.load(FileLocation.of(file.storageBucket(), file.storagePath(), file.sourceUrl()));
    } catch (FileUnavailableException e) {
      return e.retryable()
          ? Outcome.retry(file, e.errorType(), e.getMessage(), config.backoff().delay(file.attempts()), 0)
          : Outcome.failed(file, e.errorType(), e.getMessage(), 0);
    } catch (InvalidFileException e) {
      return Outcome.failed(file, e.errorType(), e.getMessage(), 0);
    }
    // The temporary copy is kept until the call is answered: a PDF is sent from it.
    try (loaded) {
      return process(file, loaded);
    }
  }

  private Outcome process(ClaimedFile file, LoadedFile loaded) throws InterruptedException {
    Prepared prepared = prepare(file, loaded);
    if (prepared instanceof Prepared.Done done) {
      return done.outcome();
    }
    Prepared.Ready ready = (Prepared.Ready) prepared;
    GatedCall.Decision<ExtractionResult> decision = calls.call(
        GatedCall.Request.forFile(file, ready.estimateInputTokens(gemini)),
        () -> ready.send(gemini, file.model()), ExtractionResult::usage);
    Outcome outcome = outcome(file, decision);
    // A deferral leaves the file as it was; anything later records the content for its duplicates.
    return decision instanceof GatedCall.Deferred ? outcome : outcome.withContentSha256(ready.sha256());
  }

  /** The file's outcome for what its call came to, carrying the call's permit. */
  private static Outcome outcome(ClaimedFile file, GatedCall.Decision<ExtractionResult> decision) {
    if (decision instanceof GatedCall.Answered<ExtractionResult> answered) {
      ObjectNode result = toJson(answered.answer());
      return Outcome.completed(file, result, result, answered.usage()).withCall(answered.call());
    }
    if (decision instanceof GatedCall.Deferred<ExtractionResult> deferred) {
      return Outcome.deferred(file, deferred.delay(), deferred.message());
    }
    if (decision instanceof GatedCall.DailyQuotaSpent<ExtractionResult> spent) {
      return Outcome.waitForQuota(file, spent.untilReset(), spent.message(), spent.call() == null ? 0 : 1)
          .withCall(spent.call());
    }
    GatedCall.Failure<ExtractionResult> failure = (GatedCall.Failure<ExtractionResult>) decision;
    GeminiException e = failure.error();
    String type = e.error().errorType();
    Outcome outcome;
    if (failure instanceof GatedCall.RateLimited<ExtractionResult> limited) {
      outcome = Outcome.rateLimited(file, type, e.getMessage(), limited.delay());
    } else if (failure instanceof GatedCall.KeyRefused) {
      outcome = Outcome.stopSession(file, type, "Gemini refused the API key (" + e.getMessage()
          + "): set GEMINI_API_KEY to a valid key with access to " + file.model()
          + ", restart the workers, then resume this session", 1);
    } else if (failure instanceof GatedCall.Retryable<ExtractionResult> retryable) {
      outcome = Outcome.retry(file, type, e.getMessage(), retryable.delay(), 1);
    } else {
      outcome = Outcome.failed(file, type, e.getMessage(), 1);
    }
    // A 200 with an unusable answer is billed: its tokens go on the file like a completion's.
    if (failure.billed().isPresent()) {
      outcome = outcome.withBilledUsage(failure.billed().get());
    }
    return outcome.withCall(failure.call());
  }

  /**
   * Ends the call's permit only now: had it ended first, a worker killed before the write would
   * lose the call from total_api_calls (the outcome never counts it, the permit no longer does).
   */
  @Override
  public void written(Outcome outcome) {
    calls.end(outcome.call());
  }

  /**
   * A file bound for a Batch Mode job: its outcome already (unavailable, invalid, a duplicate, an
   * identical file in flight), or its request, keyed by the file's id, with its estimated input tokens.
   */
  public sealed interface BatchPreparation {
    record Done(Outcome outcome) implements BatchPreparation {}

    record Request(ClaimedFile file, BatchRequest request, long estimatedInputTokens, byte[] sha256)
        implements BatchPreparation {}
  }

  /** Loads, validates and preprocesses a file as {@link #process} does, up to the request it would send. */
  public BatchPreparation prepareBatchRequest(ClaimedFile file) throws InterruptedException {
    LoadedFile loaded;
    try {
      loaded = source.load(FileLocation.of(file.storageBucket(), file.storagePath(), file.sourceUrl()));
    } catch (FileUnavailableException e) {
      return new BatchPreparation.Done(e.retryable()
          ? Outcome.retry(file, e.errorType(), e.getMessage(), config.backoff().delay(file.attempts()), 0)
          : Outcome.failed(file, e.errorType(), e.getMessage(), 0));
    } catch (InvalidFileException e) {
      return new BatchPreparation.Done(Outcome.failed(file, e.errorType(), e.getMessage(), 0));
    }
    try (loaded) {
      Prepared prepared = prepare(file, loaded);
      if (prepared instanceof Prepared.Done done) {
        return new BatchPreparation.Done(done.outcome());
      }
      Prepared.Ready ready = (Prepared.Ready) prepared;
      byte[] content = ready.preprocessed() != null ? ready.preprocessed() : Files.readAllBytes(ready.asUploaded());
      ObjectNode request;
      try {
        request = gemini.receiptRequest(content, ready.mimeType());
      } catch (GeminiException e) {
        return new BatchPreparation.Done(Outcome.failed(file, e.error().errorType(), e.getMessage(), 0)
            .withContentSha256(ready.sha256()));
      }
      return new BatchPreparation.Request(file, new BatchRequest(file.id().toString(), request),
          ready.estimateInputTokens(gemini), ready.sha256());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the temporary copy of " + file.describe(), e);
    }
  }

  /**
   * A Batch Mode job's result for one file, read as an interactive answer is: the extraction, or
   * the request's own failure (retried or failed as an interactive call's would be, its billed
   * tokens recorded). The job's quota is its own, so nothing is reported to the interactive gate.
   */
  public Outcome batchOutcome(ClaimedFile file, BatchResult result) throws InterruptedException {
    GeminiException failure = result.error();
    if (failure == null) {
      try {
        ExtractionResult extraction = gemini.readExtraction(file.model(), result.response());
        ObjectNode json = toJson(extraction);
        return Outcome.completed(file, json, json, extraction.usage());
      } catch (GeminiException e) {
        failure = e;
      }
    }
    Outcome failed = failure.retryable() || failure.error() == GeminiError.RATE_LIMITED
        || failure.error() == GeminiError.QUOTA_EXHAUSTED
        ? Outcome.retry(file, failure.error().errorType(), "in batch: " + failure.getMessage(),
            failure.retryDelay().orElse(config.backoff().delay(file.attempts())), 1)
        : Outcome.failed(file, failure.error().errorType(), "in batch: " + failure.getMessage(), 1);
    return failure.usage().isPresent() ? failed.withBilledUsage(failure.usage().get()) : failed;
  }

  /** The file's outcome already (unavailable, invalid, a duplicate), or what the API call needs. */
  private sealed interface Prepared {
    record Done(Outcome outcome) implements Prepared {}

    /**
     * What the call sends: the preprocessed image (small, in memory), or else the file as uploaded
     * (a PDF, an image Java cannot render), read from disk as the request goes out.
     */
    record Ready(byte[] sha256, String mimeType, byte[] preprocessed, Path asUploaded) implements Prepared {
      static Ready preprocessed(byte[] sha256, ImagePreprocessor.Result image) {
        return new Ready(sha256, image.mimeType(), image.bytes(), null);
      }

      static Ready asUploaded(ValidatedFile file) {
        return new Ready(file.sha256(), file.mimeType(), null, file.file());
      }

      long estimateInputTokens(GeminiClient gemini) {
        return preprocessed != null
            ? gemini.estimateInputTokens(preprocessed, mimeType, ReceiptSchema.PROMPT)
            : gemini.estimateInputTokens(asUploaded, mimeType, ReceiptSchema.PROMPT);
      }

      ExtractionResult send(GeminiClient gemini, String model) throws GeminiException {
        return preprocessed != null
            ? gemini.extractReceipt(model, preprocessed, mimeType)
            : gemini.extractReceipt(model, asUploaded, mimeType);
      }
    }
  }

  /**
   * Validates, reuses a duplicate's result, preprocesses. The validator's decoded pixels (a few MB:
   * subsampled to the size sent) are referenced only in here, so they are garbage by the API call.
   */
  private Prepared prepare(ClaimedFile file, LoadedFile loaded) throws InterruptedException {
    ValidatedFile valid;
    try {
      valid = validator.validate(file.originalFilename(), loaded.path(), file.fileType());
    } catch (InvalidFileException e) {
      return new Prepared.Done(Outcome.failed(file, e.errorType(), e.getMessage(), 0));
    }

    // Asked before a completed result, so an identical file that completes in between is found below.
    Optional<UUID> identicalInFlight = DatabaseOutage.waitOut(file.describe() + ": looking for identical files",
        () -> duplicates.inFlight(file.id(), valid.sha256()));
    if (identicalInFlight.isPresent()) {
      return new Prepared.Done(Outcome.deferred(file, IDENTICAL_FILE_WAIT, "waiting for file "
          + identicalInFlight.get() + ", the same content in flight, to reuse its result"));
    }
    Optional<DuplicateFinder.Duplicate> earlier = DatabaseOutage.waitOut(file.describe() + ": looking for an earlier result",
        () -> duplicates.find(file.id(), valid.sha256()));
    if (earlier.isPresent()) {
      JsonNode result = readJson(earlier.get().result().data());
      return new Prepared.Done(Outcome.duplicate(file, earlier.get().fileId(), result, result)
          .withContentSha256(valid.sha256()));
    }

    if (valid.isPdf()) {
      return Prepared.Ready.asUploaded(valid);
    }
    try {
      return Prepared.Ready.preprocessed(valid.sha256(), preprocessor.process(valid));
    } catch (IOException e) {
      // An image Java cannot render (a CMYK JPEG): Gemini reads it as uploaded.
      log.debug("{}: sent unprocessed: {}", file.describe(), e.getMessage());
      return Prepared.Ready.asUploaded(valid);
    }
  }

  /** The extraction as stored in the file's result and written into its receipt. */
  static ObjectNode toJson(ExtractionResult extraction) {
    Receipt r = extraction.receipt();
    ObjectNode n = JSON.createObjectNode();
    n.put("merchant", r.merchant());
    n.put("date", r.date() == null ? null : r.date().toString());
    n.put("currency", r.currency());
    n.put("subtotal", r.subtotal());
    n.put("tax", r.tax());
    n.put("total", r.total());
    ArrayNode items = n.putArray("line_items");
    for (LineItem item : r.lineItems()) {
      items.addObject()
          .put("description", item.description())
          .put("quantity", item.quantity())
          .put("unit_price", item.unitPrice())
          .put("amount", item.amount());
    }
    n.put("model_version", extraction.modelVersion());
    n.put("response_id", extraction.responseId());
    return n;
  }

  private static JsonNode readJson(String text) {
    try {
      return JSON.readTree(text);
    } catch (IOException e) {
      throw new IllegalStateException("an earlier file's result is not JSON: " + e.getMessage(), e);
    }
  }
}
