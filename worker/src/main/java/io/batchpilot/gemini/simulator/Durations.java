package io.batchpilot.gemini.simulator;

import java.time.Duration;

/** Parses the short durations the simulator's flags use: {@code 250ms}, {@code 2s}, {@code 1m}. */
final class Durations {

    private Durations() {
    }

    static Duration parse(String setting, String text) {
        String t = text.trim();
        try {
            if (t.endsWith("ms")) {
                return Duration.ofMillis(Long.parseLong(t.substring(0, t.length() - 2)));
            }
            if (t.endsWith("s")) {
                return Duration.ofMillis(Math.round(Double.parseDouble(t.substring(0, t.length() - 1)) * 1000));
            }
            if (t.endsWith("m")) {
                return Duration.ofSeconds(Long.parseLong(t.substring(0, t.length() - 1)) * 60);
            }
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(setting + ": '" + text + "' is not a duration like 250ms, 2s or 1m", e);
        }
        throw new IllegalArgumentException(setting + ": '" + text + "' is not a duration like 250ms, 2s or 1m");
    }
}
