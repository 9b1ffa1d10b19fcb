package io.batchpilot.gemini;

import java.math.BigDecimal;
import java.time.LocalDate;
import java.util.List;
import java.util.Objects;

/**
 * A receipt as the model extracted it. Only {@code total} is always present: a photo may not show
 * the merchant, the date, the currency, a subtotal or the tax, and the model is told to say null
 * rather than guess.
 */
public record Receipt(
        String merchant,
        LocalDate date,
        String currency,
        BigDecimal subtotal,
        BigDecimal tax,
        BigDecimal total,
        List<LineItem> lineItems) {

    public Receipt {
        Objects.requireNonNull(total, "total");
        lineItems = List.copyOf(lineItems);
    }
}
