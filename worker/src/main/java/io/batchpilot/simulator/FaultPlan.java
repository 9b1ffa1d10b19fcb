package io.batchpilot.simulator;

import java.time.Duration;
import java.util.Collections;
import java.util.EnumMap;
import java.util.Map;
import java.util.Optional;
import java.util.Random;

/**
 * Fault rates and the slow-response delay. The decision for the n-th admitted request depends only
 * on (seed, n), so a run with the same seed and the same arrival order injects the same faults.
 */
public record FaultPlan(Map<Fault, Double> rates, Duration slowResponseDelay) {

    public static final FaultPlan NONE = new FaultPlan(Map.of(), Duration.ofSeconds(30));

    public FaultPlan {
        EnumMap<Fault, Double> copy = new EnumMap<>(Fault.class);
        copy.putAll(rates);
        double sum = 0;
        for (Map.Entry<Fault, Double> e : copy.entrySet()) {
            double r = e.getValue();
            if (!(r >= 0 && r <= 1)) {
                throw new IllegalArgumentException("fault rate for " + e.getKey().flag() + " must be in [0,1], was " + r);
            }
            sum += r;
        }
        if (sum > 1 + 1e-9) {
            throw new IllegalArgumentException("fault rates add up to " + sum + "; they must add up to at most 1");
        }
        if (slowResponseDelay.isNegative()) {
            throw new IllegalArgumentException("slow-response delay must not be negative, was " + slowResponseDelay);
        }
        rates = Collections.unmodifiableMap(copy);
    }

    public FaultPlan with(Fault fault, double rate) {
        EnumMap<Fault, Double> copy = new EnumMap<>(Fault.class);
        copy.putAll(rates);
        copy.put(fault, rate);
        return new FaultPlan(copy, slowResponseDelay);
    }

    public FaultPlan withSlowResponseDelay(Duration delay) {
        return new FaultPlan(rates, delay);
    }

    /** The fault (if any) for the admitted request with this sequence number. */
    public Optional<Fault> decide(Random random) {
        double u = random.nextDouble();
        double cumulative = 0;
        for (Fault f : Fault.values()) {
            cumulative += rates.getOrDefault(f, 0.0);
            if (u < cumulative) {
                return Optional.of(f);
            }
        }
        return Optional.empty();
    }

    /** One random stream per request: the same (seed, sequence) gives the same draws. */
    static Random randomFor(long seed, long sequence) {
        long z = seed + 0x9E3779B97F4A7C15L * (sequence + 1);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return new Random(z ^ (z >>> 31));
    }
}
