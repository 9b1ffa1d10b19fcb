package io.batchpilot.cli;

import io.batchpilot.settings.RenamedSettings;
import io.batchpilot.db.DatabaseUrl;
import io.batchpilot.embeddings.EmbeddingConfig;
import io.batchpilot.files.FileSourceConfig;
import io.batchpilot.files.FileValidatorConfig;
import io.batchpilot.files.ImagePreprocessorConfig;
import io.batchpilot.gemini.GeminiConfig;
import io.batchpilot.limiter.QuotaGateConfig;
import io.batchpilot.maintenance.MaintenanceConfig;
import io.batchpilot.pipeline.ReceiptProcessor;
import io.batchpilot.worker.WorkerConfig;
import io.batchpilot.worker.WorkerProcess;
import java.util.HashMap;
import java.util.Map;

/**
 * A worker's settings from the environment, where flags already wrote theirs: every setting has one
 * name (its environment variable), and each component reads and validates its own.
 */
final class WorkerSettings {

  private WorkerSettings() {}

  /** {@code env} with the flags' values on top; a null flag value leaves the variable as it is. */
  static Map<String, String> overlay(Map<String, String> env, Map<String, String> flags) {
    Map<String, String> merged = new HashMap<>(env);
    flags.forEach((name, value) -> {
      if (value != null) {
        merged.put(name, value);
      }
    });
    return merged;
  }

  static WorkerProcess.Settings from(DatabaseUrl database, Map<String, String> env) {
    try {
      // A name from before every duration carried its unit is refused before it is silently ignored.
      RenamedSettings.refuse(env);
      // The worker's own settings first: a wrong flag is reported before a missing key.
      WorkerConfig worker = WorkerConfig.fromEnvironment(env);
      QuotaGateConfig gate = QuotaGateConfig.fromEnvironment(env);
      ReceiptProcessor.Config processing = ReceiptProcessor.Config.fromEnvironment(env);
      return new WorkerProcess.Settings(database,
          GeminiConfig.fromEnvironment(env),
          FileSourceConfig.fromEnvironment(env),
          FileValidatorConfig.fromEnvironment(env),
          ImagePreprocessorConfig.defaults(),
          gate,
          processing,
          worker,
          MaintenanceConfig.fromEnvironment(env),
          EmbeddingConfig.fromEnvironment(env));
    } catch (IllegalArgumentException e) {
      throw CliException.usage(e.getMessage());
    }
  }
}
