package io.batchpilot.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.batch.BatchDelivery;
import io.batchpilot.db.Migrator;
import io.batchpilot.db.Release;
import io.batchpilot.db.SupabaseMigrationFile.Installed;
import io.batchpilot.db.SupabaseMigrationFile;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.db.testing.TestPostgres;
import io.batchpilot.embeddings.EmbeddingConfig;
import io.batchpilot.files.FileSourceConfig;
import io.batchpilot.files.FileValidatorConfig;
import io.batchpilot.files.ImagePreprocessorConfig;
import io.batchpilot.gemini.GeminiConfig;
import io.batchpilot.limiter.QuotaGateConfig;
import io.batchpilot.maintenance.MaintenanceConfig;
import io.batchpilot.notify.NotifierConfig;
import io.batchpilot.pipeline.Backoff;
import io.batchpilot.pipeline.ReceiptProcessor;
import io.batchpilot.session.NewFile;
import io.batchpilot.session.NewSession;
import io.batchpilot.session.Sessions;
import io.batchpilot.simulator.GeminiSimulator;
import io.batchpilot.simulator.RecordedRequest;
import io.batchpilot.simulator.SimulatorConfig;
import io.batchpilot.simulator.SyntheticReceipts;
import io.batchpilot.store.Jooq;
import io.batchpilot.testing.Eventually;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.flywaydb.core.Flyway;
import org.jooq.DSLContext;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The first upgrade, as a Supabase project meets it: a database that the Supabase CLI installed at
 * release 0.1.0 or 0.2.0 (the files those releases shipped, kept under test resources) holds work in flight
 * when the upgrade file this build writes is pushed on top: files pending, one claimed by a worker
 * worker that then died, one completed and embedded, one completed whose embedding the dead worker
 * held. After the upgrade a worker of this build finishes the session: nothing is lost, nothing
 * runs twice.
 */
class ReleaseUpgradeTest {

  private static final String MODEL = "gemini-2.5-flash";
  private static final String KEY = "test-key-for-the-simulator";
  private static final int FILES = 6;

