package io.batchpilot.cli;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.turbo.TurboFilter;
import ch.qos.logback.core.spi.FilterReply;
import java.util.List;
import org.slf4j.Marker;

/**
 * Keeps off the screen the library warnings a person cannot act on: PDFBox choosing a fallback font
 * for a PDF's unembedded one (it renders anyway), and PostgreSQL's notice, relayed by Flyway, that
 * wal_level is too low for the Realtime publication. That one can be acted on, but not by reading
 * it in a migration's log: `batchpilot migrate` says it in plain words instead.
 */
public final class QuietLibraries extends TurboFilter {

  /** A logger name prefix and a text its message contains. */
  private record Quiet(String loggerPrefix, String text) {}

  private static final List<Quiet> QUIET = List.of(
      new Quiet("org.apache.pdfbox", "Using fallback font"),
      new Quiet("org.flywaydb", "wal_level"));

  @Override
  public FilterReply decide(Marker marker, Logger logger, Level level, String format, Object[] params, Throwable t) {
    if (format == null || level.isGreaterOrEqual(Level.ERROR)) {
      return FilterReply.NEUTRAL;
    }
    for (Quiet quiet : QUIET) {
      if (logger.getName().startsWith(quiet.loggerPrefix()) && format.contains(quiet.text())) {
        return FilterReply.DENY;
      }
    }
    return FilterReply.NEUTRAL;
  }
}
