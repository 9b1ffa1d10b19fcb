package io.batchpilot.cli;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.DatabaseUrl;
import io.batchpilot.limiter.Strategy;
import io.batchpilot.settings.Setting;
import io.batchpilot.worker.WorkerProcess;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.function.Executable;

class WorkerSettingsTest {

  private static final DatabaseUrl DATABASE = DatabaseUrl.parse("DATABASE_URL", "postgresql://u@127.0.0.1:5432/postgres");
  /** Enough for every component to build: only the key is required. */
  private static final Map<String, String> BASE = Map.of("GEMINI_API_KEY", "test-key");
  /** Not a number, duration, boolean, strategy, model name or folder: refused by every setting but these. */
  private static final String INVALID = "not valid!";
  private static final Map<String, String> INVALID_FOR = Map.of(
      "BATCHPILOT_STORAGE_BUCKETS", "uploads/2026",
      "BATCHPILOT_URL_ALLOWED_HOSTS", "https://receipts.example.com");

  @Test
  void everyDeclaredWorkerSettingIsReadAndABadValueIsRefusedByName() {
    List<Setting<?>> declared = WorkerSettings.AREAS.stream().flatMap(a -> a.settings().stream()).toList();
    assertTrue(declared.size() > 30, "fewer settings than the worker has: " + declared);
    assertAll(declared.stream().map(setting -> (Executable) () -> {
      String name = setting.name();
      String bad = INVALID_FOR.getOrDefault(name, INVALID);
      Map<String, String> env = new HashMap<>(BASE);
      env.put(name, bad);
      CliException e = assertThrows(CliException.class, () -> WorkerSettings.from(DATABASE, env),
          name + "=" + bad + " was accepted: is the variable read at all?");
      assertEquals(ExitCode.USAGE, e.exitCode(), e.getMessage());
      assertTrue(e.getMessage().contains(name), name + ": the message does not name it: " + e.getMessage());
      assertEquals(!setting.secret(), e.getMessage().contains(bad), name + (setting.secret()
          ? ": the message shows the secret value: " : ": the message does not show the value: ") + e.getMessage());
    }));
  }

  @Test
  void validValuesArriveInTheSettingsInTheirUnits() {
    Map<String, String> env = new HashMap<>(BASE);
    env.putAll(Map.of(
        "BATCHPILOT_CONCURRENCY", "3",
        "BATCHPILOT_CLAIM_COOLDOWN", "0ms",
        "BATCHPILOT_LEASE", "90s",
        "BATCHPILOT_HEARTBEAT", "1.5s",
        "BATCHPILOT_SHUTDOWN_GRACE", "2m",
        "BATCHPILOT_POLL_INTERVAL", "750 ms",
        "BATCHPILOT_MAX_QUOTA_WAIT", "45s",
        "BATCHPILOT_QUOTA_MAX_JITTER", "7ms",
        "BATCHPILOT_URL_ALLOW_PRIVATE_ADDRESSES", "TRUE",
        "BATCHPILOT_EMBEDDING_STRATEGY", "balanced"));
    WorkerProcess.Settings settings = WorkerSettings.from(DATABASE, env);
    assertEquals(3, settings.worker().concurrency());
    assertEquals(Duration.ZERO, settings.worker().claimCooldown());
    assertEquals(Duration.ofSeconds(90), settings.worker().lease());
    assertEquals(Duration.ofMillis(1500), settings.worker().heartbeat());
    assertEquals(Duration.ofMinutes(2), settings.worker().shutdownGrace());
    assertEquals(Duration.ofMillis(750), settings.worker().notifier().pollInterval());
    assertEquals(Duration.ofSeconds(45), settings.processing().maxQuotaWait());
    assertEquals(Duration.ofMillis(7), settings.gate().maxJitter());
    assertTrue(settings.files().allowPrivateAddresses());
    assertEquals(Strategy.BALANCED, settings.embeddings().strategy());
  }

