package io.batchpilot.limiter;

import java.util.Locale;

/**
 * How much of a model's quota a session may use; the values of
 * {@code batch_upload_sessions.processing_strategy}. The fractions live in the database
 * ({@code batchpilot_private.strategy_fraction}) so every caller of the gate applies the same ones:
 * conservative 0.5, balanced 0.75, aggressive 1.0 of the per-minute limits and of the in-flight
 * cap; adaptive follows the fleet's shared factor, cut on a 429 and restored per quiet window.
 */
public enum Strategy {
  CONSERVATIVE, BALANCED, AGGRESSIVE, ADAPTIVE;

  /** The value stored in {@code processing_strategy} and passed to the SQL functions. */
  public String sqlName() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** Reads a {@code processing_strategy} value. */
  public static Strategy fromSqlName(String value) {
    for (Strategy strategy : values()) {
      if (strategy.sqlName().equals(value)) {
        return strategy;
      }
    }
    throw new IllegalArgumentException("unknown processing_strategy '" + value
        + "': use conservative, balanced, aggressive or adaptive");
  }
}
