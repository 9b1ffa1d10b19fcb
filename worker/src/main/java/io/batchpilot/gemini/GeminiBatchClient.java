package io.batchpilot.gemini;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.cfg.JsonNodeFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import okhttp3.HttpUrl;
import okhttp3.MediaType;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.RequestBody;
import okhttp3.Response;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Gemini Batch Mode (v1beta): {@code models/{model}:batchGenerateContent}, {@code batches.get},
 * {@code batches.list}, {@code batches.cancel}, {@code batches.delete}, and the results, inline or
 * downloaded from the results file. Like {@link GeminiClient} it does not retry: every failure is a
 * classified {@link GeminiException}, and the key travels only in {@code x-goog-api-key} to
 * GEMINI_BASE_URL's origin. The REST shapes it speaks, with their sources, are in
 * {@code io.batchpilot.simulator.SimulatedBatches} and docs/simulator.md ("Batch Mode").
 */
public final class GeminiBatchClient implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(GeminiBatchClient.class);

    private static final MediaType JSON_TYPE = MediaType.get("application/json; charset=utf-8");
    private static final MediaType JSONL_TYPE = MediaType.get("application/jsonl");
    private static final Pattern BATCH_NAME = Pattern.compile("batches/[A-Za-z0-9_-]+");
    private static final Pattern FILE_NAME = Pattern.compile("files/[A-Za-z0-9_-]+");

    private final GeminiConfig config;
    private final HttpUrl baseUrl;
    private final OkHttpClient http;
    private final ObjectMapper json;
    private final KeyRedactor redactor;

    public GeminiBatchClient(GeminiConfig config) {
        this.config = config;
        this.baseUrl = config.httpUrl();
        this.redactor = new KeyRedactor(config.apiKey());
        this.json = new ObjectMapper()
                .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
                .configure(JsonNodeFeature.STRIP_TRAILING_BIGDECIMAL_ZEROES, false);
        this.http = GeminiHttp.client(config);
    }

    /** {@link #create(String, String, List, long)} with Google's inline limit, {@link BatchQuotas#INLINE_REQUEST_BYTES}. */
    public BatchJob create(String model, String displayName, List<BatchRequest> requests) throws GeminiException {
        return create(model, displayName, requests, BatchQuotas.INLINE_REQUEST_BYTES);
    }

    /**
     * Enqueues a batch job: the requests inline while the whole create request stays within
     * {@code inlineLimitBytes}, else as a JSONL file ({@code {"key", "request"}} per line) uploaded
     * through the File API first. The job starts PENDING; its name is what to keep.
     *
     * @throws IllegalArgumentException when there are no requests or two share a key
     */
    public BatchJob create(String model, String displayName, List<BatchRequest> requests, long inlineLimitBytes)
            throws GeminiException {
        String modelId = GeminiHttp.modelId(model);
        if (requests.isEmpty()) {
            throw new IllegalArgumentException("a batch job needs at least one request");
        }
        Set<String> keys = new HashSet<>();
        for (BatchRequest r : requests) {
            if (!keys.add(r.key())) {
                throw new IllegalArgumentException("two requests of one batch share the key '" + r.key()
                        + "': results are matched by key, so each must be unique");
            }
        }
        ObjectNode body = json.createObjectNode();
        ObjectNode batch = body.putObject("batch");
        batch.put("displayName", displayName);
        ObjectNode input = batch.putObject("inputConfig");
        ArrayNode inline = input.putObject("requests").putArray("requests");
        for (BatchRequest r : requests) {
            ObjectNode item = inline.addObject();
            item.set("request", r.request());
            item.putObject("metadata").put("key", r.key());
        }
        byte[] bytes = bytes(body);
        if (bytes.length > inlineLimitBytes) {
            input.removeAll();
            input.put("fileName", uploadJsonl(modelId, displayName, requests));
            bytes = bytes(body);
        }
        Request request = new Request.Builder()
                .url(baseUrl.newBuilder().addPathSegments("v1beta/models").addPathSegment(modelId + ":batchGenerateContent").build())
                .header(GeminiClient.API_KEY_HEADER, config.apiKey())
                .post(RequestBody.create(bytes, JSON_TYPE))
                .build();
        return job(parse(execute(request, modelId, "batchGenerateContent"), "batchGenerateContent"));
    }

    /** The job's state, counts and (once it succeeded) inline results or results file. */
    public BatchJob get(String name) throws GeminiException {
        Request request = new Request.Builder().url(batchUrl(name, "")).header(GeminiClient.API_KEY_HEADER, config.apiKey())
                .get().build();
        return job(parse(execute(request, name, "batches.get"), "batches.get"));
    }

    /** One page of this key's jobs, newest first; {@code pageToken} null for the first page, {@code pageSize} 0 for Google's default. */
    public BatchPage list(int pageSize, String pageToken) throws GeminiException {
        HttpUrl.Builder url = baseUrl.newBuilder().addPathSegments("v1beta/batches");
        if (pageSize > 0) {
            url.addQueryParameter("pageSize", Integer.toString(pageSize));
        }
        if (pageToken != null && !pageToken.isEmpty()) {
            url.addQueryParameter("pageToken", pageToken);
        }
        Request request = new Request.Builder().url(url.build()).header(GeminiClient.API_KEY_HEADER, config.apiKey()).get().build();
        JsonNode page = parse(execute(request, "batches", "batches.list"), "batches.list");
        List<BatchJob> jobs = new ArrayList<>();
        for (JsonNode op : page.path("operations")) {
            jobs.add(job(op));
        }
        return new BatchPage(jobs, page.path("nextPageToken").asText(""));
    }

    /** Asks Google to stop the job; it ends CANCELLED (a job that has already ended stays as it was). */
    public void cancel(String name) throws GeminiException {
        Request request = new Request.Builder().url(batchUrl(name, ":cancel")).header(GeminiClient.API_KEY_HEADER, config.apiKey())
                .post(RequestBody.create(new byte[0], JSON_TYPE)).build();
        execute(request, name, "batches.cancel");
    }

    /** Forgets the job. Deleting does not cancel: cancel first if it may still be running. */
    public void delete(String name) throws GeminiException {
        Request request = new Request.Builder().url(batchUrl(name, "")).header(GeminiClient.API_KEY_HEADER, config.apiKey())
                .delete().build();
        execute(request, name, "batches.delete");
    }

    /**
     * The result of every request of a succeeded job: its inline responses, or the lines of its
     * results file, downloaded. A request Google could not answer carries its own error.
     *
     * @throws IllegalStateException when the job has not succeeded (it has no results)
     */
    public List<BatchResult> results(BatchJob job) throws GeminiException {
        if (job.state() != BatchState.SUCCEEDED) {
            throw new IllegalStateException("batch job " + job.name() + " is " + job.state() + ", not SUCCEEDED: it has no results"
                    + (job.state().terminal() ? "; send its requests again" : " yet; get it again later"));
        }
        if (job.responsesFile() == null) {
            return job.inlineResults();
        }
        if (!FILE_NAME.matcher(job.responsesFile()).matches()) {
            throw new GeminiException(GeminiError.MALFORMED_RESPONSE, "batch job " + job.name() + " names its results file '"
                    + job.responsesFile() + "', which is not a File API name (files/...): get the job again");
        }
        Request request = new Request.Builder()
                .url(baseUrl.newBuilder().addPathSegments("download/v1beta").addPathSegments(job.responsesFile() + ":download")
                        .addQueryParameter("alt", "media").build())
                .header(GeminiClient.API_KEY_HEADER, config.apiKey())
                .get().build();
        byte[] file = execute(request, job.name(), "files.download");
        List<BatchResult> results = new ArrayList<>();
        int index = 0;
        for (String line : new String(file, StandardCharsets.UTF_8).split("\n")) {
            if (line.isBlank()) {
                continue;
            }
            JsonNode node;
            try {
                node = json.readTree(line);
            } catch (JsonProcessingException e) {
                node = null;
            }
            if (node == null || !node.isObject()) {
                results.add(new BatchResult(index, null, null, usage(null), new GeminiException(GeminiError.MALFORMED_RESPONSE,
                        "line " + (index + 1) + " of " + job.responsesFile() + " (batch job " + job.name()
                                + ") is not a JSON object: its request's result is lost; send it again")));
            } else {
                results.add(result(job.name(), index, node.hasNonNull("key") ? node.get("key").asText() : null, node));
            }
            index++;
        }
        return results;
    }

    @Override
    public void close() {
        http.dispatcher().executorService().shutdown();
        http.connectionPool().evictAll();
    }

    @Override
    public String toString() {
        return "GeminiBatchClient[baseUrl=" + baseUrl + "]";
    }

    // ---- parsing -------------------------------------------------------------------------------

    private BatchJob job(JsonNode op) throws GeminiException {
        String name = op.path("name").asText("");
        if (!BATCH_NAME.matcher(name).matches()) {
            throw new GeminiException(GeminiError.MALFORMED_RESPONSE, "Gemini answered a batch call without a batch name "
                    + "(batches/...): retry the read; after a create, list the jobs before creating again");
        }
        JsonNode meta = op.path("metadata");
        // A finished operation's result is in "response"; python-genai reads the same object from metadata.output.
        JsonNode output = op.path("response").isObject() ? op.path("response") : meta.path("output");
        JsonNode stats = meta.path("batchStats");
        List<BatchResult> inline = new ArrayList<>();
        int index = 0;
        for (JsonNode r : output.path("inlinedResponses").path("inlinedResponses")) {
            JsonNode key = r.path("metadata").path("key");
            inline.add(result(name, index++, key.isMissingNode() || key.isNull() ? null : key.asText(), r));
        }
        JsonNode error = op.path("error");
        return new BatchJob(name, meta.path("model").asText("").replaceFirst("^models/", ""), meta.path("displayName").asText(""),
                BatchState.parse(meta.path("state").asText(null)), instant(meta, "createTime"), instant(meta, "updateTime"),
                instant(meta, "endTime"),
                new BatchJob.Stats(stats.path("requestCount").asLong(0), stats.path("successfulRequestCount").asLong(0),
                        stats.path("failedRequestCount").asLong(0), stats.path("pendingRequestCount").asLong(0)),
                text(meta.path("inputConfig"), "fileName"), text(output, "responsesFile"), inline,
                error.isObject() ? new BatchJob.Failure(error.path("code").asInt(0), redactor.redact(error.path("message").asText("")))
                        : null);
    }

    /** An inlined response or a results-file line: {@code response} or {@code error} (a google.rpc.Status). */
    private BatchResult result(String job, int index, String key, JsonNode node) {
        JsonNode error = node.path("error");
        if (error.isObject()) {
            return new BatchResult(index, key, null, usage(null), requestError(job, index, key, error));
        }
        JsonNode response = node.path("response");
        if (!response.isObject()) {
            return new BatchResult(index, key, null, usage(null), new GeminiException(GeminiError.MALFORMED_RESPONSE,
                    "request " + describe(index, key) + " of batch job " + job + " came back with neither response nor error: send it again"));
        }
        return new BatchResult(index, key, response, usage(response.path("usageMetadata")), null);
    }

    /** Classifies a per-request google.rpc.Status by its canonical code, as the HTTP status classifies an interactive call. */
    private GeminiException requestError(String job, int index, String key, JsonNode status) {
        int code = status.path("code").asInt(2);
        GeminiError error = switch (code) {
            case 3, 9, 11 -> GeminiError.INVALID_REQUEST;      // INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE
            case 5 -> GeminiError.NOT_FOUND;
            case 7, 16 -> GeminiError.PERMISSION_DENIED;       // PERMISSION_DENIED, UNAUTHENTICATED
            case 8 -> GeminiError.RATE_LIMITED;                // RESOURCE_EXHAUSTED
            case 4 -> GeminiError.TIMEOUT;                     // DEADLINE_EXCEEDED
            case 14 -> GeminiError.OVERLOADED;                 // UNAVAILABLE
            default -> GeminiError.SERVER_ERROR;               // INTERNAL, UNKNOWN, ABORTED, ...
        };
        String advice = error.retryable() ? "send it again (in a new batch or interactively)" : "sending it again will not help";
        return new GeminiException(error, "request " + describe(index, key) + " of batch job " + job + " failed alone (code "
                + code + "): " + advice + " (Google said: " + redactor.redact(status.path("message").asText("")) + ")");
    }

    private static String describe(int index, String key) {
        return key == null ? "#" + index : "'" + key + "'";
    }

    private static Usage usage(JsonNode m) {
        if (m == null) {
            return new Usage(0, 0, 0, 0, 0);
        }
        return new Usage(m.path("promptTokenCount").asLong(0), m.path("candidatesTokenCount").asLong(0),
                m.path("thoughtsTokenCount").asLong(0), m.path("cachedContentTokenCount").asLong(0),
                m.path("totalTokenCount").asLong(0));
    }

    private static Instant instant(JsonNode node, String field) {
        String text = text(node, field);
        try {
            return text == null ? null : Instant.parse(text);
        } catch (DateTimeParseException e) {
            return null;
        }
    }

    private static String text(JsonNode node, String field) {
        JsonNode v = node.get(field);
        return v == null || v.isNull() || v.asText().isEmpty() ? null : v.asText();
    }

    // ---- File API ------------------------------------------------------------------------------

    /** The requests as JSONL, {@code {"key", "request"}} a line, uploaded in one resumable step; returns {@code files/...}. */
    private String uploadJsonl(String modelId, String displayName, List<BatchRequest> requests) throws GeminiException {
        ByteArrayOutputStream jsonl = new ByteArrayOutputStream();
        for (BatchRequest r : requests) {
            ObjectNode line = json.createObjectNode();
            line.put("key", r.key());
            line.set("request", r.request());
            jsonl.writeBytes(bytes(line));
            jsonl.write('\n');
        }
        byte[] content = jsonl.toByteArray();
        if (content.length > BatchQuotas.INPUT_FILE_BYTES) {
            throw new GeminiException(GeminiError.INVALID_REQUEST, "the batch's JSONL input is " + content.length
                    + " bytes, over Google's " + BatchQuotas.INPUT_FILE_BYTES + "-byte input file limit: split it into smaller jobs");
        }
        ObjectNode metadata = json.createObjectNode();
        metadata.putObject("file").put("displayName", displayName + ".jsonl");
        Request start = new Request.Builder()
                .url(baseUrl.newBuilder().addPathSegments("upload/v1beta/files").build())
                .header(GeminiClient.API_KEY_HEADER, config.apiKey())
                .header("X-Goog-Upload-Protocol", "resumable")
                .header("X-Goog-Upload-Command", "start")
                .header("X-Goog-Upload-Header-Content-Length", Long.toString(content.length))
                .header("X-Goog-Upload-Header-Content-Type", JSONL_TYPE.toString())
                .post(RequestBody.create(bytes(metadata), JSON_TYPE))
                .build();
        String location;
        try (Response started = call(start, modelId, "files.upload start")) {
            location = started.header("X-Goog-Upload-URL");
        }
        HttpUrl uploadUrl = location == null ? null : HttpUrl.parse(location);
        if (uploadUrl == null) {
            throw new GeminiException(GeminiError.MALFORMED_RESPONSE,
                    "the File API start answered without a usable X-Goog-Upload-URL header: retry");
        }
        Request.Builder finish = new Request.Builder()
                .url(uploadUrl)
                .header("X-Goog-Upload-Command", "upload, finalize")
                .header("X-Goog-Upload-Offset", "0")
                .post(RequestBody.create(content, JSONL_TYPE));
        if (uploadUrl.scheme().equals(baseUrl.scheme()) && uploadUrl.host().equals(baseUrl.host()) && uploadUrl.port() == baseUrl.port()) {
            finish.header(GeminiClient.API_KEY_HEADER, config.apiKey()); // the upload id authorises it; the key never leaves our origin
        }
        String name = parse(execute(finish.build(), modelId, "files.upload finalize"), "files.upload").path("file").path("name").asText("");
        if (!FILE_NAME.matcher(name).matches()) {
            throw new GeminiException(GeminiError.MALFORMED_RESPONSE, "the File API answered without a valid file name: retry");
        }
        return name;
    }

    // ---- HTTP ----------------------------------------------------------------------------------

    private HttpUrl batchUrl(String name, String suffix) throws GeminiException {
        if (name == null || !BATCH_NAME.matcher(name).matches()) {
            throw new GeminiException(GeminiError.INVALID_REQUEST, "'" + name + "' is not a batch job name (batches/...): "
                    + "use the name create returned");
        }
        return baseUrl.newBuilder().addPathSegment("v1beta").addPathSegment("batches")
                .addPathSegment(name.substring("batches/".length()) + suffix).build();
    }

    private byte[] execute(Request request, String subject, String what) throws GeminiException {
        try (Response response = call(request, subject, what)) {
            try {
                return response.body().bytes();
            } catch (IOException e) {
                throw transportFailure(e, subject, what, true);
            }
        }
    }

    /** A successful response (the caller closes it), or the failure classified. */
    private Response call(Request request, String subject, String what) throws GeminiException {
        long started = System.nanoTime();
        Response response;
        try {
            response = http.newCall(request).execute();
        } catch (IOException e) {
            throw transportFailure(e, subject, what, false);
        }
        log.debug("gemini {} {} -> HTTP {} in {} ms", what, subject, response.code(), (System.nanoTime() - started) / 1_000_000);
        if (response.isSuccessful()) {
            return response;
        }
        try (response) {
            if (response.isRedirect()) {
                throw new GeminiException(GeminiError.INVALID_REQUEST, "Gemini answered " + what + " with a redirect (HTTP "
                        + response.code() + "), which is not followed so the API key stays at GEMINI_BASE_URL (" + baseUrl
                        + "): point GEMINI_BASE_URL at the API itself");
            }
            byte[] body;
            try {
                body = response.body().bytes();
            } catch (IOException e) {
                throw transportFailure(e, subject, what, true);
            }
            throw explain(RpcStatus.parse(response.code(), body, json).toException(subject, redactor), subject, what);
        }
    }

    /** The interactive classification, with a message that speaks of batch jobs where it would mislead. */
    private static GeminiException explain(GeminiException e, String subject, String what) {
        if (what.equals("batchGenerateContent") && e.error() == GeminiError.RATE_LIMITED) {
            return new GeminiException(GeminiError.RATE_LIMITED, "Gemini refused a new batch job for model " + subject
                    + ": the project's batch quota is full (at most " + BatchQuotas.CONCURRENT_JOBS + " pending or running jobs, and a "
                    + "cap per model on the input tokens of all of them, e.g. 3,000,000 for gemini-2.5-flash on Tier 1): wait for a "
                    + "job to end, or send fewer requests per job; " + e.getMessage(), e.retryDelay().orElse(null),
                    e.quotaId().orElse(null), e);
        }
        if (e.error() == GeminiError.NOT_FOUND && subject.startsWith("batches/")) {
            return new GeminiException(GeminiError.NOT_FOUND, "batch job " + subject + " was not found: it was deleted, or "
                    + "belongs to another project's API key; " + e.getMessage(), e);
        }
        return e;
    }

    private GeminiException transportFailure(IOException e, String subject, String what, boolean headersReceived) {
        String cause = redactor.redact(e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage()));
        if (e instanceof InterruptedIOException) {
            return new GeminiException(GeminiError.TIMEOUT, "no complete answer from Gemini for " + what + " (" + subject
                    + ") within the timeouts (GEMINI_READ_TIMEOUT, GEMINI_CALL_TIMEOUT): retry (" + cause + ")", e);
        }
        if (headersReceived) {
            return new GeminiException(GeminiError.MALFORMED_RESPONSE, "Gemini's answer to " + what + " (" + subject
                    + ") broke off before its end: retry (" + cause + ")", e);
        }
        String advice = what.equals("batchGenerateContent")
                ? "list the jobs before creating again, since the job may have been created" : "retry";
        return new GeminiException(GeminiError.TIMEOUT, "the connection to Gemini at " + baseUrl + " failed for " + what + " ("
                + subject + "): " + advice + ", and check GEMINI_BASE_URL and the network if it persists (" + cause + ")", e);
    }

    private JsonNode parse(byte[] body, String what) throws GeminiException {
        try {
            JsonNode node = json.readTree(body);
            if (node == null || !node.isObject()) {
                throw new GeminiException(GeminiError.MALFORMED_RESPONSE, "Gemini's answer to " + what + " is not a JSON object: retry");
            }
            return node;
        } catch (IOException e) {
            throw new GeminiException(GeminiError.MALFORMED_RESPONSE, "Gemini's answer to " + what
                    + " is not valid JSON, probably truncated: retry");
        }
    }

    private byte[] bytes(JsonNode body) {
        try {
            return json.writeValueAsBytes(body);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise a Gemini batch request", e);
        }
    }

}
