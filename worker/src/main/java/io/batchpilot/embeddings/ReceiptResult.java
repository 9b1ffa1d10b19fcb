package io.batchpilot.embeddings;

import com.fasterxml.jackson.databind.JsonNode;
import io.batchpilot.gemini.LineItem;
import io.batchpilot.gemini.Receipt;
import java.math.BigDecimal;
import java.time.LocalDate;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads a file's stored extraction ({@code batch_upload_files.result}) back into a {@link Receipt}:
 * the snake_case shape the extraction writes (merchant, date, currency, subtotal, tax, total,
 * line_items with description, quantity, unit_price, amount), at the top level or under "receipt".
 */
public final class ReceiptResult {

  private ReceiptResult() {}

  /** @throws IllegalArgumentException naming the field that does not fit */
  public static Receipt read(JsonNode result) {
    if (result == null || !result.isObject()) {
      throw new IllegalArgumentException("the stored result is not a JSON object");
    }
    JsonNode root = result.path("receipt").isObject() ? result.get("receipt") : result;
    List<LineItem> items = new ArrayList<>();
    JsonNode lineItems = root.path("line_items");
    if (lineItems.isArray()) {
      for (int i = 0; i < lineItems.size(); i++) {
        JsonNode item = lineItems.get(i);
        String where = "line_items[" + i + "].";
        String description = text(item, "description");
        BigDecimal amount = number(item, "amount", where);
        if (description == null || amount == null) {
          throw new IllegalArgumentException(where + "description and " + where + "amount are required");
        }
        items.add(new LineItem(description, number(item, "quantity", where), number(item, "unit_price", where), amount));
      }
    }
    BigDecimal total = number(root, "total", "");
    if (total == null) {
      throw new IllegalArgumentException("total is missing");
    }
    return new Receipt(text(root, "merchant"), date(root), text(root, "currency"), number(root, "subtotal", ""),
        number(root, "tax", ""), total, items);
  }

  private static String text(JsonNode node, String field) {
    JsonNode value = node.path(field);
    return value.isTextual() ? value.asText() : null;
  }

  private static BigDecimal number(JsonNode node, String field, String where) {
    JsonNode value = node.path(field);
    if (value.isMissingNode() || value.isNull()) {
      return null;
    }
    if (value.isNumber()) {
      return value.decimalValue();
    }
    if (value.isTextual()) {
      try {
        return new BigDecimal(value.asText().strip());
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(where + field + " is not a number: '" + value.asText() + "'", e);
      }
    }
    throw new IllegalArgumentException(where + field + " is not a number");
  }

  private static LocalDate date(JsonNode node) {
    String value = text(node, "date");
    try {
      return value == null ? null : LocalDate.parse(value.strip());
    } catch (DateTimeParseException e) {
      throw new IllegalArgumentException("date is not YYYY-MM-DD: '" + value + "'", e);
    }
  }
}
