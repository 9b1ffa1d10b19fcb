package io.batchpilot.gemini;

import static io.batchpilot.gemini.GeminiBodies.captured;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchpilot.files.OnDisk;
import java.math.BigDecimal;
import java.time.Duration;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;
import mockwebserver3.RecordedRequest;
import mockwebserver3.junit5.StartStop;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** What the client sends (path, headers, JSON field by field) and how it reads Google's answers. */
class GeminiClientRequestTest {
    private static final String KEY = "test-key-123";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The Files API threshold of these tests: a smaller one than Google's, so the files stay small. */
    private static final long THRESHOLD = 2_000_000;

    @StartStop
    private final MockWebServer server = new MockWebServer();
    private GeminiClient client;

    @BeforeEach
    void startClient() {
        client = new GeminiClient(GeminiConfig.of(server.url("/").toString(), KEY)
                .withFileActivePollInterval(Duration.ofMillis(1)).withFileApiThresholdBytes(THRESHOLD));
    }

    @AfterEach
    void stopClient() {
        client.close();
    }

    @Test
    void generateContentSendsTheFileInlineWithTheReceiptSchema() throws Exception {
        byte[] png = TestImages.png(300, 200);
        server.enqueue(ok(GeminiBodies.generateContentAnswering(GeminiBodies.RECEIPT_JSON)));

        client.extractReceipt("gemini-2.5-flash", png, "image/png");

        RecordedRequest request = server.takeRequest();
        assertEquals("POST", request.getMethod());
        assertEquals("/v1beta/models/gemini-2.5-flash:generateContent", request.getTarget());
        assertEquals(KEY, request.getHeaders().get("x-goog-api-key"));
        assertEquals("application/json; charset=utf-8", request.getHeaders().get("Content-Type"));
        assertNull(request.getUrl().queryParameter("key"), "the key travels in the header only");

        JsonNode body = JSON.readTree(request.getBody().utf8());
        assertEquals(List.of("contents", "generationConfig"), fieldNames(body));
        JsonNode content = body.path("contents").path(0);
        assertEquals("user", content.path("role").asText());
        JsonNode inline = content.path("parts").path(0).path("inlineData");
        assertEquals("image/png", inline.path("mimeType").asText());
        assertArrayEquals(png, Base64.getDecoder().decode(inline.path("data").asText()));
        assertEquals(ReceiptSchema.PROMPT, content.path("parts").path(1).path("text").asText());
        assertEquals(2, content.path("parts").size());

        JsonNode config = body.path("generationConfig");
        assertEquals("application/json", config.path("responseMimeType").asText());
        JsonNode schema = config.path("responseSchema");
        assertEquals("OBJECT", schema.path("type").asText());
        assertEquals(List.of("merchant", "date", "currency", "subtotal", "tax", "total", "line_items"),
                fieldNames(schema.path("properties")));
        assertEquals("NUMBER", schema.path("properties").path("total").path("type").asText());
        assertFalse(schema.path("properties").path("total").has("nullable"), "a receipt always has a total");
        assertTrue(schema.path("properties").path("tax").path("nullable").asBoolean());
        assertEquals("STRING", schema.path("properties").path("date").path("type").asText());
        JsonNode item = schema.path("properties").path("line_items").path("items");
        assertEquals("ARRAY", schema.path("properties").path("line_items").path("type").asText());
        assertEquals(List.of("description", "quantity", "unit_price", "amount"), fieldNames(item.path("properties")));
        assertEquals(List.of("merchant", "date", "currency", "subtotal", "tax", "total", "line_items"),
                texts(schema.path("required")));
    }

