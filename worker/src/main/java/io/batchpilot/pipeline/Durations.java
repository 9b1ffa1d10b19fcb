package io.batchpilot.pipeline;

import java.time.Duration;
import java.util.Map;

/**
 * Parses durations as settings write them, with their unit: {@code 250ms}, {@code 2s} (or
 * {@code 1.5s}), {@code 1m}. A bare number is refused: {@code 60} could mean seconds or milliseconds.
 */
public final class Durations {

    private Durations() {
    }

    /** {@code text} as a duration; a bad one is refused with a message naming {@code setting}. */
    public static Duration parse(String setting, String text) {
        String t = text.trim();
        try {
            if (t.endsWith("ms")) {
                return Duration.ofMillis(Long.parseLong(t.substring(0, t.length() - 2).trim()));
            }
            if (t.endsWith("s")) {
                double seconds = Double.parseDouble(t.substring(0, t.length() - 1).trim());
                if (Double.isFinite(seconds)) {
                    return Duration.ofMillis(Math.round(seconds * 1000));
                }
            }
            if (t.endsWith("m")) {
                return Duration.ofSeconds(Long.parseLong(t.substring(0, t.length() - 1).trim()) * 60);
            }
        } catch (NumberFormatException e) {
            throw refused(setting, text, e);
        }
        throw refused(setting, text, null);
    }

    /** The environment variable {@code name} as a duration, or {@code fallback} when it is unset or blank. */
    public static Duration fromEnvironment(Map<String, String> env, String name, Duration fallback) {
        String value = env.get(name);
        return value == null || value.isBlank() ? fallback : parse(name, value);
    }

    private static IllegalArgumentException refused(String setting, String text, Throwable cause) {
        return new IllegalArgumentException(setting + " must be a duration with its unit, like 250ms, 60s or 2m; got '"
            + text + "'", cause);
    }
}
