package io.batchpilot.embeddings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.Migrator;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.db.testing.TestPostgres;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The pgvector path every Supabase project runs: vector(N) with an HNSW index when the extension is
 * there before migrating, the conversion of stored real[] embeddings when it comes later, and
 * match_receipts over vector under RLS. Skips where the server has no pgvector to install.
 */
class PgvectorTest {

  private static final int DIMENSIONS = 768;
  private final List<TestDatabase> databases = new ArrayList<>();

  private static Boolean available;

  @BeforeEach
  void pgvectorIsAvailable() throws SQLException {
    Assumptions.assumeTrue(available(), "pgvector is not installed on the test server: run "
        + ".ci/install-pgvector (it builds ../shared/vendor/pgvector-0.8.6.tar.gz into PostgreSQL 15), "
        + "or install pgvector from your distribution; the vector tests are skipped");
  }

  private static synchronized boolean available() throws SQLException {
    if (available != null) {
      return available;
    }
    try (TestDatabase db = TestPostgres.get().createDatabase(false);
         Connection c = db.connect();
         Statement s = c.createStatement();
         ResultSet rs = s.executeQuery("SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'")) {
      rs.next();
      available = rs.getInt(1) > 0;
      return available;
    }
  }

  @AfterEach
  void dropDatabases() {
    databases.forEach(TestDatabase::close);
  }

  @Test
  void installedBeforeMigratingTheColumnIsVectorWithAnHnswIndexAndSearchUsesIt() throws SQLException {
    TestDatabase db = database(true, null);

    assertEquals("extensions.vector(768)", columnType(db));
    assertTrue(indexDefinition(db).contains("USING hnsw (embedding extensions.vector_cosine_ops)"), indexDefinition(db));
    Embedded embedded = embedSixReceipts(db);
    assertSearchFindsEachUsersOwnReceipts(db, embedded);
    try (Connection c = db.connect(); Statement s = c.createStatement()) {
      s.execute("SET enable_seqscan = off");
      StringBuilder plan = new StringBuilder();
      try (ResultSet rs = s.executeQuery("EXPLAIN SELECT file_id FROM public.receipt_embeddings"
          + " ORDER BY embedding OPERATOR(extensions.<=>) (SELECT embedding FROM public.receipt_embeddings LIMIT 1) LIMIT 3")) {
        while (rs.next()) {
          plan.append(rs.getString(1)).append('\n');
        }
      }
      assertTrue(plan.toString().contains("receipt_embeddings_embedding_idx"), plan.toString());
    }
  }

  @Test
  void enabledLaterTheStoredRealArraysBecomeVectorsUnchanged() throws SQLException {
    TestDatabase db = database(false, null);
    assertEquals("real[]", columnType(db));
    Embedded embedded = embedSixReceipts(db);
    String before = embeddingsAsText(db);

    try (Connection c = db.connect(); Statement s = c.createStatement()) {
      s.execute("CREATE EXTENSION vector WITH SCHEMA extensions");
      assertEquals("embeddings converted to extensions.vector(768), HNSW cosine index", useVector(s));
      assertEquals("embeddings are extensions.vector(768), HNSW cosine index", useVector(s), "a second run changes nothing");
    }

    assertEquals("extensions.vector(768)", columnType(db));
    assertEquals(before, embeddingsAsText(db), "every stored embedding keeps its values");
    assertFalse(indexDefinition(db).isEmpty());
    assertSearchFindsEachUsersOwnReceipts(db, embedded);
    try (Connection c = db.connect(); Statement s = c.createStatement()) {
      assertThrows(SQLException.class, () -> s.executeQuery(
          "SELECT * FROM public.match_receipts(array_fill(0::real, ARRAY[768]), 10)"),
          "the real[] search is gone with the real[] column");
    }
    // Workers keep recording into the converted column.
    EmbeddingQueue queue = new EmbeddingQueue(db.dataSource());
    ExtractedFiles.completed(db.dataSource(), embedded.alice(), 1);
    List<EmbeddingOutcome> outcomes = new ArrayList<>();
    for (ClaimedEmbedding c : queue.claim("w2", 100, 1, Duration.ofMinutes(5))) {
      outcomes.add(EmbeddingOutcome.completed(c, "gemini-embedding-001", "RETRIEVAL_DOCUMENT", "late", axis(7)));
    }
    assertEquals(1, queue.record(outcomes));
  }

  @Test
  void aVectorTooWideForHnswIsStoredAndSearchedWithoutAnIndex() throws SQLException {
    TestDatabase db = database(true, 3072);

    assertEquals("extensions.vector(3072)", columnType(db));
    assertEquals("", indexDefinition(db));
    try (Connection c = db.connect(); Statement s = c.createStatement()) {
      assertEquals("embeddings are extensions.vector(3072), no index (HNSW takes at most 2000 dimensions)", useVector(s));
    }
  }

  @Test
  void withoutTheExtensionItSaysHowToGetIt() throws SQLException {
    TestDatabase db = database(false, null);
    try (Connection c = db.connect(); Statement s = c.createStatement()) {
      assertTrue(useVector(s).startsWith("pgvector is not installed"), "names what to do");
    }
    assertEquals("real[]", columnType(db));
  }

  private record Embedded(UUID alice, UUID bob, ExtractedFiles.Session alices, ExtractedFiles.Session bobs) {}