    @Test
    void theAnswerIsParsedIntoAReceiptAndUsage() throws Exception {
        server.enqueue(ok(GeminiBodies.generateContentAnswering(GeminiBodies.RECEIPT_JSON)));

        ExtractionResult result = client.extractReceipt("models/gemini-2.5-flash", TestImages.png(300, 200), "image/png");

        Receipt receipt = result.receipt();
        assertEquals("Corner Shop", receipt.merchant());
        assertEquals(LocalDate.of(2026, 11, 2), receipt.date());
        assertEquals("USD", receipt.currency());
        assertEquals(new BigDecimal("10.00"), receipt.subtotal());
        assertEquals(new BigDecimal("0.80"), receipt.tax());
        assertEquals(new BigDecimal("10.80"), receipt.total());
        assertEquals(List.of(
                new LineItem("Coffee beans", new BigDecimal("2"), new BigDecimal("4.50"), new BigDecimal("9.00")),
                new LineItem("Milk", null, null, new BigDecimal("1.00"))), receipt.lineItems());
        // The captured body: 34 prompt + 418 candidates + 438 thoughts = 890; cached omitted because zero.
        assertEquals(new Usage(34, 418, 438, 0, 890), result.usage());
        assertEquals("gemini-3-flash-preview", result.modelVersion());
        assertEquals("3w4Vad6yF-y1vdIP_q_zgAw", result.responseId());
        assertEquals(GeminiBodies.RECEIPT_JSON, result.rawJson());
        assertEquals("/v1beta/models/gemini-2.5-flash:generateContent", server.takeRequest().getTarget());
    }

    @Test
    void thoughtPartsAreNotPartOfTheAnswer() throws Exception {
        ObjectNode body = (ObjectNode) JSON.readTree(GeminiBodies.generateContentAnswering(GeminiBodies.RECEIPT_JSON));
        ArrayNode parts = (ArrayNode) body.path("candidates").path(0).path("content").path("parts");
        parts.insertObject(0).put("text", "Let me look at the receipt.").put("thought", true);
        server.enqueue(ok(JSON.writeValueAsString(body)));

        assertEquals(new BigDecimal("10.80"), client.extractReceipt("gemini-2.5-flash", TestImages.png(30, 30), "image/png")
                .receipt().total());
    }

    @Test
    void googlesInlineLimitsDecideByDefault() {
        try (GeminiClient byDefault = new GeminiClient(GeminiConfig.of(server.url("/").toString(), KEY))) {
            // 100 MB of request once base64 encoded: 75 MB of image.
            assertTrue(byDefault.sendsInline(74_000_000, "image/jpeg"));
            assertFalse(byDefault.sendsInline(76_000_000, "image/jpeg"));
            // A PDF goes inline up to 50 MB, though its request would fit.
            assertTrue(byDefault.sendsInline(GeminiClient.INLINE_PDF_LIMIT_BYTES, "application/pdf"));
            assertFalse(byDefault.sendsInline(GeminiClient.INLINE_PDF_LIMIT_BYTES + 1, "application/pdf"));
        }
    }

    @Test
    void theInlineSizeCountsBase64AndTheWholeRequest() throws Exception {
        long envelope = client.inlineRequestBytes(0, "image/png");
        // The largest content whose inline request still fits: base64 makes 4 characters of every 3 bytes.
        int fits = (int) ((THRESHOLD - envelope) / 4 * 3);
        server.enqueue(ok(GeminiBodies.generateContentAnswering(GeminiBodies.RECEIPT_JSON)));

        client.extractReceipt("gemini-2.5-flash", new byte[fits], "image/png");

        RecordedRequest request = server.takeRequest();
        assertEquals("/v1beta/models/gemini-2.5-flash:generateContent", request.getTarget());
        assertEquals(client.inlineRequestBytes(fits, "image/png"), request.getBodySize(), "the prediction is exact");
        assertTrue(request.getBodySize() <= THRESHOLD);
        assertTrue(fits < THRESHOLD * 3 / 4, "three quarters of the threshold is already too big to send inline");
    }

    /** A PDF is sent from its temporary copy: the request is streamed from disk, and byte for byte what the bytes make. */
    @Test
    void aFileOnDiskGoesInlineAsItsBytesWouldUpToTheThreshold() throws Exception {
        long envelope = client.inlineRequestBytes(0, "application/pdf");
        byte[] pdf = new byte[(int) ((THRESHOLD - envelope) / 4 * 3)];
        new Random(11).nextBytes(pdf);
        server.enqueue(ok(GeminiBodies.generateContentAnswering(GeminiBodies.RECEIPT_JSON)));
        server.enqueue(ok(GeminiBodies.generateContentAnswering(GeminiBodies.RECEIPT_JSON)));

        client.extractReceipt("gemini-2.5-flash", pdf, "application/pdf");
        client.extractReceipt("gemini-2.5-flash", OnDisk.copyOf(pdf), "application/pdf");

        RecordedRequest fromMemory = server.takeRequest();
        RecordedRequest fromDisk = server.takeRequest();
        assertEquals("/v1beta/models/gemini-2.5-flash:generateContent", fromDisk.getTarget());
        assertEquals(Long.toString(client.inlineRequestBytes(pdf.length, "application/pdf")),
                fromDisk.getHeaders().get("Content-Length"), "the length is declared, not chunked");
        assertEquals(fromMemory.getBody(), fromDisk.getBody());
    }

