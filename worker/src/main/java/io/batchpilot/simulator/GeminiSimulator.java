package io.batchpilot.simulator;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A stand-in for Google's Generative Language API (v1beta) on 127.0.0.1: generateContent,
 * embedContent, batchEmbedContents, countTokens, the File API's resumable upload and Batch Mode
 * ({@link SimulatedBatches}: batchGenerateContent, batches get/list/cancel/delete), with per
 * (key, model) RPM / input TPM / RPD limits over a strict sliding window, Google's error bodies,
 * latency and injected faults, and a log of every request for audits.
 *
 * <pre>{@code
 * try (GeminiSimulator sim = GeminiSimulator.start(SimulatorConfig.defaults()
 *         .withWindow(Duration.ofSeconds(2)).withDefaultLimits(new ModelLimits(10, 0, 0)))) {
 *     // point the client at sim.baseUrl(); afterwards: sim.audit()
 * }
 * }</pre>
 */
public final class GeminiSimulator implements AutoCloseable {

    public static final int MAX_BATCH_EMBED_REQUESTS = 100;
    private static final Pattern MODEL_METHOD = Pattern.compile("^/v1beta/models/([^/:]+):([A-Za-z]+)$");
    private static final Pattern FILE_PATH = Pattern.compile("^/v1beta/files/([A-Za-z0-9-]+)$");
    private static final Pattern FILE_URI = Pattern.compile("(?:^|/)files/([A-Za-z0-9-]+)$");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Logger LOG = LoggerFactory.getLogger(GeminiSimulator.class);

    private final SimulatorConfig config;
    private final HttpServer server;
    private final ExecutorService executor;
    private final SlidingWindowLimiter limiter;
    private final RequestLog log = new RequestLog();
    private final Map<String, StoredFile> files = new ConcurrentHashMap<>();
    private final Map<String, PendingUpload> uploads = new ConcurrentHashMap<>();
    private final AtomicLong ids = new AtomicLong();
    private final String baseUrl;
    private final SimulatedBatches batches;

    private record StoredFile(String id, String displayName, String mimeType, byte[] bytes, Instant created) {
    }

    private record PendingUpload(String displayName, String mimeType) {
    }

    /** A client error found while reading the request: answered as is, never metered. */
    static final class RequestRejected extends Exception {
        private static final long serialVersionUID = 1L;
        final int status;
        final transient ObjectNode body;
        final String outcome;

        RequestRejected(int status, ObjectNode body, String outcome) {
            super(outcome, null, false, false);
            this.status = status;
            this.body = body;
            this.outcome = outcome;
        }
    }

    static {
        // The JDK server writes headers and body as two segments; with Nagle on, the client's delayed
        // ACK held every response ~40 ms (measured: 21 requests/s from one client). Read once, when
        // the first HttpServer of the JVM starts, and only if nobody chose otherwise.
        if (System.getProperty("sun.net.httpserver.nodelay") == null) {
            System.setProperty("sun.net.httpserver.nodelay", "true");
        }
    }

    private GeminiSimulator(SimulatorConfig config) throws IOException {
        this.config = config;
        this.limiter = new SlidingWindowLimiter(config.window(), config::limitsFor, config.clock());
        this.server = HttpServer.create(new InetSocketAddress(config.host(), config.port()), 512);
        this.executor = Executors.newFixedThreadPool(config.threads(), r -> {
            Thread t = new Thread(r, "gemini-simulator");
            t.setDaemon(true);
            return t;
        });
        server.setExecutor(executor);
        server.createContext("/", this::handle);
        server.start();
        this.baseUrl = "http://" + config.host() + ":" + server.getAddress().getPort();
        this.batches = new SimulatedBatches(config.batch(), config.seed(), config.clock(), new SimulatedBatches.Backend() {
            @Override
            public long inputTokens(JsonNode request) throws RequestRejected {
                return readPrompt(request).tokens();
            }

            @Override
            public ObjectNode answer(String model, JsonNode request, Random random) throws RequestRejected {
                Prompt prompt = readPrompt(request);
                return GeminiSimulator.this.answer(model, prompt, random, false, config.extractionErrors().decide(random));
            }

            @Override
            public Optional<byte[]> uploadedFile(String id) {
                return Optional.ofNullable(files.get(id)).map(StoredFile::bytes);
            }
        }, baseUrl);
    }

