package io.batchpilot.cli;

import io.batchpilot.simulator.GeminiSimulator;
import io.batchpilot.simulator.SimulatorConfig;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The simulator's flags, declared for picocli so that {@code --help} lists them and a typo is refused;
 * SimulatorConfig.parse reads their values (and the BATCHPILOT_SIM_ variables), as its tests do.
 */
@Command(name = "simulate", description = "Run the Gemini simulator (Google's v1beta wire format, quotas, faults) "
    + "until stopped. Point workers at it with GEMINI_BASE_URL=<the printed URL>. Each flag can also be set as "
    + "BATCHPILOT_SIM_<FLAG> (--rpm: BATCHPILOT_SIM_RPM; lists comma-separated); the flag wins. More in docs/simulator.md.")
final class SimulateCommand implements Callable<Integer> {

  @Option(names = "--host", paramLabel = "HOST", description = "Address to listen on (default 127.0.0.1).")
  String host;

  @Option(names = "--port", paramLabel = "PORT", description = "Port to listen on (default 0: any free port).")
  String port;

  @Option(names = "--window", paramLabel = "DURATION", description = "Length of the sliding quota window (default 60s).")
  String window;

  @Option(names = "--rpm", paramLabel = "N", description = "Requests per window for every model (default 0: no limit).")
  String rpm;

  @Option(names = "--tpm", paramLabel = "N", description = "Input tokens per window for every model (default 0: no limit).")
  String tpm;

  @Option(names = "--rpd", paramLabel = "N", description = "Requests per day for every model (default 0: no limit).")
  String rpd;

  @Option(names = "--model-limits", paramLabel = "MODEL=RPM/TPM/RPD",
      description = "One model's limits (repeatable), in place of --rpm, --tpm and --rpd for that model.")
  List<String> modelLimits = new ArrayList<>();

  @Option(names = "--free-tier", description = "429 bodies carry the free tier's quota ids and metrics.")
  boolean freeTier;

  @Option(names = "--api-key", paramLabel = "KEY",
      description = "A key to accept (repeatable); others get 400 API_KEY_INVALID. Default: any non-empty key.")
  List<String> apiKeys = new ArrayList<>();

  @Option(names = "--latency", paramLabel = "DISTRIBUTION",
      description = "Response time: fixed:50ms, uniform:20ms,200ms or lognormal:800ms,0.5 (median, sigma; default none).")
  String latency;

  @Option(names = "--fault", paramLabel = "NAME=RATE",
      description = "A fault and its rate (repeatable): overloaded, internal, deadline-exceeded, connection-reset, "
          + "slow-response, malformed-json or safety, e.g. overloaded=0.05.")
  List<String> faults = new ArrayList<>();

  @Option(names = "--extraction-error", paramLabel = "NAME=RATE",
      description = "A wrong answer and its rate (repeatable), in a 200 that bills its tokens: wrong-total (a digit "
          + "misread), missing-date (null), malformed-json (the answer is not JSON), max-tokens (finishReason "
          + "MAX_TOKENS, the answer cut off), e.g. wrong-total=0.05.")
  List<String> extractionErrors = new ArrayList<>();

  @Option(names = "--slow-response", paramLabel = "DURATION", description = "How long a slow-response fault stalls (default 30s).")
  String slowResponse;

  @Option(names = "--seed", paramLabel = "N", description = "Seed of the latency and fault draws (default 1).")
  String seed;

  @Option(names = "--threads", paramLabel = "N", description = "Threads serving requests (default 64).")
  String threads;

  @Option(names = "--thoughts-tokens", paramLabel = "N",
      description = "thoughtsTokenCount reported per call (default 0: omitted, as for a model that does not think).")
  String thoughtsTokens;

  @Option(names = "--batch-pending", paramLabel = "DURATION",
      description = "How long a Batch Mode job stays BATCH_STATE_PENDING (default 2s).")
  String batchPending;

  @Option(names = "--batch-running", paramLabel = "DURATION",
      description = "How long a batch job runs, its requests finishing evenly (default 3s).")
  String batchRunning;

  @Option(names = "--batch-expire-after", paramLabel = "DURATION",
      description = "A batch job not done this long after its creation expires (default 48h, as at Google).")
  String batchExpireAfter;

  @Option(names = "--batch-fault", paramLabel = "NAME=RATE",
      description = "A batch fault and its rate (repeatable): job-failed (fails halfway), job-expired (never runs, "
          + "expires), request-error (one request answers INTERNAL), e.g. job-expired=0.1.")
  List<String> batchFaults = new ArrayList<>();

  @Option(names = "--batch-concurrent-jobs", paramLabel = "N",
      description = "Pending or running batch jobs per API key; more answer 429 (default 100, Google's; 0: no limit).")
  String batchConcurrentJobs;

  @Option(names = "--batch-enqueued-tokens", paramLabel = "N|MODEL=N",
      description = "Input tokens of all active batch jobs per key and model, for every model or one (repeatable); "
          + "more answer 429 (default 0: no limit; Google's Tier 1 gemini-2.5-flash: 3000000).")
  List<String> batchEnqueuedTokens = new ArrayList<>();

  @Spec CommandSpec spec;

  /** The flags given, in SimulatorConfig.parse's form. */
  String[] arguments() {
    List<String> args = new ArrayList<>();
    add(args, "--host", host);
    add(args, "--port", port);
    add(args, "--window", window);
    add(args, "--rpm", rpm);
    add(args, "--tpm", tpm);
    add(args, "--rpd", rpd);
    modelLimits.forEach(v -> add(args, "--model-limits", v));
    if (freeTier) {
      args.add("--free-tier");
    }
    apiKeys.forEach(v -> add(args, "--api-key", v));
    add(args, "--latency", latency);
    faults.forEach(v -> add(args, "--fault", v));
    extractionErrors.forEach(v -> add(args, "--extraction-error", v));
    add(args, "--slow-response", slowResponse);
    add(args, "--seed", seed);
    add(args, "--threads", threads);
    add(args, "--thoughts-tokens", thoughtsTokens);
    add(args, "--batch-pending", batchPending);
    add(args, "--batch-running", batchRunning);
    add(args, "--batch-expire-after", batchExpireAfter);
    batchFaults.forEach(v -> add(args, "--batch-fault", v));
    add(args, "--batch-concurrent-jobs", batchConcurrentJobs);
    batchEnqueuedTokens.forEach(v -> add(args, "--batch-enqueued-tokens", v));
    return args.toArray(String[]::new);
  }

  private static void add(List<String> args, String flag, String value) {
    if (value != null) {
      args.add(flag + "=" + value);
    }
  }

  @Override
  public Integer call() throws IOException, InterruptedException {
    SimulatorConfig config;
    try {
      config = SimulatorConfig.parse(arguments(), System.getenv());
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
