package io.batchpilot.session;

import java.util.Arrays;
import java.util.Locale;

/**
 * How a session's files reach Gemini; the values of {@code batch_upload_sessions.delivery}.
 * Interactive: one generateContent call per file, minutes, the full price. Batch: Gemini Batch Mode,
 * half the price, within 24 hours (usually much less).
 */
public enum Delivery {
  INTERACTIVE, BATCH;

  /** The value stored in {@code delivery}. */
  public String sqlName() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** Reads a {@code delivery} value. */
  public static Delivery fromSqlName(String value) {
    for (Delivery delivery : values()) {
      if (delivery.sqlName().equals(value)) {
        return delivery;
      }
    }
    throw new IllegalArgumentException("unknown delivery '" + value + "': use " + accepted());
  }

  /** "interactive or batch": for messages. */
  public static String accepted() {
    return String.join(" or ", Arrays.stream(values()).map(Delivery::sqlName).toList());
  }
}
