package io.batchpilot.cli;

import io.batchpilot.gemini.simulator.GeminiSimulator;
import io.batchpilot.gemini.simulator.SimulatorConfig;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Unmatched;

@Command(name = "simulate", description = {
    "Run the Gemini simulator (Google's v1beta wire format, quotas, faults) until stopped.",
    "Point workers at it with GEMINI_BASE_URL=<the printed URL>.",
    "Flags (each also BATCHPILOT_SIM_<FLAG>): --host, --port, --window 60s, --rpm, --tpm, --rpd,",
    "  --model-limits MODEL=rpm/tpm/rpd, --free-tier, --api-key K, --latency fixed:50ms|uniform:a,b|lognormal:median,sigma,",
    "  --fault overloaded|internal|deadline-exceeded|connection-reset|slow-response|malformed-json|safety=RATE,",
    "  --slow-response 30s, --seed, --threads, --thoughts-tokens. README: \"The Gemini simulator\"."})
final class SimulateCommand implements Callable<Integer> {

  @Unmatched List<String> flags = new ArrayList<>();

  @Spec CommandSpec spec;

  @Override
  public Integer call() throws IOException, InterruptedException {
    SimulatorConfig config;
    try {
      config = SimulatorConfig.parse(flags.toArray(String[]::new), System.getenv());
    } catch (IllegalArgumentException e) {
      throw CliException.usage(e.getMessage());
    }
    CountDownLatch stopped = new CountDownLatch(1);
    try (GeminiSimulator simulator = GeminiSimulator.start(config)) {
      Runtime.getRuntime().addShutdownHook(new Thread(stopped::countDown, "simulator-stop"));
      spec.commandLine().getOut().println("Gemini simulator listening on " + simulator.baseUrl()
          + " (export GEMINI_BASE_URL=" + simulator.baseUrl() + "; Ctrl-C stops it)");
      spec.commandLine().getOut().flush();
      stopped.await();
    }
    return ExitCode.OK;
  }
}
