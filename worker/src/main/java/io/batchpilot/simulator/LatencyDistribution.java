package io.batchpilot.simulator;

import io.batchpilot.settings.Durations;
import java.time.Duration;
import java.util.Random;

/**
 * How long the simulator takes to answer a request that it admits. Parsed from
 * {@code fixed:50ms}, {@code uniform:20ms,200ms} or {@code lognormal:800ms,0.5} (median, sigma).
 */
public record LatencyDistribution(Kind kind, Duration a, Duration b, double sigma) {

    public enum Kind { FIXED, UNIFORM, LOGNORMAL }

    public static final LatencyDistribution NONE = new LatencyDistribution(Kind.FIXED, Duration.ZERO, Duration.ZERO, 0);

    public LatencyDistribution {
        if (a.isNegative() || b.isNegative() || sigma < 0) {
            throw new IllegalArgumentException("latency values must not be negative");
        }
        if (kind == Kind.UNIFORM && b.compareTo(a) < 0) {
            throw new IllegalArgumentException("uniform latency needs min <= max, was " + a + "," + b);
        }
    }

    public static LatencyDistribution fixed(Duration d) {
        return new LatencyDistribution(Kind.FIXED, d, d, 0);
    }

    public static LatencyDistribution uniform(Duration min, Duration max) {
        return new LatencyDistribution(Kind.UNIFORM, min, max, 0);
    }

    public static LatencyDistribution lognormal(Duration median, double sigma) {
        return new LatencyDistribution(Kind.LOGNORMAL, median, median, sigma);
    }

    public Duration sample(Random random) {
        return switch (kind) {
            case FIXED -> a;
            case UNIFORM -> Duration.ofNanos(a.toNanos() + (long) (random.nextDouble() * (b.toNanos() - a.toNanos())));
            case LOGNORMAL -> Duration.ofNanos((long) (a.toNanos() * Math.exp(sigma * random.nextGaussian())));
        };
    }

    public static LatencyDistribution parse(String setting, String text) {
        String t = text.trim();
        int colon = t.indexOf(':');
        if (colon < 0) {
            throw new IllegalArgumentException(setting + " must be fixed:D, uniform:MIN,MAX or lognormal:MEDIAN,SIGMA; was '" + text + "'");
        }
        String[] args = t.substring(colon + 1).split(",");
        try {
            return switch (t.substring(0, colon)) {
                case "fixed" -> fixed(Durations.parse(setting, args[0]));
                case "uniform" -> uniform(Durations.parse(setting, args[0]), Durations.parse(setting, args[1]));
                case "lognormal" -> lognormal(Durations.parse(setting, args[0]), Double.parseDouble(args[1].trim()));
                default -> throw new IllegalArgumentException(setting + ": unknown distribution '" + t.substring(0, colon)
                        + "' (fixed, uniform, lognormal)");
            };
        } catch (ArrayIndexOutOfBoundsException | NumberFormatException e) {
            throw new IllegalArgumentException(setting + " must be fixed:D, uniform:MIN,MAX or lognormal:MEDIAN,SIGMA; was '"
                    + text + "'", e);
        }
    }
}
