package io.batchpilot.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The demo's accuracy line measures the pipeline: with the simulator answering wrongly, what gets
 * through is counted, and what cannot be read is retried. A class of its own, so its database holds
 * no earlier demo's results for the same sample receipts to be reused as duplicates.
 */
@ExtendWith(PostgresExtension.class)
class DemoAccuracyTest {

  @Test
  void withWrongAnswersTheAccuracyLineCountsTheMismatchesAndCutOffAnswersAreRetried(TestDatabase db) throws Exception {
    assumeTrue(System.getenv("GEMINI_API_KEY") == null, "this test runs the demo on its simulator");
    int files = 16;
    // Half the answers unusable (cut off or not JSON), 30% with a misread total: no file is likely to go
    // without a retry (0.5^16), nor every completed one to be right (0.4^16).
    CliRun run = CliRun.of("demo", "--files", String.valueOf(files), "--rpm", "600", "--json",
        "--extraction-error", "max-tokens=0.25", "--extraction-error", "malformed-json=0.25",
        "--extraction-error", "wrong-total=0.3", "--database-url", db.url().withCredentials());
    JsonNode summary = JsonOutput.MAPPER.readTree(run.out());
    int completed = summary.path("files_completed").asInt();
    int accurate = summary.path("accurate").asInt();
    assertEquals(files, completed + summary.path("files_failed").asInt(), run.err());
    assertTrue(summary.path("retries").asInt() > 0, "unusable answers are retried: " + summary);
    assertTrue(accurate < completed, "a misread total is valid JSON and gets through: " + summary);
    assertEquals(Map.of("total", completed - accurate), JsonOutput.MAPPER.convertValue(summary.path("mismatches"),
        new TypeReference<Map<String, Integer>>() { }), "only the totals were wrong");
    assertEquals(ExitCode.FAILED, run.exitCode(), "an inaccurate run does not exit OK");
  }

}
