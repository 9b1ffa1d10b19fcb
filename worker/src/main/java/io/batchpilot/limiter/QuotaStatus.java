package io.batchpilot.limiter;

import java.time.Instant;
import java.util.Optional;

/**
 * What the gate knows about one (provider, model) now: the adaptive factor in effect, the end of a
 * fleet-wide block after a 429, the end of a daily park (sessions say "waiting for the daily quota
 * until ..."), and the usage of the last window.
 */
public record QuotaStatus(double adaptiveFactor, Optional<Instant> blockedUntil, Optional<Instant> parkedUntil,
    long requestsInWindow, long inputTokensInWindow, long inFlight) {}
