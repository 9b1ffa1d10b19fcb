package io.batchpilot.store;

import java.util.Locale;

/** What a job in {@code batchpilot_private.jobs} does: the SQL enum {@code batchpilot_private.job_kind}. */
public enum JobKind {
  /** A file's structured extraction (generateContent, or a line of a batch job). */
  EXTRACTION,
  /** The embedding of a completed extraction (batchEmbedContents). */
  EMBEDDING;

  /** The label in SQL. */
  public String sqlName() {
    return name().toLowerCase(Locale.ROOT);
  }

  public static JobKind fromSqlName(String label) {
    return valueOf(label.toUpperCase(Locale.ROOT));
  }
}
