package io.batchpilot.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

@Command(name = "batchpilot", mixinStandardHelpOptions = true, scope = CommandLine.ScopeType.INHERIT, versionProvider = Main.Version.class,
    description = "Rate-limited batch processing of uploaded files through Gemini, coordinated by PostgreSQL.",
    subcommands = {MigrateCommand.class, SubmitCommand.class, StatusCommand.class,
        SteerCommands.Pause.class, SteerCommands.Resume.class, SteerCommands.Cancel.class, WorkerCommand.class, SimulateCommand.class, DemoCommand.class},
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {
        "0:done", "1:the work ran but failed (a session or files failed)",
        "2:a flag, argument or setting is wrong or missing", "3:the session named does not exist",
        "4:the database or another service did not answer"})
public final class Main {

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
      if (e instanceof CliException cli) {
        cmd.getErr().println("batchpilot: " + cli.getMessage());
        cmd.getErr().flush();
        return cli.exitCode();
      }
      throw e;
    });
    return commandLine;
  }

  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String version = Main.class.getPackage().getImplementationVersion();
      return new String[] {"batchpilot " + (version == null ? "(development build)" : version)};
    }
  }
}
