package io.batchpilot.worker;

import java.time.Duration;
import java.util.TreeSet;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Wakes the producer when a file this worker put back to pending with a delay (a retry, a quota
 * deferral) comes due, instead of leaving it to the next poll. One timer, armed for the earliest due
 * instant and re-armed for the next when it rings; instants are kept to the millisecond, so many
 * files due together share one entry.
 */
final class RetryAlarm {

  private final ScheduledExecutorService timers;
  private final Runnable wake;
  private final TreeSet<Long> dueMillis = new TreeSet<>();
  private ScheduledFuture<?> armed;
  private long armedFor;

  RetryAlarm(ScheduledExecutorService timers, Runnable wake) {
    this.timers = timers;
    this.wake = wake;
  }

  /** A file comes due {@code delay} from now (measured after its write, so the database agrees it is due). */
  synchronized void dueIn(Duration delay) {
    long due = nowMillis() + Math.max(0, delay.toMillis());
    dueMillis.add(due);
    if (armed == null || due < armedFor) {
      arm(due);
    }
  }

  private void ring() {
    synchronized (this) {
      armed = null;
      dueMillis.headSet(nowMillis(), true).clear();
      if (!dueMillis.isEmpty()) {
        arm(dueMillis.first());
      }
    }
    wake.run();
  }

  private void arm(long due) {
    if (armed != null) {
      armed.cancel(false);
    }
    armedFor = due;
    try {
      armed = timers.schedule(this::ring, Math.max(0, due - nowMillis()), TimeUnit.MILLISECONDS);
    } catch (RejectedExecutionException e) {
      armed = null; // the worker is stopping: nothing to wake
    }
  }

  private static long nowMillis() {
    return System.nanoTime() / 1_000_000;
  }
}
