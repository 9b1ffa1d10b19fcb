package io.batchpilot.embeddings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.store.Jooq;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.jooq.DSLContext;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** public.match_receipts, the search a frontend calls through supabase.rpc, on the real[] path. */
@ExtendWith(PostgresExtension.class)
class MatchReceiptsTest {

  private TestDatabase db;
  private UUID alice;
  private UUID bob;
  private ExtractedFiles.Session alices;
  private ExtractedFiles.Session bobs;

  @BeforeEach
  void embedTwoUsersReceipts(TestDatabase db) {
    this.db = db;
    DSLContext dsl = Jooq.using(db.dataSource());
    dsl.execute("DELETE FROM public.batch_upload_sessions");
    alice = dsl.resultQuery("INSERT INTO auth.users (email) VALUES ('alice@example.com') RETURNING id").fetchOne(0, UUID.class);
    bob = dsl.resultQuery("INSERT INTO auth.users (email) VALUES ('bob@example.com') RETURNING id").fetchOne(0, UUID.class);
    alices = ExtractedFiles.completed(db.dataSource(), alice, 3);
    bobs = ExtractedFiles.completed(db.dataSource(), bob, 3);
    // Each file's vector points along its own axis: axis i for Alice's file i, 3 + i for Bob's.
    EmbeddingQueue queue = new EmbeddingQueue(db.dataSource());
    List<EmbeddingOutcome> outcomes = new ArrayList<>();
    for (ClaimedEmbedding c : queue.claim("w1", 100, 1, Duration.ofMinutes(5))) {
      int axis = alices.files().contains(c.fileId()) ? alices.files().indexOf(c.fileId())
          : 3 + bobs.files().indexOf(c.fileId());
      outcomes.add(EmbeddingOutcome.completed(c, "gemini-embedding-001", "RETRIEVAL_DOCUMENT", "receipt " + axis,
          axis(axis, 0)));
    }
    assertEquals(6, queue.record(outcomes));
  }

  @Test
  void aUserFindsTheirOwnReceiptsMostSimilarFirst() throws SQLException {
    // Closest to Alice's file 2, then her file 1; Bob's file 0 (axis 3) would be closest of all.
    float[] query = axis(2, 0);
    query[1] = 0.5f;
    query[3] = 0.9f;
    List<UUID> hits = search(alice, query, 10);
    assertEquals(List.of(alices.files().get(2), alices.files().get(1), alices.files().get(0)), hits);
  }

  @Test
  void matchCountLimitsTheHits() throws SQLException {
    assertEquals(List.of(bobs.files().get(1)), search(bob, axis(4, 0), 1));
  }

  @Test
  void anonymousCallersCannotSearch() throws SQLException {
    try (Connection c = db.connect(); Statement s = c.createStatement()) {
      s.execute("SET ROLE anon");
      assertThrows(SQLException.class,
          () -> s.executeQuery("SELECT * FROM public.match_receipts(array_fill(0::real, ARRAY[768]), 10)"));
    }
  }

  private List<UUID> search(UUID user, float[] query, int count) throws SQLException {
    try (Connection c = db.connect()) {
      try (Statement s = c.createStatement()) {
        s.execute("SET ROLE authenticated");
        s.execute("SELECT set_config('request.jwt.claims', '{\"sub\": \"" + user + "\", \"role\": \"authenticated\"}', false)");
      }
      StringBuilder literal = new StringBuilder("{");
      for (int i = 0; i < query.length; i++) {
        literal.append(i == 0 ? "" : ",").append(query[i]);
      }
      literal.append('}');
      List<UUID> hits = new ArrayList<>();
      try (PreparedStatement p = c.prepareStatement(
          "SELECT file_id FROM public.match_receipts(?::text::real[], ?) ORDER BY similarity DESC")) {
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

  private static float[] axis(int axis, float rest) {
    float[] v = EmbeddingQueueTest.vector(768, rest);
    v[axis] = 1;
    return v;
  }
}
