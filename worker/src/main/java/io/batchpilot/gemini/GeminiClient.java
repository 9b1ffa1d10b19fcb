package io.batchpilot.gemini;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.JsonSerializable;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.cfg.JsonNodeFeature;
import com.fasterxml.jackson.databind.jsontype.TypeSerializer;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.POJONode;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;
import okhttp3.Headers;
import okhttp3.HttpUrl;
import okhttp3.MediaType;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.RequestBody;
import okhttp3.Response;
import okio.BufferedSink;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Gemini REST client (v1beta): receipt extraction with structured output, embeddings and token
 * counting. One instance per JVM: it owns the one OkHttpClient and its connection pool. The API
 * key travels only in the {@code x-goog-api-key} header, and only to GEMINI_BASE_URL's origin.
 *
 * <p>The client does not retry: every failure is a classified {@link GeminiException}, and the
 * pipeline decides (and records in the row) when to try again.
 */
public final class GeminiClient implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(GeminiClient.class);

    /**
     * The largest inline request Google takes: 100 MB, base64 encoded (decimal MB, the safe reading). Read
     * 2026-12-03 from https://ai.google.dev/gemini-api/docs/file-input-methods (raised from 20 MB on
     * 2026-01-12: https://blog.google/innovation-and-ai/technology/developers-tools/gemini-api-new-file-limits).
     */
    public static final long INLINE_REQUEST_LIMIT_BYTES = 100_000_000L;
    /** "PDFs are limited to 50MB" inline (same page, same day): a larger PDF goes through the Files API. */
    public static final long INLINE_PDF_LIMIT_BYTES = 50_000_000L;
    /** batchEmbedContents accepts at most this many requests. */
    public static final int MAX_EMBEDDINGS_PER_REQUEST = 100;

    /** An image Java cannot decode is estimated as a 12 MP photo (3072x4096 px: 4 x 6 tiles of 258 tokens). */
    public static final long UNMEASURABLE_IMAGE_TOKENS = 24 * 258;

    static final String API_KEY_HEADER = "x-goog-api-key";
    private static final MediaType JSON_TYPE = MediaType.get("application/json; charset=utf-8");
    private static final Pattern FILE_NAME = Pattern.compile("files/[A-Za-z0-9_-]+");
    private static final Pattern MIME_TYPE = Pattern.compile("[a-z0-9.+-]+/[a-z0-9.+-]+");
    private static final Set<String> BLOCKING_FINISH_REASONS =
            Set.of("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY");

    private final GeminiConfig config;
    private final HttpUrl baseUrl;
    private final OkHttpClient http;
    private final ObjectMapper json;
    private final KeyRedactor redactor;
    private final TextTokenRatio textRatio = new TextTokenRatio();

    public GeminiClient(GeminiConfig config) {
        this.config = config;
        this.baseUrl = config.httpUrl();
        this.redactor = new KeyRedactor(config.apiKey());
        this.json = new ObjectMapper()
                .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
                .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                // Keep amounts as printed: 10.80 stays 10.80, not 10.8.
                .configure(JsonNodeFeature.STRIP_TRAILING_BIGDECIMAL_ZEROES, false);
        this.http = GeminiHttp.client(config);
    }

    /**
     * Extracts a receipt from an image or PDF: inline while {@link #sendsInline} (the whole request,
     * base64 included, within GEMINI_FILE_API_THRESHOLD_BYTES), else uploaded through the File API first
     * (and deleted afterwards).
     */
    public ExtractionResult extractReceipt(String model, byte[] content, String mimeType) throws GeminiException {
        String modelId = GeminiHttp.modelId(model);
        String mime = mimeType(mimeType);
        if (sendsInline(content.length, mime)) {
            return extract(modelId, RequestBody.create(bytes(generateRequest(inlineData(mime, content))), JSON_TYPE));
        }
        return extractUploaded(modelId, RequestBody.create(content, MediaType.get(mime)), content.length, mime);
    }

    /**
     * As {@link #extractReceipt(String, byte[], String)}, for a file on disk (a PDF as uploaded): its
     * bytes are read as the request is sent, never held, so a file larger than the heap can go.
     */
    public ExtractionResult extractReceipt(String model, Path content, String mimeType) throws GeminiException {
        String modelId = GeminiHttp.modelId(model);
        String mime = mimeType(mimeType);
        long size;
        try {
            size = Files.size(content);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the file to send, " + content, e);
        }
        if (sendsInline(size, mime)) {
            return extract(modelId, new StreamedJson(generateRequest(new POJONode(new InlineFile(mime, content, size))),
                inlineRequestBytes(size, mime)));
        }
        return extractUploaded(modelId, RequestBody.create(content.toFile(), MediaType.get(mime)), size, mime);
    }

    private ExtractionResult extractUploaded(String modelId, RequestBody content, long size, String mime) throws GeminiException {
        UploadedFile file = upload(modelId, content, size, mime);
        try {
            awaitActive(modelId, file);
            ObjectNode fileData = json.createObjectNode();
            fileData.putObject("fileData").put("mimeType", mime).put("fileUri", file.uri());
            return extract(modelId, RequestBody.create(bytes(generateRequest(fileData)), JSON_TYPE));
        } finally {
            deleteQuietly(modelId, file);
        }
    }

    /** One text's embedding ({@code embedContent}). */
    public float[] embed(String model, String text, EmbeddingOptions options) throws GeminiException {
        String modelId = GeminiHttp.modelId(model);
        JsonNode response = postJson(modelId, "embedContent", embedRequest(modelId, text, options));
        return vector(response.path("embedding"), options, "embedding");
    }

    /**
     * Embeddings of many texts, in their order, through {@code batchEmbedContents} at most
     * {@value #MAX_EMBEDDINGS_PER_REQUEST} at a time.
     */
    public List<float[]> embedBatch(String model, List<String> texts, EmbeddingOptions options) throws GeminiException {
        String modelId = GeminiHttp.modelId(model);
        List<float[]> vectors = new ArrayList<>(texts.size());
        for (int from = 0; from < texts.size(); from += MAX_EMBEDDINGS_PER_REQUEST) {
            List<String> chunk = texts.subList(from, Math.min(texts.size(), from + MAX_EMBEDDINGS_PER_REQUEST));
            ObjectNode body = json.createObjectNode();
            ArrayNode requests = body.putArray("requests");
            for (String text : chunk) {
                requests.add(embedRequest(modelId, text, options));
            }
            JsonNode embeddings = postJson(modelId, "batchEmbedContents", body).path("embeddings");
            if (!embeddings.isArray() || embeddings.size() != chunk.size()) {
                throw new GeminiException(GeminiError.MALFORMED_RESPONSE, "batchEmbedContents for model " + modelId
                        + " answered " + (embeddings.isArray() ? embeddings.size() : 0) + " embeddings for "
                        + chunk.size() + " texts: retry");
            }
            for (int i = 0; i < embeddings.size(); i++) {
                vectors.add(vector(embeddings.get(i), options, "embeddings[" + i + "]"));
            }
        }
        return vectors;
    }

    /** Gemini's own count of a text's tokens ({@code countTokens}); also corrects the text ratio. */
    public long countTokens(String model, String text) throws GeminiException {
        String modelId = GeminiHttp.modelId(model);
        ObjectNode body = json.createObjectNode();
        body.putArray("contents").addObject().putArray("parts").addObject().put("text", text);
        JsonNode total = postJson(modelId, "countTokens", body).get("totalTokens");
        if (total == null || !total.canConvertToLong()) {
            throw new GeminiException(GeminiError.MALFORMED_RESPONSE,
                    "countTokens for model " + modelId + " answered without totalTokens: retry");
        }
        textRatio.observe(codePoints(text), total.asLong());
        return total.asLong();
    }

    /**
     * Input tokens a request will cost, before sending it: the file by Google's image and PDF rules,
     * the text by the ratio learned from earlier responses. {@code content} may be null for text only.
     *
     * An image in a format ImageIO cannot read (HEIC, HEIF) counts {@link #UNMEASURABLE_IMAGE_TOKENS}.
     *
     * @throws IllegalArgumentException when a PDF cannot be read, or the type is neither image, PDF nor text
     */
    public long estimateInputTokens(byte[] content, String mimeType, String promptText) {
        long fileTokens = content == null ? 0 : fileTokens(() -> TokenCounter.fileTokens(content, mimeType), mimeType);
        return fileTokens + textTokens(promptText);
    }

    /** As {@link #estimateInputTokens(byte[], String, String)}, for a file on disk: only its headers are read. */
    public long estimateInputTokens(Path content, String mimeType, String promptText) {
        return fileTokens(() -> TokenCounter.fileTokens(content, mimeType), mimeType) + textTokens(promptText);
    }

    /** Closes the pooled connections and stops the dispatcher's threads. */
    @Override
    public void close() {
        http.dispatcher().executorService().shutdown();
        http.connectionPool().evictAll();
    }

    @Override
    public String toString() {
        return "GeminiClient[baseUrl=" + baseUrl + ", textRatio=" + textRatio + "]";
    }

    // ---- token estimate ------------------------------------------------------------------------

    private long textTokens(String text) {
        return new TokenCounter(textRatio.charsPerToken()).textTokens(text);
    }

    private interface TokenCount {
        long count() throws IOException;
    }

    private static long fileTokens(TokenCount count, String mimeType) {
        try {
            return count.count();
        } catch (IOException e) {
            if (mimeType != null && mimeType.toLowerCase(Locale.ROOT).startsWith("image/")) {
                // HEIC/HEIF: Gemini reads them, ImageIO cannot measure them. Overestimate; reconcile corrects it.
                return UNMEASURABLE_IMAGE_TOKENS;
            }
            throw new IllegalArgumentException("cannot estimate the tokens of a '" + mimeType + "' file: " + e.getMessage()
                    + "; FileValidator should have refused it", e);
        }
    }

    private static long codePoints(String text) {
        return text.codePointCount(0, text.length());
    }

    // ---- generateContent -----------------------------------------------------------------------

    private ObjectNode inlineData(String mime, byte[] content) {
        ObjectNode part = json.createObjectNode();
        part.putObject("inlineData").put("mimeType", mime).put("data", content); // byte[] is written as base64
        return part;
    }

    /**
     * An inline file part whose base64 is written from the file as the request goes out, exactly as
     * {@link #inlineData} writes a byte[] (Jackson's default base64, no line feeds).
     */
    private record InlineFile(String mime, Path file, long size) implements JsonSerializable {
        @Override
        public void serialize(JsonGenerator gen, SerializerProvider serializers) throws IOException {
            gen.writeStartObject();
            gen.writeObjectFieldStart("inlineData");
            gen.writeStringField("mimeType", mime);
            gen.writeFieldName("data");
            try (InputStream in = Files.newInputStream(file)) {
                gen.writeBinary(in, Math.toIntExact(size));
            }
            gen.writeEndObject();
            gen.writeEndObject();
        }

        @Override
        public void serializeWithType(JsonGenerator gen, SerializerProvider serializers, TypeSerializer typeSer)
                throws IOException {
            serialize(gen, serializers);
        }
    }

    /** A JSON body serialised while it is sent, of a length known beforehand. */
    private final class StreamedJson extends RequestBody {
        private final ObjectNode body;
        private final long length;

        StreamedJson(ObjectNode body, long length) {
            this.body = body;
            this.length = length;
        }

        @Override
        public MediaType contentType() {
            return JSON_TYPE;
        }

        @Override
        public long contentLength() {
            return length;
        }

        @Override
        public void writeTo(BufferedSink sink) throws IOException {
            json.writer().without(JsonGenerator.Feature.AUTO_CLOSE_TARGET).writeValue(sink.outputStream(), body);
        }
    }

    private ObjectNode generateRequest(JsonNode filePart) {
        ObjectNode body = json.createObjectNode();
        ArrayNode parts = body.putArray("contents").addObject().put("role", "user").putArray("parts");
        parts.add(filePart); // Google advises the file before the text that refers to it
        parts.addObject().put("text", ReceiptSchema.PROMPT);
        ObjectNode generationConfig = body.putObject("generationConfig");
        generationConfig.put("responseMimeType", "application/json");
        generationConfig.set("responseSchema", ReceiptSchema.responseSchema());
        return body;
    }

    /** Whether a file of this size and type goes inline, or through the Files API. */
    boolean sendsInline(long contentLength, String mime) {
        if (mime.equals("application/pdf") && contentLength > INLINE_PDF_LIMIT_BYTES) {
            return false;
        }
        return inlineRequestBytes(contentLength, mime) <= config.fileApiThresholdBytes();
    }

    /** Exact size of the inline request: the JSON around the data plus 4 base64 characters per 3 bytes. */
    long inlineRequestBytes(long contentLength, String mime) {
        try {
            long envelope = json.writeValueAsBytes(generateRequest(inlineData(mime, new byte[0]))).length;
            return envelope + 4 * ((contentLength + 2) / 3);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise a generateContent request", e);
        }
    }

    /**
     * The {@code generateContent} request body for a receipt, its bytes inline: one request of a
     * Batch Mode job ({@link GeminiBatchClient}), which takes the same body.
     */
    public ObjectNode receiptRequest(byte[] content, String mimeType) throws GeminiException {
        return generateRequest(inlineData(mimeType(mimeType), content));
    }

    /**
     * Reads a {@code GenerateContentResponse} as {@link #extractReceipt} does: the receipt, or a
     * classified failure (blocked, cut off, not the receipt's JSON) carrying the billed usage.
     * A Batch Mode job's responses are read with it.
     */
    public ExtractionResult readExtraction(String model, JsonNode response) throws GeminiException {
        return readExtractionResponse(GeminiHttp.modelId(model), response);
    }

    private ExtractionResult extract(String modelId, RequestBody request) throws GeminiException {
        return readExtractionResponse(modelId, postJson(modelId, "generateContent", request));
    }

    private ExtractionResult readExtractionResponse(String modelId, JsonNode response) throws GeminiException {
        Usage usage = usage(response.path("usageMetadata"));
        String blockReason = response.path("promptFeedback").path("blockReason").asText("");
        if (!blockReason.isEmpty()) {
            throw new GeminiException(GeminiError.BLOCKED_OUTPUT, "Gemini blocked the receipt (promptFeedback.blockReason "
                    + blockReason + ") for model " + modelId + ": it cannot be extracted automatically; review the file by hand")
                    .withUsage(usage, "");
        }
        JsonNode candidate = response.path("candidates").path(0);
        String finishReason = candidate.path("finishReason").asText("");
        if (BLOCKING_FINISH_REASONS.contains(finishReason)) {
            throw new GeminiException(GeminiError.BLOCKED_OUTPUT, "Gemini stopped the answer (finishReason " + finishReason
                    + ") for model " + modelId + ": it cannot be extracted automatically; review the file by hand")
                    .withUsage(usage, "");
        }
        StringBuilder text = new StringBuilder();
        for (JsonNode part : candidate.path("content").path("parts")) {
            if (!part.path("thought").asBoolean(false) && part.has("text")) {
                text.append(part.get("text").asText());
            }
        }
        String finish = finishReason.isEmpty() ? "" : " (finishReason " + finishReason + ")";
        if (text.length() == 0) {
            throw new GeminiException(GeminiError.MALFORMED_RESPONSE, "Gemini answered model " + modelId
                    + " without any candidate text" + finish + ": retry").withUsage(usage, "");
        }
        Receipt receipt;
        try {
            receipt = ReceiptSchema.parse(text.toString(), json);
        } catch (GeminiException e) {
            throw e.withUsage(usage, finish);
        }
        learnTextRatio(response.path("usageMetadata"));
        return new ExtractionResult(receipt, usage, textOrNull(response, "modelVersion"), textOrNull(response, "responseId"),
                text.toString());
    }

    /** The TEXT share of the prompt is the extraction prompt (plus the schema, absorbed into the ratio). */
    private void learnTextRatio(JsonNode usageMetadata) {
        for (JsonNode detail : usageMetadata.path("promptTokensDetails")) {
            if (detail.path("modality").asText("").equals("TEXT")) {
                textRatio.observe(codePoints(ReceiptSchema.PROMPT), detail.path("tokenCount").asLong(0));
            }
        }
    }

    private static Usage usage(JsonNode m) {
        return new Usage(m.path("promptTokenCount").asLong(0), m.path("candidatesTokenCount").asLong(0),
                m.path("thoughtsTokenCount").asLong(0), m.path("cachedContentTokenCount").asLong(0),
                m.path("totalTokenCount").asLong(0));
    }

    // ---- embeddings ----------------------------------------------------------------------------

    private ObjectNode embedRequest(String modelId, String text, EmbeddingOptions options) {
        ObjectNode request = json.createObjectNode();
        request.put("model", "models/" + modelId);
        request.putObject("content").putArray("parts").addObject().put("text", text);
        request.put("taskType", options.taskType().name());
        if (options.outputDimensionality() != null) {
            request.put("outputDimensionality", options.outputDimensionality());
        }
        return request;
    }

    private static float[] vector(JsonNode embedding, EmbeddingOptions options, String where) throws GeminiException {
        JsonNode values = embedding.path("values");
        if (!values.isArray() || values.isEmpty()) {
            throw new GeminiException(GeminiError.MALFORMED_RESPONSE, "Gemini's " + where + " has no values: retry");
        }
        if (options.outputDimensionality() != null && values.size() != options.outputDimensionality()) {
            throw new GeminiException(GeminiError.MALFORMED_RESPONSE, "Gemini's " + where + " has " + values.size()
                    + " values where outputDimensionality " + options.outputDimensionality() + " was asked: retry");
        }
        float[] vector = new float[values.size()];
        for (int i = 0; i < vector.length; i++) {
            JsonNode v = values.get(i);
            if (!v.isNumber()) {
                throw new GeminiException(GeminiError.MALFORMED_RESPONSE, "Gemini's " + where + " value " + i + " is not a number: retry");
            }
            vector[i] = v.floatValue();
        }
        return vector;
    }

    // ---- File API ------------------------------------------------------------------------------

    private record UploadedFile(String name, String uri, String state) {
    }

    /** Resumable upload in one step: start, then "upload, finalize" with all the bytes. */
    private UploadedFile upload(String modelId, RequestBody content, long size, String mime) throws GeminiException {
        ObjectNode metadata = json.createObjectNode();
        metadata.putObject("file").put("displayName", "batchpilot receipt");
        Request start = new Request.Builder()
                .url(baseUrl.newBuilder().addPathSegments("upload/v1beta/files").build())
                .header(API_KEY_HEADER, config.apiKey())
                .header("X-Goog-Upload-Protocol", "resumable")
                .header("X-Goog-Upload-Command", "start")
                .header("X-Goog-Upload-Header-Content-Length", Long.toString(size))
                .header("X-Goog-Upload-Header-Content-Type", mime)
                .post(RequestBody.create(bytes(metadata), JSON_TYPE))
                .build();
        Exchange started = execute(start, modelId, "files.upload start");
        String location = started.headers().get("X-Goog-Upload-URL");
        HttpUrl uploadUrl = location == null ? null : HttpUrl.parse(location);
        if (uploadUrl == null) {
            throw new GeminiException(GeminiError.MALFORMED_RESPONSE,
                    "the File API start answered without a usable X-Goog-Upload-URL header: retry");
        }
        Request.Builder finish = new Request.Builder()
                .url(uploadUrl)
                .header("X-Goog-Upload-Command", "upload, finalize")
                .header("X-Goog-Upload-Offset", "0")
                .post(content);
        if (sameOrigin(uploadUrl)) {
            finish.header(API_KEY_HEADER, config.apiKey()); // the upload id authorises it; the key never leaves our origin
        }
        JsonNode file = parse(execute(finish.build(), modelId, "files.upload finalize"), modelId, "files.upload").path("file");
        String name = file.path("name").asText("");
        String uri = file.path("uri").asText("");
        if (!FILE_NAME.matcher(name).matches() || HttpUrl.parse(uri) == null) {
            throw new GeminiException(GeminiError.MALFORMED_RESPONSE,
                    "the File API answered without a valid file name and uri: retry");
        }
        return new UploadedFile(name, uri, file.path("state").asText("ACTIVE"));
    }

    /** Images and PDFs are usually ACTIVE at once; otherwise ask until they are, within the call timeout. */
    private void awaitActive(String modelId, UploadedFile file) throws GeminiException {
        String state = file.state();
        long deadline = System.nanoTime() + config.callTimeout().toNanos();
        while (state.equals("PROCESSING")) {
            if (System.nanoTime() - deadline > 0) {
                throw new GeminiException(GeminiError.TIMEOUT, "uploaded file " + file.name() + " was still PROCESSING after "
                        + config.callTimeout().toSeconds() + "s (GEMINI_CALL_TIMEOUT): retry");
            }
            try {
                Thread.sleep(config.fileActivePollInterval().toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new GeminiException(GeminiError.TIMEOUT, "interrupted while waiting for uploaded file " + file.name(), e);
            }
            Request get = new Request.Builder().url(fileUrl(file)).header(API_KEY_HEADER, config.apiKey()).get().build();
            state = parse(execute(get, modelId, "files.get"), modelId, "files.get").path("state").asText("");
        }
        if (!state.equals("ACTIVE")) {
            throw new GeminiException(GeminiError.INVALID_REQUEST, "Gemini could not process the uploaded file "
                    + file.name() + " (state " + state + "): check that the file is a readable image or PDF");
        }
    }

    /** Uploaded files expire after 48 hours anyway; deleting keeps the project's 20 GB store free. */
    private void deleteQuietly(String modelId, UploadedFile file) {
        Request delete = new Request.Builder().url(fileUrl(file)).header(API_KEY_HEADER, config.apiKey()).delete().build();
        try {
            execute(delete, modelId, "files.delete");
        } catch (GeminiException e) {
            log.warn("could not delete uploaded file {} (it expires within 48 hours): {}", file.name(), e.getMessage());
        }
    }

    private HttpUrl fileUrl(UploadedFile file) {
        return baseUrl.newBuilder().addPathSegment("v1beta").addPathSegments(file.name()).build();
    }

    private boolean sameOrigin(HttpUrl url) {
        return url.scheme().equals(baseUrl.scheme()) && url.host().equals(baseUrl.host()) && url.port() == baseUrl.port();
    }

    // ---- HTTP ----------------------------------------------------------------------------------

    private record Exchange(Headers headers, byte[] body) {
    }

    private JsonNode postJson(String modelId, String method, ObjectNode body) throws GeminiException {
        return postJson(modelId, method, RequestBody.create(bytes(body), JSON_TYPE));
    }

    private JsonNode postJson(String modelId, String method, RequestBody body) throws GeminiException {
        Request request = new Request.Builder()
                .url(baseUrl.newBuilder().addPathSegments("v1beta/models").addPathSegment(modelId + ":" + method).build())
                .header(API_KEY_HEADER, config.apiKey())
                .post(body)
                .build();
        return parse(execute(request, modelId, method), modelId, method);
    }

    private Exchange execute(Request request, String modelId, String what) throws GeminiException {
        long started = System.nanoTime();
        Response response;
        try {
            response = http.newCall(request).execute();
        } catch (IOException e) {
            throw transportFailure(e, modelId, what, false);
        }
        try (response) {
            byte[] body;
            try {
                body = response.body().bytes();
            } catch (IOException e) {
                throw transportFailure(e, modelId, what, true);
            }
            log.debug("gemini {} model={} -> HTTP {} in {} ms, {} bytes", what, modelId, response.code(),
                    (System.nanoTime() - started) / 1_000_000, body.length);
            if (response.isRedirect()) {
                throw new GeminiException(GeminiError.INVALID_REQUEST, "Gemini answered " + what + " with a redirect (HTTP "
                        + response.code() + "), which is not followed so the API key stays at GEMINI_BASE_URL ("
                        + baseUrl + "): point GEMINI_BASE_URL at the API itself");
            }
            if (!response.isSuccessful()) {
                throw RpcStatus.parse(response.code(), body, json).toException(modelId, redactor);
            }
            return new Exchange(response.headers(), body);
        }
    }

    private GeminiException transportFailure(IOException e, String modelId, String what, boolean headersReceived) {
        String cause = redactor.redact(e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage()));
        if (e instanceof InterruptedIOException) {
            return new GeminiException(GeminiError.TIMEOUT, "no complete answer from Gemini for " + what + " (model " + modelId
                    + ") within the timeouts (read " + config.readTimeout().toSeconds() + "s, call "
                    + config.callTimeout().toSeconds() + "s; GEMINI_READ_TIMEOUT, GEMINI_CALL_TIMEOUT): retry ("
                    + cause + ")", e);
        }
        if (headersReceived) {
            return new GeminiException(GeminiError.MALFORMED_RESPONSE, "Gemini's answer to " + what + " (model " + modelId
                    + ") broke off before its end: retry (" + cause + ")", e);
        }
        return new GeminiException(GeminiError.TIMEOUT, "the connection to Gemini at " + baseUrl + " failed for " + what
                + " (model " + modelId + "): retry, and check GEMINI_BASE_URL and the network if it persists (" + cause + ")", e);
    }

    private JsonNode parse(Exchange exchange, String modelId, String what) throws GeminiException {
        try {
            JsonNode node = json.readTree(exchange.body());
            if (node == null || !node.isObject()) {
                throw new GeminiException(GeminiError.MALFORMED_RESPONSE,
                        "Gemini's answer to " + what + " (model " + modelId + ") is not a JSON object: retry");
            }
            return node;
        } catch (IOException e) {
            throw new GeminiException(GeminiError.MALFORMED_RESPONSE, "Gemini's answer to " + what + " (model " + modelId
                    + ") is not valid JSON, probably truncated: retry (" + redactor.redact(e instanceof JsonProcessingException j ? j.getOriginalMessage() : e.getMessage()) + ")");
        }
    }

    private byte[] bytes(ObjectNode body) {
        try {
            return json.writeValueAsBytes(body);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise a Gemini request", e);
        }
    }


    private static String mimeType(String mimeType) throws GeminiException {
        String mime = mimeType == null ? "" : mimeType.strip().toLowerCase(Locale.ROOT);
        if (!MIME_TYPE.matcher(mime).matches()) {
            throw new GeminiException(GeminiError.INVALID_REQUEST,
                    "'" + mimeType + "' is not a MIME type (such as image/jpeg or application/pdf): check the file's declared type");
        }
        return mime;
    }

    private static String textOrNull(JsonNode node, String field) {
        JsonNode value = node.get(field);
        return value == null || value.isNull() ? null : value.asText();
    }
}
