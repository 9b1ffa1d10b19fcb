package io.batchpilot.limiter;

import java.util.Locale;

/** Why the gate said "wait": the {@code reason} column of {@code batchpilot_acquire_quota}. */
public enum WaitReason {
  /** The requests of the last window are at the limit. */
  REQUESTS,
  /** The input tokens of the last window would exceed the limit. */
  INPUT_TOKENS,
  /** The fleet already has the most requests in flight it may. */
  IN_FLIGHT,
  /** The server answered 429 for a per-minute quota; the fleet waits out its retryDelay. */
  RATE_LIMITED,
  /** The daily quota is used up; nothing goes before the next midnight America/Los_Angeles. */
  DAILY_QUOTA_EXHAUSTED;

  static WaitReason fromSqlName(String value) {
    return valueOf(value.toUpperCase(Locale.ROOT));
  }
}
