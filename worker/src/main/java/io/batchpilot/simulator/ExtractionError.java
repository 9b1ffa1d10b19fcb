package io.batchpilot.simulator;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.math.BigDecimal;
import java.util.Random;

/**
 * A wrong answer the simulator gives at a configured rate, in a 200 that bills its tokens like any
 * other: what a model gets wrong, so that the pipeline's validation, retries and the demo's accuracy
 * line have something to catch.
 */
public enum ExtractionError {
    /** One digit of the total misread: valid JSON that fits the schema, and subtotal + tax no longer adds up. */
    WRONG_TOTAL("wrong-total"),
    /** The date comes back null, as the prompt tells the model to answer for a date it cannot read. */
    MISSING_DATE("missing-date"),
    /** The candidate's text is not JSON (a comma missing); unlike --fault malformed-json, the HTTP body is whole. */
    MALFORMED_JSON("malformed-json"),
    /** finishReason MAX_TOKENS: the answer stops partway, as when the output token limit runs out. */
    MAX_TOKENS("max-tokens");

    /** The candidate's text and its finishReason. */
    public record Candidate(String text, String finishReason) {
    }

    private final String flag;

    ExtractionError(String flag) {
        this.flag = flag;
    }

    /** The name used in {@code --extraction-error NAME=RATE} and the request log. */
    public String flag() {
        return flag;
    }

    public static ExtractionError fromFlag(String flag) {
        for (ExtractionError e : values()) {
            if (e.flag.equals(flag)) {
                return e;
            }
        }
        throw new IllegalArgumentException("unknown extraction error '" + flag
                + "'; known: wrong-total, missing-date, malformed-json, max-tokens");
    }

    /** The answer with this error, from the receipt's true JSON; the draws come from the request's stream. */
    Candidate apply(ObjectNode truth, Random random) {
        ObjectNode answer = truth.deepCopy();
        switch (this) {
            case WRONG_TOTAL -> answer.put("total", misread(answer.get("total").decimalValue(), random));
            case MISSING_DATE -> answer.putNull("date");
            case MALFORMED_JSON -> {
                String text = answer.toString();
                int comma = text.indexOf(",\"subtotal\"");
                return new Candidate(text.substring(0, comma) + text.substring(comma + 1), "STOP");
            }
            case MAX_TOKENS -> {
                String text = answer.toString();
                // Somewhere in the middle: never the whole text, so the cut-off never parses.
                int cut = text.length() / 4 + random.nextInt(text.length() / 2);
                return new Candidate(text.substring(0, cut), "MAX_TOKENS");
            }
            default -> throw new IllegalStateException("extraction error " + this + " is handled above");
        }
        return new Candidate(answer.toString(), "STOP");
    }

    /** The amount with one of its digits replaced by another. */
    static BigDecimal misread(BigDecimal amount, Random random) {
        char[] digits = amount.toPlainString().toCharArray();
        int[] positions = new int[digits.length];
        int count = 0;
        for (int i = 0; i < digits.length; i++) {
            if (Character.isDigit(digits[i])) {
                positions[count++] = i;
            }
        }
        int at = positions[random.nextInt(count)];
        digits[at] = (char) ('0' + (digits[at] - '0' + 1 + random.nextInt(9)) % 10);
        return new BigDecimal(new String(digits));
    }
}