    @Test
    void aFileOnDiskOverTheThresholdIsUploadedFromDisk() throws Exception {
        long envelope = client.inlineRequestBytes(0, "application/pdf");
        byte[] pdf = new byte[(int) ((THRESHOLD - envelope) / 4 * 3) + 3];
        new Random(13).nextBytes(pdf);
        String uploadUrl = server.url("/upload/v1beta/files?upload_id=abc123&upload_protocol=resumable").toString();
        server.enqueue(new MockResponse.Builder().code(200).setHeader("X-Goog-Upload-URL", uploadUrl).build());
        server.enqueue(ok("{\"file\":{\"name\":\"files/abc123\",\"uri\":\"" + server.url("/v1beta/files/abc123")
                + "\",\"state\":\"ACTIVE\"}}"));
        server.enqueue(ok(GeminiBodies.generateContentAnswering(GeminiBodies.RECEIPT_JSON)));
        server.enqueue(ok("{}"));

        client.extractReceipt("gemini-2.5-flash", OnDisk.copyOf(pdf), "application/pdf");

        RecordedRequest start = server.takeRequest();
        assertEquals(Integer.toString(pdf.length), start.getHeaders().get("X-Goog-Upload-Header-Content-Length"));
        RecordedRequest upload = server.takeRequest();
        assertEquals("upload, finalize", upload.getHeaders().get("X-Goog-Upload-Command"));
        assertArrayEquals(pdf, upload.getBody().toByteArray());
        RecordedRequest generate = server.takeRequest();
        assertEquals("application/pdf", JSON.readTree(generate.getBody().utf8()).path("contents").path(0).path("parts").path(0)
                .path("fileData").path("mimeType").asText());
    }

    @Test
    void aRequestOverTheThresholdGoesThroughTheFileApi() throws Exception {
        long envelope = client.inlineRequestBytes(0, "application/pdf");
        // Three bytes more than what fits inline: over the threshold once base64 encoded.
        byte[] pdf = new byte[(int) ((THRESHOLD - envelope) / 4 * 3) + 3];
        new Random(7).nextBytes(pdf);
        String uploadUrl = server.url("/upload/v1beta/files?upload_id=abc123&upload_protocol=resumable").toString();
        server.enqueue(new MockResponse.Builder().code(200).setHeader("X-Goog-Upload-URL", uploadUrl)
                .setHeader("X-Goog-Upload-Status", "active").build());
        server.enqueue(ok("{\"file\":{\"name\":\"files/abc123\",\"displayName\":\"batchpilot receipt\",\"mimeType\":\"application/pdf\","
                + "\"sizeBytes\":\"" + pdf.length + "\",\"uri\":\"" + server.url("/v1beta/files/abc123") + "\",\"state\":\"PROCESSING\"}}"));
        server.enqueue(ok("{\"name\":\"files/abc123\",\"uri\":\"" + server.url("/v1beta/files/abc123") + "\",\"state\":\"ACTIVE\"}"));
        server.enqueue(ok(GeminiBodies.generateContentAnswering(GeminiBodies.RECEIPT_JSON)));
        server.enqueue(ok("{}"));

        ExtractionResult result = client.extractReceipt("gemini-2.5-flash", pdf, "application/pdf");
        assertEquals(new BigDecimal("10.80"), result.receipt().total());

        RecordedRequest start = server.takeRequest();
        assertEquals("POST", start.getMethod());
        assertEquals("/upload/v1beta/files", start.getTarget());
        assertEquals(KEY, start.getHeaders().get("x-goog-api-key"));
        assertEquals("resumable", start.getHeaders().get("X-Goog-Upload-Protocol"));
        assertEquals("start", start.getHeaders().get("X-Goog-Upload-Command"));
        assertEquals(Integer.toString(pdf.length), start.getHeaders().get("X-Goog-Upload-Header-Content-Length"));
        assertEquals("application/pdf", start.getHeaders().get("X-Goog-Upload-Header-Content-Type"));
        assertEquals("batchpilot receipt", JSON.readTree(start.getBody().utf8()).path("file").path("displayName").asText());

        RecordedRequest upload = server.takeRequest();
        assertEquals("/upload/v1beta/files?upload_id=abc123&upload_protocol=resumable", upload.getTarget());
        assertEquals("upload, finalize", upload.getHeaders().get("X-Goog-Upload-Command"));
        assertEquals("0", upload.getHeaders().get("X-Goog-Upload-Offset"));
        assertArrayEquals(pdf, upload.getBody().toByteArray());

        RecordedRequest poll = server.takeRequest();
        assertEquals("GET", poll.getMethod());
        assertEquals("/v1beta/files/abc123", poll.getTarget());

        RecordedRequest generate = server.takeRequest();
        assertEquals("/v1beta/models/gemini-2.5-flash:generateContent", generate.getTarget());
        JsonNode part = JSON.readTree(generate.getBody().utf8()).path("contents").path(0).path("parts").path(0);
        assertEquals(List.of("fileData"), fieldNames(part));
        assertEquals("application/pdf", part.path("fileData").path("mimeType").asText());
        assertEquals(server.url("/v1beta/files/abc123").toString(), part.path("fileData").path("fileUri").asText());
        assertTrue(generate.getBodySize() < 10_000, "the bytes went to the File API, not into the request");

        RecordedRequest delete = server.takeRequest();
        assertEquals("DELETE", delete.getMethod());
        assertEquals("/v1beta/files/abc123", delete.getTarget());
    }

