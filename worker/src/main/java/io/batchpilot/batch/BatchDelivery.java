package io.batchpilot.batch;

import io.batchpilot.gemini.BatchJob;
import io.batchpilot.gemini.BatchPage;
import io.batchpilot.gemini.BatchRequest;
import io.batchpilot.gemini.BatchResult;
import io.batchpilot.gemini.BatchState;
import io.batchpilot.gemini.GeminiBatchClient;
import io.batchpilot.gemini.GeminiError;
import io.batchpilot.gemini.GeminiException;
import io.batchpilot.pipeline.ClaimedFile;
import io.batchpilot.pipeline.Completer;
import io.batchpilot.pipeline.FairShare;
import io.batchpilot.pipeline.Outcome;
import io.batchpilot.pipeline.ReceiptProcessor;
import io.batchpilot.session.BatchJobState;
import io.batchpilot.settings.Range;
import io.batchpilot.settings.Setting;
import io.batchpilot.store.DatabaseOutage;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Gemini Batch Mode for sessions that ask for it ({@code delivery = 'batch'}): every worker runs
 * one. {@link #submitOnce} opens a job per model with due files (its row and its files' claim in
 * one transaction), builds the requests, passes the batch gate, asks Google and records the job's
 * name. {@link #pollOnce} asks Google about jobs due a look, with backoff, and completes a finished
 * job's files through the same completion as an interactive call; a job that failed or expired
 * sends its files back (to a new job, or interactive if the session allows it), a job whose
 * sessions were all cancelled is cancelled. A worker killed at any instant leaves a row another
 * worker finishes: a job left creating is looked for at Google by its display name.
 */
public final class BatchDelivery implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(BatchDelivery.class);

  /** Longer than building a job's requests and one create call take. */
  static final Duration CREATE_LEASE = Duration.ofMinutes(10);
  /**
   * Files prepared at once for a job: decoding and re-encoding is CPU work, the duplicate lookups
   * database round trips, so twice the cores.
   */
  static final int PREPARERS = Math.max(4, 2 * Runtime.getRuntime().availableProcessors());
  /** Longer than one poll and a finished job's completion take. */
  static final Duration POLL_LEASE = Duration.ofMinutes(5);
  /** Pages of batches.list read when looking for a job a killed worker may have created. */
  static final int RECOVERY_PAGES = 20;
  /** A model whose batch gate is full, or a create Google refused for now, is tried again after this. */
  static final Duration GATE_RETRY = Duration.ofMinutes(1);

  /**
   * @param interval   how often this worker looks for due batch files and jobs
   * @param maxFiles   the most files (requests) in one job
   * @param gather     how long a model's due files wait for more before a job of fewer than maxFiles goes
   * @param firstPoll  the first look at a new job; the wait doubles per look up to maxPoll
   * @param maxPoll    the longest wait between two looks at a job
   */
  public record Config(Duration interval, int maxFiles, Duration gather, Duration firstPoll, Duration maxPoll) {
    public static final Setting<Duration> INTERVAL = Setting.duration("BATCHPILOT_BATCH_INTERVAL", "5s",
        Range.above(Duration.ZERO), "how often a worker looks for due Batch Mode files and jobs");
    public static final Setting<Integer> MAX_FILES = Setting.integer("BATCHPILOT_BATCH_MAX_FILES", 1000,
        Range.between(1, 100_000), "most files in one Gemini batch job");
    public static final Setting<Duration> GATHER = Setting.duration("BATCHPILOT_BATCH_GATHER", "1m",
        Range.atLeast(Duration.ZERO), "how long due batch files wait for more before a job smaller than "
            + "BATCHPILOT_BATCH_MAX_FILES is sent");
    public static final Setting<Duration> FIRST_POLL = Setting.duration("BATCHPILOT_BATCH_FIRST_POLL", "30s",
        Range.above(Duration.ZERO), "the first look at a new batch job; the wait doubles per look");
    public static final Setting<Duration> MAX_POLL = Setting.duration("BATCHPILOT_BATCH_MAX_POLL", "10m",
        Range.above(Duration.ZERO), "the longest wait between two looks at a batch job; at least the first");
    public static final List<Setting<?>> SETTINGS = List.of(INTERVAL, MAX_FILES, GATHER, FIRST_POLL, MAX_POLL);

    public Config {
      INTERVAL.check(interval);
      MAX_FILES.check(maxFiles);
      GATHER.check(gather);
      FIRST_POLL.check(firstPoll);
      MAX_POLL.check(maxPoll);
      if (maxPoll.compareTo(firstPoll) < 0) {
        throw new IllegalArgumentException(MAX_POLL.name() + " (" + maxPoll + ") must be at least "
            + FIRST_POLL.name() + " (" + firstPoll + ")");
      }
    }

    public static Config defaults() {
      return new Config(INTERVAL.defaultValue(), MAX_FILES.defaultValue(), GATHER.defaultValue(),
          FIRST_POLL.defaultValue(), MAX_POLL.defaultValue());
    }

    public static Config fromEnvironment(Map<String, String> env) {
      return new Config(INTERVAL.from(env), MAX_FILES.from(env), GATHER.from(env), FIRST_POLL.from(env),
          MAX_POLL.from(env));
    }

    /** The wait before look number {@code polls + 1}: doubling from firstPoll, capped, half of it jittered. */
    Duration nextPoll(int polls) {
      long first = firstPoll.toMillis();
      long capped = Math.min(maxPoll.toMillis(), first << Math.min(polls, 20));
      return Duration.ofMillis(capped / 2 + ThreadLocalRandom.current().nextLong(capped / 2 + 1));
    }
  }

  /** What one submit round did. */
  public record Submitted(int jobs, int files, int settledBeforeSending, int sentBack) {}

  /** What one poll round did. */
  public record Polled(int jobs, int filesCompleted, int filesSentBack, int jobsEnded) {}

  private final Config config;
  private final BatchJobs jobs;
  private final ReceiptProcessor receipts;
  private final GeminiBatchClient google;
  private final Completer completer;
  private final String worker;
  private final FairShare fairShare;
  private final Thread thread;
  private final ExecutorService preparers;
  private volatile boolean running;

  public BatchDelivery(Config config, BatchJobs jobs, ReceiptProcessor receipts, GeminiBatchClient google,
                       Completer completer, String worker, FairShare fairShare) {
    this.config = config;
    this.jobs = jobs;
    this.receipts = receipts;
    this.google = google;
    this.completer = completer;
    this.worker = worker;
    this.fairShare = fairShare;
    this.thread = new Thread(this::loop, "batchpilot-batch-delivery");
    this.thread.setDaemon(true);
    AtomicInteger preparer = new AtomicInteger();
    this.preparers = Executors.newFixedThreadPool(PREPARERS, task -> {
      Thread t = new Thread(task, "batchpilot-batch-prepare-" + preparer.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
  }

  public void start() {
    running = true;
    thread.start();
  }

  private void loop() {
    while (running) {
      try {
        pollOnce();
        submitOnce();
      } catch (InterruptedException e) {
        return;
      } catch (RuntimeException e) {
        // Every job is a row: whatever this round left, the next round (here or on another worker) finishes.
        if (DatabaseOutage.causedBy(e)) {
          log.warn("batch delivery: the database is unreachable ({}); trying again in {}", e.getMessage(), config.interval());
        } else {
          log.error("batch delivery round failed; its jobs are resumed by the next round", e);
        }
      }
      try {
        Thread.sleep(config.interval().toMillis());
      } catch (InterruptedException e) {
        return;
      }
    }
  }

  // ---- submit ------------------------------------------------------------------------------------

  /** Opens and sends one job per model whose due batch files make a job's worth, or have gathered long enough. */
  public Submitted submitOnce() throws InterruptedException {
    int sentJobs = 0;
    int sentFiles = 0;
    int settled = 0;
    int sentBack = 0;
    OffsetDateTime gatheredSince = OffsetDateTime.now().minus(config.gather());
    for (BatchJobs.Due due : jobs.due()) {
      if (due.files() < config.maxFiles() && due.oldestDueAt().isAfter(gatheredSince)) {
        continue;
      }
      BatchJobs.Room room = jobs.room(due.provider(), due.model());
      if (room != null && room.none()) {
        log.debug("batch gate for {} is full ({} jobs, {} tokens free)", due.model(), room.jobsFree(), room.tokensFree());
        continue;
      }
      UUID job = UUID.randomUUID();
      List<ClaimedFile> files = jobs.open(job, due.provider(), due.model(), worker, config.maxFiles(), fairShare,
          CREATE_LEASE);
      if (files.isEmpty()) {
        continue;
      }
      SendResult result = send(job, due.model(), files);
      settled += result.settled;
      sentBack += result.sentBack;
      if (result.sent > 0) {
        sentJobs++;
        sentFiles += result.sent;
      }
    }
    return new Submitted(sentJobs, sentFiles, settled, sentBack);
  }

  record SendResult(int sent, int settled, int sentBack) {}

  /**
   * The job's creation lease ran out and another worker took the job over (it looked for it at
   * Google, did not find it, and gave its files back): this worker must not create it now, or the
   * files would go to Google twice. Its outcomes, were any written, were refused as a stale holder's.
   */
  private SendResult lostCreation(UUID job, int files) {
    log.warn("batch job {}: its creation lease ran out and another worker took it over; not sending its {} files",
        job, files);
    return new SendResult(0, 0, 0);
  }

  /**
   * Each file loaded, validated and made a request on the preparers' threads (a job of 1,000 photos
   * is minutes on one), in the files' order; the creation lease is renewed as they finish.
   */
  private List<ReceiptProcessor.BatchPreparation> prepareAll(UUID job, List<ClaimedFile> files)
      throws InterruptedException {
    List<Future<ReceiptProcessor.BatchPreparation>> futures = new ArrayList<>();
    for (ClaimedFile file : files) {
      futures.add(preparers.submit(() -> prepare(job, file)));
    }
    List<ReceiptProcessor.BatchPreparation> prepared = new ArrayList<>(files.size());
    long renewedAt = System.nanoTime();
    try {
      for (int i = 0; i < futures.size(); i++) {
        try {
          prepared.add(futures.get(i).get());
        } catch (ExecutionException e) {
          prepared.add(unexpected(job, files.get(i), e.getCause()));
        }
        if (System.nanoTime() - renewedAt > CREATE_LEASE.toNanos() / 3) {
          jobs.renewCreation(job, worker, CREATE_LEASE);
          renewedAt = System.nanoTime();
        }
      }
    } finally {
      futures.forEach(f -> f.cancel(true));
    }
    return prepared;
  }

  private ReceiptProcessor.BatchPreparation prepare(UUID job, ClaimedFile file) throws InterruptedException {
    try {
      return receipts.prepareBatchRequest(file);
    } catch (RuntimeException | Error e) {
      return unexpected(job, file, e);
    }
  }

  /** A bug or a dead dependency fails this file's attempt alone, with a word; the job goes on. */
  private static ReceiptProcessor.BatchPreparation unexpected(UUID job, ClaimedFile file, Throwable e) {
    log.error("{}: could not be prepared for batch job {}", file.describe(), job, e);
    return new ReceiptProcessor.BatchPreparation.Done(Outcome.retry(file, "processing_failed",
        "unexpected error preparing the file for Batch Mode: " + e, GATE_RETRY, 0));
  }

  /** Prepares the job's files, sends the job, records it. Package-private: a test drives a creator whose lease was lost. */
  SendResult send(UUID job, String model, List<ClaimedFile> files) throws InterruptedException {
    List<Outcome> settled = new ArrayList<>();
    List<ReceiptProcessor.BatchPreparation.Request> requests = new ArrayList<>();
    long startedAt = System.nanoTime();
    for (ReceiptProcessor.BatchPreparation prepared : prepareAll(job, files)) {
      if (prepared instanceof ReceiptProcessor.BatchPreparation.Request request) {
        requests.add(request);
      } else {
        settled.add(((ReceiptProcessor.BatchPreparation.Done) prepared).outcome());
      }
    }
    if (!jobs.renewCreation(job, worker, CREATE_LEASE)) {
      return lostCreation(job, files.size());
    }

    int admitted = 0;
    String refusal = null;
    if (!requests.isEmpty()) {
      long[] tokens = requests.stream().mapToLong(ReceiptProcessor.BatchPreparation.Request::estimatedInputTokens).toArray();
      try {
        admitted = DatabaseOutage.waitOut("batch job " + job + ": asking the batch gate", () -> jobs.admit(job, tokens));
      } catch (RuntimeException e) {
        // The gate's own refusal (no limits for the model) says what to do; the files wait for it.
        refusal = rootMessage(e);
      }
      if (refusal == null && admitted < requests.size()) {
        refusal = "waiting for room in Batch Mode's limits of " + model + " (jobs pending or running, enqueued tokens: "
            + "public.batch_quota_limits)";
      }
    }
    List<ReceiptProcessor.BatchPreparation.Request> going = requests.subList(0, admitted);
    List<ReceiptProcessor.BatchPreparation.Request> waiting = requests.subList(admitted, requests.size());
    for (ReceiptProcessor.BatchPreparation.Request r : waiting) {
      settled.add(Outcome.deferred(r.file(), GATE_RETRY, refusal));
    }

    if (going.isEmpty()) {
      write(settled);
      jobs.detach(job, settled.stream().map(o -> o.file().id()).toList());
      jobs.end(job, BatchJobState.ABANDONED, refusal == null ? "no file of the job needed a request" : refusal);
      return new SendResult(0, settled.size() - waiting.size(), waiting.size());
    }
    Map<UUID, byte[]> hashes = new HashMap<>();
    going.forEach(r -> hashes.put(r.file().id(), r.sha256()));
    jobs.contentHashes(job, hashes);
    // Settled files leave the job first: should the create fail, only the requests go back.
    write(settled);
    jobs.detach(job, settled.stream().map(o -> o.file().id()).toList());

    // The last moment the job can still be given up: past it, Google may have it.
    if (!jobs.renewCreation(job, worker, CREATE_LEASE)) {
      return lostCreation(job, files.size());
    }
    long preparedAt = System.nanoTime();
    BatchJob created;
    try {
      created = google.create(model, BatchJobs.Job.displayName(job),
          going.stream().map(ReceiptProcessor.BatchPreparation.Request::request).toList());
    } catch (GeminiException e) {
      List<Outcome> back = new ArrayList<>();
      for (ReceiptProcessor.BatchPreparation.Request r : going) {
        back.add(createFailure(r.file(), e).withContentSha256(r.sha256()));
      }
      write(back);
      jobs.end(job, BatchJobState.ABANDONED, "Google refused the batch job: " + e.getMessage());
      log.warn("batch job {} for {} files of {} not created: {}", job, going.size(), model, e.getMessage());
      return new SendResult(0, settled.size() - waiting.size(), waiting.size() + going.size());
    }
    jobs.submitted(job, created.name(), created.state(), config.firstPoll());
    log.info("batch job {} ({}) sent to Google: {} files of {} (prepared in {} ms, created in {} ms)", job,
        created.name(), going.size(), model, (preparedAt - startedAt) / 1_000_000, (System.nanoTime() - preparedAt) / 1_000_000);
    return new SendResult(going.size(), settled.size() - waiting.size(), waiting.size());
  }

  private static String rootMessage(Throwable e) {
    Throwable cause = e;
    while (cause.getCause() != null && cause.getCause() != cause) {
      cause = cause.getCause();
    }
    return cause.getMessage();
  }

  /** A create Google refused: the files go back (an attempt spent only when the request itself was refused). */
  private static Outcome createFailure(ClaimedFile file, GeminiException e) {
    String message = "the batch job was not created: " + e.getMessage();
    if (e.error() == GeminiError.PERMISSION_DENIED) {
      return Outcome.stopSession(file, e.error().errorType(), "Gemini refused the API key for Batch Mode ("
          + e.getMessage() + "): set GEMINI_API_KEY to a key with Batch Mode access to " + file.model()
          + ", restart the workers, then resume this session", 0);
    }
    if (e.retryable() || e.error() == GeminiError.RATE_LIMITED || e.error() == GeminiError.QUOTA_EXHAUSTED) {
      return Outcome.deferred(file, e.retryDelay().orElse(GATE_RETRY), message);
    }
    return Outcome.retry(file, e.error().errorType(), message, GATE_RETRY, 0);
  }

  // ---- poll --------------------------------------------------------------------------------------

  /** Looks at every job due a look (and every job a killed worker left creating), one at a time. */
  public Polled pollOnce() throws InterruptedException {
    int polled = 0;
    int completed = 0;
    int back = 0;
    int ended = 0;
    List<BatchJobs.Job> due;
    while (!(due = jobs.claimPolls(worker, 10, POLL_LEASE)).isEmpty()) {
      for (BatchJobs.Job job : due) {
        polled++;
        PollResult r = poll(job);
        completed += r.completed;
        back += r.sentBack;
        ended += r.ended ? 1 : 0;
      }
    }
    return new Polled(polled, completed, back, ended);
  }

  private record PollResult(int completed, int sentBack, boolean ended) {
    static final PollResult STILL_RUNNING = new PollResult(0, 0, false);
  }

  private PollResult poll(BatchJobs.Job job) throws InterruptedException {
    String name = job.name();
    if (job.state() == BatchJobState.CREATING) {
      Optional<BatchJob> found;
      try {
        found = findByDisplayName(job.displayName());
      } catch (GeminiException e) {
        jobs.retryPoll(job.id(), config.nextPoll(job.polls()), "looking for the job at Google: " + e.getMessage());
        return PollResult.STILL_RUNNING;
      }
      if (found.isEmpty()) {
        // Its worker died before Google had it: the files go back as they were.
        int back = sendBack(job, "the worker creating its batch job stopped before Google had it", null, false);
        jobs.end(job.id(), BatchJobState.ABANDONED, "its worker stopped before Google had the job");
        return new PollResult(0, back, true);
      }
      name = found.get().name();
      jobs.submitted(job.id(), name, found.get().state(), Duration.ZERO);
      log.info("batch job {} found at Google as {}: its worker stopped before recording it", job.id(), name);
    }

    BatchJob state;
    try {
      if (jobs.unwanted(job.id())) {
        google.cancel(name);
        log.info("batch job {} ({}) cancelled: every session with files in it was cancelled", job.id(), name);
      }
      state = google.get(name);
    } catch (GeminiException e) {
      if (e.error() == GeminiError.NOT_FOUND) {
        int back = sendBack(job, "Google no longer knows batch job " + name, "batch_job_failed", true);
        jobs.end(job.id(), BatchJobState.FAILED, "Google no longer knows the job: " + e.getMessage());
        return new PollResult(0, back, true);
      }
      jobs.retryPoll(job.id(), config.nextPoll(job.polls()), "asking Google about the job: " + e.getMessage());
      return PollResult.STILL_RUNNING;
    }

    switch (state.state()) {
      case SUCCEEDED -> {
        List<BatchResult> results;
        try {
          results = google.results(state);
        } catch (GeminiException e) {
          jobs.retryPoll(job.id(), config.nextPoll(job.polls()), "reading the job's results: " + e.getMessage());
          return PollResult.STILL_RUNNING;
        }
        return complete(job, results);
      }
      case FAILED -> {
        String why = "the batch job failed at Google" + state.failure().map(f -> ": " + f.message()).orElse("");
        jobs.fallBackToInteractive(job.id());
        int back = sendBack(job, why, "batch_job_failed", true);
        jobs.end(job.id(), BatchJobState.FAILED, why);
        return new PollResult(0, back, true);
      }
      case EXPIRED -> {
        String why = "the batch job expired at Google (not done within 48 hours)";
        jobs.fallBackToInteractive(job.id());
        int back = sendBack(job, why, "batch_job_expired", false);
        jobs.end(job.id(), BatchJobState.EXPIRED, why);
        return new PollResult(0, back, true);
      }
      case CANCELLED -> {
        int back = sendBack(job, "the batch job was cancelled", null, false);
        jobs.end(job.id(), BatchJobState.CANCELLED, null);
        return new PollResult(0, back, true);
      }
      default -> {
        jobs.polled(job.id(), state.state(), config.nextPoll(job.polls()));
        return PollResult.STILL_RUNNING;
      }
    }
  }

  private Optional<BatchJob> findByDisplayName(String displayName) throws GeminiException {
    String token = null;
    for (int page = 0; page < RECOVERY_PAGES; page++) {
      BatchPage batches = google.list(100, token);
      for (BatchJob candidate : batches.jobs()) {
        if (displayName.equals(candidate.displayName())) {
          return Optional.of(candidate);
        }
      }
      token = batches.next().orElse(null);
      if (token == null) {
        break;
      }
    }
    return Optional.empty();
  }

  /** Every file the job still holds gets its result's outcome; a file Google returned nothing for is retried. */
  private PollResult complete(BatchJobs.Job job, List<BatchResult> results) throws InterruptedException {
    Map<String, BatchResult> byKey = new LinkedHashMap<>();
    for (BatchResult r : results) {
      if (r.key() != null) {
        byKey.put(r.key(), r);
      }
    }
    List<Outcome> outcomes = new ArrayList<>();
    for (BatchJobs.HeldFile held : jobs.heldFiles(job.id())) {
      ClaimedFile file = held.file();
      BatchResult result = byKey.get(file.id().toString());
      Outcome outcome;
      if (result == null) {
        outcome = Outcome.retry(file, "malformed_response", "Google's batch results have no answer for this file",
            Duration.ZERO, 0);
      } else {
        try {
          outcome = receipts.batchOutcome(file, result);
        } catch (RuntimeException e) {
          // A bug reading one answer fails that file's attempt, with a word; the job's other files complete.
          log.error("{}: could not read its result in batch job {}", file.describe(), job.id(), e);
          outcome = Outcome.retry(file, "processing_failed", "unexpected error reading its batch result: " + e,
              GATE_RETRY, 1);
        }
      }
      outcomes.add(held.sha256().length == 0 ? outcome : outcome.withContentSha256(held.sha256()));
    }
    List<Completer.Written> written = write(outcomes);
    jobs.end(job.id(), BatchJobState.SUCCEEDED, null);
    long done = written.stream().filter(w -> w.applied() && "completed".equals(w.status())).count();
    log.info("batch job {} ({}) succeeded: {} of its {} files completed", job.id(), job.name(), done, outcomes.size());
    return new PollResult((int) done, outcomes.size() - (int) done, true);
  }

  /**
   * The job's files go back to the queue: with an attempt spent when the job failed (a job that
   * always fails must not loop for ever), without one when it expired or was cancelled.
   */
  private int sendBack(BatchJobs.Job job, String why, String errorType, boolean countsAttempt) throws InterruptedException {
    List<Outcome> back = new ArrayList<>();
    for (BatchJobs.HeldFile held : jobs.heldFiles(job.id())) {
      Outcome o = countsAttempt
          ? Outcome.retry(held.file(), errorType, why, Duration.ZERO, 0)
          : Outcome.requeued(held.file(), errorType, why);
      back.add(held.sha256().length == 0 ? o : o.withContentSha256(held.sha256()));
    }
    write(back);
    return back.size();
  }

  private List<Completer.Written> write(List<Outcome> outcomes) throws InterruptedException {
    if (outcomes.isEmpty()) {
      return List.of();
    }
    return DatabaseOutage.waitOut("batch delivery: writing " + outcomes.size() + " outcomes", () -> completer.write(outcomes));
  }

  @Override
  public void close() {
    running = false;
    thread.interrupt();
    preparers.shutdownNow();
    try {
      thread.join(1000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
