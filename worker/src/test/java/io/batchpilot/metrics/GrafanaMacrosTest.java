package io.batchpilot.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Instant;
import org.junit.jupiter.api.Test;

/** The expansions Grafana's own macro tests expect (pkg/tsdb/grafana-postgresql-datasource/macros_test.go). */
class GrafanaMacrosTest {

  private final Instant from = Instant.parse("2018-04-12T18:00:00Z");
  private final Instant to = Instant.parse("2018-04-12T18:05:00Z");
  private final GrafanaMacros macros = new GrafanaMacros(from, to);

  @Test
  void timeFilterBecomesBetweenTwoRfc3339Instants() {
    assertEquals("WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'",
        macros.expand("WHERE $__timeFilter(time_column)"));
  }

  @Test
  void fractionalSecondsLoseTrailingZerosAsInGo() {
    GrafanaMacros half = new GrafanaMacros(Instant.parse("1960-02-01T07:00:00.500Z"), Instant.parse("1980-02-03T08:00:00.5Z"));
    assertEquals("WHERE t BETWEEN '1960-02-01T07:00:00.5Z' AND '1980-02-03T08:00:00.5Z'",
        half.expand("WHERE $__timeFilter(t)"));
  }

  @Test
  void timeGroupIsFlooredEpochSecondsAndAliasNamesItTime() {
    assertEquals("SELECT floor(extract(epoch from time_column)/300)*300", macros.expand("SELECT $__timeGroup(time_column,'5m')"));
    assertEquals("SELECT floor(extract(epoch from time_column)/300)*300 AS \"time\"",
        macros.expand("SELECT $__timeGroupAlias(time_column,'5m')"));
    assertEquals("floor(extract(epoch from time_column)/300)*300", macros.expand("$__timeGroup(time_column , '5m')"));
    assertEquals("floor(extract(epoch from c)/86400)*86400 AS \"time\"", macros.expand("$__timeGroupAlias(c, '1d')"));
  }

  @Test
  void timeGroupFollowedByACommaGetsTheAliasLikeGrafanaBefore53() {
    assertEquals("SELECT floor(extract(epoch from time_column)/300)*300 AS \"time\", value",
        macros.expand("SELECT $__timeGroup(time_column,'5m'), value"));
    assertEquals("SELECT floor(extract(epoch from time_column)/300)*300 as time, value",
        macros.expand("SELECT $__timeGroup(time_column,'5m') as time, value"));
  }

  @Test
  void timeFromToAndEpochFilters() {
    assertEquals("select '2018-04-12T18:00:00Z'", macros.expand("select $__timeFrom()"));
    assertEquals("select '2018-04-12T18:05:00Z'", macros.expand("select $__timeTo()"));
    assertEquals("select time >= 1523556000 AND time <= 1523556300", macros.expand("select $__unixEpochFilter(time)"));
    assertEquals("select 1523556000 and 1523556300", macros.expand("select $__unixEpochFrom() and $__unixEpochTo()"));
    assertEquals("SELECT floor((time_column+time_adjustment)/300)*300 AS \"time\"",
        macros.expand("SELECT $__unixEpochGroupAlias(time_column+time_adjustment,'5m')"));
    assertEquals("select time_column AS \"time\"", macros.expand("select $__time(time_column)"));
  }

  @Test
  void unknownMacrosAndWidthDependentIntervalsAreRefused() {
    assertThrows(IllegalArgumentException.class, () -> macros.expand("select $__nope(x)"));
    assertThrows(IllegalArgumentException.class, () -> macros.expand("select $__interval_ms"));
  }
}
