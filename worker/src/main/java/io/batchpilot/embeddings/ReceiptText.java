package io.batchpilot.embeddings;

import io.batchpilot.gemini.LineItem;
import io.batchpilot.gemini.Receipt;
import java.math.BigDecimal;

/**
 * The text a receipt is embedded as: one fact per line, labelled, in a fixed order, so two receipts
 * from the same merchant or with the same items land near each other. Lines for values the receipt
 * does not show are left out rather than written as "unknown", which would make unrelated receipts
 * look alike. The template (docs/embeddings.md, "The text embedded"):
 *
 * <pre>
 * Merchant: Blue Bottle Coffee
 * Date: 2026-11-28
 * Items:
 * - Latte: 2 x 4.50 = 9.00
 * - Croissant: 3.25
 * Subtotal: 12.25 USD
 * Tax: 1.01 USD
 * Total: 13.26 USD
 * </pre>
 */
public final class ReceiptText {

  private ReceiptText() {}

  public static String render(Receipt receipt) {
    StringBuilder text = new StringBuilder();
    String currency = receipt.currency() == null || receipt.currency().isBlank() ? "" : " " + receipt.currency().strip();
    line(text, "Merchant: ", receipt.merchant() == null || receipt.merchant().isBlank() ? null : receipt.merchant().strip());
    line(text, "Date: ", receipt.date() == null ? null : receipt.date().toString());
    if (!receipt.lineItems().isEmpty()) {
      text.append("Items:\n");
      for (LineItem item : receipt.lineItems()) {
        text.append("- ").append(item.description().strip()).append(": ");
        if (item.quantity() != null && item.unitPrice() != null) {
          text.append(plain(item.quantity())).append(" x ").append(plain(item.unitPrice())).append(" = ");
        } else if (item.quantity() != null) {
          text.append(plain(item.quantity())).append(" for ");
        }
        text.append(plain(item.amount())).append('\n');
      }
    }
    line(text, "Subtotal: ", receipt.subtotal() == null ? null : plain(receipt.subtotal()) + currency);
    line(text, "Tax: ", receipt.tax() == null ? null : plain(receipt.tax()) + currency);
    line(text, "Total: ", plain(receipt.total()) + currency);
    return text.toString();
  }

  private static void line(StringBuilder text, String label, String value) {
    if (value != null) {
      text.append(label).append(value).append('\n');
    }
  }

  // 4.5E+1 would embed differently from 45; amounts are written as printed on a receipt.
  private static String plain(BigDecimal amount) {
    return amount.toPlainString();
  }
}
