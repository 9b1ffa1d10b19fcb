package io.batchpilot.limiter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

class QuotaGateConfigTest {

  @Test
  void unsetJitterTakesTheDefaultAndASetOneIsRead() {
    assertEquals(Duration.ofMillis(20),
        QuotaGateConfig.fromEnvironment(Map.of()).maxJitter());
    assertEquals(Duration.ofMillis(5),
        QuotaGateConfig.fromEnvironment(Map.of(QuotaGateConfig.MAX_JITTER.name(), "5ms")).maxJitter());
  }

  @Test
  void aBadJitterIsRefusedNamingTheSetting() {
    IllegalArgumentException notANumber = assertThrows(IllegalArgumentException.class,
        () -> QuotaGateConfig.fromEnvironment(Map.of(QuotaGateConfig.MAX_JITTER.name(), "5")));
    assertTrue(notANumber.getMessage().contains(QuotaGateConfig.MAX_JITTER.name()), notANumber::getMessage);
    IllegalArgumentException tooLarge = assertThrows(IllegalArgumentException.class,
        () -> QuotaGateConfig.fromEnvironment(Map.of(QuotaGateConfig.MAX_JITTER.name(), "60s")));
    assertTrue(tooLarge.getMessage().contains(QuotaGateConfig.MAX_JITTER.name()), tooLarge::getMessage);
  }

  @Test
  void waitsGetAtMostMaxJitterAdded() {
    java.util.Set<Duration> seen = new java.util.HashSet<>();
    for (int i = 0; i < 1000; i++) {
      Duration waited = QuotaGate.withJitter(Duration.ofMillis(100), Duration.ofMillis(3));
      seen.add(waited);
      assertTrue(waited.compareTo(Duration.ofMillis(100)) >= 0 && waited.compareTo(Duration.ofMillis(103)) <= 0,
          waited::toString);
    }
    assertTrue(seen.size() > 100, "the jitter varies");
  }
}
