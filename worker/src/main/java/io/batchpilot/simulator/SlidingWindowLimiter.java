package io.batchpilot.simulator;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneId;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Strict sliding-window admission per (key fingerprint, model). Arrival is stamped under the lock,
 * so stamp order is decision order and no window (t - length, t] ever holds more than the limit.
 * Rejected requests do not count: a client that backs off regains its full quota once the window
 * slides (Google does not document whether its 429s consume quota; this choice makes the
 * simulator's audit judge only what was admitted, and callers can audit arrivals separately).
 * Requests per day count per calendar day in America/Los_Angeles, where Google resets them; the
 * retryDelay of a per-day 429 is one window, not the time to the reset, as with Google.
 */
final class SlidingWindowLimiter {

    static final ZoneId QUOTA_DAY_ZONE = ZoneId.of("America/Los_Angeles");

    record Decision(long sequence, long arrivalNanos, Instant arrival, List<QuotaViolation> violations,
                    Duration retryDelay) {
        boolean admitted() {
            return violations.isEmpty();
        }
    }

    private record Admitted(long arrivalNanos, long tokens) {
    }

    private static final class Usage {
        final ArrayDeque<Admitted> window = new ArrayDeque<>();
        long tokensInWindow;
        LocalDate day;
        long requestsToday;
    }

    private final long windowNanos;
    private final Function<String, ModelLimits> limitsForModel;
    private final Clock clock;
    private final Map<String, Usage> usage = new HashMap<>();
    private long sequence;

    SlidingWindowLimiter(Duration window, Function<String, ModelLimits> limitsForModel, Clock clock) {
        this.windowNanos = window.toNanos();
        this.limitsForModel = limitsForModel;
        this.clock = clock;
    }

    /** Stamps the arrival and, for a metered request, admits it or says which quotas it would break. */
    synchronized Decision decide(String keyFingerprint, String model, long inputTokens, boolean metered) {
        long now = System.nanoTime();
        Instant arrival = clock.instant();
        long seq = sequence++;
        if (!metered) {
            return new Decision(seq, now, arrival, List.of(), Duration.ZERO);
        }
        ModelLimits limits = limitsForModel.apply(model);
        Usage u = usage.computeIfAbsent(RequestLog.groupKey(keyFingerprint, model), k -> new Usage());
        while (!u.window.isEmpty() && u.window.peekFirst().arrivalNanos() <= now - windowNanos) {
            u.tokensInWindow -= u.window.pollFirst().tokens();
        }
        LocalDate today = arrival.atZone(QUOTA_DAY_ZONE).toLocalDate();
        if (!today.equals(u.day)) {
            u.day = today;
            u.requestsToday = 0;
        }

        List<QuotaViolation> violations = new ArrayList<>();
        long delayNanos = 0;
        if (limits.requestsPerMinute() > 0 && u.window.size() + 1 > limits.requestsPerMinute()) {
            violations.add(new QuotaViolation(QuotaViolation.Kind.REQUESTS_PER_MINUTE, limits.requestsPerMinute()));
            // The request fits once all but (limit - 1) of the current entries have left the window.
            long mustLeave = u.window.size() - limits.requestsPerMinute() + 1;
            delayNanos = Math.max(delayNanos, leaveTime(u, mustLeave) - now);
        }
        if (limits.inputTokensPerMinute() > 0 && u.tokensInWindow + inputTokens > limits.inputTokensPerMinute()) {
            violations.add(new QuotaViolation(QuotaViolation.Kind.INPUT_TOKENS_PER_MINUTE, limits.inputTokensPerMinute()));
            delayNanos = Math.max(delayNanos, tokensFreeTime(u, inputTokens, limits.inputTokensPerMinute(), now) - now);
        }
        if (limits.requestsPerDay() > 0 && u.requestsToday + 1 > limits.requestsPerDay()) {
            violations.add(new QuotaViolation(QuotaViolation.Kind.REQUESTS_PER_DAY, limits.requestsPerDay()));
            // Google's per-day 429s carry a short retryDelay ("18s", "34s" seen) that says nothing about
            // the reset; only the quotaId tells. One window keeps that trap for clients to handle.
            delayNanos = Math.max(delayNanos, windowNanos);
        }
        if (violations.isEmpty()) {
            u.window.addLast(new Admitted(now, inputTokens));
            u.tokensInWindow += inputTokens;
            u.requestsToday++;
            return new Decision(seq, now, arrival, List.of(), Duration.ZERO);
        }
        return new Decision(seq, now, arrival, List.copyOf(violations), Duration.ofNanos(Math.max(0, delayNanos)));
    }

    /** When the n-th oldest entry (1-based) leaves the window. */
    private long leaveTime(Usage u, long n) {
        Iterator<Admitted> it = u.window.iterator();
        Admitted a = null;
        for (long i = 0; i < n && it.hasNext(); i++) {
            a = it.next();
        }
        return a == null ? System.nanoTime() : a.arrivalNanos() + windowNanos;
    }

    /** When enough tokens have left the window for this request to fit; a whole window if it never can. */
    private long tokensFreeTime(Usage u, long tokens, long limit, long now) {
        if (tokens > limit) {
            return now + windowNanos;
        }
        long remaining = u.tokensInWindow;
        for (Admitted a : u.window) {
            remaining -= a.tokens();
            if (remaining + tokens <= limit) {
                return a.arrivalNanos() + windowNanos;
            }
        }
        return now + windowNanos;
    }
}
