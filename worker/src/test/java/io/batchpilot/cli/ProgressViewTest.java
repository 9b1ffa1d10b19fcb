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
}
