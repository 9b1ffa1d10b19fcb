package io.batchpilot.cli;

import io.batchpilot.db.DatabaseUrl;
import io.batchpilot.batch.BatchDelivery;
import io.batchpilot.embeddings.EmbeddingConfig;
import io.batchpilot.files.FileSourceConfig;
import io.batchpilot.files.FileValidatorConfig;
import io.batchpilot.files.ImagePreprocessorConfig;
import io.batchpilot.gemini.GeminiConfig;
import io.batchpilot.limiter.QuotaGateConfig;
import io.batchpilot.maintenance.MaintenanceConfig;
import io.batchpilot.pipeline.ReceiptProcessor;
import io.batchpilot.settings.RenamedSettings;
import io.batchpilot.settings.Setting;
import io.batchpilot.settings.SettingsReference.Area;
import io.batchpilot.worker.WorkerConfig;
import io.batchpilot.worker.WorkerProcess;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A worker's settings from the environment, where flags already wrote theirs: every setting has one
 * name (its environment variable), and each component declares, reads and validates its own.
 */
final class WorkerSettings {

  /** Every setting a worker reads, by the area docs/settings.md lists it in. */
  static final List<Area> AREAS = List.of(
      new Area("Worker", "How each worker claims, holds and hands back files.",
          concat(WorkerConfig.SETTINGS, ReceiptProcessor.Config.SETTINGS)),
      new Area("Quota gate", "The Java side of the fleet's one quota gate; the limits themselves are rows of "
          + "`quota_limits`.", QuotaGateConfig.SETTINGS),
      new Area("Files", "Where files may come from and how large they may be; any other file is refused before it "
          + "costs quota.", concat(FileSourceConfig.SETTINGS, FileValidatorConfig.SETTINGS)),
      new Area("Gemini", "Where the workers call Gemini, with which key, and how long they wait.",
          GeminiConfig.SETTINGS),
      new Area("Maintenance", "What the fleet's maintenance leader keeps and skips; how often it runs each duty is "
          + "fixed.", MaintenanceConfig.SETTINGS),
      new Area("Embeddings", "The batches that embed finished receipts for search; they pass the quota gate as "
          + "extractions do.", EmbeddingConfig.SETTINGS),
      new Area("Batch Mode", "How workers send the files of sessions with `delivery = 'batch'` to Gemini batch jobs "
          + "(half the price, within 24 hours) and look after the jobs.", BatchDelivery.Config.SETTINGS));

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
      RenamedSettings.refuse(env, AREAS.stream().flatMap(a -> a.settings().stream()).toList());
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
          EmbeddingConfig.fromEnvironment(env),
          BatchDelivery.Config.fromEnvironment(env));
    } catch (IllegalArgumentException e) {
      throw CliException.usage(e.getMessage());
    }
  }

  @SafeVarargs
  private static List<Setting<?>> concat(List<Setting<?>>... lists) {
    return Stream.of(lists).flatMap(List::stream).toList();
  }
}
