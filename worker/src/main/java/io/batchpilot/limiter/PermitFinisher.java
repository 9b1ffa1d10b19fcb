package io.batchpilot.limiter;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Ends permits on its own thread, those handed over within {@link #LINGER} of each other in one
 * call: a file's thread does not wait for the round trip, and the gate's rows are locked once per
 * batch instead of once per permit. The linger keeps a permit in flight and out of the ledger a
 * few milliseconds longer, next to the seconds a Gemini call takes. A batch that fails is logged
 * and dropped: the permits' leases ({@code permit_lease_ms}) end them.
 */
final class PermitFinisher implements AutoCloseable {

  /** One permit to end, with the real prompt token count, or null to keep the estimate. */
  record Finish(Permit permit, Long actualInputTokens) {}

  static final int MAX_BATCH = 500;
  static final Duration LINGER = Duration.ofMillis(5);
  private static final Logger log = LoggerFactory.getLogger(PermitFinisher.class);
  private static final Finish STOP = new Finish(null, null);

  private final LinkedBlockingQueue<Finish> queue = new LinkedBlockingQueue<>();
  private final Consumer<List<Finish>> finishAll;
  private final Thread thread;

  PermitFinisher(Consumer<List<Finish>> finishAll) {
    this.finishAll = finishAll;
    this.thread = new Thread(this::run, "batchpilot-permit-finisher");
    thread.setDaemon(true);
    thread.start();
  }

  void add(Finish finish) {
    queue.add(finish);
  }

  private void run() {
    List<Finish> batch = new ArrayList<>();
    boolean stopping = false;
    while (!stopping) {
      try {
        batch.add(queue.take());
        if (batch.get(0) != STOP) {
          Thread.sleep(LINGER.toMillis());
        }
      } catch (InterruptedException e) {
        return;
      }
      queue.drainTo(batch, MAX_BATCH - 1);
      stopping = batch.remove(STOP);
      if (!batch.isEmpty()) {
        try {
          finishAll.accept(batch);
        } catch (RuntimeException e) {
          log.warn("could not end {} quota permits ({}); their leases will end them", batch.size(), e.getMessage());
        }
      }
      batch.clear();
    }
  }

  /** Ends what was handed over before, then stops the thread. */
  @Override
  public void close() throws InterruptedException {
    queue.add(STOP);
    thread.join();
  }
}