    @Test
    void embedContentSendsTaskTypeAndDimensionality() throws Exception {
        server.enqueue(ok("{\"embedding\":{\"values\":[0.25,-0.5,0.125]}}"));

        float[] vector = client.embed("gemini-embedding-001", "Corner Shop 10.80",
                new EmbeddingOptions(EmbeddingOptions.TaskType.RETRIEVAL_DOCUMENT, 3));

        assertArrayEquals(new float[] {0.25f, -0.5f, 0.125f}, vector);
        RecordedRequest request = server.takeRequest();
        assertEquals("/v1beta/models/gemini-embedding-001:embedContent", request.getTarget());
        assertEquals(KEY, request.getHeaders().get("x-goog-api-key"));
        JsonNode body = JSON.readTree(request.getBody().utf8());
        assertEquals(List.of("model", "content", "taskType", "outputDimensionality"), fieldNames(body));
        assertEquals("models/gemini-embedding-001", body.path("model").asText());
        assertEquals("Corner Shop 10.80", body.path("content").path("parts").path(0).path("text").asText());
        assertEquals("RETRIEVAL_DOCUMENT", body.path("taskType").asText());
        assertEquals(3, body.path("outputDimensionality").asInt());
    }

    @Test
    void batchEmbeddingsSplitAtOneHundredAndKeepTheOrder() throws Exception {
        List<String> texts = IntStream.range(0, 250).mapToObj(i -> "receipt " + i).toList();
        for (int[] chunk : new int[][] {{0, 100}, {100, 200}, {200, 250}}) {
            StringBuilder body = new StringBuilder("{\"embeddings\":[");
            for (int i = chunk[0]; i < chunk[1]; i++) {
                body.append(i == chunk[0] ? "" : ",").append("{\"values\":[").append(i).append(",0.5]}");
            }
            server.enqueue(ok(body.append("]}").toString()));
        }

        List<float[]> vectors = client.embedBatch("gemini-embedding-001", texts, EmbeddingOptions.forDocuments());

        assertEquals(250, vectors.size());
        for (int i = 0; i < 250; i++) {
            assertEquals(i, vectors.get(i)[0], "vector " + i + " is in its text's place");
        }
        List<Integer> sizes = new ArrayList<>();
        for (int r = 0; r < 3; r++) {
            RecordedRequest request = server.takeRequest();
            assertEquals("/v1beta/models/gemini-embedding-001:batchEmbedContents", request.getTarget());
            JsonNode requests = JSON.readTree(request.getBody().utf8()).path("requests");
            sizes.add(requests.size());
            JsonNode first = requests.path(0);
            assertEquals("models/gemini-embedding-001", first.path("model").asText());
            assertEquals("receipt " + (r * 100), first.path("content").path("parts").path(0).path("text").asText());
            assertEquals("RETRIEVAL_DOCUMENT", first.path("taskType").asText());
            assertFalse(first.has("outputDimensionality"), "the model's default size unless asked");
        }
        assertEquals(List.of(100, 100, 50), sizes);
    }

