package io.batchpilot.store;

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
    return name().toLowerCase(java.util.Locale.ROOT);
  }

  public static JobState fromSql(String label) {
    return valueOf(label.toUpperCase(java.util.Locale.ROOT));
  }
}
