package io.batchpilot.pipeline;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchpilot.gemini.Usage;
import io.batchpilot.metrics.Metrics;
import io.batchpilot.store.DatabaseOutage;
import io.batchpilot.store.Jooq;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import javax.sql.DataSource;
import org.jooq.DSLContext;
import org.jooq.exception.DataAccessException;
import org.jooq.impl.DSL;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes outcomes: each batch is one call of {@code batchpilot_private.complete_files}, one
 * transaction for the files, their sessions' totals and their receipts. Outcomes queue up while a
 * batch is being written, so under load each round trip carries many files. Files completed, retried
 * and failed are counted in {@link Metrics} once their write applied, so a stale holder's refused
 * outcome is not counted.
 */
public final class Completer implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(Completer.class);
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Duration MAX_WRITE_BACKOFF = Duration.ofSeconds(10);

  /** What writing one outcome did: applied (and the file's status after it), or refused as stale. */
  public record Written(Outcome outcome, boolean applied, String status) {}

  private record Pending(Outcome outcome, CompletableFuture<Written> written) {}

  private final DSLContext dsl;
  private final int maxBatch;
  private final BlockingQueue<Pending> queue = new LinkedBlockingQueue<>();
  private final Thread writer;
  private final AtomicLong writes = new AtomicLong();
  private final Metrics metrics;
  private volatile boolean closing;
  /** The last write failed: outcomes are waiting for the database. */
  private volatile boolean failing;

  public Completer(DataSource dataSource, int maxBatch, String threadName, Metrics metrics) {
    if (maxBatch < 1) {
      throw new IllegalArgumentException("completion batch must be at least 1, was " + maxBatch);
    }
    this.dsl = Jooq.using(dataSource);
    this.maxBatch = maxBatch;
    this.metrics = metrics;
    this.writer = new Thread(this::writeLoop, threadName);
    this.writer.setDaemon(true);
  }

  public void start() {
    writer.start();
  }

  /** Queues {@code outcome}; the future completes once it is written (or refused as stale). */
  public CompletableFuture<Written> submit(Outcome outcome) {
    CompletableFuture<Written> written = new CompletableFuture<>();
    queue.add(new Pending(outcome, written));
    return written;
  }

  /** True while outcomes cannot be written (the last try failed): a stop need not wait long for them. */
  public boolean failing() {
    return failing;
  }

  /** How many batches were written (each one statement, one transaction). */
  public long writes() {
    return writes.get();
  }

  /** Writes {@code outcomes} now, in one transaction, on the caller's thread. */
  public List<Written> write(List<Outcome> outcomes) {
    if (outcomes.isEmpty()) {
      return List.of();
    }
    ArrayNode array = JSON.createArrayNode();
    for (Outcome o : outcomes) {
      array.add(toJson(o));
    }
    Map<UUID, String> applied = new HashMap<>();
    writes.incrementAndGet();
    dsl.select()
        .from(DSL.table("batchpilot_private.complete_files(cast({0} as jsonb))", DSL.val(array.toString())))
        .fetch()
        .forEach(r -> applied.put(r.get("file_id", UUID.class), r.get("status", String.class)));
    List<Written> result = new ArrayList<>(outcomes.size());
    for (Outcome o : outcomes) {
      String status = applied.get(o.file().id());
      if (status == null) {
        log.warn("{}: outcome '{}' not written: this worker ({}, attempt {}) no longer holds the file "
                + "(its lease ran out and it was claimed again, or the session released it)",
            o.file().describe(), o.status().column(), o.file().claimedBy(), o.file().attempts());
      } else {
        count(o, status);
      }
      result.add(new Written(o, status != null, status));
    }
    return result;
  }

  /** An applied outcome by the file's status after it: a retry past max_attempts became a failure. */
  private void count(Outcome o, String status) {
    String model = o.file().model();
    switch (status) {
      case "completed" -> {
        Usage billed = o.billed();
        if (billed == null) {
          metrics.duplicateCompleted(model);
        } else {
          metrics.fileCompleted(model, billed.promptTokens(), billed.candidatesTokens(), billed.thoughtsTokens());
        }
      }
      case "failed" -> metrics.fileFailed(model, o.errorType() == null ? "unknown" : o.errorType());
      default -> {
        if (o.isRetry()) {
          metrics.fileRetried(model, o.errorType());
        }
      }
    }
  }

  private void writeLoop() {
    List<Pending> batch = new ArrayList<>(maxBatch);
    Duration backoff = Duration.ofMillis(100);
    while (true) {
      try {
        if (batch.isEmpty()) {
          Pending first = queue.poll(200, TimeUnit.MILLISECONDS);
          if (first == null) {
            if (closing && queue.isEmpty()) {
              return;
            }
            continue;
          }
          batch.add(first);
          queue.drainTo(batch, maxBatch - 1);
        }
        List<Written> written = write(batch.stream().map(Pending::outcome).toList());
        for (int i = 0; i < batch.size(); i++) {
          batch.get(i).written().complete(written.get(i));
        }
        batch.clear();
        backoff = Duration.ofMillis(100);
        failing = false;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        batch.forEach(p -> p.written().completeExceptionally(e));
        abandonQueued(e);
        return;
      } catch (DataAccessException e) {
        // The batch stays and is written again: leases that run out meanwhile make the write a no-op.
        failing = true;
        log.warn("writing {} outcomes failed{}, retrying in {} ms: {}", batch.size(),
            DatabaseOutage.causedBy(e) ? " (the database is unavailable; they are kept until it is back)" : "",
            backoff.toMillis(), e.getMessage());
        try {
          Thread.sleep(backoff.toMillis());
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          batch.forEach(p -> p.written().completeExceptionally(ie));
          abandonQueued(ie);
          return;
        }
        backoff = backoff.multipliedBy(2).compareTo(MAX_WRITE_BACKOFF) > 0 ? MAX_WRITE_BACKOFF : backoff.multipliedBy(2);
      }
    }
  }

  /**
   * The JSON one outcome hands to complete_files, the one place a case becomes the keys that
   * function reads (documented at its top). Every key is written for every case, null when unset.
   */
  static ObjectNode toJson(Outcome o) {
    boolean countsAttempt = true;
    Duration retryDelay = o.retryDelay();
    JsonNode result = null;
    JsonNode receipt = null;
    UUID duplicateOf = null;
    String errorMessage = null;
    int apiCalls = 0;
    boolean rateLimited = false;
    String sessionError = null;
    boolean sessionFailed = false;
    if (o instanceof Outcome.Completed c) {
      result = c.result();
      receipt = c.receipt();
      apiCalls = c.apiCalls();
    } else if (o instanceof Outcome.Duplicate d) {
      result = d.result();
      receipt = d.receipt();
      duplicateOf = d.earlierFile();
    } else if (o instanceof Outcome.Retry r) {
      errorMessage = r.errorMessage();
      apiCalls = r.apiCalls();
    } else if (o instanceof Outcome.RateLimited r) {
      countsAttempt = false;
      errorMessage = r.errorMessage();
      apiCalls = 1;
      rateLimited = true;
    } else if (o instanceof Outcome.Failed f) {
      errorMessage = f.errorMessage();
      apiCalls = f.apiCalls();
    } else if (o instanceof Outcome.QuotaWait q) {
      countsAttempt = false;
      errorMessage = q.sessionMessage();
      apiCalls = q.apiCalls();
      rateLimited = true;
      sessionError = q.sessionMessage();
    } else if (o instanceof Outcome.SessionStopped s) {
      countsAttempt = false;
      errorMessage = s.sessionMessage();
      apiCalls = s.apiCalls();
      sessionError = s.sessionMessage();
      sessionFailed = true;
    } else if (o instanceof Outcome.Wait w) {
      countsAttempt = false;
      errorMessage = w.errorMessage();
    } else {
      throw new IllegalArgumentException("the completer cannot write an outcome of " + o.getClass());
    }

    Outcome.Attempt attempt = o.attempt();
    Usage billed = attempt.billed();
    ObjectNode n = JSON.createObjectNode();
    n.put("id", o.file().id().toString());
    n.put("claimed_by", o.file().claimedBy());
    n.put("attempts", o.file().attempts());
    n.put("status", o.status().column());
    n.put("counts_attempt", countsAttempt);
    n.put("retry_delay_ms", retryDelay.toMillis());
    if (result != null) {
      n.set("result", result);
    }
    if (receipt != null) {
      n.set("receipt", receipt);
    }
    if (duplicateOf != null) {
      n.put("duplicate_of", duplicateOf.toString());
    }
    n.put("error_type", o.errorType());
    n.put("error_message", errorMessage);
    n.put("duration_ms", attempt.durationMs());
    n.put("input_tokens", billed == null ? null : tokens(billed.promptTokens()));
    n.put("output_tokens", billed == null ? null : tokens(billed.candidatesTokens()));
    n.put("thinking_tokens", billed == null ? null : tokens(billed.thoughtsTokens()));
    n.put("tokens_used", billed == null ? 0 : tokens(billed.totalTokens()));
    n.put("api_calls", apiCalls);
    n.put("rate_limited", rateLimited);
    n.put("session_error", sessionError);
    n.put("session_failed", sessionFailed);
    if (attempt.contentSha256() != null) {
      n.put("content_sha256", HexFormat.of().formatHex(attempt.contentSha256()));
    }
    if (attempt.call() != null) {
      n.put("permit_id", attempt.call().permit().id().toString());
    }
    return n;
  }

  private static Integer tokens(long count) {
    return Math.toIntExact(count);
  }

  /** Outcomes that will never be written (a stop that could not wait): their leases run out instead. */
  private void abandonQueued(Exception why) {
    List<Pending> left = new ArrayList<>();
    queue.drainTo(left);
    left.forEach(p -> p.written().completeExceptionally(why));
  }

  /** Writes what is queued, then stops. */
  @Override
  public void close() throws InterruptedException {
    closing = true;
    writer.join();
  }

  /**
   * Writes what is queued within {@code wait}, then stops; what could not be written by then (the
   * database is unavailable) is dropped, and the files' leases run out instead.
   *
   * @return true when everything queued was written
   */
  public boolean close(Duration wait) throws InterruptedException {
    closing = true;
    writer.join(Math.max(1, wait.toMillis()));
    if (!writer.isAlive()) {
      return true;
    }
    writer.interrupt();
    return false;
  }

  /**
   * As {@link #write}, but gives up after {@code wait} (the write goes on, on its own daemon thread,
   * and its result is ignored).
   *
   * @return true when the outcomes were written in time
   */
  public boolean writeWithin(List<Outcome> outcomes, Duration wait) throws InterruptedException {
    CompletableFuture<List<Written>> done = new CompletableFuture<>();
    Thread thread = new Thread(() -> {
      try {
        done.complete(write(outcomes));
      } catch (RuntimeException e) {
        done.completeExceptionally(e);
      }
    }, writer.getName() + "-last");
    thread.setDaemon(true);
    thread.start();
    try {
      done.get(Math.max(1, wait.toMillis()), TimeUnit.MILLISECONDS);
      return true;
    } catch (java.util.concurrent.ExecutionException e) {
      log.warn("writing {} outcomes failed: {}", outcomes.size(), e.getCause().getMessage());
      return false;
    } catch (java.util.concurrent.TimeoutException e) {
      thread.interrupt();
      return false;
    }
  }
}
