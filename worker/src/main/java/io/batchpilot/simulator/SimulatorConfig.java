package io.batchpilot.simulator;

import io.batchpilot.settings.Durations;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/**
 * Everything the Gemini simulator can be told. Defaults: 127.0.0.1 on a free port, a 60 s window,
 * no limits, any non-empty key accepted, no latency, no faults, no extraction errors, seed 1, 64 threads.
 *
 * @param port 0 picks a free port
 * @param window length of the sliding "minute" (tests compress it to a second or two)
 * @param defaultLimits limits for a model not named in modelLimits
 * @param freeTier 429 bodies carry the -FreeTier quota ids and free-tier metrics
 * @param apiKeys keys accepted (400 API_KEY_INVALID for others); empty accepts any key
 * @param thoughtsTokens thoughtsTokenCount reported per generateContent (0 omits it, as Google does)
 * @param clock wall clock for arrival instants, the per-day reset and batch jobs' states
 * @param batch Batch Mode: job delays, faults and the batch quotas
 * @param extractionErrors wrong answers at configured rates, interactive and batch alike
 */
public record SimulatorConfig(
        String host,
        int port,
        Duration window,
        ModelLimits defaultLimits,
        Map<String, ModelLimits> modelLimits,
        boolean freeTier,
        Set<String> apiKeys,
        LatencyDistribution latency,
        FaultPlan faults,
        long seed,
        int threads,
        long thoughtsTokens,
        Clock clock,
        BatchConfig batch,
        ExtractionErrorPlan extractionErrors) {

    public static final Duration DEFAULT_WINDOW = Duration.ofSeconds(60);
    public static final int DEFAULT_THREADS = 64;

    public SimulatorConfig {
        if (host == null || host.isBlank()) {
            throw new IllegalArgumentException("simulator host must not be empty");
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("simulator port must be 0..65535 (0 = any free port), was " + port);
        }
        if (window.isNegative() || window.isZero()) {
            throw new IllegalArgumentException("simulator window must be positive, was " + window);
        }
        if (threads < 1) {
            throw new IllegalArgumentException("simulator threads must be at least 1, was " + threads);
        }
        if (thoughtsTokens < 0) {
            throw new IllegalArgumentException("simulator thoughtsTokens must not be negative, was " + thoughtsTokens);
        }
        java.util.Objects.requireNonNull(batch, "batch");
        java.util.Objects.requireNonNull(extractionErrors, "extractionErrors");
        modelLimits = Map.copyOf(modelLimits);
        apiKeys = Set.copyOf(apiKeys);
    }

    /** Keys appear as fingerprints only: a config may be logged. */
    @Override
    public String toString() {
        return "SimulatorConfig[host=" + host + ", port=" + port + ", window=" + window + ", defaultLimits=" + defaultLimits
                + ", modelLimits=" + modelLimits + ", freeTier=" + freeTier + ", apiKeys="
                + apiKeys.stream().map(GeminiSimulator::fingerprint).sorted().toList() + ", latency=" + latency + ", faults="
                + faults + ", seed=" + seed + ", threads=" + threads + ", thoughtsTokens=" + thoughtsTokens + ", batch=" + batch
                + ", extractionErrors=" + extractionErrors.rates() + "]";
    }

    public static SimulatorConfig defaults() {
        return new SimulatorConfig("127.0.0.1", 0, DEFAULT_WINDOW, ModelLimits.UNLIMITED, Map.of(), false, Set.of(),
                LatencyDistribution.NONE, FaultPlan.NONE, 1L, DEFAULT_THREADS, 0, Clock.systemUTC(), BatchConfig.DEFAULTS,
                ExtractionErrorPlan.NONE);
    }

    public ModelLimits limitsFor(String model) {
        return modelLimits.getOrDefault(model, defaultLimits);
    }

    public SimulatorConfig withPort(int p) {
        return new SimulatorConfig(host, p, window, defaultLimits, modelLimits, freeTier, apiKeys, latency, faults, seed,
                threads, thoughtsTokens, clock, batch, extractionErrors);
    }

    public SimulatorConfig withWindow(Duration w) {
        return new SimulatorConfig(host, port, w, defaultLimits, modelLimits, freeTier, apiKeys, latency, faults, seed,
                threads, thoughtsTokens, clock, batch, extractionErrors);
    }

    public SimulatorConfig withDefaultLimits(ModelLimits l) {
        return new SimulatorConfig(host, port, window, l, modelLimits, freeTier, apiKeys, latency, faults, seed,
                threads, thoughtsTokens, clock, batch, extractionErrors);
    }

    public SimulatorConfig withModelLimits(String model, ModelLimits l) {
        Map<String, ModelLimits> m = new HashMap<>(modelLimits);
        m.put(model, l);
        return new SimulatorConfig(host, port, window, defaultLimits, m, freeTier, apiKeys, latency, faults, seed,
                threads, thoughtsTokens, clock, batch, extractionErrors);
    }

    public SimulatorConfig withFreeTier(boolean f) {
        return new SimulatorConfig(host, port, window, defaultLimits, modelLimits, f, apiKeys, latency, faults, seed,
                threads, thoughtsTokens, clock, batch, extractionErrors);
    }

    public SimulatorConfig withApiKeys(Set<String> keys) {
        return new SimulatorConfig(host, port, window, defaultLimits, modelLimits, freeTier, keys, latency, faults, seed,
                threads, thoughtsTokens, clock, batch, extractionErrors);
    }

    public SimulatorConfig withLatency(LatencyDistribution l) {
        return new SimulatorConfig(host, port, window, defaultLimits, modelLimits, freeTier, apiKeys, l, faults, seed,
                threads, thoughtsTokens, clock, batch, extractionErrors);
    }

    public SimulatorConfig withFaults(FaultPlan f) {
        return new SimulatorConfig(host, port, window, defaultLimits, modelLimits, freeTier, apiKeys, latency, f, seed,
                threads, thoughtsTokens, clock, batch, extractionErrors);
    }

    public SimulatorConfig withSeed(long s) {
        return new SimulatorConfig(host, port, window, defaultLimits, modelLimits, freeTier, apiKeys, latency, faults, s,
                threads, thoughtsTokens, clock, batch, extractionErrors);
    }

    public SimulatorConfig withThreads(int t) {
        return new SimulatorConfig(host, port, window, defaultLimits, modelLimits, freeTier, apiKeys, latency, faults, seed,
                t, thoughtsTokens, clock, batch, extractionErrors);
    }

    public SimulatorConfig withThoughtsTokens(long t) {
        return new SimulatorConfig(host, port, window, defaultLimits, modelLimits, freeTier, apiKeys, latency, faults, seed,
                threads, t, clock, batch, extractionErrors);
    }

    public SimulatorConfig withBatch(BatchConfig b) {
        return new SimulatorConfig(host, port, window, defaultLimits, modelLimits, freeTier, apiKeys, latency, faults, seed,
                threads, thoughtsTokens, clock, b, extractionErrors);
    }

    public SimulatorConfig withClock(Clock c) {
        return new SimulatorConfig(host, port, window, defaultLimits, modelLimits, freeTier, apiKeys, latency, faults, seed,
                threads, thoughtsTokens, c, batch, extractionErrors);
    }

    public SimulatorConfig withExtractionErrors(ExtractionErrorPlan e) {
        return new SimulatorConfig(host, port, window, defaultLimits, modelLimits, freeTier, apiKeys, latency, faults, seed,
                threads, thoughtsTokens, clock, batch, e);
    }

    /**
     * Reads flags, falling back to environment variables (flag {@code --rpm} = {@code BATCHPILOT_SIM_RPM}):
     * {@code --host}, {@code --port}, {@code --window 60s}, {@code --rpm}, {@code --tpm}, {@code --rpd},
     * {@code --model-limits MODEL=rpm/tpm/rpd} (repeatable; env: comma-separated), {@code --free-tier},
     * {@code --api-key K} (repeatable; env: comma-separated), {@code --latency fixed:50ms},
     * {@code --fault NAME=RATE} (repeatable), {@code --extraction-error NAME=RATE} (wrong-total,
     * missing-date, malformed-json, max-tokens; repeatable), {@code --slow-response 30s}, {@code --seed}, {@code --threads},
     * {@code --thoughts-tokens}, and Batch Mode's {@code --batch-pending 2s}, {@code --batch-running 3s},
     * {@code --batch-expire-after 48h}, {@code --batch-fault NAME=RATE} (job-failed, job-expired,
     * request-error; repeatable), {@code --batch-concurrent-jobs 100}, {@code --batch-enqueued-tokens N}
     * or {@code MODEL=N} (repeatable).
     */
    public static SimulatorConfig parse(String[] args, Map<String, String> env) {
        Map<String, java.util.List<String>> flags = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (!a.startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument '" + a + "': flags look like --rpm 10");
            }
            String name = a.substring(2);
            String value;
            int eq = name.indexOf('=');
            if (eq >= 0) {
                value = name.substring(eq + 1);
                name = name.substring(0, eq);
            } else if (name.equals("free-tier")) {
                value = "true";
            } else {
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException("--" + name + " needs a value");
                }
                value = args[++i];
            }
            flags.computeIfAbsent(name, k -> new java.util.ArrayList<>()).add(value);
        }
        for (Map.Entry<String, String> e : env.entrySet()) {
            if (e.getKey().startsWith("BATCHPILOT_SIM_")) {
                String name = e.getKey().substring("BATCHPILOT_SIM_".length()).toLowerCase(java.util.Locale.ROOT).replace('_', '-');
                flags.computeIfAbsent(name, k -> new java.util.ArrayList<>(java.util.List.of(e.getValue().split(","))));
            }
        }
        SimulatorConfig c = defaults();
        long rpm = 0;
        long tpm = 0;
        long rpd = 0;
        FaultPlan faults = FaultPlan.NONE;
        BatchConfig batch = BatchConfig.DEFAULTS;
        ExtractionErrorPlan extractionErrors = ExtractionErrorPlan.NONE;
        Set<String> keys = new LinkedHashSet<>();
        for (Map.Entry<String, java.util.List<String>> f : flags.entrySet()) {
            String setting = "--" + f.getKey();
            String last = f.getValue().get(f.getValue().size() - 1).trim();
            try {
                switch (f.getKey()) {
                    case "host" -> c = new SimulatorConfig(last, c.port, c.window, c.defaultLimits, c.modelLimits, c.freeTier,
                            c.apiKeys, c.latency, c.faults, c.seed, c.threads, c.thoughtsTokens, c.clock, c.batch, c.extractionErrors);
                    case "port" -> c = c.withPort(Integer.parseInt(last));
                    case "window" -> c = c.withWindow(Durations.parse(setting, last));
                    case "rpm" -> rpm = Long.parseLong(last);
                    case "tpm" -> tpm = Long.parseLong(last);
                    case "rpd" -> rpd = Long.parseLong(last);
                    case "model-limits" -> {
                        for (String v : f.getValue()) {
                            int eq = v.indexOf('=');
                            if (eq < 0) {
                                throw new IllegalArgumentException(setting + " must be MODEL=rpm/tpm/rpd, was '" + v + "'");
                            }
                            c = c.withModelLimits(v.substring(0, eq).trim(), ModelLimits.parse(setting, v.substring(eq + 1)));
                        }
                    }
                    case "free-tier" -> c = c.withFreeTier(Boolean.parseBoolean(last));
                    case "api-key" -> f.getValue().forEach(k -> keys.add(k.trim()));
                    case "latency" -> c = c.withLatency(LatencyDistribution.parse(setting, last));
                    case "fault" -> {
                        for (String v : f.getValue()) {
                            int eq = v.indexOf('=');
                            if (eq < 0) {
                                throw new IllegalArgumentException(setting + " must be NAME=RATE, e.g. overloaded=0.01; was '" + v + "'");
                            }
                            faults = faults.with(Fault.fromFlag(v.substring(0, eq).trim()), Double.parseDouble(v.substring(eq + 1)));
                        }
                    }
                    case "extraction-error" -> {
                        for (String v : f.getValue()) {
                            int eq = v.indexOf('=');
                            if (eq < 0) {
                                throw new IllegalArgumentException(setting + " must be NAME=RATE, e.g. wrong-total=0.05; was '"
                                        + v + "'");
                            }
                            extractionErrors = extractionErrors.with(ExtractionError.fromFlag(v.substring(0, eq).trim()),
                                    Double.parseDouble(v.substring(eq + 1)));
                        }
                    }
                    case "slow-response" -> faults = faults.withSlowResponseDelay(Durations.parse(setting, last));
                    case "seed" -> c = c.withSeed(Long.parseLong(last));
                    case "threads" -> c = c.withThreads(Integer.parseInt(last));
                    case "thoughts-tokens" -> c = c.withThoughtsTokens(Long.parseLong(last));
                    case "batch-pending" -> batch = batch.withDelays(Durations.parse(setting, last), batch.runningDelay());
                    case "batch-running" -> batch = batch.withDelays(batch.pendingDelay(), Durations.parse(setting, last));
                    case "batch-expire-after" -> batch = batch.withExpireAfter(Durations.parse(setting, last));
                    case "batch-fault" -> {
                        for (String v : f.getValue()) {
                            int eq = v.indexOf('=');
                            if (eq < 0) {
                                throw new IllegalArgumentException(setting + " must be NAME=RATE, e.g. job-expired=0.1; was '"
                                        + v + "'");
                            }
                            batch = batch.withFault(v.substring(0, eq).trim(), Double.parseDouble(v.substring(eq + 1)));
                        }
                    }
                    case "batch-concurrent-jobs" -> batch = batch.withMaxConcurrentJobs(Integer.parseInt(last));
                    case "batch-enqueued-tokens" -> {
                        for (String v : f.getValue()) {
                            int eq = v.indexOf('=');
                            batch = eq < 0 ? batch.withEnqueuedTokens(Long.parseLong(v.trim()))
                                    : batch.withEnqueuedTokens(v.substring(0, eq).trim(), Long.parseLong(v.substring(eq + 1).trim()));
                        }
                    }
                    default -> throw new IllegalArgumentException("unknown simulator setting " + setting);
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(setting + ": '" + last + "' is not a number", e);
            }
        }
        return c.withDefaultLimits(new ModelLimits(rpm, tpm, rpd)).withFaults(faults).withApiKeys(keys).withBatch(batch)
                .withExtractionErrors(extractionErrors);
    }
}
