package io.batchpilot.pipeline;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;
import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_SESSIONS;
import static io.batchpilot.jooq.Tables.RECEIPT_EXTRACTIONS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.metrics.Metrics;
import io.batchpilot.store.Jooq;
import java.math.BigDecimal;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import org.jooq.DSLContext;
import org.jooq.exception.DataAccessException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Completion against the host's own public.receipts: the extraction always lands in batchpilot's
 * receipt_extractions; the copy into receipts fills only the columns the host has, through a
 * mapping the project may replace, and a copy that cannot be made tells the session at once instead
 * of failing the completion (which the worker would retry forever).
 */
@ExtendWith(PostgresExtension.class)
class HostReceiptsTest {

  private static final Duration LEASE = Duration.ofSeconds(60);
  private static final ObjectMapper JSON = new ObjectMapper();

  private final DSLContext dsl;
  private final TestDatabase db;
  private final FileClaims claims;
  private final Completer completer;

  HostReceiptsTest(TestDatabase db) {
    this.db = db;
    this.dsl = Jooq.using(db.dataSource());
    this.claims = new FileClaims(db.dataSource());
    this.completer = new Completer(db.dataSource(), 100, "test-completer", new Metrics());
  }

  @BeforeEach
  void empty() {
    dsl.deleteFrom(BATCH_UPLOAD_SESSIONS).execute();
  }

  /** Each test may reshape receipts; the next one starts from the app's own shape and mapping. */
  @AfterEach
  void restoreTheAppsReceipts() {
    dsl.execute("ALTER TABLE public.receipts DROP COLUMN IF EXISTS subtotal, DROP COLUMN IF EXISTS tax,"
        + " DROP COLUMN IF EXISTS line_items, ADD COLUMN IF NOT EXISTS currency text");
    dsl.execute("SELECT batchpilot_private.use_receipt_mapping(NULL)");
    dsl.execute("SELECT batchpilot_private.map_receipts()");
    dsl.execute("ALTER TABLE public.batch_upload_files ENABLE TRIGGER batch_upload_files_check_receipt_tenant");
  }

  @Test
  void theMappingFillsOnlyTheColumnsTheAppsReceiptsHas() {
    assertEquals("public.receipts: fills merchant, date, currency, total; has no subtotal, tax, line_items;"
        + " receipt ownership by user_id and team_id", mapReceipts());
    UUID receipt = completeOneFileWithItsReceipt();

    JsonNode r = receiptRow(receipt);
    assertEquals("Corner Cafe", r.get("merchant").asText());
    assertEquals("2026-03-14", r.get("date").asText());
    assertEquals(0, new BigDecimal("12.50").compareTo(r.get("total").decimalValue()));
    assertEquals("EUR", r.get("currency").asText());
    assertEquals("pending", r.get("processing_status").asText(), "a column batchpilot does not know is left alone");
  }

  @Test
  void afterTheHostAddsColumnsMappingAgainFillsThemToo() {
    dsl.execute("ALTER TABLE public.receipts ADD COLUMN subtotal numeric(12, 2), ADD COLUMN tax numeric(12, 2),"
        + " ADD COLUMN line_items jsonb");
    assertEquals("public.receipts: fills merchant, date, currency, subtotal, tax, total, line_items;"
        + " has no column it lacks; receipt ownership by user_id and team_id", mapReceipts());

    UUID receipt = completeOneFileWithItsReceipt();

    JsonNode r = receiptRow(receipt);
    assertEquals(0, new BigDecimal("1.50").compareTo(r.get("tax").decimalValue()));
    assertEquals(0, new BigDecimal("11.00").compareTo(r.get("subtotal").decimalValue()));
    assertTrue(r.get("line_items").toString().contains("tea"), String.valueOf(r.get("line_items")));
  }

  @Test
  void aProjectsOwnMappingReplacesTheDefault() {
    dsl.execute("""
        CREATE FUNCTION public.fill_my_receipt(receipt_id uuid, extraction public.receipt_extractions)
          RETURNS void LANGUAGE sql AS $$
            UPDATE public.receipts
               SET merchant = upper(extraction.merchant), total = extraction.total, processing_status = 'done'
             WHERE id = receipt_id
          $$""");
    DataAccessException wrongShape = assertThrows(DataAccessException.class,
        () -> dsl.execute("SELECT batchpilot_private.use_receipt_mapping('public.receipts_count()'::regprocedure)"));
    assertTrue(wrongShape.getMessage().contains("does not exist") || wrongShape.getMessage().contains("must take"),
        wrongShape.getMessage());
    dsl.execute("CREATE FUNCTION public.receipts_count(x integer) RETURNS void LANGUAGE sql AS 'SELECT'");
    DataAccessException refused = assertThrows(DataAccessException.class,
        () -> dsl.execute("SELECT batchpilot_private.use_receipt_mapping('public.receipts_count(integer)')"));
    assertTrue(refused.getMessage().contains("must take (receipt_id uuid, extraction public.receipt_extractions)"),
        refused.getMessage());
    assertEquals("receipts are filled by public.fill_my_receipt(uuid,public.receipt_extractions)",
        dsl.fetchValue("SELECT batchpilot_private.use_receipt_mapping('public.fill_my_receipt(uuid, public.receipt_extractions)')"));

    UUID receipt = completeOneFileWithItsReceipt();

    JsonNode r = receiptRow(receipt);
    assertEquals("CORNER CAFE", r.get("merchant").asText());
    assertEquals("done", r.get("processing_status").asText());
    assertTrue(r.get("currency").isNull(), "the project's mapping decides what is filled");
    dsl.execute("SELECT batchpilot_private.use_receipt_mapping(NULL)");
    dsl.execute("DROP FUNCTION public.fill_my_receipt(uuid, public.receipt_extractions), public.receipts_count(integer)");
  }

