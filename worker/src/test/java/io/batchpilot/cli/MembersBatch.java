package io.batchpilot.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import io.batchpilot.batch.BatchDelivery;
import io.batchpilot.db.testing.SupabaseRequest;
import io.batchpilot.db.testing.TestData;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.embeddings.EmbeddingConfig;
import io.batchpilot.files.FileSourceConfig;
import io.batchpilot.files.FileValidatorConfig;
import io.batchpilot.files.ImagePreprocessorConfig;
import io.batchpilot.gemini.GeminiConfig;
import io.batchpilot.simulator.GeminiSimulator;
import io.batchpilot.simulator.SimulatorConfig;
import io.batchpilot.simulator.SyntheticReceipt;
import io.batchpilot.simulator.SyntheticReceipts;
import io.batchpilot.limiter.QuotaGateConfig;
import io.batchpilot.maintenance.MaintenanceConfig;
import io.batchpilot.pipeline.Backoff;
import io.batchpilot.pipeline.ReceiptProcessor;
import io.batchpilot.testing.Eventually;
import io.batchpilot.worker.WorkerConfig;
import io.batchpilot.worker.WorkerProcess;
import java.math.BigDecimal;
import java.net.InetSocketAddress;
import java.net.URI;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What a Supabase app's users and batchpilot's worker do once the migration is pushed: team members
 * create a session and its files through RLS as {@code authenticated}, each file naming a receipt of
 * the team; a file naming another tenant's receipt is refused; the files' bytes are read from Storage
 * (a stand-in answering Storage's object route with the service key); a worker completes every file
 * and fills the columns the app's receipts has.
 */
final class MembersBatch {

  private static final String KEY = "members-batch-gemini-key";
  private static final String SERVICE_KEY = "members-batch-service-role-key";
  private static final String BUCKET = "receipts";
  private static final int FILES = 3;

  private MembersBatch() {}

  static void run(TestDatabase db) throws Exception {
    TestData data = new TestData(db.dataSource());
    UUID alice = data.user();
    UUID bob = data.user();
    UUID outsider = data.user();
    UUID team = data.team(alice, bob);
    UUID outsidersReceipt = receipt(db, outsider, null);
    SupabaseRequest asAlice = SupabaseRequest.authenticated(alice);

    UUID session = asAlice.run(db.dataSource(), c -> {
      try (PreparedStatement p = c.prepareStatement("INSERT INTO public.batch_upload_sessions"
          + " (team_id, total_files, session_name, processing_strategy) VALUES (?, ?, 'team receipts', 'adaptive') RETURNING id")) {
        p.setObject(1, team);
        p.setInt(2, FILES);
        return single(p);
      }
    });

    // Storage: the objects Alice uploaded under her own folder, served as Storage serves them to the service key.
    Map<String, byte[]> objects = new ConcurrentHashMap<>();
    List<UUID> receipts = new ArrayList<>();
    List<SyntheticReceipt> truths = new ArrayList<>();
    for (int i = 0; i < FILES; i++) {
      long seed = 4200 + i;
      truths.add(SyntheticReceipts.receipt(seed));
      receipts.add(receipt(db, alice, team));
      String path = alice + "/" + session + "/" + i + ".png";
      objects.put("/storage/v1/object/authenticated/" + BUCKET + "/" + path, SyntheticReceipts.png(seed, 600, 1.4));
      UUID receipt = receipts.get(i);
      int order = i;
      asAlice.run(db.dataSource(), c -> insertFile(c, session, receipt, order, path));
    }
    SQLException refused = assertThrows(SQLException.class, () -> asAlice.run(db.dataSource(),
        c -> insertFile(c, session, outsidersReceipt, FILES, alice + "/" + session + "/evil.png")));
    assertTrue(refused.getMessage().contains("receipt_id " + outsidersReceipt + " is not a receipt of this session's team"),
        refused.getMessage());

    HttpServer storage = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    storage.createContext("/storage/v1/object/", exchange -> {
      byte[] body = objects.get(exchange.getRequestURI().getRawPath());
      boolean authorised = ("Bearer " + SERVICE_KEY).equals(exchange.getRequestHeaders().getFirst("Authorization"));
      if (body == null || !authorised) {
        byte[] notFound = "{\"statusCode\":\"404\",\"error\":\"not_found\",\"message\":\"Object not found\"}".getBytes();
        exchange.sendResponseHeaders(400, notFound.length);
        exchange.getResponseBody().write(notFound);
      } else {
        exchange.getResponseHeaders().add("Content-Type", "image/png");
        exchange.sendResponseHeaders(200, body.length);
        exchange.getResponseBody().write(body);
      }
      exchange.close();
    });
    storage.start();
    try (GeminiSimulator gemini = GeminiSimulator.start(SimulatorConfig.defaults().withApiKeys(Set.of(KEY)));
         WorkerProcess worker = WorkerProcess.start(settings(db, gemini,
             URI.create("http://127.0.0.1:" + storage.getAddress().getPort() + "/")))) {
      Eventually.await("every file completed", Duration.ofSeconds(180), () -> {
        try {
          return count(db, "SELECT count(*) FROM public.batch_upload_files WHERE status = 'completed' AND batch_session_id = '"
              + session + "'") == FILES;
        } catch (SQLException e) {
          throw new IllegalStateException(e);
        }
      });
      // The maintenance leader (this worker) ends the session once every file is finished.
      Eventually.await("the session completed", Duration.ofSeconds(180), () -> {
        try {
          return "completed".equals(single(db, "SELECT status FROM public.batch_upload_sessions WHERE id = '" + session + "'"));
        } catch (SQLException e) {
          throw new IllegalStateException(e);
        }
      });
    } finally {
      storage.stop(0);
    }

    for (int i = 0; i < FILES; i++) {
      SyntheticReceipt truth = truths.get(i);
      try (Connection c = db.connect(); PreparedStatement p = c.prepareStatement(
          "SELECT merchant, date, total, currency FROM public.receipts WHERE id = ?")) {
        p.setObject(1, receipts.get(i));
        try (ResultSet rs = p.executeQuery()) {
          assertTrue(rs.next());
          assertEquals(truth.merchant(), rs.getString(1), "merchant of receipt " + i);
          assertEquals(truth.date(), rs.getObject(2, LocalDate.class), "date of receipt " + i);
          assertEquals(0, truth.total().compareTo(rs.getBigDecimal(3)), "total of receipt " + i + ": " + rs.getBigDecimal(3));
          assertEquals(truth.currency(), rs.getString(4), "currency of receipt " + i);
        }
      }
    }
    assertEquals(0, count(db, "SELECT count(*) FROM public.receipts WHERE id = '" + outsidersReceipt + "' AND merchant IS NOT NULL"));
  }

  private static UUID insertFile(Connection c, UUID session, UUID receipt, int order, String path) throws SQLException {
    try (PreparedStatement p = c.prepareStatement("INSERT INTO public.batch_upload_files (batch_session_id, receipt_id,"
        + " original_filename, file_type, upload_order, storage_bucket, storage_path, status)"
        + " VALUES (?, ?, ?, 'image/png', ?, ?, ?, 'pending') RETURNING id")) {
      p.setObject(1, session);
      p.setObject(2, receipt);
      p.setString(3, order + ".png");
      p.setInt(4, order);
      p.setString(5, BUCKET);
      p.setString(6, path);
      return single(p);
    }
  }

  private static WorkerProcess.Settings settings(TestDatabase db, GeminiSimulator gemini, URI supabase) {
    Backoff fast = new Backoff(Duration.ofMillis(50), Duration.ofMillis(500));
    return new WorkerProcess.Settings(db.url(),
        GeminiConfig.of(gemini.baseUrl(), KEY),
        FileSourceConfig.defaults().withSupabase(supabase, SERVICE_KEY, Set.of(BUCKET)),
        FileValidatorConfig.defaults(),
        ImagePreprocessorConfig.defaults(),
        QuotaGateConfig.defaults(),
        new ReceiptProcessor.Config(Duration.ofSeconds(5), fast),
        WorkerConfig.defaults().withConcurrency(2),
        MaintenanceConfig.defaults(),
        EmbeddingConfig.defaults().withBackoff(fast).withLinger(Duration.ofMillis(200)),
        BatchDelivery.Config.defaults());
  }

  private static UUID receipt(TestDatabase db, UUID user, UUID team) throws SQLException {
    try (Connection c = db.connect();
         PreparedStatement p = c.prepareStatement("INSERT INTO public.receipts (user_id, team_id) VALUES (?, ?) RETURNING id")) {
      p.setObject(1, user);
      p.setObject(2, team);
      return single(p);
    }
  }

  private static UUID single(PreparedStatement p) throws SQLException {
    try (ResultSet rs = p.executeQuery()) {
      rs.next();
      return rs.getObject(1, UUID.class);
    }
  }

  private static String single(TestDatabase db, String sql) throws SQLException {
    try (Connection c = db.connect(); ResultSet rs = c.createStatement().executeQuery(sql)) {
      rs.next();
      return rs.getString(1);
    }
  }

  private static int count(TestDatabase db, String sql) throws SQLException {
    return Integer.parseInt(single(db, sql));
  }
}
