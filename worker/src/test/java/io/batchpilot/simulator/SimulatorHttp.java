package io.batchpilot.simulator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Base64;

/** A bare JDK HTTP client for simulator tests, independent of the production GeminiClient. */
final class SimulatorHttp {

    static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient CLIENT = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    record Reply(int status, JsonNode body, String raw, java.net.http.HttpHeaders headers) {
    }

    private SimulatorHttp() {
    }

    static Reply post(GeminiSimulator sim, String path, String key, String json) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(sim.baseUrl() + path))
                .timeout(Duration.ofSeconds(20))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json));
        if (key != null) {
            b.header("x-goog-api-key", key);
        }
        return send(b.build());
    }

    static Reply send(HttpRequest request) throws IOException, InterruptedException {
        HttpResponse<String> r;
        try {
            r = CLIENT.send(request, HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            // A pooled keep-alive connection the server had just closed: nothing reached the
            // simulator, so sending again on a new connection counts nothing twice. Seen once in
            // 8 threads hammering a 500 ms window during a full build.
            if (!String.valueOf(e.getMessage()).contains("received no bytes")) {
                throw e;
            }
            r = CLIENT.send(request, HttpResponse.BodyHandlers.ofString());
        }
        JsonNode body;
        try {
            body = JSON.readTree(r.body());
        } catch (IOException e) {
            body = null;
        }
        return new Reply(r.statusCode(), body, r.body(), r.headers());
    }

    /** A JSON tree as a reader sees it (numbers parsed back), to compare with a response's text. */
    static JsonNode parsed(JsonNode node) throws IOException {
        return JSON.readTree(node.toString());
    }

    static String textRequest(String text) {
        return "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":" + JSON.valueToTree(text) + "}]}]}";
    }

    static String fileRequest(byte[] bytes, String mimeType) {
        return "{\"contents\":[{\"parts\":[{\"text\":\"Extract the receipt.\"},{\"inline_data\":{\"mime_type\":\"" + mimeType
                + "\",\"data\":\"" + Base64.getEncoder().encodeToString(bytes) + "\"}}]}],"
                + "\"generationConfig\":{\"responseMimeType\":\"application/json\"}}";
    }

    static Reply generate(GeminiSimulator sim, String model, String key, String json) throws IOException, InterruptedException {
        return post(sim, "/v1beta/models/" + model + ":generateContent", key, json);
    }
}
