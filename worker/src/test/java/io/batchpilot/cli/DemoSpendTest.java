package io.batchpilot.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.metrics.Dashboards;
import io.batchpilot.metrics.GrafanaMacros;
import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * What the demo says it spent is what the cost dashboard shows for it: the summary's cost, thinking
 * tokens priced as output, equals the spend of the dashboard's own SQL (read from grafana/, macros
 * expanded as Grafana expands them, run as Grafana's role) over the demo's model.
 */
@ExtendWith(PostgresExtension.class)
class DemoSpendTest {

  private static final String TABLE_PANEL = "Tokens and spend by team, model and day";
  private static final String SPEND_PANEL = "Estimated spend per day by team (USD)";

  @Test
  void theDemosCostIsTheCostDashboardsSpendThinkingIncluded(TestDatabase db) throws Exception {
    demoSpendIsTheDashboards(db, "interactive");
  }

  @Test
  void aBatchDemosCostIsTheCostDashboardsSpendAtTheBatchPrice(TestDatabase db) throws Exception {
    demoSpendIsTheDashboards(db, "batch");
  }

  private void demoSpendIsTheDashboards(TestDatabase db, String delivery) throws Exception {
    assumeTrue(System.getenv("GEMINI_API_KEY") == null, "this test runs the demo on its simulator");
    try (Connection c = db.connect(); Statement s = c.createStatement()) {
      // The other test's demo: its usage, and its receipts (the same samples would be reused as duplicates).
      s.execute("DELETE FROM public.batchpilot_usage_per_minute");
      s.execute("DELETE FROM public.batch_upload_sessions");
    }
    CliRun run = CliRun.of("demo", "--files", "3", "--rpm", "120", "--delivery", delivery, "--json", "--database-url",
        db.url().withCredentials());
    assertEquals(ExitCode.OK, run.exitCode(), run.err());
    JsonNode summary = JsonOutput.MAPPER.readTree(run.out());
    int completed = summary.path("files_completed").asInt();
    assertEquals(3, completed);
    assertEquals(completed * DemoCommand.SIMULATED_THOUGHTS_TOKENS, summary.path("thinking_tokens").asLong(),
        "every completed receipt's thinking, as the simulator reported it");
    BigDecimal said = summary.path("estimated_cost_usd").decimalValue();
    assertTrue(said.signum() > 0, "the demo's model is priced: " + summary);

    // The demo's rows are the only usage in this database, so every row of the panels is the demo's.
    Instant to = Instant.now().plus(Duration.ofMinutes(1));
    GrafanaMacros macros = new GrafanaMacros(to.minus(Duration.ofDays(30)), to);
    BigDecimal table = BigDecimal.ZERO;
    BigDecimal perDay = BigDecimal.ZERO;
    long thinking = 0;
    try (Connection c = db.connect(); Statement s = c.createStatement()) {
      s.execute("SET ROLE batchpilot_grafana");
      try (ResultSet rs = s.executeQuery(macros.expand(panelSql(TABLE_PANEL)))) {
        while (rs.next()) {
          assertEquals(DemoCommand.SIMULATED_MODEL, rs.getString("model"));
          assertFalse(rs.getBoolean("unpriced"), "the demo's model has a price row");
          table = table.add(rs.getBigDecimal("spend_usd"));
          thinking += rs.getLong("thinking_tokens");
        }
      }
      try (ResultSet rs = s.executeQuery(macros.expand(panelSql(SPEND_PANEL)))) {
        while (rs.next()) {
          perDay = perDay.add(rs.getBigDecimal("spend"));
        }
      }
    }
    assertEquals(summary.path("thinking_tokens").asLong(), thinking, "the dashboard's thinking tokens");
    assertEquals(0, said.compareTo(table), "the demo said $" + said + ", the cost table shows $" + table);
    assertEquals(0, said.compareTo(perDay), "the demo said $" + said + ", the spend per day shows $" + perDay);
  }

  private static String panelSql(String title) {
    return Dashboards.queries().stream().filter(q -> q.dashboard().equals("cost.json") && q.panel().equals(title))
        .findFirst().orElseThrow(() -> new AssertionError("cost.json has no panel '" + title + "'")).rawSql();
  }
}