    @Test
    void aBatchAnsweredWithTheWrongCountIsMalformed() {
        server.enqueue(ok("{\"embeddings\":[{\"values\":[1.0]}]}"));
        GeminiException e = org.junit.jupiter.api.Assertions.assertThrows(GeminiException.class,
                () -> client.embedBatch("gemini-embedding-001", List.of("a", "b"), EmbeddingOptions.forDocuments()));
        assertEquals(GeminiError.MALFORMED_RESPONSE, e.error());
    }

    @Test
    void countTokensSendsContentsAndReadsTotalTokens() throws Exception {
        server.enqueue(ok("{\"totalTokens\":31,\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":31}]}"));

        assertEquals(31, client.countTokens("gemini-2.5-flash", "The quick brown fox jumps over the lazy dog."));

        RecordedRequest request = server.takeRequest();
        assertEquals("/v1beta/models/gemini-2.5-flash:countTokens", request.getTarget());
        JsonNode body = JSON.readTree(request.getBody().utf8());
        assertEquals(List.of("contents"), fieldNames(body));
        assertEquals("The quick brown fox jumps over the lazy dog.",
                body.path("contents").path(0).path("parts").path(0).path("text").asText());
    }

    @Test
    void theTextEstimateMovesTowardWhatUsageMetadataReports() throws Exception {
        byte[] png = TestImages.png(300, 200); // up to 384 px both sides: 258 tokens
        long before = client.estimateInputTokens(png, "image/png", ReceiptSchema.PROMPT);
        long promptChars = ReceiptSchema.PROMPT.codePointCount(0, ReceiptSchema.PROMPT.length());
        long reportedTextTokens = promptChars / 2; // this model spends a token per 2 characters
        String answer = GeminiBodies.generateContentAnswering(GeminiBodies.RECEIPT_JSON)
                .replace("{\"modality\":\"TEXT\",\"tokenCount\":34}", "{\"modality\":\"TEXT\",\"tokenCount\":" + reportedTextTokens + "}");
        for (int i = 0; i < 20; i++) {
            server.enqueue(ok(answer));
            client.extractReceipt("gemini-2.5-flash", png, "image/png");
        }
        long after = client.estimateInputTokens(png, "image/png", ReceiptSchema.PROMPT);

        assertEquals(258 + (long) Math.ceil(promptChars / 4.0), before, "Google's 4 characters a token to start");
        assertTrue(Math.abs(after - (258 + reportedTextTokens)) <= 2,
                "after 20 answers the estimate is the reported count: " + after + " vs " + (258 + reportedTextTokens));
    }

    @Test
    void imagesAreEstimatedByGooglesTileRules() {
        assertEquals(258, client.estimateInputTokens(TestImages.png(384, 384), "image/png", null));
        assertEquals(258L * 4, client.estimateInputTokens(TestImages.png(1000, 800), "image/png", null));
        assertEquals(258L * 2, client.estimateInputTokens(TestImages.png(385, 769), "image/png", null));
    }

    @Test
    void anImageJavaCannotDecodeIsEstimatedAsALargePhotoAndABrokenPdfIsRefused() {
        byte[] heic = "\0\0\0\u0018ftypheic\0\0\0\0mif1heic".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
        assertEquals(GeminiClient.UNMEASURABLE_IMAGE_TOKENS, client.estimateInputTokens(heic, "image/heic", null));
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> client.estimateInputTokens(new byte[] {1, 2, 3}, "application/pdf", null));
        assertTrue(e.getMessage().startsWith("cannot estimate the tokens of a 'application/pdf' file"), e.getMessage());
    }

    private static MockResponse ok(String body) {
        return new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json; charset=UTF-8").body(body).build();
    }

    private static List<String> fieldNames(JsonNode node) {
        List<String> names = new ArrayList<>();
        node.fieldNames().forEachRemaining(names::add);
        return names;
    }

    private static List<String> texts(JsonNode array) {
        List<String> values = new ArrayList<>();
        array.forEach(v -> values.add(v.asText()));
        return values;
    }
}
