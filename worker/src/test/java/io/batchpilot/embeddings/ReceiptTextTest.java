package io.batchpilot.embeddings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import io.batchpilot.gemini.LineItem;
import io.batchpilot.gemini.Receipt;
import java.math.BigDecimal;
import java.time.LocalDate;
import java.util.List;
import org.junit.jupiter.api.Test;

class ReceiptTextTest {

  private static final ObjectMapper JSON = new ObjectMapper()
      .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS).setNodeFactory(JsonNodeFactory.withExactBigDecimals(true));

  @Test
  void aFullReceiptRendersAsTheDocumentedTemplate() {
    Receipt receipt = new Receipt("Blue Bottle Coffee", LocalDate.of(2026, 11, 28), "USD", new BigDecimal("12.25"),
        new BigDecimal("1.01"), new BigDecimal("13.26"), List.of(
            new LineItem("Latte", new BigDecimal("2"), new BigDecimal("4.50"), new BigDecimal("9.00")),
            new LineItem("Croissant", null, null, new BigDecimal("3.25"))));

    assertEquals("""
        Merchant: Blue Bottle Coffee
        Date: 2026-11-28
        Items:
        - Latte: 2 x 4.50 = 9.00
        - Croissant: 3.25
        Subtotal: 12.25 USD
        Tax: 1.01 USD
        Total: 13.26 USD
        """, ReceiptText.render(receipt));
  }

  @Test
  void valuesTheReceiptDoesNotShowAreLeftOutNotWrittenAsUnknown() {
    Receipt receipt = new Receipt(null, null, null, null, null, new BigDecimal("5"), List.of());

    assertEquals("Total: 5\n", ReceiptText.render(receipt));
  }

  @Test
  void amountsAreWrittenAsPrintedWithoutAnExponent() {
    Receipt receipt = new Receipt("Shop", null, "EUR", null, null, new BigDecimal("4.5E+1"),
        List.of(new LineItem("Box", new BigDecimal("3"), null, new BigDecimal("1E+1"))));

    String text = ReceiptText.render(receipt);
    assertTrue(text.contains("- Box: 3 for 10\n"), text);
    assertTrue(text.endsWith("Total: 45 EUR\n"), text);
  }

  @Test
  void aStoredResultReadsBackWithItsAmountsExact() throws Exception {
    Receipt receipt = ReceiptResult.read(JSON.readTree(ExtractedFiles.result(3)));

    assertEquals("Shop 3", receipt.merchant());
    assertEquals(LocalDate.of(2026, 11, 4), receipt.date());
    assertEquals("3.50", receipt.subtotal().toPlainString());
    assertEquals("3.50", receipt.lineItems().get(0).amount().toPlainString());
    assertEquals("2", receipt.lineItems().get(0).quantity().toPlainString());
  }

  @Test
  void aResultNestedUnderReceiptIsReadToo() throws Exception {
    Receipt receipt = ReceiptResult.read(JSON.readTree("{\"receipt\": " + ExtractedFiles.result(1) + ", \"usage\": {}}"));

    assertEquals("Shop 1", receipt.merchant());
  }

  @Test
  void aResultWithoutATotalIsRefusedNamingTheField() throws Exception {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> ReceiptResult.read(JSON.readTree("{\"merchant\": \"Shop\", \"line_items\": []}")));
    assertTrue(e.getMessage().contains("total"), e.getMessage());
  }
}
