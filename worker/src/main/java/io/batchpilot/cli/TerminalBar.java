package io.batchpilot.cli;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The live bar on a terminal. It redraws on a timer, not only when a file finishes, so elapsed time
 * and the ETA count down through a quota wait; while it shows, whatever is written to stderr (log
 * lines) is printed above it, whole lines at a time, and the bar drawn again below.
 */
final class TerminalBar implements ProgressView {

  private static final String CLEAR_LINE = "\r\033[2K";
  private static final int CELLS = 20;

  private final String task;
  private final PrintStream out;
  private final Clock clock;
  private final Instant started;
  private final int width;
  private ScheduledExecutorService timer;
  private PrintStream stderrBefore;
  private Snapshot last;
  private boolean closed;

  TerminalBar(String task, PrintStream out, Clock clock, int width) {
    this.task = task;
    this.out = out;
    this.clock = clock;
    this.started = clock.instant();
    this.width = width;
  }

  /** A bar redrawn every {@code interval}, with stderr printed above it until it closes. */
  static TerminalBar start(String task, PrintStream out, Clock clock, Duration interval) {
    TerminalBar bar = new TerminalBar(task, out, clock, terminalWidth());
    bar.stderrBefore = System.err;
    System.setErr(new PrintStream(bar.linesAbove(), true, StandardCharsets.UTF_8));
    bar.timer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread thread = new Thread(r, "progress-bar");
      thread.setDaemon(true);
      return thread;
    });
    bar.timer.scheduleAtFixedRate(bar::redraw, interval.toMillis(), interval.toMillis(), TimeUnit.MILLISECONDS);
    return bar;
  }

  /** COLUMNS when the shell exports it; 80 otherwise. A line one column short never wraps, so \r redraws it. */
  private static int terminalWidth() {
    try {
      return Math.max(40, Integer.parseInt(System.getenv().getOrDefault("COLUMNS", "80").strip()));
    } catch (NumberFormatException e) {
      return 80;
    }
  }

  @Override
  public synchronized void show(Snapshot snapshot) {
    last = snapshot;
    redraw();
  }

  /** Draws the bar again with the clock's time: what the timer calls. */
  synchronized void redraw() {
    if (last == null || closed) {
      return;
    }
    out.print(CLEAR_LINE + render(clock.instant()));
    out.flush();
  }

  /** Prints {@code line} where the bar was, then the bar below it. */
  synchronized void printAbove(String line) {
    out.print(CLEAR_LINE + line + "\n");
    if (last != null && !closed) {
      out.print(render(clock.instant()));
    }
    out.flush();
  }

  /** The bar's line at {@code now}, at most width - 1 columns, what matters most first (the ETA). */
  String render(Instant now) {
    Snapshot s = last;
    double fraction = s.total() == 0 ? 1 : Math.min(1, (double) s.done() / s.total());
    int full = (int) Math.round(fraction * CELLS);
    String eta = s.done() >= s.total() ? "done"
        : s.eta().map(at -> ProgressView.formatDuration(Duration.between(now, at))).orElse("measuring");
    String quota = s.requestLimitPerMinute() > 0
        ? s.requestsLastMinute() + "/" + s.requestLimitPerMinute() + " req/min"
        : s.requestsLastMinute() + " req/min";
    String line = String.format(Locale.ROOT, "%s %3.0f%% %s %d/%d · ETA %s · %s elapsed · quota %s · %d failed · "
            + "%.1f files/min · %d×429", task, fraction * 100, "█".repeat(full) + "░".repeat(CELLS - full), s.done(),
        s.total(), eta, ProgressView.formatDuration(Duration.between(started, now)), quota, s.failed(),
        s.filesPerMinute(), s.rateLimitHits());
    return line.length() < width ? line : line.substring(0, width - 2) + "…";
  }

  /** An output stream that hands each complete line to {@link #printAbove}. */
  private OutputStream linesAbove() {
    return new OutputStream() {
      private final ByteArrayOutputStream pending = new ByteArrayOutputStream();

      @Override
      public synchronized void write(int b) {
        if (b == '\n') {
          printAbove(pending.toString(StandardCharsets.UTF_8));
          pending.reset();
        } else {
          pending.write(b);
        }
      }

      @Override
      public synchronized void flush() {
        // A partial line waits for its end: printed now, it would be drawn over by the bar.
      }
    };
  }

  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    redraw();
    closed = true;
    out.println();
    out.flush();
    if (timer != null) {
      timer.shutdownNow();
    }
    if (stderrBefore != null) {
      System.setErr(stderrBefore);
    }
  }
}
