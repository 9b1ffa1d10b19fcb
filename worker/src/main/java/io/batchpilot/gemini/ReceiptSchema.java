package io.batchpilot.gemini;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.math.BigDecimal;
import java.time.LocalDate;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.List;

/**
 * The receipt's structured-output contract: the prompt, the {@code responseSchema} sent with it
 * (Gemini's OpenAPI-subset Schema), and the strict reading of the model's JSON into a {@link Receipt}.
 * Property names are snake_case; the simulator answers in the same shape.
 */
public final class ReceiptSchema {

    /** The instruction sent with every receipt; its characters also feed the token estimate. */
    public static final String PROMPT = "Extract the data of this receipt. merchant: the store or business name as printed."
            + " date: the purchase date as YYYY-MM-DD. currency: the ISO 4217 code (e.g. USD, EUR) as printed or implied"
            + " by the symbol. subtotal, tax, total: amounts as plain numbers without currency symbols."
            + " line_items: every purchased item in printed order, with description, quantity, unit_price and amount"
            + " (the line total). Use null for any value the receipt does not show; do not guess.";

    private static final ObjectNode SCHEMA = buildSchema();

    private ReceiptSchema() {
    }

    /** A fresh copy of the {@code responseSchema} JSON. */
    public static ObjectNode responseSchema() {
        return SCHEMA.deepCopy();
    }

    /**
     * Reads the candidate's text as a receipt. Anything that is not JSON or does not fit the schema
     * (a missing total, a string where a number belongs, an impossible date) is MALFORMED_RESPONSE.
     */
    static Receipt parse(String candidateText, ObjectMapper json) throws GeminiException {
        JsonNode root;
        try {
            root = json.readTree(candidateText);
        } catch (JsonProcessingException e) {
            throw malformed("the model's answer is not JSON (" + e.getOriginalMessage() + ")");
        }
        if (root == null || !root.isObject()) {
            throw malformed("the model's answer is not a JSON object");
        }
        List<LineItem> items = new ArrayList<>();
        JsonNode lineItems = root.get("line_items");
        if (lineItems == null || !lineItems.isArray()) {
            throw malformed("line_items is missing or not an array");
        }
        for (int i = 0; i < lineItems.size(); i++) {
            JsonNode item = lineItems.get(i);
            if (!item.isObject()) {
                throw malformed("line_items[" + i + "] is not an object");
            }
            String where = "line_items[" + i + "].";
            items.add(new LineItem(
                    requireNonNull(string(item, "description", where), where + "description"),
                    number(item, "quantity", where),
                    number(item, "unit_price", where),
                    requireNonNull(number(item, "amount", where), where + "amount")));
        }
        return new Receipt(
                string(root, "merchant", ""),
                date(root),
                string(root, "currency", ""),
                number(root, "subtotal", ""),
                number(root, "tax", ""),
                requireNonNull(number(root, "total", ""), "total"),
                items);
    }

    private static ObjectNode buildSchema() {
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode item = object(f, "One purchased line.");
        ObjectNode itemProps = item.putObject("properties");
        itemProps.set("description", type(f, "STRING", false, "The item as printed."));
        itemProps.set("quantity", type(f, "NUMBER", true, "How many; null if not printed."));
        itemProps.set("unit_price", type(f, "NUMBER", true, "Price of one; null if not printed."));
        itemProps.set("amount", type(f, "NUMBER", false, "The line total."));
        names(item.putArray("required"), "description", "quantity", "unit_price", "amount");
        names(item.putArray("propertyOrdering"), "description", "quantity", "unit_price", "amount");

        ObjectNode receipt = object(f, "A purchase receipt.");
        ObjectNode props = receipt.putObject("properties");
        props.set("merchant", type(f, "STRING", true, "Store or business name."));
        props.set("date", type(f, "STRING", true, "Purchase date, YYYY-MM-DD."));
        props.set("currency", type(f, "STRING", true, "ISO 4217 code, e.g. USD."));
        props.set("subtotal", type(f, "NUMBER", true, "Amount before tax."));
        props.set("tax", type(f, "NUMBER", true, "Tax amount."));
        props.set("total", type(f, "NUMBER", false, "Amount paid."));
        ObjectNode lineItems = f.objectNode().put("type", "ARRAY");
        lineItems.set("items", item);
        props.set("line_items", lineItems);
        String[] order = {"merchant", "date", "currency", "subtotal", "tax", "total", "line_items"};
        names(receipt.putArray("required"), order);
        names(receipt.putArray("propertyOrdering"), order);
        return receipt;
    }

    private static ObjectNode object(JsonNodeFactory f, String description) {
        return f.objectNode().put("type", "OBJECT").put("description", description);
    }

    private static ObjectNode type(JsonNodeFactory f, String type, boolean nullable, String description) {
        ObjectNode node = f.objectNode().put("type", type).put("description", description);
        if (nullable) {
            node.put("nullable", true);
        }
        return node;
    }

    private static void names(ArrayNode array, String... names) {
        for (String name : names) {
            array.add(name);
        }
    }

    private static String string(JsonNode node, String field, String where) throws GeminiException {
        JsonNode value = node.get(field);
        if (value == null || value.isNull()) {
            return null;
        }
        if (!value.isTextual()) {
            throw malformed(where + field + " is not a string");
        }
        String text = value.asText().strip();
        return text.isEmpty() ? null : text;
    }

    private static BigDecimal number(JsonNode node, String field, String where) throws GeminiException {
        JsonNode value = node.get(field);
        if (value == null || value.isNull()) {
            return null;
        }
        if (!value.isNumber()) {
            throw malformed(where + field + " is not a number");
        }
        return value.decimalValue();
    }

    private static LocalDate date(JsonNode root) throws GeminiException {
        String text = string(root, "date", "");
        if (text == null) {
            return null;
        }
        try {
            return LocalDate.parse(text);
        } catch (DateTimeParseException e) {
            throw malformed("date '" + text + "' is not a YYYY-MM-DD date");
        }
    }

    private static <T> T requireNonNull(T value, String field) throws GeminiException {
        if (value == null) {
            throw malformed(field + " is missing or null");
        }
        return value;
    }

    private static GeminiException malformed(String what) {
        return new GeminiException(GeminiError.MALFORMED_RESPONSE,
                "the receipt extraction does not fit the receipt schema: " + what + "; a retry usually succeeds");
    }
}
