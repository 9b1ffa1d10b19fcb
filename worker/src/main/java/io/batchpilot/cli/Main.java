package io.batchpilot.cli;

import io.batchpilot.db.SchemaMissingException;
import io.batchpilot.settings.Kind;
import io.batchpilot.settings.Setting;
import java.util.Set;
import org.jooq.exception.DataAccessException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

@Command(name = "batchpilot", mixinStandardHelpOptions = true, scope = CommandLine.ScopeType.INHERIT, versionProvider = Main.Version.class,
    description = "Rate-limited batch processing of uploaded files through Gemini, coordinated by PostgreSQL.",
    subcommands = {MigrateCommand.class, SubmitCommand.class, StatusCommand.class,
        SteerCommands.Pause.class, SteerCommands.Resume.class, SteerCommands.Cancel.class, WorkerCommand.class, SimulateCommand.class, DemoCommand.class,
        SupabaseMigrationCommand.class},
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {
        "0:done", "1:the work ran but failed (a session or files failed)",
        "2:a flag, argument or setting is wrong or missing", "3:the session named does not exist",
        "4:the database or another service did not answer"})
public final class Main {

  /** Read by logback.xml, which cannot read a declaration; SettingsDocTest checks the two agree. */
  static final Setting<String> LOG_LEVEL = Setting.of("BATCHPILOT_LOG_LEVEL",
      Kind.text("a log level: ERROR, WARN, INFO, DEBUG or TRACE"), "INFO",
      "batchpilot's log level on stderr; set, the demo leaves its workers' INFO lines on too");

  public static void main(String[] args) {
    System.exit(run(args));
  }

  /** Runs the command line and returns the exit code (tests call this). */
  public static int run(String... args) {
    return commandLine().execute(args);
  }

  static CommandLine commandLine() {
    CommandLine commandLine = new CommandLine(new Main());
    commandLine.setExecutionExceptionHandler((e, cmd, parsed) -> {
      CliException cli = e instanceof CliException c ? c : understood(e);
      if (cli == null) {
        throw e;
      }
      cmd.getErr().println("batchpilot: " + cli.getMessage());
      cmd.getErr().flush();
      return cli.exitCode();
    });
    return commandLine;
  }

  /**
   * A failure a person can act on although the command did not foresee it, as its one line; null
   * for a bug, which keeps its stack trace.
   */
  static CliException understood(Exception e) {
    if (e instanceof DataAccessException dae && UNDEFINED_OBJECT.contains(dae.sqlState())) {
      return CliException.usage("the database has no batchpilot schema, or an older one (" + serverMessage(dae)
          + "): run `batchpilot migrate` with the same DATABASE_URL");
    }
    if (e instanceof SchemaMissingException missing) {
      return CliException.usage(missing.getMessage());
    }
    return null;
  }

  /** The server's own words: the innermost SQLException with a state, not the driver's wrappers. */
  private static String serverMessage(DataAccessException e) {
    String message = e.getMessage();
    for (Throwable t = e.getCause(); t != null; t = t.getCause()) {
      if (t instanceof java.sql.SQLException sql && sql.getSQLState() != null) {
        message = sql.getMessage();
      }
    }
    return message;
  }

  /** PostgreSQL's undefined_table, undefined_function, undefined_column, undefined_object. */
  private static final Set<String> UNDEFINED_OBJECT = Set.of("42P01", "42883", "42703", "42704");

  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String version = Main.class.getPackage().getImplementationVersion();
      return new String[] {"batchpilot " + (version == null ? "(development build)" : version)};
    }
  }
}
