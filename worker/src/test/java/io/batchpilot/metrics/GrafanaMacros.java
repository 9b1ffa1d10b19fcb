package io.batchpilot.metrics;

import java.math.BigDecimal;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Expands the macros of Grafana's PostgreSQL data source as Grafana does before it sends a panel's
 * SQL (pkg/tsdb/grafana-postgresql-datasource: sqleng.Interpolate, then macros.go), so the tests
 * run the SQL the server would receive. TimescaleDB mode is off, as in our data source. Only the
 * macros batchpilot's dashboards may use are implemented; {@code $__interval} (which depends on
 * the panel's width) is refused, so a dashboard cannot start using it untested.
 */
public final class GrafanaMacros {

  private static final Pattern MACRO = Pattern.compile("\\$([_a-zA-Z0-9]+)\\(([^)]*)\\)");
  private static final DateTimeFormatter SECONDS = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss").withZone(ZoneOffset.UTC);

  private final Instant from;
  private final Instant to;

  public GrafanaMacros(Instant from, Instant to) {
    this.from = from;
    this.to = to;
  }

  public String expand(String sql) {
    if (sql.contains("$__interval")) {
      throw new IllegalArgumentException("$__interval depends on the panel's width: group by a fixed interval");
    }
    if (sql.contains("--") || sql.contains("/*")) {
      throw new IllegalArgumentException("newer Grafana strips SQL comments before expanding macros: keep panel SQL free of them");
    }
    String global = sql
        .replace("$__unixEpochFrom()", Long.toString(from.getEpochSecond()))
        .replace("$__unixEpochTo()", Long.toString(to.getEpochSecond()));
    Matcher m = MACRO.matcher(global);
    StringBuilder out = new StringBuilder();
    while (m.find()) {
      String name = m.group(1);
      // Grafana < 5.3 compatibility: $__timeGroup directly followed by ',' gets the alias.
      if (name.equals("__timeGroup") && m.end() < global.length() && global.charAt(m.end()) == ',') {
        name = "__timeGroupAlias";
      }
      String[] args = Arrays.stream(m.group(2).split(",", -1)).map(String::strip).toArray(String[]::new);
      m.appendReplacement(out, Matcher.quoteReplacement(evaluate(name, args)));
    }
    m.appendTail(out);
    return out.toString();
  }

  private String evaluate(String name, String[] args) {
    return switch (name) {
      case "__time" -> column(name, args) + " AS \"time\"";
      case "__timeEpoch" -> "extract(epoch from " + column(name, args) + ") as \"time\"";
      case "__timeFilter" -> column(name, args) + " BETWEEN '" + rfc3339Nano(from) + "' AND '" + rfc3339Nano(to) + "'";
      case "__timeFrom" -> "'" + rfc3339Nano(from) + "'";
      case "__timeTo" -> "'" + rfc3339Nano(to) + "'";
      case "__timeGroup" -> {
        String seconds = goFloat(groupInterval(name, args));
        yield "floor(extract(epoch from " + args[0] + ")/" + seconds + ")*" + seconds;
      }
      case "__timeGroupAlias" -> evaluate("__timeGroup", args) + " AS \"time\"";
      case "__unixEpochFilter" -> column(name, args) + " >= " + from.getEpochSecond() + " AND " + args[0]
          + " <= " + to.getEpochSecond();
      case "__unixEpochGroup" -> {
        String seconds = goFloat(groupInterval(name, args));
        yield "floor((" + args[0] + ")/" + seconds + ")*" + seconds;
      }
      case "__unixEpochGroupAlias" -> evaluate("__unixEpochGroup", args) + " AS \"time\"";
      default -> throw new IllegalArgumentException("unknown macro \"" + name + "\" (Grafana would refuse the query too)");
    };
  }

  private static String column(String name, String[] args) {
    if (args.length == 0 || args[0].isEmpty()) {
      throw new IllegalArgumentException("missing time column argument for macro " + name);
    }
    return args[0];
  }

  private static double groupInterval(String name, String[] args) {
    if (args.length < 2) {
      throw new IllegalArgumentException("macro " + name + " needs time column and interval and optional fill value");
    }
    if (args.length == 3) {
      throw new IllegalArgumentException("macro " + name + ": fill modes are not used by batchpilot's dashboards");
    }
    return parseInterval(args[1].replace("'", "")).toNanos() / 1e9;
  }

  /** gtime.ParseInterval for the units dashboards use: ms, s, m, h, d, w. */
  static Duration parseInterval(String text) {
    Matcher m = Pattern.compile("(\\d+)(ms|s|m|h|d|w)").matcher(text);
    if (!m.matches()) {
      throw new IllegalArgumentException("error parsing interval " + text);
    }
    long n = Long.parseLong(m.group(1));
    return switch (m.group(2)) {
      case "ms" -> Duration.ofMillis(n);
      case "s" -> Duration.ofSeconds(n);
      case "m" -> Duration.ofMinutes(n);
      case "h" -> Duration.ofHours(n);
      case "d" -> Duration.ofDays(n);
      default -> Duration.ofDays(7 * n);
    };
  }

  /** Go's %v of a float64 for the values that occur here: 60 prints "60", 0.5 prints "0.5". */
  static String goFloat(double value) {
    return BigDecimal.valueOf(value).stripTrailingZeros().toPlainString();
  }

  /** Go's time.RFC3339Nano in UTC: fractional seconds without trailing zeros, "Z". */
  static String rfc3339Nano(Instant instant) {
    String out = SECONDS.format(instant);
    int nanos = instant.getNano();
    if (nanos != 0) {
      String fraction = String.format("%09d", nanos).replaceAll("0+$", "");
      out += "." + fraction;
    }
    return out + "Z";
  }
}
