package io.batchpilot.cli;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.simulator.BatchConfig;
import io.batchpilot.simulator.Fault;
import io.batchpilot.simulator.ModelLimits;
import io.batchpilot.simulator.SimulatorConfig;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import picocli.CommandLine;

class HelpTextTest {

  /** picocli's default width, 80, of which it fills 79 columns. */
  private static final int FILLED = 79;

  /**
   * Each paragraph of a command's description is filled greedily: no line ends where the next
   * line's first word would still have fitted (the mark of text broken by hand, then wrapped again).
   */
  @Test
  void everyCommandsDescriptionWrapsAsOneFilledParagraph() {
    CommandLine root = Main.commandLine();
    List<CommandLine> commands = new ArrayList<>(root.getSubcommands().values());
    commands.add(root);
    assertAll(commands.stream().map(command -> (Executable) () -> {
      CommandLine.Help help = new CommandLine.Help(command.getCommandSpec(),
          CommandLine.Help.defaultColorScheme(CommandLine.Help.Ansi.OFF));
      List<String> lines = help.description().lines().toList();
      for (int i = 0; i + 1 < lines.size(); i++) {
        String line = lines.get(i);
        String next = lines.get(i + 1).strip();
        if (line.isBlank() || next.isEmpty()) {
          continue;
        }
        String firstWord = next.split(" ", 2)[0];
        assertTrue(line.length() + 1 + firstWord.length() > FILLED,
            command.getCommandName() + ": line " + (i + 1) + " is broken early before '" + firstWord + "':\n"
                + help.description());
      }
    }));
  }

  @Test
  void simulateListsEveryFlagItTakes() {
    CliRun help = CliRun.of("simulate", "--help");
    assertEquals(ExitCode.OK, help.exitCode(), help.err());
    for (String flag : List.of("--host", "--port", "--window", "--rpm", "--tpm", "--rpd", "--model-limits", "--free-tier",
        "--api-key", "--latency", "--fault", "--slow-response", "--seed", "--threads", "--thoughts-tokens", "--batch-pending",
        "--batch-running", "--batch-expire-after", "--batch-fault", "--batch-concurrent-jobs", "--batch-enqueued-tokens")) {
      assertTrue(help.out().contains(flag + "=") || help.out().contains(flag + " "), flag + " is missing from simulate --help:\n" + help.out());
    }
  }

  @Test
  void simulateFlagsReachTheSimulatorsConfig() {
    SimulateCommand command = new SimulateCommand();
    new CommandLine(command).parseArgs("--rpm", "7", "--window", "2s", "--model-limits", "m=1/2/3", "--free-tier",
        "--fault", "overloaded=0.25", "--api-key", "k1", "--api-key", "k2", "--slow-response", "5s");
    SimulatorConfig config = SimulatorConfig.parse(command.arguments(), Map.of());
    assertEquals(7, config.defaultLimits().requestsPerMinute());
    assertEquals(Duration.ofSeconds(2), config.window());
    assertEquals(new ModelLimits(1, 2, 3), config.limitsFor("m"));
    assertTrue(config.freeTier());
    assertEquals(0.25, config.faults().rates().get(Fault.OVERLOADED));
    assertEquals(Set.of("k1", "k2"), config.apiKeys());
    assertEquals(Duration.ofSeconds(5), config.faults().slowResponseDelay());
  }

  @Test
  void simulateBatchFlagsReachTheBatchConfig() {
    SimulateCommand command = new SimulateCommand();
    new CommandLine(command).parseArgs("--batch-pending", "1s", "--batch-running", "10s", "--batch-expire-after", "1m",
        "--batch-fault", "job-failed=0.5", "--batch-fault", "request-error=0.2", "--batch-concurrent-jobs", "2",
        "--batch-enqueued-tokens", "gemini-2.5-flash=3000000", "--batch-enqueued-tokens", "500");
    BatchConfig batch = SimulatorConfig.parse(command.arguments(), Map.of()).batch();
    assertEquals(Duration.ofSeconds(1), batch.pendingDelay());
    assertEquals(Duration.ofSeconds(10), batch.runningDelay());
    assertEquals(Duration.ofMinutes(1), batch.expireAfter());
    assertEquals(0.5, batch.jobFailureRate());
    assertEquals(0.2, batch.requestErrorRate());
    assertEquals(2, batch.maxConcurrentJobs());
    assertEquals(3_000_000, batch.enqueuedTokensFor("gemini-2.5-flash"));
    assertEquals(500, batch.enqueuedTokensFor("gemini-2.5-pro"));
  }

  @Test
  void anUnknownSimulateFlagIsAUsageError() {
    CliRun run = CliRun.of("simulate", "--nope", "1");
    assertEquals(ExitCode.USAGE, run.exitCode(), run.err());
    assertTrue(run.err().contains("--nope"), run.err());
  }
}