  @Test
  void aCopyThatFailsKeepsTheExtractionAndSaysSoOnTheSessionAtOnce() {
    dsl.execute("ALTER TABLE public.receipts DROP COLUMN currency");  // altered without mapping again

    UUID receipt = completeOneFileWithItsReceipt();

    UUID file = dsl.select(BATCH_UPLOAD_FILES.ID).from(BATCH_UPLOAD_FILES).where(BATCH_UPLOAD_FILES.RECEIPT_ID.eq(receipt)).fetchOne().value1();
    assertEquals("completed", dsl.select(BATCH_UPLOAD_FILES.STATUS).from(BATCH_UPLOAD_FILES)
        .where(BATCH_UPLOAD_FILES.ID.eq(file)).fetchOne().value1(), "the extraction is done; nothing retries");
    String sessionError = dsl.select(BATCH_UPLOAD_SESSIONS.ERROR_MESSAGE).from(BATCH_UPLOAD_SESSIONS).fetchOne().value1();
    assertTrue(sessionError.startsWith("host-0.png: copying it into public.receipts failed (column \"currency\""), sessionError);
    assertTrue(sessionError.contains("run select batchpilot_private.map_receipts()"), sessionError);
    var extraction = dsl.selectFrom(RECEIPT_EXTRACTIONS).where(RECEIPT_EXTRACTIONS.FILE_ID.eq(file)).fetchOne();
    assertEquals("Corner Cafe", extraction.getMerchant());
    assertNull(extraction.getCopiedToReceiptAt());
    assertNotNull(extraction.getCopyError());
    assertTrue(receiptRow(receipt).get("merchant").isNull(), "the receipt was not half-written");
  }

  @Test
  void completionNeverWritesAReceiptOutsideTheTenantEvenPastTheInsertCheck() {
    UUID stranger = dsl.resultQuery("INSERT INTO auth.users (email) VALUES ('stranger@example.com') RETURNING id")
        .fetchOne(0, UUID.class);
    UUID theirs = dsl.resultQuery("INSERT INTO public.receipts (user_id, merchant) VALUES (?, 'theirs') RETURNING id", stranger)
        .fetchOne(0, UUID.class);
    UUID session = Batches.submit(db.dataSource(), "host", 1, 10);
    // Defence in depth: say the insert check were bypassed (disabled by the table's owner).
    dsl.execute("ALTER TABLE public.batch_upload_files DISABLE TRIGGER batch_upload_files_check_receipt_tenant");
    dsl.update(BATCH_UPLOAD_FILES).set(BATCH_UPLOAD_FILES.RECEIPT_ID, theirs)
        .where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session)).execute();

    complete();

    assertEquals("theirs", receiptRow(theirs).get("merchant").asText());
    String sessionError = dsl.select(BATCH_UPLOAD_SESSIONS.ERROR_MESSAGE).from(BATCH_UPLOAD_SESSIONS).fetchOne().value1();
    assertEquals("host-0.png: receipt " + theirs + " is not a receipt of this session's owner: not copied", sessionError);
  }

  private String mapReceipts() {
    return dsl.resultQuery("SELECT batchpilot_private.map_receipts()").fetchOne(0, String.class);
  }

  /** A personal session (no owner: submitted with the service key) of one file naming its own receipt. */
  private UUID completeOneFileWithItsReceipt() {
    UUID session = Batches.submit(db.dataSource(), "host", 1, 10);
    UUID receipt = dsl.resultQuery("INSERT INTO public.receipts DEFAULT VALUES RETURNING id").fetchOne(0, UUID.class);
    dsl.update(BATCH_UPLOAD_FILES).set(BATCH_UPLOAD_FILES.RECEIPT_ID, receipt)
        .where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session)).execute();
    complete();
    return receipt;
  }

  private void complete() {
    List<ClaimedFile> claimed = claims.claim("w1", 1, LEASE);
    JsonNode fields = json("{\"merchant\":\"Corner Cafe\",\"date\":\"2026-03-14\",\"currency\":\"EUR\","
        + "\"subtotal\":\"11.00\",\"tax\":\"1.50\",\"total\":\"12.50\",\"line_items\":[{\"description\":\"tea\"}]}");
    List<Completer.Written> written = completer.write(List.of(Outcome.completed(claimed.get(0), fields, fields, 300, 50, 350, 1)));
    assertTrue(written.get(0).applied());
  }

  /** The receipt as JSON: its columns change from test to test, and a cached plan must not. */
  private JsonNode receiptRow(UUID receipt) {
    return json(dsl.resultQuery("SELECT to_jsonb(r)::text FROM public.receipts r WHERE id = ?", receipt)
        .fetchOne(0, String.class));
  }

  private static JsonNode json(String text) {
    try {
      return JSON.readTree(text);
    } catch (Exception e) {
      throw new IllegalArgumentException(e);
    }
  }
}
