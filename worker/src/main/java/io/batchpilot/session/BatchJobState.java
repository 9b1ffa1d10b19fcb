package io.batchpilot.session;

import java.util.Locale;

/**
 * A Gemini batch job's state as the database keeps it ({@code batchpilot_private.batch_job_state}):
 * creating (its files claimed, Google not yet asked or its answer not recorded), pending and running
 * (at Google), then one of the final states.
 */
public enum BatchJobState {
  CREATING, PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED, EXPIRED,
  /** Ended by us before Google ran it: its worker died before Google had it, or the gate or Google refused it. */
  ABANDONED;

  /** The enum label in PostgreSQL. */
  public String sqlName() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** Google may still be working on it. */
  public boolean live() {
    return this == CREATING || this == PENDING || this == RUNNING;
  }

  public static BatchJobState fromSqlName(String name) {
    for (BatchJobState s : values()) {
      if (s.sqlName().equals(name)) {
        return s;
      }
    }
    throw new IllegalArgumentException("unknown batch job state '" + name + "': the schema and this worker disagree "
        + "(run `batchpilot migrate` with this worker's release)");
  }
}
