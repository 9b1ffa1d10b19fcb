package io.batchpilot.simulator;

import java.util.Collections;
import java.util.EnumMap;
import java.util.Map;
import java.util.Optional;
import java.util.Random;

/**
 * The rate of each {@link ExtractionError}. Decided per answer from the request's own random stream,
 * so the same seed and arrival order give the same errors, and a retry of the same file draws anew.
 */
public record ExtractionErrorPlan(Map<ExtractionError, Double> rates) {

    public static final ExtractionErrorPlan NONE = new ExtractionErrorPlan(Map.of());

    public ExtractionErrorPlan {
        EnumMap<ExtractionError, Double> copy = new EnumMap<>(ExtractionError.class);
        copy.putAll(rates);
        double sum = 0;
        for (Map.Entry<ExtractionError, Double> e : copy.entrySet()) {
            double r = e.getValue();
            if (!(r >= 0 && r <= 1)) {
                throw new IllegalArgumentException("extraction error rate for " + e.getKey().flag() + " must be in [0,1], was " + r);
            }
            sum += r;
        }
        if (sum > 1 + 1e-9) {
            throw new IllegalArgumentException("extraction error rates add up to " + sum + "; they must add up to at most 1");
        }
        rates = Collections.unmodifiableMap(copy);
    }

    public ExtractionErrorPlan with(ExtractionError error, double rate) {
        EnumMap<ExtractionError, Double> copy = new EnumMap<>(ExtractionError.class);
        copy.putAll(rates);
        copy.put(error, rate);
        return new ExtractionErrorPlan(copy);
    }

    /** The error (if any) for one answer. With no rates set nothing is drawn, so the stream is as before. */
    public Optional<ExtractionError> decide(Random random) {
        if (rates.isEmpty()) {
            return Optional.empty();
        }
        double u = random.nextDouble();
        double cumulative = 0;
        for (ExtractionError e : ExtractionError.values()) {
            cumulative += rates.getOrDefault(e, 0.0);
            if (u < cumulative) {
                return Optional.of(e);
            }
        }
        return Optional.empty();
    }
}