  /** Three receipts each for Alice and Bob; file i's vector points along axis i (Bob's: 3 + i). */
  private static Embedded embedSixReceipts(TestDatabase db) throws SQLException {
    UUID alice = user(db, "alice@example.com");
    UUID bob = user(db, "bob@example.com");
    ExtractedFiles.Session alices = ExtractedFiles.completed(db.dataSource(), alice, 3);
    ExtractedFiles.Session bobs = ExtractedFiles.completed(db.dataSource(), bob, 3);
    EmbeddingQueue queue = new EmbeddingQueue(db.dataSource());
    List<EmbeddingOutcome> outcomes = new ArrayList<>();
    for (ClaimedEmbedding c : queue.claim("w1", 100, 1, Duration.ofMinutes(5))) {
      int axis = alices.files().contains(c.fileId()) ? alices.files().indexOf(c.fileId())
          : 3 + bobs.files().indexOf(c.fileId());
      outcomes.add(EmbeddingOutcome.completed(c, "gemini-embedding-001", "RETRIEVAL_DOCUMENT", "receipt " + axis, axis(axis)));
    }
    assertEquals(6, queue.record(outcomes));
    return new Embedded(alice, bob, alices, bobs);
  }

  private static void assertSearchFindsEachUsersOwnReceipts(TestDatabase db, Embedded e) throws SQLException {
    float[] query = axis(2);
    query[1] = 0.5f;
    query[3] = 0.9f;  // Bob's file 0 would be closer than Alice's file 1: RLS keeps it out
    assertEquals(List.of(e.alices().files().get(2), e.alices().files().get(1), e.alices().files().get(0)),
        search(db, e.alice(), query, 10));
    assertEquals(List.of(e.bobs().files().get(1)), search(db, e.bob(), axis(4), 1));
  }

  private static List<UUID> search(TestDatabase db, UUID user, float[] query, int count) throws SQLException {
    try (Connection c = db.connect()) {
      try (Statement s = c.createStatement()) {
        s.execute("SET ROLE authenticated");
        s.execute("SELECT set_config('request.jwt.claims', '{\"sub\": \"" + user + "\", \"role\": \"authenticated\"}', false)");
      }
      StringBuilder literal = new StringBuilder("[");
      for (int i = 0; i < query.length; i++) {
        literal.append(i == 0 ? "" : ",").append(query[i]);
      }
      literal.append(']');
      List<UUID> hits = new ArrayList<>();
      try (PreparedStatement p = c.prepareStatement(
          "SELECT file_id FROM public.match_receipts(?::text::extensions.vector, ?) ORDER BY similarity DESC")) {
        p.setString(1, literal.toString());
        p.setInt(2, count);
        try (ResultSet rs = p.executeQuery()) {
          while (rs.next()) {
            hits.add(rs.getObject(1, UUID.class));
          }
        }
      }
      return hits;
    }
  }

  /** A fresh database migrated by {@link Migrator}, with pgvector created first when asked. */
  private TestDatabase database(boolean pgvectorFirst, Integer dimensions) throws SQLException {
    TestDatabase db = TestPostgres.get().createDatabase(false);
    databases.add(db);
    try (Connection c = db.connect(); Statement s = c.createStatement()) {
      s.execute("CREATE SCHEMA IF NOT EXISTS extensions");
      if (pgvectorFirst) {
        s.execute("CREATE EXTENSION vector WITH SCHEMA extensions");
      }
      if (dimensions != null) {
        s.execute("ALTER DATABASE " + db.name() + " SET batchpilot.embedding_dimensions = '" + dimensions + "'");
      }
    }
    new Migrator(db.dataSource()).migrate();
    return db;
  }

  private static UUID user(TestDatabase db, String email) throws SQLException {
    try (Connection c = db.connect(); Statement s = c.createStatement();
         ResultSet rs = s.executeQuery("INSERT INTO auth.users (email) VALUES ('" + email + "') RETURNING id")) {
      rs.next();
      return rs.getObject(1, UUID.class);
    }
  }

  private static String useVector(Statement s) throws SQLException {
    try (ResultSet rs = s.executeQuery("SELECT batchpilot_private.use_pgvector()")) {
      rs.next();
      return rs.getString(1);
    }
  }

  private static String columnType(TestDatabase db) throws SQLException {
    return single(db, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
        + " WHERE attrelid = 'public.receipt_embeddings'::regclass AND attname = 'embedding'");
  }

  private static String indexDefinition(TestDatabase db) throws SQLException {
    return single(db, "SELECT coalesce(max(indexdef), '') FROM pg_indexes"
        + " WHERE tablename = 'receipt_embeddings' AND indexname = 'receipt_embeddings_embedding_idx'");
  }

  private static String embeddingsAsText(TestDatabase db) throws SQLException {
    return single(db, "SELECT string_agg(translate(embedding::text, '{}', '[]'), ';' ORDER BY file_id)"
        + " FROM public.receipt_embeddings");
  }

  private static String single(TestDatabase db, String sql) throws SQLException {
    try (Connection c = db.connect(); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
      rs.next();
      return rs.getString(1);
    }
  }

  private static float[] axis(int axis) {
    float[] v = EmbeddingQueueTest.vector(DIMENSIONS, 0);
    v[axis] = 1;
    return v;
  }
}