    public static GeminiSimulator start(SimulatorConfig config) throws IOException {
        return new GeminiSimulator(config);
    }

    /** Where to point the client: {@code http://127.0.0.1:PORT} (the client appends /v1beta/...). */
    public String baseUrl() {
        return baseUrl;
    }

    public SimulatorConfig config() {
        return config;
    }

    /** Every request so far, in arrival order. */
    public List<RecordedRequest> requests() {
        return log.entries();
    }

    public RequestLog log() {
        return log;
    }

    /** The Batch Mode jobs: {@code batches().jobs()} lists them, deleted ones included. */
    public SimulatedBatches batches() {
        return batches;
    }

    /**
     * The busiest window (of the configured length) per (key, model) over every metered request that
     * arrived, admitted or not: what a fleet sent, to compare with the limits it was meant to keep.
     */
    public Map<String, WindowAudit> audit() {
        return log.audit(config.window(), RecordedRequest::metered);
    }

    /** The same over the requests the simulator admitted (never above the limits, by construction). */
    public Map<String, WindowAudit> auditAdmitted() {
        return log.audit(config.window(), ((Predicate<RecordedRequest>) RecordedRequest::metered).and(RecordedRequest::counted));
    }

    /** How the log names a key: a short SHA-256 fingerprint, never the key itself. */
    public static String fingerprint(String apiKey) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(apiKey.getBytes(StandardCharsets.UTF_8));
            return "sha256:" + HexFormat.of().formatHex(digest, 0, 6);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
    }

    private void handle(HttpExchange exchange) {
        try (exchange) {
            byte[] body;
            try (InputStream in = exchange.getRequestBody()) {
                body = in.readAllBytes();
            }
            route(exchange, body);
        } catch (IOException e) {
            // The client went away (timed out, or was reset on purpose); nothing to answer.
        } catch (RuntimeException e) {
            LOG.error("Gemini simulator failed on {} {}; the client sees the connection close", exchange.getRequestMethod(),
                    exchange.getRequestURI().getPath(), e);
        }
    }

    private void route(HttpExchange exchange, byte[] body) throws IOException {
        String path = exchange.getRequestURI().getRawPath();
        Map<String, String> query = query(exchange.getRequestURI().getRawQuery());
        String key = Optional.ofNullable(exchange.getRequestHeaders().getFirst("x-goog-api-key")).orElse(query.get("key"));
        String fingerprint = key == null || key.isEmpty() ? "none" : fingerprint(key);
        Matcher mm = MODEL_METHOD.matcher(path);
        String model = mm.matches() ? mm.group(1) : "";
        String method = mm.matches() ? mm.group(2)
                : path.startsWith("/upload/") ? "upload" : FILE_PATH.matcher(path).matches() ? "getFile"
                : SimulatedBatches.method(exchange.getRequestMethod(), path).orElse("unknown");

        if (key == null || key.isEmpty()) {
            reject(exchange, fingerprint, model, method, new RequestRejected(403, ErrorBodies.unauthenticated(), "unauthenticated"));
            return;
        }
        if (!config.apiKeys().isEmpty() && !config.apiKeys().contains(key)) {
            reject(exchange, fingerprint, model, method, new RequestRejected(400, ErrorBodies.apiKeyInvalid(), "api_key_invalid"));
            return;
        }
        try {
            if (mm.matches() && "POST".equals(exchange.getRequestMethod())) {
                switch (method) {
                    case "generateContent" -> generateContent(exchange, fingerprint, model, parse(body));
                    case "embedContent" -> embed(exchange, fingerprint, model, parse(body), false);
                    case "batchEmbedContents" -> embed(exchange, fingerprint, model, parse(body), true);
                    case "countTokens" -> countTokens(exchange, fingerprint, model, parse(body));
                    case "batchGenerateContent" -> batchReply(exchange, fingerprint, method,
                            batches.create(fingerprint, model, parse(body), body.length));
                    default -> throw new RequestRejected(404, ErrorBodies.notFound(path), "not_found");
                }
            } else if (path.equals("/upload/v1beta/files") && "POST".equals(exchange.getRequestMethod())) {
                upload(exchange, fingerprint, query, body);
            } else if (FILE_PATH.matcher(path).matches() && "GET".equals(exchange.getRequestMethod())) {
                Matcher fm = FILE_PATH.matcher(path);
                fm.matches();
                StoredFile f = files.get(fm.group(1));
                Optional<ObjectNode> generated = f == null ? batches.resultsFileJson(fm.group(1)) : Optional.empty();
                if (f == null && generated.isEmpty()) {
                    throw new RequestRejected(403, ErrorBodies.fileNotAccessible(fm.group(1)), "not_found");
                }
                SlidingWindowLimiter.Decision d = limiter.decide(fingerprint, "", 0, false);
                record(d, fingerprint, "", method, 0, 200, "ok");
                respond(exchange, 200, f == null ? generated.get() : fileJson(f));
            } else if (!method.equals("unknown") && SimulatedBatches.method(exchange.getRequestMethod(), path).isPresent()) {
                batchReply(exchange, fingerprint, method, batches.handle(fingerprint, method, path, query));
            } else {
                throw new RequestRejected(404, ErrorBodies.notFound(path), "not_found");
            }
        } catch (RequestRejected r) {
            reject(exchange, fingerprint, model, method, r);
        }
    }

    private void generateContent(HttpExchange exchange, String fingerprint, String model, JsonNode request)
            throws IOException, RequestRejected {
        Prompt prompt = readPrompt(request);
        SlidingWindowLimiter.Decision d = limiter.decide(fingerprint, model, prompt.tokens(), true);
        if (!d.admitted()) {
            rateLimited(exchange, d, fingerprint, model, "generateContent", prompt.tokens());
            return;
        }
        Random random = FaultPlan.randomFor(config.seed(), d.sequence());
        Optional<Fault> fault = config.faults().decide(random);
        // A wrong answer needs an answer: a faulted request gets none.
        Optional<ExtractionError> error = fault.isEmpty() ? config.extractionErrors().decide(random) : Optional.empty();
        ObjectNode response = answer(model, prompt, random, fault.filter(f -> f == Fault.SAFETY).isPresent(), error);
        admitted(exchange, d, fingerprint, model, "generateContent", prompt.tokens(), fault,
                error.map(ExtractionError::flag).orElse("ok"), random, response);
    }

    /**
     * The generateContent response to a prompt, with no HTTP, quota or latency: interactive and batch
     * calls share it. The answer is the receipt's ground truth unless an extraction error was drawn.
     */
    private ObjectNode answer(String model, Prompt prompt, Random random, boolean safety, Optional<ExtractionError> error) {
        SyntheticReceipt receipt = prompt.file() == null
                ? SyntheticReceipts.receipt(SyntheticReceipts.hashSeed(prompt.text().getBytes(StandardCharsets.UTF_8)))
                : SyntheticReceipts.extract(prompt.file().bytes(), prompt.file().mimeType());
        ExtractionError.Candidate answer = error.map(e -> e.apply(receipt.toJson(), random))
                .orElseGet(() -> new ExtractionError.Candidate(receipt.toJson().toString(), "STOP"));
        String text = answer.text();
        long candidates = SimulatorTokenizer.text(text);

        ObjectNode response = JsonNodeFactory.instance.objectNode();
        ObjectNode candidate = response.putArray("candidates").addObject();
        if (safety) {
            candidate.put("finishReason", "SAFETY");
            candidate.put("index", 0);
            ArrayNode ratings = candidate.putArray("safetyRatings");
            for (String category : List.of("HARM_CATEGORY_SEXUALLY_EXPLICIT", "HARM_CATEGORY_HATE_SPEECH",
                    "HARM_CATEGORY_HARASSMENT", "HARM_CATEGORY_DANGEROUS_CONTENT")) {
                ObjectNode r = ratings.addObject();
                r.put("category", category);
                boolean blocked = category.equals("HARM_CATEGORY_DANGEROUS_CONTENT");
                r.put("probability", blocked ? "HIGH" : "NEGLIGIBLE");
                if (blocked) {
                    r.put("blocked", true);
                }
            }
            candidates = 0;
        } else {
            ObjectNode content = candidate.putObject("content");
            content.putArray("parts").addObject().put("text", text);
            content.put("role", "model");
            candidate.put("finishReason", answer.finishReason());
            candidate.put("index", 0);
        }
        ObjectNode usage = response.putObject("usageMetadata");
        long thoughts = config.thoughtsTokens();
        putNonZero(usage, "promptTokenCount", prompt.tokens());
        putNonZero(usage, "candidatesTokenCount", candidates);
        putNonZero(usage, "totalTokenCount", prompt.tokens() + candidates + thoughts);
        ArrayNode details = usage.putArray("promptTokensDetails");
        prompt.byModality().forEach((modality, count) -> {
            if (count > 0) {
                ObjectNode n = details.addObject();
                n.put("modality", modality.name());
                n.put("tokenCount", count);
            }
        });
        putNonZero(usage, "thoughtsTokenCount", thoughts);
        response.put("modelVersion", model);
        response.put("responseId", responseId(random));
        return response;
    }

    /** Logs and sends a Batch Mode answer; batch methods use none of the interactive quota. */
    private void batchReply(HttpExchange exchange, String fingerprint, String method, SimulatedBatches.Reply reply)
            throws IOException {
        SlidingWindowLimiter.Decision d = limiter.decide(fingerprint, reply.model(), 0, false);
        record(d, fingerprint, reply.model(), method, reply.tokens(), reply.status(), reply.outcome());
        exchange.getResponseHeaders().set("Content-Type", reply.contentType());
        exchange.sendResponseHeaders(reply.status(), reply.body().length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(reply.body());
        }
    }

    private void embed(HttpExchange exchange, String fingerprint, String model, JsonNode request, boolean batch)
            throws IOException, RequestRejected {
        List<JsonNode> items = new java.util.ArrayList<>();
        if (batch) {
            JsonNode requests = request.path("requests");
            if (!requests.isArray() || requests.isEmpty()) {
                throw new RequestRejected(400, ErrorBodies.invalidArgument("* BatchEmbedContentsRequest.requests: "
                        + "contents is not specified\n"), "invalid_request");
            }
            if (requests.size() > MAX_BATCH_EMBED_REQUESTS) {
                throw new RequestRejected(400, ErrorBodies.invalidArgument("* BatchEmbedContentsRequest.requests: at most "
                        + MAX_BATCH_EMBED_REQUESTS + " requests can be in one batch\n"), "invalid_request");
            }
            requests.forEach(items::add);
        } else {
            items.add(request);
        }
        long tokens = 0;
        int[] dimensions = new int[items.size()];
        for (int i = 0; i < items.size(); i++) {
            JsonNode item = items.get(i);
            tokens += SimulatorTokenizer.text(text(field(item, "content").path("parts")));
            JsonNode dims = field(item, "outputDimensionality");
            dimensions[i] = dims.isInt() ? dims.asInt() : model.contains("text-embedding-004") ? 768 : 3072;
            if (dimensions[i] < 1 || dimensions[i] > 3072) {
                throw new RequestRejected(400, ErrorBodies.invalidArgument("* outputDimensionality must be between 1 and 3072"),
                        "invalid_request");
            }
        }
        SlidingWindowLimiter.Decision d = limiter.decide(fingerprint, model, tokens, true);
        String method = batch ? "batchEmbedContents" : "embedContent";
        if (!d.admitted()) {
            rateLimited(exchange, d, fingerprint, model, method, tokens);
            return;
        }
        Random random = FaultPlan.randomFor(config.seed(), d.sequence());
        Optional<Fault> fault = config.faults().decide(random).filter(f -> f != Fault.SAFETY);
        ObjectNode response = JsonNodeFactory.instance.objectNode();
        ArrayNode embeddings = batch ? response.putArray("embeddings") : null;
        for (int i = 0; i < items.size(); i++) {
            ObjectNode embedding = batch ? embeddings.addObject() : response.putObject("embedding");
            ArrayNode values = embedding.putArray("values");
            for (float v : embedding(text(field(items.get(i), "content").path("parts")), dimensions[i])) {
                values.add(v);
            }
        }
        admitted(exchange, d, fingerprint, model, method, tokens, fault, "ok", random, response);
    }

    private void countTokens(HttpExchange exchange, String fingerprint, String model, JsonNode request)
            throws IOException, RequestRejected {
        JsonNode inner = field(request, "generateContentRequest");
        Prompt prompt = readPrompt(inner.isMissingNode() ? request : inner);
        SlidingWindowLimiter.Decision d = limiter.decide(fingerprint, model, prompt.tokens(), false);
        ObjectNode response = JsonNodeFactory.instance.objectNode();
        response.put("totalTokens", prompt.tokens());
        ArrayNode details = response.putArray("promptTokensDetails");
        prompt.byModality().forEach((modality, count) -> {
            if (count > 0) {
                details.addObject().put("modality", modality.name()).put("tokenCount", count);
            }
        });
        record(d, fingerprint, model, "countTokens", prompt.tokens(), 200, "ok");
        respond(exchange, 200, response);
    }

    /** File API, resumable: "start" returns the upload URL in X-Goog-Upload-URL; "upload, finalize" stores the bytes. */
    private void upload(HttpExchange exchange, String fingerprint, Map<String, String> query, byte[] body)
            throws IOException, RequestRejected {
        String protocol = exchange.getRequestHeaders().getFirst("X-Goog-Upload-Protocol");
        String command = Optional.ofNullable(exchange.getRequestHeaders().getFirst("X-Goog-Upload-Command")).orElse("");
        String uploadId = query.get("upload_id");
        SlidingWindowLimiter.Decision d = limiter.decide(fingerprint, "", 0, false);
        if (uploadId == null) {
            if (!"resumable".equals(protocol) || !command.equals("start")) {
                throw new RequestRejected(400, ErrorBodies.invalidArgument("Upload requests must use X-Goog-Upload-Protocol: "
                        + "resumable with X-Goog-Upload-Command: start"), "invalid_request");
            }
            JsonNode meta = body.length == 0 ? JsonNodeFactory.instance.objectNode() : parse(body);
            String displayName = field(field(meta, "file"), "displayName").asText("");
            String mimeType = Optional.ofNullable(exchange.getRequestHeaders().getFirst("X-Goog-Upload-Header-Content-Type"))
                    .orElse("application/octet-stream");
            String id = "u" + Long.toString(ids.incrementAndGet(), 36) + Long.toString(config.seed() & 0xFFFF, 36);
            uploads.put(id, new PendingUpload(displayName, mimeType));
            exchange.getResponseHeaders().set("X-Goog-Upload-URL",
                    baseUrl + "/upload/v1beta/files?upload_id=" + id + "&upload_protocol=resumable");
            exchange.getResponseHeaders().set("X-Goog-Upload-Status", "active");
            record(d, fingerprint, "", "upload", 0, 200, "ok");
            respond(exchange, 200, JsonNodeFactory.instance.objectNode());
            return;
        }
        PendingUpload pending = uploads.remove(uploadId);
        if (pending == null || !command.contains("upload") || !command.contains("finalize")) {
            throw new RequestRejected(400, ErrorBodies.invalidArgument("Unknown upload_id or the command is not "
                    + "'upload, finalize'"), "invalid_request");
        }
        String fileId = Long.toString(ids.incrementAndGet(), 36) + HexFormat.of().formatHex(
                ByteBuffer.allocate(4).putInt((int) SyntheticReceipts.hashSeed(body)).array());
        StoredFile file = new StoredFile(fileId, pending.displayName(), pending.mimeType(), body, config.clock().instant());
        files.put(fileId, file);
        exchange.getResponseHeaders().set("X-Goog-Upload-Status", "final");
        record(d, fingerprint, "", "upload", 0, 200, "ok");
        ObjectNode response = JsonNodeFactory.instance.objectNode();
        response.set("file", fileJson(file));
        respond(exchange, 200, response);
    }

    private ObjectNode fileJson(StoredFile f) {
        ObjectNode n = JsonNodeFactory.instance.objectNode();
        n.put("name", "files/" + f.id());
        if (!f.displayName().isEmpty()) {
            n.put("displayName", f.displayName());
        }
        n.put("mimeType", f.mimeType());
        n.put("sizeBytes", Long.toString(f.bytes().length));
        n.put("createTime", f.created().toString());
        n.put("updateTime", f.created().toString());
        n.put("expirationTime", f.created().plus(Duration.ofHours(48)).toString());
        try {
            n.put("sha256Hash", Base64.getEncoder().encodeToString(
                    HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(f.bytes())).getBytes(StandardCharsets.US_ASCII)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        n.put("uri", baseUrl + "/v1beta/files/" + f.id());
        n.put("state", "ACTIVE");
        n.put("source", "UPLOADED");
        return n;
    }

    private enum Modality { TEXT, IMAGE, DOCUMENT }

    private record FilePart(byte[] bytes, String mimeType) {
    }

    private record Prompt(long tokens, Map<Modality, Long> byModality, String text, FilePart file) {
    }

    /** Tokens of a generateContent request: system instruction and every part, by modality. */
    private Prompt readPrompt(JsonNode request) throws RequestRejected {
        Map<Modality, Long> counts = new EnumMap<>(Modality.class);
        StringBuilder allText = new StringBuilder();
        FilePart firstFile = null;
        List<JsonNode> parts = new java.util.ArrayList<>();
        field(field(request, "systemInstruction"), "parts").forEach(parts::add);
        JsonNode contents = field(request, "contents");
        if (!contents.isArray() || contents.isEmpty()) {
            throw new RequestRejected(400, ErrorBodies.invalidArgument("* GenerateContentRequest.contents: contents is not "
                    + "specified\n"), "invalid_request");
        }
        contents.forEach(c -> field(c, "parts").forEach(parts::add));
        for (JsonNode part : parts) {
            JsonNode inline = field(part, "inlineData");
            JsonNode fileData = field(part, "fileData");
            if (part.has("text")) {
                String t = part.get("text").asText();
                allText.append(t);
                counts.merge(Modality.TEXT, SimulatorTokenizer.text(t), Long::sum);
            } else if (!inline.isMissingNode() || !fileData.isMissingNode()) {
                FilePart file;
                if (!inline.isMissingNode()) {
                    try {
                        file = new FilePart(Base64.getDecoder().decode(field(inline, "data").asText("")),
                                field(inline, "mimeType").asText(""));
                    } catch (IllegalArgumentException e) {
                        throw new RequestRejected(400, ErrorBodies.invalidArgument("Invalid value at 'contents.parts.inline_data.data' "
                                + "(TYPE_BYTES), Base64 decoding failed"), "invalid_request");
                    }
                } else {
                    Matcher m = FILE_URI.matcher(field(fileData, "fileUri").asText(""));
                    StoredFile stored = m.find() ? files.get(m.group(1)) : null;
                    if (stored == null) {
                        throw new RequestRejected(403, ErrorBodies.fileNotAccessible(field(fileData, "fileUri").asText("")),
                                "not_found");
                    }
                    file = new FilePart(stored.bytes(), stored.mimeType());
                }
                try {
                    long t = SimulatorTokenizer.file(file.bytes(), file.mimeType());
                    counts.merge(file.mimeType().equalsIgnoreCase("application/pdf") ? Modality.DOCUMENT : Modality.IMAGE, t, Long::sum);
                } catch (IOException e) {
                    throw new RequestRejected(400, ErrorBodies.invalidArgument("Unable to process input image. Please retry or "
                            + "report in https://developers.generativeai.google/guide/troubleshooting"), "invalid_request");
                }
                if (firstFile == null) {
                    firstFile = file;
                }
            }
        }
        long total = counts.values().stream().mapToLong(Long::longValue).sum();
        return new Prompt(total, counts, allText.toString(), firstFile);
    }

    private void admitted(HttpExchange exchange, SlidingWindowLimiter.Decision d, String fingerprint, String model,
                          String method, long tokens, Optional<Fault> fault, String answered, Random random,
                          ObjectNode response) throws IOException {
        sleep(config.latency().sample(random));
        if (fault.isEmpty() || fault.get() == Fault.SAFETY) {
            record(d, fingerprint, model, method, tokens, 200, fault.map(Fault::flag).orElse(answered));
            respond(exchange, 200, response);
            return;
        }
        Fault f = fault.get();
        switch (f) {
            case OVERLOADED -> respondFault(exchange, d, fingerprint, model, method, tokens, f, 503, ErrorBodies.overloaded());
            case INTERNAL -> respondFault(exchange, d, fingerprint, model, method, tokens, f, 500, ErrorBodies.internal());
            case DEADLINE_EXCEEDED -> respondFault(exchange, d, fingerprint, model, method, tokens, f, 504,
                    ErrorBodies.deadlineExceeded());
            case CONNECTION_RESET -> record(d, fingerprint, model, method, tokens, 0, f.flag());
            case SLOW_RESPONSE -> {
                record(d, fingerprint, model, method, tokens, 200, f.flag());
                sleep(config.faults().slowResponseDelay());
                respond(exchange, 200, response);
            }
            case MALFORMED_JSON -> {
                record(d, fingerprint, model, method, tokens, 200, f.flag());
                byte[] whole = JSON.writeValueAsBytes(response);
                respondBytes(exchange, 200, java.util.Arrays.copyOf(whole, whole.length / 2));
            }
            default -> throw new IllegalStateException("fault " + f + " is handled above");
        }
    }

    private void respondFault(HttpExchange exchange, SlidingWindowLimiter.Decision d, String fingerprint, String model,
                              String method, long tokens, Fault f, int status, ObjectNode body) throws IOException {
        record(d, fingerprint, model, method, tokens, status, f.flag());
        respond(exchange, status, body);
    }

    private void rateLimited(HttpExchange exchange, SlidingWindowLimiter.Decision d, String fingerprint, String model,
                             String method, long tokens) throws IOException {
        record(d, fingerprint, model, method, tokens, 429, "rate_limited");
        respond(exchange, 429, ErrorBodies.quotaExceeded(model, d.violations(), config.freeTier(), d.retryDelay()));
    }

    private void reject(HttpExchange exchange, String fingerprint, String model, String method, RequestRejected r)
            throws IOException {
        SlidingWindowLimiter.Decision d = limiter.decide(fingerprint, model, 0, false);
        record(d, fingerprint, model, method, 0, r.status, r.outcome);
        respond(exchange, r.status, r.body);
    }

    private void record(SlidingWindowLimiter.Decision d, String fingerprint, String model, String method, long tokens,
                        int status, String outcome) {
        log.add(new RecordedRequest(d.sequence(), d.arrivalNanos(), d.arrival(), fingerprint, model, method, tokens, status,
                outcome, d.admitted() && RecordedRequest.isMetered(method)));
    }

    private static void respond(HttpExchange exchange, int status, ObjectNode body) throws IOException {
        respondBytes(exchange, status, JSON.writeValueAsBytes(body));
    }

    private static void respondBytes(HttpExchange exchange, int status, byte[] bytes) throws IOException {
        exchange.getResponseHeaders().set("Content-Type", "application/json; charset=UTF-8");
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    private static JsonNode parse(byte[] body) throws RequestRejected {
        try {
            JsonNode node = JSON.readTree(body);
            if (node == null || !node.isObject()) {
                throw new RequestRejected(400, ErrorBodies.invalidArgument("Invalid JSON payload received. Expected an object."),
                        "invalid_request");
            }
            return node;
        } catch (JsonProcessingException e) {
            throw new RequestRejected(400, ErrorBodies.invalidArgument("Invalid JSON payload received. Unexpected token."),
                    "invalid_request");
        } catch (IOException e) {
            throw new RequestRejected(400, ErrorBodies.invalidArgument("Invalid JSON payload received."), "invalid_request");
        }
    }

    /** A field by its camelCase name or its snake_case twin (Google accepts both). */
    static JsonNode field(JsonNode node, String camelCase) {
        JsonNode v = node.path(camelCase);
        if (!v.isMissingNode()) {
            return v;
        }
        return node.path(camelCase.replaceAll("([A-Z])", "_$1").toLowerCase(java.util.Locale.ROOT));
    }

    private static String text(JsonNode parts) {
        StringBuilder sb = new StringBuilder();
        parts.forEach(p -> sb.append(p.path("text").asText("")));
        return sb.toString();
    }

    /** A unit vector seeded by the text's hash: the same text always embeds the same way. */
    static float[] embedding(String text, int dimensions) {
        Random r = new Random(SyntheticReceipts.hashSeed(text.getBytes(StandardCharsets.UTF_8)) * 31 + text.length());
        float[] v = new float[dimensions];
        double norm = 0;
        for (int i = 0; i < dimensions; i++) {
            v[i] = (float) r.nextGaussian();
            norm += v[i] * v[i];
        }
        float scale = (float) (1 / Math.sqrt(norm));
        for (int i = 0; i < dimensions; i++) {
            v[i] *= scale;
        }
        return v;
    }

    private static void putNonZero(ObjectNode node, String name, long value) {
        if (value != 0) {
            node.put(name, value);
        }
    }

    private static String responseId(Random random) {
        byte[] b = new byte[16];
        random.nextBytes(b);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(b).substring(0, 22);
    }

    private static Map<String, String> query(String raw) {
        Map<String, String> q = new HashMap<>();
        if (raw == null) {
            return q;
        }
        for (String pair : raw.split("&")) {
            int eq = pair.indexOf('=');
            if (eq > 0) {
                q.put(URLDecoder.decode(pair.substring(0, eq), StandardCharsets.UTF_8),
                        URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8));
            }
        }
        return q;
    }

    private static void sleep(Duration d) {
        if (d.isZero() || d.isNegative()) {
            return;
        }
        try {
            Thread.sleep(d.toMillis(), (int) (d.toNanos() % 1_000_000));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