  @ParameterizedTest(name = "from {0}")
  @CsvSource({"0.1.0, 1", "0.2.0, 2"})
  void aSessionInFlightAtAnEarlierReleaseFinishesAfterTheUpgradeWithEveryFileProcessedOnce(
      String release, int schema, @TempDir Path root) throws Exception {
    try (TestDatabase db = TestPostgres.get().createDatabase(false)) {
      // What Supabase provides, then 0.1.0 as `supabase db push` ran it: one script.
      Flyway.configure().dataSource(db.dataSource()).locations(Migrator.COMPAT_MIGRATIONS)
          .table("supabase_own_history").placeholderReplacement(false).load().migrate();
      execute(db, resource("releases/" + release + ".sql"));
      DSLContext dsl = Jooq.using(db.dataSource());
      dsl.execute("UPDATE public.quota_limits SET requests_per_minute = 1000000, input_tokens_per_minute = 1000000000,"
          + " max_in_flight = 1000, requests_per_day = NULL");

      List<NewFile> files = new ArrayList<>();
      for (int i = 0; i < FILES; i++) {
        Path path = root.resolve("r" + i + ".png");
        Files.write(path, SyntheticReceipts.png(8100 + i, 300, 1.4));
        files.add(NewFile.at(path.getFileName().toString(), "image/png", path.toUri().toString()));
      }
      UUID session = new Sessions(db.dataSource()).submit(new NewSession("upgraded", null, null, MODEL, 10, "balanced"), files);

      // The 0.1.0 fleet at work, through 0.1.0's own functions: three files claimed; the worker
      // completes two and embeds one of them, then dies holding the third (its lease runs out).
      List<UUID> claimed = dsl.fetch("SELECT file_id FROM batchpilot_private.claim_files('worker-0.1.0', 3,"
          + " interval '2 seconds') ORDER BY file_id").getValues(0, UUID.class);
      assertEquals(3, claimed.size());
      UUID embedded = claimed.get(0);
      UUID extracted = claimed.get(1);
      UUID orphaned = claimed.get(2);
      String outcomes = List.of(embedded, extracted).stream().map(id -> "{\"id\":\"" + id
              + "\",\"claimed_by\":\"worker-0.1.0\",\"attempts\":1,\"status\":\"completed\",\"duration_ms\":40,"
              + "\"api_calls\":1,\"input_tokens\":300,\"output_tokens\":50,\"thinking_tokens\":0,\"tokens_used\":350,"
              + "\"result\":{\"merchant\":\"Before The Upgrade\",\"total\":4.2,\"currency\":\"EUR\"}}")
          .collect(Collectors.joining(",", "[", "]"));
      assertEquals(2, dsl.fetch("SELECT * FROM batchpilot_private.complete_files(?::jsonb)", outcomes).size());
      // It had claimed both embeddings, recorded the first and died holding the second.
      assertEquals(2, dsl.fetch("SELECT * FROM batchpilot_private.claim_embeddings('worker-0.1.0', 2, 1,"
          + " interval '2 seconds')").size());
      String vector = IntStream.range(0, 768).mapToObj(i -> i == 0 ? "1" : "0").collect(Collectors.joining(",", "[", "]"));
      assertEquals(1, ((Number) dsl.fetchValue("SELECT batchpilot_private.record_embeddings(?::jsonb)",
          "[{\"id\":\"" + embedded + "\",\"claimed_by\":\"worker-0.1.0\",\"attempts\":1,\"status\":\"completed\","
              + "\"model\":\"gemini-embedding-001\",\"task_type\":\"RETRIEVAL_DOCUMENT\",\"content\":\"Before The Upgrade\","
              + "\"embedding\":" + vector + "}]")).intValue());
      String embeddedAt = embeddedAt(dsl, embedded);

      // The upgrade, as `batchpilot supabase-migration` writes it from the database's record.
      String upgrade = SupabaseMigrationFile.upgrade(Release.current(), new Installed(release, schema)).orElseThrow();
      execute(db, upgrade);
      assertEquals(0L, dsl.fetchValue("SELECT count(*) FROM pg_attribute WHERE attrelid = 'public.batch_upload_files'::regclass"
          + " AND attname IN ('claimed_by', 'attempts', 'embedding_status') AND NOT attisdropped"), "the queue left the published row");
      assertEquals("running/1", dsl.fetchValue("SELECT state || '/' || attempts FROM batchpilot_private.jobs"
          + " WHERE file_id = ? AND kind = 'extraction'", orphaned), "the dead worker's claim carried over, its lease running out");
      assertEquals("running", dsl.fetchValue("SELECT state::text FROM batchpilot_private.jobs"
          + " WHERE file_id = ? AND kind = 'embedding'", extracted), "so did its embedding's claim");
      assertEquals(List.of(Release.current().name()), dsl.fetch("SELECT release FROM batchpilot_private.installation")
          .getValues(0, String.class));
      assertEquals("0/3/1/2/0/0", dsl.fetchValue("SELECT format('%s/%s/%s/%s/%s/%s', files_uploading, files_pending,"
          + " files_processing, files_completed, files_failed, files_skipped) FROM batchpilot_private.session_progress"
          + " WHERE session_id = ?", session), "the session's progress carried over as 0.1.0 counted it");
      new Migrator(db.dataSource()).requireMigrated();

      GeminiSimulator simulator = GeminiSimulator.start(SimulatorConfig.defaults().withApiKeys(Set.of(KEY)).withSeed(5));
      try (simulator; WorkerProcess worker = WorkerProcess.start(settings(db, root, simulator))) {
        Sessions sessions = new Sessions(db.dataSource());
        Eventually.await("the upgraded session completed", Duration.ofSeconds(60),
            () -> sessions.progress(session).status().equals("completed"));
        Eventually.await("every receipt embedded", Duration.ofSeconds(60), () -> dsl.fetchCount(
            dsl.selectFrom("public.receipt_embeddings").where("batch_session_id = ?", session)) == FILES);

        List<RecordedRequest> extractions = simulator.requests().stream()
            .filter(r -> r.method().equals("generateContent")).toList();
        assertEquals(FILES - 2, extractions.size(),
            "the three pending files and the dead worker's file, each once; the two completed ones never again");
        assertEquals(List.of(1), dsl.fetch("SELECT DISTINCT api_calls_made FROM public.batch_upload_files"
            + " WHERE batch_session_id = ?", session).getValues(0, Integer.class), "one call per file, over both releases");
        assertEquals(2, (int) dsl.fetchValue("SELECT attempts FROM batchpilot_private.jobs WHERE file_id = ?"
            + " AND kind = 'extraction'", orphaned),
            "the dead worker's claim counted one attempt, the rescue a second");
        assertEquals(embeddedAt, embeddedAt(dsl, embedded), "the embedding 0.1.0 recorded is kept, not made again");
        assertEquals("Before The Upgrade", dsl.fetchValue("SELECT result ->> 'merchant' FROM public.batch_upload_files"
            + " WHERE id = ?", extracted), "the extraction 0.1.0 recorded is kept");
        assertEquals(FILES, (int) dsl.fetchValue("SELECT files_completed FROM public.batch_upload_sessions WHERE id = ?",
            session), "the published counters end equal to the files");
        assertEquals(FILES, (int) dsl.fetchValue("SELECT total_api_calls FROM public.batch_upload_sessions WHERE id = ?",
            session), "the totals carried over and went on");
        assertTrue(dsl.fetchCount(dsl.selectFrom("public.batch_upload_files")
            .where("batch_session_id = ? AND status <> 'completed'", session)) == 0);
      }
    }
  }

  private static WorkerProcess.Settings settings(TestDatabase db, Path root, GeminiSimulator simulator) {
    Backoff fast = new Backoff(Duration.ofMillis(50), Duration.ofMillis(500));
    return new WorkerProcess.Settings(db.url(),
        GeminiConfig.of(simulator.baseUrl(), KEY),
        FileSourceConfig.defaults().withLocalRoot(root),
        FileValidatorConfig.defaults(),
        ImagePreprocessorConfig.defaults(),
        QuotaGateConfig.defaults(),
        new ReceiptProcessor.Config(Duration.ofSeconds(5), fast),
        WorkerConfig.defaults().withConcurrency(4)
            .withNotifier(new NotifierConfig(Duration.ofMillis(300), Duration.ofMillis(50), Duration.ofSeconds(1))),
        MaintenanceConfig.defaults(),
        EmbeddingConfig.defaults().withBackoff(fast).withLinger(Duration.ofMillis(200)),
        BatchDelivery.Config.defaults());
  }

  private static String embeddedAt(DSLContext dsl, UUID file) {
    return (String) dsl.fetchValue("SELECT created_at::text FROM public.receipt_embeddings WHERE file_id = ?", file);
  }

  private static void execute(TestDatabase db, String script) throws Exception {
    try (Connection c = db.connect(); Statement s = c.createStatement()) {
      s.execute(script);
    }
  }

  private static String resource(String name) throws Exception {
    try (InputStream in = ReleaseUpgradeTest.class.getClassLoader().getResourceAsStream(name)) {
      if (in == null) {
        throw new IllegalStateException(name + " is not on the test classpath (db's test resources)");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }
}
