package io.batchpilot.store;

import java.util.Locale;

/** Where a job in {@code batchpilot_private.jobs} is: the SQL enum {@code batchpilot_private.job_state}. */
public enum JobState {
  /** Due at its scheduled time. */
  AVAILABLE,
  /** A worker (or a batch job) holds it until its lease runs out. */
  RUNNING,
  COMPLETED,
  FAILED,
  /** Its session was cancelled, or a person took the file out of the queue. */
  CANCELLED;

  /** The label in SQL. */
  public String sqlName() {
    return name().toLowerCase(Locale.ROOT);
  }

  public static JobState fromSqlName(String label) {
    return valueOf(label.toUpperCase(Locale.ROOT));
  }
}
