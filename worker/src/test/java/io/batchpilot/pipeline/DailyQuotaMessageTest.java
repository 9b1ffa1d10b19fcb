package io.batchpilot.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** A spent daily quota tells the session when it comes back: the reset's time and the wait. */
class DailyQuotaMessageTest {

  @Test
  void namesTheResetTimeAndTheWait() {
    Instant now = Instant.parse("2026-12-03T00:47:30Z");
    assertEquals("the daily quota of gemini-2.5-flash is spent; this session's files wait for its reset at midnight "
            + "Pacific time (2026-12-03 08:00 UTC, in 7 h 12 min) and then continue by themselves",
        GatedCall.dailyQuotaMessage("gemini-2.5-flash", "files", now, Duration.ofHours(7).plusMinutes(12).plusSeconds(30)));
  }

  @Test
  void aResetAlreadyPassedIsNow() {
    Instant now = Instant.parse("2026-12-03T08:00:00Z");
    assertEquals("the daily quota of m is spent; this session's files wait for its reset at midnight Pacific time "
        + "(2026-12-03 08:00 UTC, in 0 h 0 min) and then continue by themselves",
        GatedCall.dailyQuotaMessage("m", "files", now, Duration.ofSeconds(-3)));
  }
}
