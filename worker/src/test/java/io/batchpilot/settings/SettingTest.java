package io.batchpilot.settings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class SettingTest {

  private static final Setting<Duration> LEASE = Setting.duration("TEST_LEASE", "60s", Range.above(Duration.ZERO),
      "how long a claim holds a file").formerly("TEST_LEASE_SECONDS");
  private static final Setting<Integer> THREADS = Setting.integer("TEST_THREADS", 16, Range.between(1, 1000),
      "files in flight");
  private static final Setting<String> KEY = Setting.optional("TEST_KEY", Kind.text("an API key"), "required",
      "the key").keptSecret();

  @ParameterizedTest
  @CsvSource({"500ms, 500", "60s, 60000", "1.5s, 1500", "2m, 120000", "1h, 3600000", "7d, 604800000", "750 ms, 750"})
  void aDurationIsANumberWithItsUnit(String text, long millis) {
    assertEquals(Duration.ofMillis(millis), LEASE.from(Map.of("TEST_LEASE", text)));
  }

  @ParameterizedTest
  @CsvSource({"0, 0s", "500, 500ms", "60000, 1m", "90000, 90s", "604800000, 7d"})
  void aDurationIsWrittenInTheLargestUnitThatHoldsIt(long millis, String text) {
    assertEquals(text, Durations.format(Duration.ofMillis(millis)));
    assertEquals(Duration.ofMillis(millis), Durations.parse(text));
  }

  @Test
  void unsetOrBlankTakesTheDefault() {
    assertEquals(Duration.ofSeconds(60), LEASE.from(Map.of()));
    assertEquals(Duration.ofSeconds(60), LEASE.from(Map.of("TEST_LEASE", "  ")));
    assertEquals(Optional.empty(), LEASE.find(Map.of("TEST_LEASE", "")));
    assertEquals(16, THREADS.from(Map.of()));
  }

  @Test
  void aBareNumberIsRefusedNamingTheSettingTheValueAndTheForm() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LEASE.from(Map.of("TEST_LEASE", "60")));
    assertEquals("TEST_LEASE must be a duration with its unit, like 500ms, 60s, 2m, 1h or 7d; got '60'", e.getMessage());
  }

  @Test
  void aValueOutsideTheRangeIsRefusedAsWritten() {
    assertEquals("TEST_LEASE must be more than 0s; got '0ms'", assertThrows(IllegalArgumentException.class,
        () -> LEASE.from(Map.of("TEST_LEASE", "0ms"))).getMessage());
    assertEquals("TEST_THREADS must be between 1 and 1000; got '0'", assertThrows(IllegalArgumentException.class,
        () -> THREADS.from(Map.of("TEST_THREADS", "0"))).getMessage());
  }

  @Test
  void aWholeNumberBeyondAnIntIsRefusedNotWrapped() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> THREADS.from(Map.of("TEST_THREADS", "4294967297")));
    assertEquals("TEST_THREADS must be a whole number of at most 2147483647; got '4294967297'", e.getMessage());
    assertEquals("TEST_THREADS must be a whole number; got '1.5'", assertThrows(IllegalArgumentException.class,
        () -> THREADS.from(Map.of("TEST_THREADS", "1.5"))).getMessage());
  }

  @Test
  void aValueBuiltInCodeMeetsTheSameRange() {
    assertEquals("TEST_THREADS must be between 1 and 1000; got 1001",
        assertThrows(IllegalArgumentException.class, () -> THREADS.check(1001)).getMessage());
    assertEquals("TEST_LEASE must be more than 0s; got 0s",
        assertThrows(IllegalArgumentException.class, () -> LEASE.check(Duration.ZERO)).getMessage());
    assertEquals(Duration.ofSeconds(1), LEASE.check(Duration.ofSeconds(1)));
  }

  @Test
  void theFormerNameIsRefusedNamingTheNewOne() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> LEASE.from(Map.of("TEST_LEASE_SECONDS", "60")));
    assertTrue(e.getMessage().startsWith("TEST_LEASE_SECONDS is now TEST_LEASE: set the new name with its unit"),
        e.getMessage());
  }

  @Test
  void aSecretsValueIsNeverInTheMessage() {
    Setting<Boolean> secretFlag = Setting.of("TEST_SECRET_FLAG", Kind.TRUE_OR_FALSE, false, "a flag").keptSecret();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> secretFlag.from(Map.of("TEST_SECRET_FLAG", "hunter2")));
    assertTrue(e.getMessage().startsWith("TEST_SECRET_FLAG must be true or false"), e.getMessage());
    assertFalse(e.getMessage().contains("hunter2"), e.getMessage());
    assertEquals(Optional.of("k-1"), KEY.find(Map.of("TEST_KEY", " k-1 ")));
  }

  @Test
  void listsTrueOrFalseAndOneOfReadWhatTheySay() {
    Setting<Set<String>> buckets = Setting.optional("TEST_BUCKETS", Kind.LIST, "none", "buckets");
    assertEquals(Optional.of(Set.of("a", "b")), buckets.find(Map.of("TEST_BUCKETS", "a, b,,")));
    Setting<Boolean> flag = Setting.of("TEST_FLAG", Kind.TRUE_OR_FALSE, false, "a flag");
    assertTrue(flag.from(Map.of("TEST_FLAG", "TRUE")));
    assertEquals("TEST_FLAG must be true or false; got 'yes'",
        assertThrows(IllegalArgumentException.class, () -> flag.from(Map.of("TEST_FLAG", "yes"))).getMessage());
    Setting<String> mode = Setting.of("TEST_MODE", Kind.oneOf(s -> s, "fast", "slow", "off"), "fast", "a mode");
    assertEquals("TEST_MODE must be one of fast, slow or off; got 'quick'",
        assertThrows(IllegalArgumentException.class, () -> mode.from(Map.of("TEST_MODE", "quick"))).getMessage());
  }

  @Test
  void aDeclarationIsRefusedWhenItBreaksTheRules() {
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Setting.duration("TEST_POLL_MS", "5ms",
        Range.atLeast(Duration.ZERO), "poll")).getMessage().contains("never carries a unit"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Setting.integer("TEST_N", 0, Range.atLeast(1),
        "n")).getMessage().startsWith("TEST_N must be at least 1"));
    assertThrows(IllegalArgumentException.class, () -> Setting.integer("TEST_N", 1, Range.atLeast(1), "two\nlines"));
  }

  @Test
  void theReferenceListsEachSettingOnceWithItsDefaultAndRange() {
    SettingsReference reference = new SettingsReference("# Test", List.of(
        new SettingsReference.Area("Test", "For the test.", List.of(LEASE, THREADS, KEY))));
    String markdown = reference.markdown();
    assertTrue(markdown.contains("| `TEST_LEASE` | `60s` | more than 0s | how long a claim holds a file |\n"), markdown);
    assertTrue(markdown.contains("| `TEST_THREADS` | `16` | 1 to 1000 | files in flight |\n"), markdown);
    assertTrue(markdown.contains("| `TEST_KEY` | required | an API key | the key |\n"), markdown);
    assertTrue(markdown.contains("| `TEST_LEASE_SECONDS` | `TEST_LEASE` |\n"), markdown);
    IllegalArgumentException twice = assertThrows(IllegalArgumentException.class, () -> new SettingsReference("# Test",
        List.of(new SettingsReference.Area("A", "a", List.of(LEASE)), new SettingsReference.Area("B", "b", List.of(LEASE)))));
    assertTrue(twice.getMessage().startsWith("TEST_LEASE is declared twice"), twice.getMessage());
  }
}
