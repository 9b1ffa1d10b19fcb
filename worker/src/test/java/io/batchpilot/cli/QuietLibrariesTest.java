package io.batchpilot.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.util.List;
import org.junit.jupiter.api.Test;

class QuietLibrariesTest {

  @Test
  void theFallbackFontAndWalLevelWarningsStayOffTheScreenAndOthersDoNot() {
    LoggerContext context = new LoggerContext();
    context.addTurboFilter(new QuietLibraries());
    ListAppender<ILoggingEvent> seen = new ListAppender<>();
    seen.setContext(context);
    seen.start();
    Logger root = context.getLogger(Logger.ROOT_LOGGER_NAME);
    root.addAppender(seen);
    root.setLevel(Level.INFO);

    context.getLogger("org.apache.pdfbox.pdmodel.font.FileSystemFontProvider")
        .warn("Using fallback font LiberationSans for base font Helvetica");
    context.getLogger("org.flywaydb.core.internal.sqlscript.DefaultSqlScriptExecutor")
        .warn("DB: \"wal_level\" is insufficient to publish logical changes (SQL State: 55000 - Error Code: 0)");
    context.getLogger("org.apache.pdfbox.pdfparser.COSParser").warn("Invalid dictionary, found: ']'");
    context.getLogger("org.flywaydb.core.FlywayExecutor").warn("Flyway upgrade recommended");
    context.getLogger("io.batchpilot.worker.Worker").warn("Using fallback font is our own words here");

    assertEquals(List.of("Invalid dictionary, found: ']'", "Flyway upgrade recommended",
        "Using fallback font is our own words here"), seen.list.stream().map(ILoggingEvent::getFormattedMessage).toList());
  }
}
