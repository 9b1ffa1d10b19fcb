package io.batchpilot.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class ProgressViewTest {

  private static final Instant T0 = Instant.parse("2026-11-29T10:00:00Z");

  /** A clock the test moves by hand. */
  private static final class ManualClock extends Clock {
    Instant now = T0;

    @Override public ZoneOffset getZone() { return ZoneOffset.UTC; }
    @Override public Clock withZone(java.time.ZoneId zone) { return this; }
    @Override public Instant instant() { return now; }
  }

  private static ProgressView.Snapshot snapshot(long done, Optional<Instant> eta) {
    return new ProgressView.Snapshot(done, 10, 1, 4.5, 3, 5, 2, eta);
  }

  @Test
  void plainLinesNameCountsRateQuota429sAndEta() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    ManualClock clock = new ManualClock();
    try (ProgressView view = new ProgressView.Lines("demo", new PrintStream(bytes, true, StandardCharsets.UTF_8),
        clock, Duration.ofSeconds(5))) {
      view.show(snapshot(4, Optional.of(T0.plusSeconds(83))));
    }
    assertEquals("demo: 4/10 files · 1 failed · 4.5 files/min · quota 3/5 req/min · 2×429 · ETA 1:23\n",
        bytes.toString(StandardCharsets.UTF_8));
  }

  @Test
  void aBatchSessionSaysItsFilesAreAtGoogleWithTheJobsStateAndHoursNotAMinutesEta() {
    ProgressView.AtGoogle atGoogle = new ProgressView.AtGoogle(7, 1, "running", T0.minusSeconds(3 * 3600 + 5 * 60),
        T0.plusSeconds(21 * 3600));
    ProgressView.Snapshot s = snapshot(3, Optional.of(T0.plusSeconds(60))).withAtGoogle(Optional.of(atGoogle));
    assertEquals("1 failed · 7 at Google in a batch job (running, 3:05:00 so far) · Google's target: within 24 h, "
        + "by 2026-11-30 07:00 UTC", s.details(T0));
    assertEquals("1 failed · Batch Mode: waiting to go into a batch job", snapshot(3, Optional.empty())
        .withAtGoogle(Optional.of(new ProgressView.AtGoogle(0, 0, null, null, null))).details(T0));
    assertEquals("1 failed · 4 going to Google in a batch job", snapshot(3, Optional.empty())
        .withAtGoogle(Optional.of(new ProgressView.AtGoogle(4, 1, "creating", T0, T0))).details(T0));
  }

  @Test
  void plainLinesPrintAtMostOncePerIntervalButAlwaysTheFinish() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    ManualClock clock = new ManualClock();
    try (ProgressView view = new ProgressView.Lines("demo", new PrintStream(bytes, true, StandardCharsets.UTF_8),
        clock, Duration.ofSeconds(5))) {
      view.show(snapshot(1, Optional.empty()));
      clock.now = T0.plusSeconds(1);
      view.show(snapshot(2, Optional.empty()));
      clock.now = T0.plusSeconds(2);
      view.show(snapshot(10, Optional.empty()));
      clock.now = T0.plusSeconds(9);
      view.show(snapshot(10, Optional.empty()));
    }
    String[] lines = bytes.toString(StandardCharsets.UTF_8).split("\n");
    assertEquals(2, lines.length, String.join("\n", lines));
    assertTrue(lines[0].startsWith("demo: 1/10 files"), lines[0]);
    assertTrue(lines[1].startsWith("demo: 10/10 files") && lines[1].endsWith("ETA done"), lines[1]);
  }

  @Test
  void theBarCountsElapsedAndEtaDownOnItsTimerWhileNoFileFinishes() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    ManualClock clock = new ManualClock();
    TerminalBar bar = new TerminalBar("demo", new PrintStream(bytes, true, StandardCharsets.UTF_8), clock, 200);
    bar.show(snapshot(4, Optional.of(T0.plusSeconds(90))));
    for (int second = 1; second <= 3; second++) {
      clock.now = T0.plusSeconds(second);
      bar.redraw(); // what the timer does every second; the snapshot stays the same, as in a quota wait
    }
    bar.close();
    String[] frames = bytes.toString(StandardCharsets.UTF_8).split("\r\033\\[2K");
    List<String> drawn = Arrays.stream(frames).filter(f -> !f.isEmpty()).map(String::strip).toList();
    assertEquals(5, drawn.size(), drawn.toString());
    for (int second = 0; second <= 3; second++) {
      String frame = drawn.get(second);
      assertTrue(frame.contains("ETA 1:" + (30 - second) + " · 0:0" + second + " elapsed"), frame);
      assertTrue(frame.startsWith("demo  40% ████████░░░░░░░░░░░░ 4/10"), frame);
    }
  }

  @Test
  void aLineLoggedWhileTheBarShowsIsPrintedAboveItAndTheBarDrawnAgain() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    ManualClock clock = new ManualClock();
    TerminalBar bar = new TerminalBar("demo", new PrintStream(bytes, true, StandardCharsets.UTF_8), clock, 200);
    bar.show(snapshot(4, Optional.empty()));
    bar.printAbove("10:00:01.000 WARN  a worker line");
    String printed = bytes.toString(StandardCharsets.UTF_8);
    int log = printed.indexOf("\r\033[2K10:00:01.000 WARN  a worker line\n");
    assertTrue(log > 0, printed);
    assertTrue(printed.substring(log).contains("\ndemo  40%"), "the bar is drawn again below: " + printed);
  }

  @Test
  void theBarNeverFillsTheLastColumnSoItNeverWraps() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    ManualClock clock = new ManualClock();
    TerminalBar bar = new TerminalBar("session 1234abcd", new PrintStream(bytes, true, StandardCharsets.UTF_8), clock, 60);
    bar.show(snapshot(4, Optional.of(T0.plusSeconds(90))));
    assertTrue(bar.render(T0).length() < 60, bar.render(T0));
    assertTrue(bar.render(T0).contains("ETA 1:30"), "the ETA comes first among the details: " + bar.render(T0));
    assertTrue(bar.render(T0).endsWith("…"), bar.render(T0));
  }

  @Test
  void durationsReadAsMinutesHoursAndFromADayOnDays() {
    assertEquals("1:23", ProgressView.formatDuration(Duration.ofSeconds(83)));
    assertEquals("1:02:03", ProgressView.formatDuration(Duration.ofSeconds(3723)));
    assertEquals("2 d 14 h", ProgressView.formatDuration(Duration.ofDays(2).plusHours(14).plusMinutes(59)));
    assertEquals("0:00", ProgressView.formatDuration(Duration.ofSeconds(-5)));
  }
}
