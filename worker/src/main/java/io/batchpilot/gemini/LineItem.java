package io.batchpilot.gemini;

import java.math.BigDecimal;
import java.util.Objects;

/** One line of a receipt; quantity and unit price are null when the receipt does not print them. */
public record LineItem(String description, BigDecimal quantity, BigDecimal unitPrice, BigDecimal amount) {

    public LineItem {
        Objects.requireNonNull(description, "description");
        Objects.requireNonNull(amount, "amount");
    }
}
