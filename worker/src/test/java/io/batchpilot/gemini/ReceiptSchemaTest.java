package io.batchpilot.gemini;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.cfg.JsonNodeFeature;
import java.math.BigDecimal;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/** The model's JSON is read strictly: what does not fit the receipt schema is MALFORMED_RESPONSE. */
class ReceiptSchemaTest {
    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .configure(JsonNodeFeature.STRIP_TRAILING_BIGDECIMAL_ZEROES, false);

    @Test
    void nullsTheReceiptDoesNotShowStayNull() throws Exception {
        Receipt receipt = ReceiptSchema.parse("{\"merchant\": null, \"date\": null, \"currency\": null, \"subtotal\": null,"
                + " \"tax\": null, \"total\": 3.50, \"line_items\": []}", JSON);
        assertNull(receipt.merchant());
        assertNull(receipt.date());
        assertNull(receipt.tax());
        assertEquals(new BigDecimal("3.50"), receipt.total());
        assertEquals(0, receipt.lineItems().size());
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "not json at all",
            "[1, 2]",
            "{\"total\": 1.0, \"line_items\": []} trailing",
            "{\"merchant\": \"A\", \"line_items\": []}",
            "{\"total\": \"10.80\", \"line_items\": []}",
            "{\"total\": 10.8}",
            "{\"total\": 10.8, \"line_items\": {}}",
            "{\"total\": 10.8, \"date\": \"02/11/2026\", \"line_items\": []}",
            "{\"total\": 10.8, \"date\": \"2026-02-30\", \"line_items\": []}",
            "{\"total\": 10.8, \"merchant\": 42, \"line_items\": []}",
            "{\"total\": 10.8, \"line_items\": [{\"description\": \"Milk\"}]}",
            "{\"total\": 10.8, \"line_items\": [{\"amount\": 1.0}]}",
            "{\"total\": 10.8, \"line_items\": [\"Milk 1.00\"]}",
            "{\"total\": 10.8, \"line_items\": [{\"description\": \"Milk\", \"quantity\": \"two\", \"amount\": 1.0}]}"})
    void whatDoesNotFitTheSchemaIsMalformed(String text) {
        GeminiException e = assertThrows(GeminiException.class, () -> ReceiptSchema.parse(text, JSON));
        assertEquals(GeminiError.MALFORMED_RESPONSE, e.error());
        assertTrue(e.getMessage().startsWith("the receipt extraction does not fit the receipt schema"), e.getMessage());
    }

    @Test
    void theSchemaRequiresEveryFieldAndAllowsNullOnlyWhereAReceiptMayNotShowIt() {
        var schema = ReceiptSchema.responseSchema();
        assertEquals(7, schema.path("required").size());
        schema.path("properties").fields().forEachRemaining(p -> {
            boolean nullable = p.getValue().path("nullable").asBoolean(false);
            assertEquals(!p.getKey().equals("total") && !p.getKey().equals("line_items"), nullable, p.getKey());
        });
        var item = schema.path("properties").path("line_items").path("items").path("properties");
        assertEquals(false, item.path("description").path("nullable").asBoolean(false));
        assertEquals(false, item.path("amount").path("nullable").asBoolean(false));
        assertEquals(true, item.path("unit_price").path("nullable").asBoolean(false));
    }
}
