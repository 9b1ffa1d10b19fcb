package io.batchpilot.embeddings;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ArrayNode;
import io.batchpilot.store.Jooq;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import javax.sql.DataSource;
import org.jooq.DSLContext;
import org.jooq.impl.DSL;

/**
 * The embedding work as the database holds it (R__40_embeddings.sql's functions): which files are due, claiming them
 * for one worker, and recording how each ended. Every call is one statement.
 */
public final class EmbeddingQueue {

  // Amounts stay exact (0.50 is not 0.5): they are embedded as printed.
  private static final ObjectMapper JSON = new ObjectMapper()
      .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS).setNodeFactory(JsonNodeFactory.withExactBigDecimals(true));

  private final DSLContext dsl;

  public EmbeddingQueue(DataSource dataSource) {
    this.dsl = Jooq.using(dataSource);
  }

  /**
   * Claims up to {@code maxFiles} due embeddings for {@code worker}, each leased for {@code lease}, or
   * none at all when fewer than {@code minFiles} are due.
   */
  public List<ClaimedEmbedding> claim(String worker, int maxFiles, int minFiles, Duration lease) {
    return dsl.resultQuery(
            "SELECT file_id, batch_session_id, attempts, result::text AS result"
                + " FROM batchpilot_private.claim_embeddings({0}, {1}, {2}, make_interval(secs => {3}))",
            DSL.val(worker), DSL.val(maxFiles), DSL.val(minFiles), DSL.val(lease.toMillis() / 1000.0))
        .fetch(r -> new ClaimedEmbedding(
            r.get("file_id", UUID.class),
            r.get("batch_session_id", UUID.class),
            r.get("attempts", Integer.class),
            readJson(r.get("result", String.class)),
            worker));
  }

  /** Whether any embedding is due now (by the database's clock). */
  public boolean anyDue() {
    return dsl.select(DSL.field("batchpilot_private.embeddings_due()", Boolean.class)).fetchOne(0, Boolean.class);
  }

  /** Records the outcomes in one transaction; returns how many still held their claim and applied. */
  public int record(List<EmbeddingOutcome> outcomes) {
    if (outcomes.isEmpty()) {
      return 0;
    }
    ArrayNode array = JSON.createArrayNode();
    outcomes.forEach(o -> array.add(o.json()));
    return dsl.select(DSL.field("batchpilot_private.record_embeddings({0}::jsonb)", Integer.class,
            DSL.val(array.toString())))
        .fetchOne(0, Integer.class);
  }

  /** The vector size the schema was migrated with (batchpilot.embedding_dimensions, default 768). */
  public int columnDimensions() {
    return dsl.select(DSL.field("batchpilot_private.embedding_dimensions()", Integer.class)).fetchOne(0, Integer.class);
  }

  private static JsonNode readJson(String text) {
    try {
      return text == null ? null : JSON.readTree(text);
    } catch (JsonProcessingException e) {
      // jsonb always holds valid JSON; reaching this means the driver handed back something else.
      throw new IllegalStateException("batch_upload_files.result did not read back as JSON: " + e.getOriginalMessage(), e);
    }
  }
}
