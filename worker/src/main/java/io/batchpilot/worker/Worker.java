package io.batchpilot.worker;

import io.batchpilot.db.DatabaseUrl;
import io.batchpilot.limiter.QuotaGate;
import io.batchpilot.metrics.Metrics;
import io.batchpilot.notify.Notifier;
import io.batchpilot.pipeline.ClaimedFile;
import io.batchpilot.pipeline.Completer;
import io.batchpilot.pipeline.FileClaims;
import io.batchpilot.pipeline.FileProcessor;
import io.batchpilot.pipeline.Outcome;
import io.batchpilot.store.DatabaseOutage;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import javax.sql.DataSource;
import org.jooq.exception.DataAccessException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One worker: a producer thread that claims as many due files as it has free threads (while busy,
 * at most once per claim cooldown), a fixed pool that runs the {@link FileProcessor} on each and is
 * free again as soon as a file is processed, the {@link Completer} that writes outcomes, a
 * heartbeat that keeps in-flight leases alive, and the JVM's {@link Notifier} that wakes the
 * producer. {@link #stop()} stops claiming, lets in-flight files finish within the grace period and
 * gives back the leases of files that never started.
 */
public final class Worker implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(Worker.class);
  private static final AtomicInteger SEQUENCE = new AtomicInteger();

  private final WorkerConfig config;
  private final String id;
  private final FileProcessor processor;
  private final FileClaims claims;
  /** The gate whose permits the heartbeat keeps alive with the files' leases; may be null. */
  private final QuotaGate gate;
  private final Completer completer;
  private final Metrics metrics;
  private final Notifier notifier;
  private final ExecutorService pool;
  private final ScheduledExecutorService timers;
  private final Semaphore capacity;
  private final RetryAlarm retryAlarm;
  private final Map<UUID, Holding> inFlight = new ConcurrentHashMap<>();
  private final Thread producer;
  private final Object wakeMonitor = new Object();
  private final AtomicLong claimed = new AtomicLong();
  private final AtomicLong claimStatements = new AtomicLong();
  private boolean woken;
  private volatile boolean claiming = true;
  /**
   * The last claim found fewer files than it had room for: the rest were held back (a session's
   * max_concurrent, files in flight elsewhere), so a finished write may free the next one.
   */
  private volatile boolean shortClaim;
  private volatile boolean started;

  /**
   * @param dataSource a pool for claims, heartbeats and completions (3 connections are plenty)
   * @param listenUrl  where the LISTEN connection goes: a direct or session-mode URL
   * @param metrics    where claims and files completed, retried and failed are counted
   */
  public Worker(WorkerConfig config, DataSource dataSource, DatabaseUrl listenUrl, FileProcessor processor,
      Metrics metrics) {
    this(config, dataSource, listenUrl, processor, metrics, null);
  }

  /**
   * @param gate the quota gate the processor asks (made with this worker's lease): the heartbeat
   *     extends its permits with the files' leases, so a dead worker's permits lapse with its files'
   */
  public Worker(WorkerConfig config, DataSource dataSource, DatabaseUrl listenUrl, FileProcessor processor,
      Metrics metrics, QuotaGate gate) {
    this.config = config;
    this.gate = gate;
    this.id = workerId();
    this.processor = processor;
    this.metrics = metrics;
    this.claims = new FileClaims(dataSource);
    this.completer = new Completer(dataSource, config.completionBatch(), "batchpilot-completer-" + id, metrics);
    this.notifier = new Notifier(listenUrl, config.notifier(), this::wake);
    this.capacity = new Semaphore(config.concurrency());
    AtomicInteger threads = new AtomicInteger();
    this.pool = Executors.newFixedThreadPool(config.concurrency(), r -> {
      Thread t = new Thread(r, "batchpilot-file-" + threads.incrementAndGet());
      t.setDaemon(true);
      // A file's thread ends after an Error (see run); the pool starts another in its place.
      t.setUncaughtExceptionHandler((dead, e) -> log.debug("{} replaced after {}", dead.getName(), e.toString()));
      return t;
    });
    this.timers = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "batchpilot-worker-timers");
      t.setDaemon(true);
      return t;
    });
    this.retryAlarm = new RetryAlarm(timers, this::wake);
    this.producer = new Thread(this::produce, "batchpilot-producer");
    this.producer.setDaemon(true);
  }

  /** This worker's name in {@code batch_upload_files.claimed_by}: host, process, sequence. */
  public String id() {
    return id;
  }

  public synchronized void start() {
    if (started) {
      throw new IllegalStateException("worker " + id + " was already started");
    }
    started = true;
    completer.start();
    producer.start();
    notifier.start();
    long beat = config.heartbeat().toMillis();
    timers.scheduleWithFixedDelay(this::heartbeat, beat, beat, TimeUnit.MILLISECONDS);
    log.info("worker {} started: {} threads, lease {}, heartbeat {}", id, config.concurrency(), config.lease(), config.heartbeat());
  }

  /** Files claimed so far, and the claim statements it took (for the benchmark's round trips). */
  public long filesClaimed() {
    return claimed.get();
  }

  public long claimStatements() {
    return claimStatements.get();
  }

  /** Outcome batches written: each one round trip. */
  public long completionWrites() {
    return completer.writes();
  }

  /** False once {@link #stop()} began: no file will be claimed any more. */
  public boolean claiming() {
    return claiming;
  }

  public int inFlight() {
    return inFlight.size();
  }

  public Notifier notifier() {
    return notifier;
  }

  /** Makes the producer look for work now. Cheap; called by the notifier and by finished files. */
  public void wake() {
    synchronized (wakeMonitor) {
      woken = true;
      wakeMonitor.notifyAll();
    }
  }

  private void produce() {
    Duration outageWait = null;
    long cooldown = config.claimCooldown().toNanos();
    long lastClaim = System.nanoTime() - cooldown;
    while (claiming) {
      boolean more = false;
      if (room() > 0) {
        // A busy worker waits out the cooldown, so the files that finish meanwhile share one claim.
        coolDown(lastClaim + cooldown - System.nanoTime());
        if (!claiming) {
          break;
        }
        int want = Math.min(room(), config.claimBatch());
        try {
          lastClaim = System.nanoTime();
          long claimStart = lastClaim;
          List<ClaimedFile> files = claims.claim(id, want, config.lease(), config.fairShare());
          metrics.claim(files.size(), System.nanoTime() - claimStart);
          claimStatements.incrementAndGet();
          claimed.addAndGet(files.size());
          for (ClaimedFile file : files) {
            capacity.acquireUninterruptibly();
            Holding holding = new Holding(file);
            inFlight.put(file.id(), holding);
            pool.execute(() -> run(holding));
          }
          shortClaim = files.size() < want;
          more = !shortClaim && room() > 0;
          outageWait = null;
        } catch (DataAccessException e) {
          if (DatabaseOutage.causedBy(e)) {
            // Nothing can be claimed until the database is back: ask again after a growing wait.
            outageWait = outageWait == null ? Duration.ofMillis(200) : DatabaseOutage.next(outageWait);
            log.warn("worker {}: the database is unavailable, claiming again in {} ms: {}", id, outageWait.toMillis(),
                e.getMessage());
            coolDown(outageWait.toNanos());
            continue;
          }
          log.warn("worker {}: claiming failed, trying again at the next wake-up: {}", id, e.getMessage());
        }
      }
      if (!more) {
        awaitWake();
      }
    }
  }

  /**
   * Files the next claim may take: a free thread for each, and no more held than the threads plus
   * one completion batch, so a completer that cannot write stops the claims.
   */
  private int room() {
    return Math.min(capacity.availablePermits(), maxHeld() - inFlight.size());
  }

  private int maxHeld() {
    return config.concurrency() + config.completionBatch();
  }

  private void coolDown(long nanos) {
    if (nanos > 0) {
      try {
        TimeUnit.NANOSECONDS.sleep(nanos);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        claiming = false;
      }
    }
  }

  private void awaitWake() {
    synchronized (wakeMonitor) {
      if (!woken && claiming) {
        try {
          wakeMonitor.wait(config.notifier().pollInterval().toMillis());
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          claiming = false;
        }
      }
      woken = false;
    }
  }

  /**
   * Processes one file on a pool thread and hands its outcome to the completer. Whatever the file
   * throws ends in an outcome; after an Error (out of memory, a stack overflow) the thread ends too,
   * once the outcome is queued, and the pool starts a fresh one.
   */
  private void run(Holding holding) {
    ClaimedFile file = holding.file;
    holding.thread = Thread.currentThread();
    long start = System.nanoTime();
    Outcome outcome = null;
    Error fatal = null;
    try {
      if (!claiming) {
        outcome = Outcome.released(file);
      } else {
        holding.started = true;
        outcome = processor.process(file);
      }
    } catch (InterruptedException e) {
      outcome = Outcome.released(file);
    } catch (Throwable e) {
      if (e instanceof Error error) {
        fatal = error;
      }
      outcome = failure(file, e);
    } finally {
      // The thread is free now: the next claim need not wait for this outcome's write.
      capacity.release();
      if (outcome != null) {
        long ms = (System.nanoTime() - start) / 1_000_000;
        holding.outcomeQueued = true;
        Outcome timed = outcome.withDurationMs(ms);
        completer.submit(timed).whenComplete((written, error) -> {
          if (error == null) {
            afterWrite(timed);
          }
          finished(holding, written);
        });
      }
      // Without an outcome (an Error while making one) the thread dies holding the file: the
      // heartbeat stops extending its lease, and the lease rescuer gives it to another claim.
      wake();
    }
    if (fatal != null) {
      throw fatal;
    }
  }

  /** What a throwable from the processor means for the file, logged once. */
  private Outcome failure(ClaimedFile file, Throwable e) {
    if (DatabaseOutage.causedBy(e)) {
      log.warn("{}: the database became unavailable while processing it; it goes back to the queue "
          + "without spending an attempt: {}", file.describe(), e.getMessage());
      return Outcome.deferred(file, Duration.ZERO, "the database was unavailable: " + e.getMessage());
    }
    if (e instanceof OutOfMemoryError) {
      log.error("{}: the worker ran out of memory on this file (attempt {} of {})", file.describe(), file.attempts(),
          file.maxAttempts(), e);
      return Outcome.retry(file, "processing_failed", outOfMemoryMessage(e), Duration.ZERO, 0);
    }
    log.error("{}: unexpected error, the file will be tried again", file.describe(), e);
    return Outcome.retry(file, "processing_failed", "unexpected error in the worker: " + e
        + "; see the worker's log", Duration.ZERO, 0);
  }

  private String outOfMemoryMessage(Throwable e) {
    long heapMb = Runtime.getRuntime().maxMemory() / (1024 * 1024);
    return "the worker ran out of memory on this file (" + e.getMessage() + ", heap " + heapMb + " MB, "
        + config.concurrency() + " files at once): give the workers a larger heap (BATCHPILOT_JAVA_OPTS=-Xmx"
        + Math.max(256, heapMb * 4) + "m) or fewer files at once (BATCHPILOT_CONCURRENCY), then resume the session";
  }

  /** The processor's part once the outcome is out of the queue; a fault in it must not stop the completer. */
  private void afterWrite(Outcome outcome) {
    try {
      processor.written(outcome);
    } catch (RuntimeException e) {
      log.error("{}: ending what was kept for its written outcome failed", outcome.file().describe(), e);
    }
  }

  private void finished(Holding holding, Completer.Written written) {
    inFlight.remove(holding.file.id());
    if (written != null && written.applied() && "pending".equals(written.status())
        && written.outcome().retryDelay().compareTo(Duration.ZERO) > 0) {
      retryAlarm.dueIn(written.outcome().retryDelay());
    }
    // The producer may be waiting for room (see room()), or for a session's files in flight to
    // drop under its max_concurrent; with a full backlog neither holds, and no claim is wasted.
    if (shortClaim || inFlight.size() + 1 >= maxHeld()) {
      wake();
    }
  }

  /**
   * Extends the leases of the files someone here still works on: waiting for a thread, on a live
   * thread, or with an outcome waiting to be written. A file whose thread died without an outcome
   * is let go: its lease runs out and the rescuer hands it on.
   */
  private void heartbeat() {
    List<UUID> held = new ArrayList<>();
    for (Holding h : inFlight.values()) {
      if (h.live()) {
        held.add(h.file.id());
      }
    }
    if (!held.isEmpty()) {
      try {
        claims.extendLeases(id, held, config.lease());
      } catch (DataAccessException e) {
        log.warn("worker {}: extending leases failed ({}); they run out in {} unless the next heartbeat succeeds",
            id, e.getMessage(), config.lease());
      }
    }
    if (gate != null) {
      try {
        gate.extendPermits();
      } catch (DataAccessException e) {
        log.warn("worker {}: extending quota permits failed ({}); they stop counting as in flight in {} unless the "
            + "next heartbeat succeeds", id, e.getMessage(), config.lease());
      }
    }
  }

  /**
   * Stops claiming, waits up to the grace period for in-flight files, then interrupts the rest and
   * gives back the leases of whatever is still not finished. Returns within the grace period plus
   * {@link #STOP_OVERRUN} whatever the database does: outcomes and releases that cannot be written
   * by then are left to the leases, which run out and hand the files on.
   */
  public void stop() throws InterruptedException {
    if (!started) {
      return;
    }
    long deadline = System.nanoTime() + config.shutdownGrace().toNanos();
    claiming = false;
    wake();
    // A claim in progress may wait for a connection; it is interrupted at the deadline.
    producer.join(Math.max(1, remainingMs(deadline)));
    producer.interrupt();
    pool.shutdown();
    if (!pool.awaitTermination(remainingMs(deadline), TimeUnit.MILLISECONDS)) {
      log.warn("worker {}: {} files still in flight after the {} grace period; interrupting them",
          id, inFlight.size(), config.shutdownGrace());
      pool.shutdownNow();
      pool.awaitTermination(INTERRUPTED_FILES_WAIT.toMillis(), TimeUnit.MILLISECONDS);
    }
    // A healthy database takes milliseconds; one whose writes already fail is not waited for long.
    Duration flush = completer.failing() ? OUTCOME_FLUSH_WHILE_FAILING : OUTCOME_FLUSH;
    long writeDeadline = System.nanoTime() + flush.toNanos();
    if (!completer.close(flush)) {
      log.warn("worker {}: outcomes could not be written within {} (is the database reachable?); their files' "
          + "leases run out within {} and the files are claimed again", id, flush, config.lease());
    }
    // What is still in flight now never produced an outcome: give its leases back. A file whose
    // processing began may have reached Gemini: its attempt stays counted.
    List<Outcome> left = new ArrayList<>();
    for (Holding h : inFlight.values()) {
      if (!h.outcomeQueued) {
        left.add(h.started ? Outcome.interrupted(h.file, "the worker stopped (SIGTERM or close) before this file "
            + "finished within its shutdown grace period (BATCHPILOT_SHUTDOWN_GRACE=" + config.shutdownGrace() + ")")
            : Outcome.released(h.file));
      }
    }
    if (!left.isEmpty() && !completer.writeWithin(left, Duration.ofNanos(Math.max(0, writeDeadline - System.nanoTime()))
        .plus(RELEASE_WRITE))) {
      log.warn("worker {}: could not give back {} files' leases; they run out within {}", id, left.size(), config.lease());
    }
    timers.shutdownNow();
    notifier.closeWithin(NOTIFIER_CLOSE);
    log.info("worker {} stopped: {} files claimed", id, claimed.get());
  }

  /** Past the grace period: files interrupted, outcomes flushed, leases given back, at most this long. */
  public static final Duration STOP_OVERRUN = Duration.ofMillis(3500);
  private static final Duration INTERRUPTED_FILES_WAIT = Duration.ofMillis(500);
  private static final Duration OUTCOME_FLUSH = Duration.ofMillis(2000);
  private static final Duration OUTCOME_FLUSH_WHILE_FAILING = Duration.ofMillis(300);
  private static final Duration RELEASE_WRITE = Duration.ofMillis(500);
  private static final Duration NOTIFIER_CLOSE = Duration.ofMillis(300);

  private static long remainingMs(long deadlineNanos) {
    return Math.max(0, (deadlineNanos - System.nanoTime()) / 1_000_000);
  }

  /** A claimed file, and how far this worker got with it. */
  private static final class Holding {
    final ClaimedFile file;
    /** The pool thread that took it; null while it waits for one. */
    volatile Thread thread;
    /** The processor began on it: an attempt may be spent (a call sent). */
    volatile boolean started;
    /** Its outcome is with the completer. */
    volatile boolean outcomeQueued;

    Holding(ClaimedFile file) {
      this.file = file;
    }

    /** Someone here still works on it, so its lease is worth extending. */
    boolean live() {
      Thread t = thread;
      return outcomeQueued || t == null || t.isAlive();
    }
  }

  @Override
  public void close() throws InterruptedException {
    stop();
  }

  /** Stops this worker gracefully when the JVM is asked to end (SIGTERM, Ctrl-C). */
  public void stopOnShutdown() {
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        stop();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, "batchpilot-shutdown-" + id));
  }

  private static String workerId() {
    String host;
    try {
      host = InetAddress.getLocalHost().getHostName();
    } catch (UnknownHostException e) {
      host = "unknown-host";
    }
    long pid = ManagementFactory.getRuntimeMXBean().getPid();
    return host + ":" + pid + ":" + SEQUENCE.incrementAndGet();
  }
}
