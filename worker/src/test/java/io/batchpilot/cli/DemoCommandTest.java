package io.batchpilot.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(PostgresExtension.class)
class DemoCommandTest {

  @Test
  void theDemoCallsGeminiBaseUrlWhenAKeyComesWithItAndItsSimulatorWithoutAKey() {
    assertEquals(DemoCommand.Endpoint.SIMULATOR, DemoCommand.Endpoint.of(Map.of()));
    assertEquals(DemoCommand.Endpoint.SIMULATOR, DemoCommand.Endpoint.of(Map.of("GEMINI_BASE_URL", "http://127.0.0.1:8089")));
    assertEquals(DemoCommand.Endpoint.GOOGLE, DemoCommand.Endpoint.of(Map.of("GEMINI_API_KEY", "k")));
    assertEquals(DemoCommand.Endpoint.GEMINI_BASE_URL,
        DemoCommand.Endpoint.of(Map.of("GEMINI_API_KEY", "k", "GEMINI_BASE_URL", "http://127.0.0.1:8089")));
  }

  @Test
  void demoJsonPrintsTheSummaryAloneOnStdout(TestDatabase db) throws Exception {
    assumeTrue(System.getenv("GEMINI_API_KEY") == null, "this test runs the demo on its simulator");
    CliRun run = CliRun.of("demo", "--files", "2", "--rpm", "120", "--json", "--database-url", db.url().withCredentials());
    assertEquals(ExitCode.OK, run.exitCode(), run.err() + run.out());
    assertEquals(1, run.out().lines().count(), run.out());
    JsonNode summary = JsonOutput.MAPPER.readTree(run.out());
    assertEquals(2, summary.path("files_total").asInt());
    assertEquals(2, summary.path("files_completed").asInt());
    assertEquals(0, summary.path("files_failed").asInt());
    assertEquals(2, summary.path("accurate").asInt());
    assertEquals(0, summary.path("rate_limited_429s").asInt());
    assertEquals(0, summary.path("mismatches").size());
  }

  @Test
  void aBatchDemoCompletesThroughBatchModeAndSavesHalfTheInteractivePrice(TestDatabase db) throws Exception {
    org.junit.jupiter.api.Assumptions.assumeTrue(System.getenv("GEMINI_API_KEY") == null, "runs on the simulator");
    CliRun run = CliRun.of("demo", "--files", "3", "--delivery", "batch", "--json", "--database-url",
        db.url().withCredentials());
    assertEquals(ExitCode.OK, run.exitCode(), run.err() + run.out());
    JsonNode summary = JsonOutput.MAPPER.readTree(run.out());
    assertEquals(3, summary.path("files_completed").asInt());
    assertEquals(3, summary.path("accurate").asInt());
    assertEquals("batch", summary.path("delivery").asText());
    java.math.BigDecimal cost = summary.path("estimated_cost_usd").decimalValue();
    java.math.BigDecimal interactive = summary.path("interactive_cost_usd").decimalValue();
    assertTrue(cost.signum() > 0, summary.toString());
    assertEquals(0.5, cost.doubleValue() / interactive.doubleValue(), 0.01, "the batch price is half: " + summary);
    assertEquals(0, interactive.subtract(cost).compareTo(summary.path("saved_usd").decimalValue()));
  }

  @Test
  void theAccuracyLineNamesTheFieldsThatWereWrong() {
    var summary = new DemoCommand.Summary(16, 15, 1, 9, 0, 30_000, 2_000, 6_000, java.math.BigDecimal.ONE,
        java.math.BigDecimal.ONE, false, 0.5, 11,
        new java.util.TreeMap<>(Map.of("date", 1, "total", 3)), 11, java.time.Duration.ofSeconds(20));
    java.io.StringWriter text = new java.io.StringWriter();
    summary.print(new java.io.PrintWriter(text, true));
    assertTrue(text.toString().contains("11 of 15 completed match the ground truth (73%); first field wrong: date 1, total 3"),
        text.toString());
  }

  @Test
  void aBatchSummarySaysWhatBatchModeSaved() {
    var summary = new DemoCommand.Summary(4, 4, 0, 0, 0, 8_000, 1_600, 1_752, new java.math.BigDecimal("0.002500"),
        new java.math.BigDecimal("0.005000"), true, 0.0, 4, new java.util.TreeMap<>(), 4, java.time.Duration.ofSeconds(9));
    java.io.StringWriter text = new java.io.StringWriter();
    summary.print(new java.io.PrintWriter(text, true));
    assertTrue(text.toString().contains("saved                $0.002500 (50%) against interactive delivery ($0.005000 "
        + "for the same tokens)"), text.toString());
    assertTrue(text.toString().contains("Batch Mode prices"), text.toString());
  }

  @Test
  void anUnknownDeliveryIsAUsageErrorNamingTheAcceptedOnes() {
    CliRun run = CliRun.of("demo", "--delivery", "overnight");
    assertEquals(ExitCode.USAGE, run.exitCode(), run.err());
    assertTrue(run.err().contains("--delivery must be interactive or batch, was 'overnight'"), run.err());
  }

  @Test
  void aBadExtractionErrorFlagIsAUsageErrorNamingIt() {
    CliRun run = CliRun.of("demo", "--extraction-error", "wrong-totals=0.1");
    assertEquals(ExitCode.USAGE, run.exitCode(), run.err());
    assertTrue(run.err().contains("--extraction-error wrong-totals=0.1") && run.err().contains("wrong-total"), run.err());
  }
}
