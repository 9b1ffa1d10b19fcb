package io.batchpilot.maintenance;

import static io.batchpilot.jooq.Tables.BATCHPILOT_LEADER;
import static org.jooq.impl.DSL.excluded;
import static org.jooq.impl.DSL.when;

import io.batchpilot.store.Jooq;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.jooq.DSLContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Elects one leader across the fleet through the {@code batchpilot_leader} row: a worker becomes
 * leader when the row is absent or its term has passed, and stays leader by renewing the term well
 * before it ends. A leader that dies stops renewing and is replaced once its term passes.
 *
 * <p>The worker believes it leads only until its own last renewal's start plus the term, measured
 * on its monotonic clock: that instant is never later than the row's expiry, so two workers never
 * both believe they lead, even if this one stalls or loses the database.
 */
public final class LeaderElector implements AutoCloseable {

  /** The row's name for the maintenance leadership. */
  static final String MAINTENANCE = "maintenance";

  private static final Logger log = LoggerFactory.getLogger(LeaderElector.class);

  private final DSLContext dsl;
  private final String workerId;
  private final Duration term;
  private final Duration renewEvery;
  private final NanoClock clock;
  private ScheduledExecutorService ticker;
  private volatile long leaderUntilNanos;
  private volatile boolean believedLeader;

  /** The monotonic clock the term is measured on; tests move it by hand. */
  interface NanoClock {
    long nanoTime();
  }

  public LeaderElector(DataSource dataSource, String workerId, Duration term, Duration renewEvery) {
    this(dataSource, workerId, term, renewEvery, System::nanoTime);
  }

  LeaderElector(DataSource dataSource, String workerId, Duration term, Duration renewEvery, NanoClock clock) {
    this.dsl = Jooq.using(dataSource);
    this.workerId = Objects.requireNonNull(workerId, "workerId");
    this.term = term;
    this.renewEvery = renewEvery;
    this.clock = clock;
    if (renewEvery.compareTo(term) >= 0) {
      throw new IllegalArgumentException("the leader must renew (every " + renewEvery
          + ") more often than its term (" + term + ") ends");
    }
  }

  /** Attempts to elect or renew every {@code renewEvery}, starting now. */
  public synchronized void start() {
    if (ticker != null) {
      return;
    }
    ticker = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread thread = new Thread(r, "batchpilot-leader-elector");
      thread.setDaemon(true);
      return thread;
    });
    ticker.scheduleWithFixedDelay(this::attemptLogged, 0, renewEvery.toNanos(), TimeUnit.NANOSECONDS);
  }

  private void attemptLogged() {
    try {
      attemptOnce();
    } catch (RuntimeException e) {
      log.warn("Leader election by {} failed (leader until the current term ends, if it was): {}",
          workerId, e.getMessage());
    }
  }

  /**
   * One statement: take the leadership if it is free or expired, or renew it if it is ours.
   *
   * @return whether this worker leads now
   */
  public boolean attemptOnce() {
    long started = clock.nanoTime();
    var leader = BATCHPILOT_LEADER;
    boolean won = dsl.insertInto(leader)
        .set(leader.NAME, MAINTENANCE)
        .set(leader.LEADER_ID, workerId)
        .set(leader.ELECTED_AT, DatabaseClock.now())
        .set(leader.EXPIRES_AT, DatabaseClock.plus(term))
        .onConflict(leader.NAME)
        .doUpdate()
        .set(leader.LEADER_ID, excluded(leader.LEADER_ID))
        .set(leader.ELECTED_AT, when(leader.LEADER_ID.eq(excluded(leader.LEADER_ID)), leader.ELECTED_AT)
            .otherwise(excluded(leader.ELECTED_AT)))
        .set(leader.EXPIRES_AT, excluded(leader.EXPIRES_AT))
        .where(leader.LEADER_ID.eq(workerId).or(leader.EXPIRES_AT.lt(DatabaseClock.now())))
        .returning(leader.LEADER_ID)
        .fetchOptional()
        .isPresent();
    if (won) {
      leaderUntilNanos = started + term.toNanos();
    }
    noteChange(won);
    return won;
  }

  /** Whether this worker leads: it won its last attempt and that term has not run out. */
  public boolean isLeader() {
    boolean leads = believedLeader && clock.nanoTime() - leaderUntilNanos < 0;
    if (!leads && believedLeader) {
      noteChange(false);
    }
    return leads;
  }

  private synchronized void noteChange(boolean leads) {
    if (leads != believedLeader) {
      believedLeader = leads;
      log.info(leads ? "{} is now the maintenance leader" : "{} is no longer the maintenance leader", workerId);
    }
  }

  public String workerId() {
    return workerId;
  }

  /** Stops electing and gives the leadership up at once, so another worker need not wait out the term. */
  @Override
  public void close() {
    ScheduledExecutorService stopping;
    synchronized (this) {
      stopping = ticker;
      ticker = null;
    }
    if (stopping != null) {
      stopping.shutdownNow();
      try {
        // An attempt under way could otherwise renew the row after the resignation below.
        stopping.awaitTermination(term.toMillis(), TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    try {
      dsl.deleteFrom(BATCHPILOT_LEADER)
          .where(BATCHPILOT_LEADER.NAME.eq(MAINTENANCE))
          .and(BATCHPILOT_LEADER.LEADER_ID.eq(workerId))
          .execute();
    } catch (RuntimeException e) {
      log.warn("{} could not resign the maintenance leadership; it passes when the term ends: {}",
          workerId, e.getMessage());
    }
    noteChange(false);
  }
}
