package io.batchpilot.settings;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Names that carried a unit before every duration carried its own: set, each is refused with the
 * name that replaced it, so a deployment never runs on a default it did not choose.
 */
public final class RenamedSettings {

  /** Old name, new name; the new one takes a duration with its unit. */
  static final Map<String, String> RENAMED = Map.ofEntries(
      Map.entry("BATCHPILOT_EMBEDDING_LINGER_MS", "BATCHPILOT_EMBEDDING_LINGER"),
      Map.entry("BATCHPILOT_EMBEDDING_POLL_MS", "BATCHPILOT_EMBEDDING_POLL_INTERVAL"),
      Map.entry("BATCHPILOT_EMBEDDING_LEASE_SECONDS", "BATCHPILOT_EMBEDDING_LEASE"),
      Map.entry("BATCHPILOT_EMBEDDING_BACKOFF_BASE_MS", "BATCHPILOT_EMBEDDING_BACKOFF_BASE"),
      Map.entry("BATCHPILOT_EMBEDDING_BACKOFF_CAP_MS", "BATCHPILOT_EMBEDDING_BACKOFF_CAP"),
      Map.entry("BATCHPILOT_QUOTA_MAX_JITTER_MS", "BATCHPILOT_QUOTA_MAX_JITTER"),
      Map.entry("BATCHPILOT_LEDGER_RETENTION_DAYS", "BATCHPILOT_LEDGER_RETENTION"),
      Map.entry("BATCHPILOT_METRICS_RETENTION_DAYS", "BATCHPILOT_METRICS_RETENTION"),
      Map.entry("BATCHPILOT_MAX_QUOTA_WAIT_MS", "BATCHPILOT_MAX_QUOTA_WAIT"),
      Map.entry("GEMINI_CONNECT_TIMEOUT_SECONDS", "GEMINI_CONNECT_TIMEOUT"),
      Map.entry("GEMINI_READ_TIMEOUT_SECONDS", "GEMINI_READ_TIMEOUT"),
      Map.entry("GEMINI_CALL_TIMEOUT_SECONDS", "GEMINI_CALL_TIMEOUT"),
      Map.entry("GEMINI_FILE_POLL_MILLIS", "GEMINI_FILE_POLL_INTERVAL"));

  private RenamedSettings() {}

  /** Refuses {@code env} when it sets an old name, naming each and its replacement. */
  public static void refuse(Map<String, String> env) {
    List<String> found = new ArrayList<>();
    RENAMED.entrySet().stream().sorted(Map.Entry.comparingByKey())
        .filter(e -> env.containsKey(e.getKey()))
        .forEach(e -> found.add(e.getKey() + " is now " + e.getValue()));
    if (!found.isEmpty()) {
      throw new IllegalArgumentException(String.join("; ", found) + ": set the new name with its unit "
          + "(like 500ms, 60s or 7d) and unset the old one");
    }
  }
}
