package io.batchpilot.cli;

import java.io.PrintStream;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;
import java.util.Optional;

/**
 * Shows a long run's progress: a live bar on a terminal ({@link TerminalBar}), plain lines (at most one per interval, and
 * one whenever the counts change state) when the output is a pipe or a file.
 */
public interface ProgressView extends AutoCloseable {

  /**
   * What the view shows; {@code eta} is empty until throughput has been measured. A Batch Mode
   * session's files at Google are {@code atGoogle}: the view says so, and hours instead of a minutes ETA.
   */
  record Snapshot(long done, long total, long failed, double filesPerMinute, long requestsLastMinute,
                  long requestLimitPerMinute, long rateLimitHits, Optional<Instant> eta, Optional<AtGoogle> atGoogle) {

    Snapshot(long done, long total, long failed, double filesPerMinute, long requestsLastMinute,
             long requestLimitPerMinute, long rateLimitHits, Optional<Instant> eta) {
      this(done, total, failed, filesPerMinute, requestsLastMinute, requestLimitPerMinute, rateLimitHits, eta,
          Optional.empty());
    }

    Snapshot withAtGoogle(Optional<AtGoogle> value) {
      return new Snapshot(done, total, failed, filesPerMinute, requestsLastMinute, requestLimitPerMinute, rateLimitHits,
          eta, value);
    }

    /** Everything but the count, which the bar draws itself. */
    String details(Instant now) {
      if (atGoogle.isPresent() && done < total) {
        return failed + " failed · " + atGoogle.get().describe(now);
      }
      String quota = requestLimitPerMinute > 0
          ? requestsLastMinute + "/" + requestLimitPerMinute + " req/min"
          : requestsLastMinute + " req/min";
      String etaText = done >= total ? "done" : eta.map(at -> formatDuration(Duration.between(now, at))).orElse("measuring");
      return String.format(Locale.ROOT, "%d failed · %.1f files/min · quota %s · %d×429 · ETA %s",
          failed, filesPerMinute, quota, rateLimitHits, etaText);
    }
  }

  /**
   * A Batch Mode session's files waiting at Google: how many, in how many jobs, the newest job's
   * state, since when, and Google's target (24 hours from the job's creation; usually much sooner).
   */
  record AtGoogle(long files, int jobs, String state, Instant since, Instant dueBy) {
    String describe(Instant now) {
      if (jobs == 0) {
        return "Batch Mode: waiting to go into a batch job";
      }
      if (state.equals("creating")) {
        return files + " going to Google in a batch job";
      }
      return String.format(Locale.ROOT, "%d at Google in %s (%s, %s so far) · Google's target: within 24 h, by %s",
          files, jobs == 1 ? "a batch job" : jobs + " batch jobs", state, formatDuration(Duration.between(since, now)),
          DUE_BY.format(dueBy));
    }

    private static final java.time.format.DateTimeFormatter DUE_BY =
        java.time.format.DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm 'UTC'", Locale.ROOT).withZone(java.time.ZoneOffset.UTC);
  }

  void show(Snapshot snapshot);

  /** Shows nothing: for --json, whose stdout is the one JSON object. */
  ProgressView NONE = new ProgressView() {
    @Override public void show(Snapshot snapshot) {}

    @Override public void close() {}
  };

  @Override
  void close();

  /**
   * A bar when {@code System.console()} says the output is a terminal, plain lines otherwise. The
   * bar redraws every second on its own thread, and lines logged while it shows print above it.
   */
  static ProgressView forStdout(String task) {
    if (System.console() == null) {
      return new Lines(task, System.out, Clock.systemUTC(), Duration.ofSeconds(5));
    }
    return TerminalBar.start(task, System.out, Clock.systemUTC(), Duration.ofSeconds(1));
  }

  /** 1:23, 1:02:03, and from a day on (a daily quota that binds) days and hours: 2 d 14 h. */
  static String formatDuration(Duration d) {
    long seconds = Math.max(0, d.getSeconds());
    if (seconds >= 86_400) {
      return String.format(Locale.ROOT, "%d d %d h", seconds / 86_400, seconds / 3600 % 24);
    }
    return seconds >= 3600
        ? String.format(Locale.ROOT, "%d:%02d:%02d", seconds / 3600, seconds / 60 % 60, seconds % 60)
        : String.format(Locale.ROOT, "%d:%02d", seconds / 60, seconds % 60);
  }

  /** Plain lines for logs and pipes: one when something changed, at most one per interval. */
  final class Lines implements ProgressView {
    private final String task;
    private final PrintStream out;
    private final Clock clock;
    private final Duration interval;
    private Instant lastPrinted = Instant.MIN;
    private Snapshot last;

    Lines(String task, PrintStream out, Clock clock, Duration interval) {
      this.task = task;
      this.out = out;
      this.clock = clock;
      this.interval = interval;
    }

    @Override
    public void show(Snapshot s) {
      Instant now = clock.instant();
      boolean finished = s.done() >= s.total() && (last == null || last.done() < last.total());
      if (finished || (!s.equals(last) && !now.isBefore(lastPrinted.plus(interval)))) {
        out.println(task + ": " + s.done() + "/" + s.total() + " files · " + s.details(now));
        out.flush();
        lastPrinted = now;
        last = s;
      }
    }

    @Override
    public void close() {
      out.flush();
    }
  }
}
