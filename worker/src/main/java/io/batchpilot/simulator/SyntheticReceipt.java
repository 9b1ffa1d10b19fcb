package io.batchpilot.simulator;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.math.BigDecimal;
import java.time.LocalDate;
import java.util.List;

/**
 * A receipt's ground truth, in the fields the extraction schema asks for. {@link #toJson()} is what
 * the simulator returns as the candidate's text: snake_case keys (line_items, unit_price), ISO date,
 * amounts as JSON numbers with two decimals.
 */
public record SyntheticReceipt(long seed, String merchant, LocalDate date, String currency, BigDecimal subtotal,
                               BigDecimal tax, BigDecimal total, List<Item> lineItems) {

    public record Item(String description, BigDecimal quantity, BigDecimal unitPrice, BigDecimal amount) {
    }

    public SyntheticReceipt {
        lineItems = List.copyOf(lineItems);
    }

    public ObjectNode toJson() {
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode o = f.objectNode();
        o.put("merchant", merchant);
        o.put("date", date.toString());
        o.put("currency", currency);
        o.put("subtotal", subtotal);
        o.put("tax", tax);
        o.put("total", total);
        ArrayNode items = o.putArray("line_items");
        for (Item i : lineItems) {
            ObjectNode n = items.addObject();
            n.put("description", i.description());
            n.put("quantity", i.quantity());
            n.put("unit_price", i.unitPrice());
            n.put("amount", i.amount());
        }
        return o;
    }
}