  @Test
  void unsetVariablesTakeTheDocumentedDefaults() {
    WorkerProcess.Settings settings = WorkerSettings.from(DATABASE, BASE);
    assertEquals(16, settings.worker().concurrency());
    assertEquals(Duration.ofMillis(5), settings.worker().claimCooldown());
    assertEquals(Duration.ofSeconds(60), settings.worker().lease());
    assertEquals(Duration.ofSeconds(5), settings.worker().notifier().pollInterval());
    assertEquals(Duration.ofSeconds(20), settings.processing().maxQuotaWait());
    assertFalse(settings.files().allowPrivateAddresses());
  }

  @Test
  void aBareNumberForADurationIsRefusedWithTheFormExpected() {
    Map<String, String> env = new HashMap<>(BASE);
    env.put("BATCHPILOT_LEASE", "60");
    CliException e = assertThrows(CliException.class, () -> WorkerSettings.from(DATABASE, env));
    assertTrue(e.getMessage().contains("BATCHPILOT_LEASE") && e.getMessage().contains("'60'")
        && e.getMessage().contains("60s"), e.getMessage());
  }

  @ParameterizedTest
  @ValueSource(strings = {"BATCHPILOT_MAX_PDF_PAGES", "BATCHPILOT_CONCURRENCY", "BATCHPILOT_EMBEDDING_BATCH_SIZE"})
  void aWholeNumberBeyondAnIntIsAUsageErrorNamingItNotAWrappedValue(String variable) {
    Map<String, String> env = new HashMap<>(BASE);
    env.put(variable, "99999999999");
    CliException e = assertThrows(CliException.class, () -> WorkerSettings.from(DATABASE, env));
    assertTrue(e.getMessage().contains(variable) && e.getMessage().contains("99999999999"), e.getMessage());
  }

  @Test
  void aFlagWinsOverItsVariable() {
    Map<String, String> flags = new HashMap<>();
    flags.put("BATCHPILOT_CONCURRENCY", "5");
    flags.put("GEMINI_BASE_URL", null);
    Map<String, String> env = new HashMap<>(BASE);
    env.put("BATCHPILOT_CONCURRENCY", "3");
    assertEquals(5, WorkerSettings.from(DATABASE, WorkerSettings.overlay(env, flags)).worker().concurrency());
    flags.put("BATCHPILOT_CONCURRENCY", null);
    assertEquals(3, WorkerSettings.from(DATABASE, WorkerSettings.overlay(env, flags)).worker().concurrency());
  }

  @Test
  void anOldNameWithAUnitIsRefusedNamingTheNewOne() {
    Map<String, String> env = new HashMap<>(BASE);
    env.put("BATCHPILOT_EMBEDDING_POLL_MS", "250");
    env.put("GEMINI_READ_TIMEOUT_SECONDS", "120");
    CliException e = assertThrows(CliException.class, () -> WorkerSettings.from(DATABASE, env));
    assertEquals(ExitCode.USAGE, e.exitCode());
    assertTrue(e.getMessage().contains("BATCHPILOT_EMBEDDING_POLL_MS is now BATCHPILOT_EMBEDDING_POLL_INTERVAL")
        && e.getMessage().contains("GEMINI_READ_TIMEOUT_SECONDS is now GEMINI_READ_TIMEOUT"), e.getMessage());
  }

  @Test
  void everyDurationSettingTakesEachUnit() {
    Map<String, String> env = new HashMap<>(BASE);
    env.putAll(Map.of("BATCHPILOT_EMBEDDING_LINGER", "1500ms", "BATCHPILOT_EMBEDDING_LEASE", "0.5h",
        "GEMINI_CALL_TIMEOUT", "10m", "BATCHPILOT_LEDGER_RETENTION", "90d", "BATCHPILOT_EMBEDDING_BACKOFF_CAP", "2m"));
    WorkerProcess.Settings settings = WorkerSettings.from(DATABASE, env);
    assertEquals(Duration.ofMillis(1500), settings.embeddings().linger());
    assertEquals(Duration.ofMinutes(30), settings.embeddings().lease());
    assertEquals(Duration.ofMinutes(10), settings.gemini().callTimeout());
    assertEquals(Duration.ofDays(90), settings.maintenance().ledgerRetention());
    assertEquals(Duration.ofMinutes(2), settings.embeddings().backoff().cap());
  }
}
