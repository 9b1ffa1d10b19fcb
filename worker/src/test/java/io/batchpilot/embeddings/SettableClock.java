package io.batchpilot.embeddings;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;

/** A clock a test or benchmark moves by hand: the batcher's linger runs on it, so nothing sleeps. */
public final class SettableClock extends Clock {

  private Instant now = Instant.parse("2026-11-29T00:00:00Z");

  public synchronized void advance(Duration d) {
    now = now.plus(d);
  }

  @Override
  public ZoneId getZone() {
    return ZoneOffset.UTC;
  }

  @Override
  public Clock withZone(ZoneId zone) {
    return this;
  }

  @Override
  public synchronized Instant instant() {
    return now;
  }
}
