package io.batchpilot.cli;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.DatabaseUrl;
import io.batchpilot.limiter.Strategy;
import io.batchpilot.worker.WorkerProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.function.Executable;

class WorkerSettingsTest {

  private static final Path README = Path.of("..", "README.md").toAbsolutePath().normalize();
  private static final DatabaseUrl DATABASE = DatabaseUrl.parse("DATABASE_URL", "postgresql://u@127.0.0.1:5432/postgres");
  /** Enough for every component to build: only the key is required. */
  private static final Map<String, String> BASE = Map.of("GEMINI_API_KEY", "test-key");
  /** Read by the test harness, Grafana, the simulator or the ./batchpilot script, not by the worker. */
  private static final Set<String> NOT_THE_WORKERS = Set.of("BATCHPILOT_TEST_", "BATCHPILOT_GRAFANA_", "BATCHPILOT_SIM_",
      "BATCHPILOT_JAVA_OPTS", "BATCHPILOT_CDS");
  /** Not a number, duration, boolean, strategy, model name or folder: refused by every setting but these. */
  private static final String INVALID = "not valid!";
  private static final Map<String, String> INVALID_FOR = Map.of(
      "BATCHPILOT_STORAGE_BUCKETS", "uploads/2026",
      "BATCHPILOT_URL_ALLOWED_HOSTS", "https://receipts.example.com");

  @Test
  void everyWorkerVariableInTheReadmeTablesIsReadAndABadValueIsRefusedByName() throws IOException {
    Set<String> documented = workerVariablesInReadmeTables();
    assertTrue(documented.containsAll(Set.of("BATCHPILOT_CONCURRENCY", "BATCHPILOT_POLL_INTERVAL",
        "BATCHPILOT_MAX_QUOTA_WAIT", "BATCHPILOT_QUOTA_MAX_JITTER", "BATCHPILOT_EMBEDDING_BACKOFF_CAP",
        "BATCHPILOT_MAX_PDF_PAGES")), "the README tables were not parsed as expected: " + documented);
    assertAll(documented.stream().map(name -> (Executable) () -> {
      String bad = INVALID_FOR.getOrDefault(name, INVALID);
      Map<String, String> env = new HashMap<>(BASE);
      env.put(name, bad);
      CliException e = assertThrows(CliException.class, () -> WorkerSettings.from(DATABASE, env),
          name + "=" + bad + " was accepted: is the variable read at all?");
      assertEquals(ExitCode.USAGE, e.exitCode(), e.getMessage());
      assertTrue(e.getMessage().contains(name), name + ": the message does not name it: " + e.getMessage());
      assertTrue(e.getMessage().contains(bad), name + ": the message does not show the value: " + e.getMessage());
    }));
  }

  @Test
  void validValuesArriveInTheSettingsInTheReadmesUnits() {
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

  /** The first cell of every README table row, where it names BATCHPILOT_ variables the worker reads. */
  private static Set<String> workerVariablesInReadmeTables() throws IOException {
    Pattern variable = Pattern.compile("`(BATCHPILOT_[A-Z0-9_]+)`");
    Set<String> names = new TreeSet<>();
    for (String line : Files.readAllLines(README)) {
      if (!line.startsWith("|")) {
        continue;
      }
      String firstCell = line.substring(1, Math.max(1, line.indexOf('|', 1)));
      Matcher m = variable.matcher(firstCell);
      while (m.find()) {
        String name = m.group(1);
        if (NOT_THE_WORKERS.stream().noneMatch(name::startsWith)) {
          names.add(name);
        }
      }
    }
    return names;
  }
}
