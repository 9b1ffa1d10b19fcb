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
import io.batchpilot.limiter.Admission;
import io.batchpilot.limiter.Permit;
import io.batchpilot.limiter.QuotaGate;
import io.batchpilot.limiter.Strategy;
import io.batchpilot.limiter.WaitReason;
import io.batchpilot.metrics.Metrics;
import io.batchpilot.settings.Range;
import io.batchpilot.settings.Setting;
import io.batchpilot.store.DatabaseOutage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One receipt, from its bytes to an {@link Outcome}: load, validate (before spending quota), wait
 * for an identical file in flight, reuse an earlier result for the same content, preprocess,
 * estimate tokens, pass the quota gate, call Gemini, reconcile the tokens. Every failure becomes an outcome with its error_type; only the
 * completer writes rows.
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
  private final QuotaGate gate;
  private final GeminiClient gemini;
  private final Config config;
  private final Metrics metrics;

  /** @param metrics where the gate waits and the Gemini calls are measured */
  public ReceiptProcessor(FileSource source, FileValidator validator, DuplicateFinder duplicates,
                          ImagePreprocessor preprocessor, QuotaGate gate, GeminiClient gemini, Config config,
                          Metrics metrics) {
    this.source = source;
    this.validator = validator;
    this.duplicates = duplicates;
    this.preprocessor = preprocessor;
    this.gate = gate;
    this.gemini = gemini;
    this.config = config;
    this.metrics = metrics;
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
    long estimate = ready.estimateInputTokens(gemini);

    long askedAt = System.nanoTime();
    // A database outage is waited out here, holding the file: no attempt is spent on it.
    Admission admission = DatabaseOutage.waitOut(file.describe() + ": asking the quota gate",
        () -> gate.acquireWithin(file.provider(), file.model(), estimate,
            Strategy.fromSqlName(file.processingStrategy()), config.maxQuotaWait(), file.id()));
    long waited = System.nanoTime() - askedAt;
    if (admission instanceof Admission.Wait wait) {
      metrics.gateWait(file.model(), waited);
      if (wait.reason() == WaitReason.DAILY_QUOTA_EXHAUSTED) {
        return Outcome.waitForQuota(file, wait.delay(), dailyQuotaMessage(file.model(), Instant.now(), wait.delay()), 0)
            .withContentSha256(ready.sha256());
      }
      return Outcome.deferred(file, wait.delay(), "waiting " + wait.delay().toSeconds() + " s for the "
          + file.model() + " quota (" + wait.reason().name().toLowerCase() + ")");
    }
    Permit permit = ((Admission.Granted) admission).permit();
    long sentAt = System.nanoTime();
    ExtractionResult extraction;
    try {
      extraction = ready.send(gemini, file.model());
    } catch (GeminiException e) {
      metrics.geminiCall(file.model(), e.error().errorType(), System.nanoTime() - sentAt);
      // Recorded after the call: nothing may delay a granted request (the first record loads classes),
      // or Gemini's window sees requests closer together than the gate spaced them.
      metrics.gateWait(file.model(), waited);
      Outcome failed;
      try {
        failed = failure(file, e);
      } catch (InterruptedException | RuntimeException | Error t) {
        gate.releaseLater(permit); // no outcome will carry it
        throw t;
      }
      failed = failed.withContentSha256(ready.sha256());
      if (e.usage().isPresent()) {
        // A 200 with an unusable answer is billed: its tokens go on the file like a completion's, and
        // Google counted its prompt, so the gate's window gets the real count when the permit ends.
        return failed.withBilledUsage(e.usage().get())
            .withCall(new CallPermit(permit, e.usage().get().promptTokens()));
      }
      return failed.withCall(new CallPermit(permit, null));
    } catch (RuntimeException | Error e) {
      gate.releaseLater(permit);
      throw e;
    }
    metrics.geminiCall(file.model(), Metrics.OK, System.nanoTime() - sentAt);
    metrics.gateWait(file.model(), waited);
    ObjectNode result = toJson(extraction);
    return Outcome.completed(file, result, result, extraction.usage())
        .withContentSha256(ready.sha256())
        .withCall(new CallPermit(permit, extraction.usage().promptTokens()));
  }

  /**
   * Ends the call's permit only now: had it ended first, a worker killed before the write would
   * lose the call from total_api_calls (the outcome never counts it, the permit no longer does).
   */
  @Override
  public void written(Outcome outcome) {
    CallPermit call = outcome.call();
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

  private Outcome failure(ClaimedFile file, GeminiException e) throws InterruptedException {
    String type = e.error().errorType();
    switch (e.error()) {
      case RATE_LIMITED -> {
        Duration delay = e.retryDelay().orElse(config.backoff().delay(file.attempts()));
        // The whole fleet waits, not just this file.
        DatabaseOutage.waitOut(file.describe() + ": reporting a 429 to the quota gate",
            () -> gate.rateLimited(file.provider(), file.model(), delay, e.quotaId().orElse(null)));
        return Outcome.rateLimited(file, type, e.getMessage(), delay);
      }
      case QUOTA_EXHAUSTED -> {
        OffsetDateTime reset = DatabaseOutage.waitOut(file.describe() + ": parking the model's daily quota",
            () -> gate.dailyQuotaExhausted(file.provider(), file.model()));
        Duration untilReset = Duration.between(OffsetDateTime.now(), reset);
        return Outcome.waitForQuota(file, untilReset.isNegative() ? Duration.ZERO : untilReset,
            dailyQuotaMessage(file.model(), Instant.now(), untilReset), 1);
      }
      case PERMISSION_DENIED -> {
        return Outcome.stopSession(file, type, "Gemini refused the API key (" + e.getMessage()
            + "): set GEMINI_API_KEY to a valid key with access to " + file.model()
            + ", restart the workers, then resume this session", 1);
      }
      default -> {
        return e.retryable()
            ? Outcome.retry(file, type, e.getMessage(), e.retryDelay().orElse(config.backoff().delay(file.attempts())), 1)
            : Outcome.failed(file, type, e.getMessage(), 1);
      }
    }
  }

  /** Says when the quota comes back, as a time and as a wait: "… at midnight Pacific time (2026-12-04 08:00 UTC, in 7 h 12 min) …". */
  static String dailyQuotaMessage(String model, Instant now, Duration untilReset) {
    Duration wait = untilReset.isNegative() ? Duration.ZERO : untilReset;
    String at = RESET_TIME.format(now.plus(wait).plusSeconds(59).truncatedTo(ChronoUnit.MINUTES));
    return "the daily quota of " + model + " is spent; this session's files wait for its reset at midnight "
        + "Pacific time (" + at + ", in " + wait.toHours() + " h " + wait.toMinutesPart() + " min) and then continue "
        + "by themselves";
  }

  private static final DateTimeFormatter RESET_TIME =
      DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm 'UTC'", Locale.ROOT).withZone(ZoneOffset.UTC);

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
