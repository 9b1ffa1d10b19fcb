package io.batchpilot.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestData;
import io.batchpilot.db.testing.TestDatabase;
import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The cost dashboard's spend is the bill's: Batch Mode usage at the batch price, interactive at
 * the interactive one, thinking as output, split by delivery. Its panels' SQL (from grafana/, macros
 * expanded, as the Grafana role) over usage rows of a priced model and of an unpriced one.
 */
@ExtendWith(PostgresExtension.class)
class CostDashboardTest {

  private static final String MODEL = "cost-test-model";
  private static final String UNPRICED = "cost-test-unpriced";

  private static GrafanaMacros macros;

  /**
   * Interactive: 1M input at $1 + (0.5M output + 0.5M thinking) at $4 = $5. Batch, over two shards
   * of one minute: 3M input at $0.50 + 1M output at $2 = $3.50 (the same tokens interactive: $7).
   */
  @BeforeAll
  static void usageOfBothDeliveries(TestDatabase db) throws SQLException {
    TestData data = new TestData(db.dataSource());
    UUID team = data.team(data.user());
    data.update("UPDATE public.teams SET name = 'cost team' WHERE id = ?", team);
    data.update("INSERT INTO public.batchpilot_model_prices (model, input_usd_per_million, output_usd_per_million,"
        + " batch_input_usd_per_million, batch_output_usd_per_million, prices_read_on) VALUES (?, 1, 4, 0.5, 2, current_date)", MODEL);
    String usage = "INSERT INTO public.batchpilot_usage_per_minute (minute, team_id, model, delivery, shard, files_completed,"
        + " input_tokens, output_tokens, thinking_tokens) VALUES (date_trunc('minute', now()), ?, ?, ?, ?, ?, ?, ?, ?)";
    data.update(usage, team, MODEL, "interactive", 0, 2, 1_000_000L, 500_000L, 500_000L);
    data.update(usage, team, MODEL, "batch", 1, 3, 1_000_000L, 500_000L, 0L);
    data.update(usage, team, MODEL, "batch", 2, 1, 2_000_000L, 500_000L, 0L);
    data.update(usage, team, UNPRICED, "interactive", 0, 1, 1_000_000L, 0L, 0L);
    Instant to = Instant.now().plus(Duration.ofMinutes(1));
    macros = new GrafanaMacros(to.minus(Duration.ofDays(30)), to);
  }

  @Test
  void spendByDeliveryPricesBatchUsageAtTheBatchPrice(TestDatabase db) throws SQLException {
    Map<String, BigDecimal> byDelivery = new HashMap<>();
    for (Map<String, Object> row : rows(db, "Estimated spend per day by delivery (USD)")) {
      byDelivery.merge((String) row.get("delivery"), (BigDecimal) row.get("spend"), BigDecimal::add);
    }
    assertEquals(new BigDecimal("5.000000"), byDelivery.get("interactive"), byDelivery.toString());
    assertEquals(new BigDecimal("3.500000"), byDelivery.get("batch"), byDelivery.toString());
    assertEquals(2, byDelivery.size(), byDelivery.toString());
  }

  @Test
  void spendByTeamIsBothDeliveriesEachAtItsPriceAndLeavesTheUnpricedModelOut(TestDatabase db) throws SQLException {
    List<Map<String, Object>> rows = rows(db, "Estimated spend per day by team (USD)");
    assertEquals(1, rows.size(), rows.toString());
    assertEquals("cost team", rows.get(0).get("team"));
    assertEquals(new BigDecimal("8.500000"), rows.get(0).get("spend"));
  }

  @Test
  void theTableHasARowPerDeliveryAndMarksTheUnpricedModel(TestDatabase db) throws SQLException {
    Map<String, Map<String, Object>> byKey = new LinkedHashMap<>();
    for (Map<String, Object> row : rows(db, "Tokens and spend by team, model and day")) {
      byKey.put(row.get("model") + "/" + row.get("delivery"), row);
    }
    assertEquals(List.of(MODEL + "/batch", MODEL + "/interactive", UNPRICED + "/interactive"),
        byKey.keySet().stream().sorted().toList());
    Map<String, Object> batch = byKey.get(MODEL + "/batch");
    assertEquals(new BigDecimal("3.500000"), batch.get("spend_usd"));
    assertEquals(4L, ((Number) batch.get("files")).longValue());
    assertEquals(3_000_000L, ((Number) batch.get("input_tokens")).longValue());
    assertEquals(false, batch.get("unpriced"));
    Map<String, Object> interactive = byKey.get(MODEL + "/interactive");
    assertEquals(new BigDecimal("5.000000"), interactive.get("spend_usd"));
    assertEquals(500_000L, ((Number) interactive.get("thinking_tokens")).longValue());
    Map<String, Object> unpriced = byKey.get(UNPRICED + "/interactive");
    assertNull(unpriced.get("spend_usd"));
    assertEquals(true, unpriced.get("unpriced"));
  }

  @Test
  void noCostPanelPricesTokensItself() {
    for (Dashboards.PanelQuery query : Dashboards.queries()) {
      if (query.rawSql().contains("spend")) {
        assertTrue(query.rawSql().contains("spend_usd") && !query.rawSql().contains("usd_per_million"),
            query + " prices tokens itself; sum usage_per_minute's spend_usd, priced at the price of its delivery:\n"
                + query.rawSql());
      }
    }
  }

  private static List<Map<String, Object>> rows(TestDatabase db, String panel) throws SQLException {
    String sql = Dashboards.queries().stream().filter(q -> q.dashboard().equals("cost.json") && q.panel().equals(panel))
        .findFirst().orElseThrow(() -> new AssertionError("cost.json has no panel '" + panel + "'")).rawSql();
    try (Connection c = db.connect(); Statement s = c.createStatement()) {
      s.execute("SET ROLE batchpilot_grafana");
      try (ResultSet rs = s.executeQuery(macros.expand(sql))) {
        List<Map<String, Object>> rows = new ArrayList<>();
        while (rs.next()) {
          Map<String, Object> row = new LinkedHashMap<>();
          for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++) {
            row.put(rs.getMetaData().getColumnLabel(i), rs.getObject(i));
          }
          rows.add(row);
        }
        return rows;
      }
    }
  }
}
