package io.batchpilot.gemini;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/** Response bodies for the client tests: Google's captured ones and the ones built from their shapes. */
final class GeminiBodies {
    static final String RECEIPT_JSON = "{\"merchant\": \"Corner Shop\", \"date\": \"2026-11-02\", \"currency\": \"USD\","
            + " \"subtotal\": 10.00, \"tax\": 0.80, \"total\": 10.80, \"line_items\": ["
            + "{\"description\": \"Coffee beans\", \"quantity\": 2, \"unit_price\": 4.50, \"amount\": 9.00},"
            + "{\"description\": \"Milk\", \"quantity\": null, \"unit_price\": null, \"amount\": 1.00}]}";

    private GeminiBodies() {
    }

    /** A body Google really returned (worker/src/test/resources/gemini-fixtures). */
    static String captured(String name) {
        return resource("/gemini-fixtures/" + name);
    }

    /** A body built from Google's shapes (worker/src/test/resources/gemini-error-bodies). */
    static String constructed(String name) {
        return resource("/gemini-error-bodies/" + name);
    }

    /** The captured 200 response with its "…" text replaced by the given candidate text. */
    static String generateContentAnswering(String candidateText) {
        try {
            ObjectMapper json = new ObjectMapper();
            ObjectNode root = (ObjectNode) json.readTree(captured("200-generate-content.json"));
            ((ObjectNode) root.path("candidates").path(0).path("content").path("parts").path(0)).put("text", candidateText);
            return json.writeValueAsString(root);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String resource(String path) {
        try (InputStream in = GeminiBodies.class.getResourceAsStream(path)) {
            if (in == null) {
                throw new IllegalStateException("test resource " + path + " is missing");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
