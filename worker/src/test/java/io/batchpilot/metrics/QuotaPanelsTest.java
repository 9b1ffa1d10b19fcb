package io.batchpilot.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.store.Jooq;
import java.util.List;
import org.jooq.DSLContext;
import org.jooq.Record;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The quota dashboard draws the gate's adaptive factor as the gate computes it. */
@ExtendWith(PostgresExtension.class)
class QuotaPanelsTest {

  private static final String MODEL = "gemini-2.5-flash";

  @Test
  void everyCutIsRecordedAndTheFactorAtAnyInstantMatchesTheGates(TestDatabase db) {
    DSLContext dsl = Jooq.using(db.dataSource());
    // Two 429s in separate blocked periods (the first block lifted by hand): two cuts.
    dsl.execute("SELECT public.batchpilot_report_rate_limit('gemini', ?, 0, 'q')", MODEL);
    dsl.execute("UPDATE public.quota_limits SET blocked_until = NULL WHERE model = ?", MODEL);
    dsl.execute("SELECT public.batchpilot_report_rate_limit('gemini', ?, 20000, 'q')", MODEL);

    List<Double> recorded = dsl.fetch("SELECT adaptive_factor FROM public.batchpilot_adaptive_factor_changes"
        + " WHERE model = ? ORDER BY changed_at", MODEL).getValues(0, Double.class);
    assertEquals(List.of(1.0, 0.5, 0.25), recorded, "the initial factor and each cut");

    // At instants from the last change to an hour on, the history's arithmetic equals the gate's.
    List<Record> compared = dsl.fetch("SELECT at, batchpilot_private.adaptive_factor_at(q, at) AS gate,"
        + " batchpilot_reporting.adaptive_factor(c.adaptive_factor, c.adaptive_increase, c.window_ms, c.changed_at, at) AS panel"
        + " FROM public.quota_limits q"
        + " JOIN LATERAL (SELECT * FROM public.batchpilot_adaptive_factor_changes c WHERE c.model = q.model"
        + "               ORDER BY c.changed_at DESC LIMIT 1) c ON true"
        + " CROSS JOIN generate_series(q.adaptive_changed_at, q.adaptive_changed_at + interval '1 hour', interval '37 seconds') at"
        + " WHERE q.model = ?", MODEL);
    assertTrue(compared.size() > 90);
    for (Record r : compared) {
      assertEquals(r.get("gate", Double.class), r.get("panel", Double.class), 1e-12, "at " + r.get("at"));
    }
    Double now = dsl.resultQuery("SELECT adaptive_factor FROM batchpilot_reporting.quota_limits WHERE model = ?", MODEL)
        .fetchOne(0, Double.class);
    assertTrue(now < 1.0, "a 429 just cut the factor: " + now);
  }
}
