package io.batchpilot.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class MetricKeyTest {

  @Test
  void registryNameRoundTripsWithTagsSorted() {
    MetricKey key = MetricKey.of("gemini.call", "outcome", "rate_limited", "model", "gemini-2.5-flash");
    assertEquals("gemini.call{model=gemini-2.5-flash,outcome=rate_limited}", key.registryName());
    assertEquals(key, MetricKey.parse(key.registryName()));
    assertEquals(MetricKey.of("claim"), MetricKey.parse("claim"));
  }

  @Test
  void namesAndValuesThatWouldBreakTheSpellingAreRefused() {
    assertThrows(IllegalArgumentException.class, () -> MetricKey.of("gemini.call", "model", "a,b"));
    assertThrows(IllegalArgumentException.class, () -> MetricKey.of("gemini.call", "model", "x}"));
    assertThrows(IllegalArgumentException.class, () -> MetricKey.of("Gemini Call"));
    assertThrows(IllegalArgumentException.class, () -> MetricKey.parse("gemini.call{model}"));
  }
}
