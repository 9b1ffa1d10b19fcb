package io.batchpilot.simulator;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Gemini Batch Mode, as the simulator speaks it: {@code models/{model}:batchGenerateContent} (inline
 * requests or an uploaded JSONL file), {@code batches.get}, {@code batches.list}, {@code batches.cancel},
 * {@code batches.delete} and the results file's {@code :download?alt=media}. The shapes, read on
 * 2026-12-03:
 *
 * <ul>
 *   <li>Create: {@code POST v1beta/models/{model}:batchGenerateContent} with
 *       {@code {batch: {display_name, input_config: {requests: {requests: [{request, metadata: {key}}]}}}}}
 *       or {@code input_config: {file_name: "files/..."}}; the answer is a long-running operation named
 *       {@code batches/{id}} whose {@code metadata} is the batch ({@code @type ...v1main.GenerateContentBatch},
 *       model, displayName, inputConfig, createTime, updateTime, batchStats with int64 counts as strings,
 *       state, name). https://ai.google.dev/api/batch-api, https://ai.google.dev/gemini-api/docs/batch-api
 *       (REST examples), and a captured pending/succeeded pair in langchain4j's
 *       GoogleAiGeminiBatchChatModelTest (2025-12-03).</li>
 *   <li>States {@code BATCH_STATE_PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED, EXPIRED} in
 *       {@code metadata.state}; the SDKs rename them {@code JOB_STATE_*} (python-genai
 *       {@code _transformers.t_job_state}), which the guide's curl example compares against.</li>
 *   <li>Done: {@code done: true} and {@code response} ({@code @type ...GenerateContentBatchOutput})
 *       holding {@code inlinedResponses.inlinedResponses[{response | error, metadata}]} in request order,
 *       or {@code responsesFile: "files/batch-..."}; the same object is the batch's {@code metadata.output},
 *       which python-genai reads ({@code _BatchJob_from_mldev}). A failed job carries {@code error}.</li>
 *   <li>JSONL: input lines {@code {"key": ..., "request": {...}}}; results lines {@code {"key": ...,
 *       "response": {...}}} or {@code {"key": ..., "error": {...}}}, downloaded from
 *       {@code GET download/v1beta/files/{id}:download?alt=media}.</li>
 *   <li>List: {@code GET v1beta/batches?pageSize&pageToken} answers {@code {operations, nextPageToken}}
 *       (python-genai {@code _ListBatchJobsResponse_from_mldev}); cancel is {@code POST batches/{id}:cancel},
 *       delete is {@code DELETE batches/{id}}, both answering {@code {}}.</li>
 *   <li>Limits (https://ai.google.dev/gemini-api/docs/rate-limits, "Batch API rate limits"): 100 concurrent
 *       batch requests, input file 2 GB, file storage 20 GB, and per-model "batch enqueued tokens" over all
 *       active jobs (Tier 1: gemini-2.5-flash 3,000,000, gemini-2.5-pro 5,000,000, flash-lite 10,000,000).
 *       Over a limit, create answers 429 RESOURCE_EXHAUSTED with only the Help detail (as captured from
 *       Google in langchain4j PR #3942's CI log, 2026-01-12): no QuotaFailure, no RetryInfo.</li>
 * </ul>
 *
 * <p>Google documents neither the body of a cancelled or expired operation nor list's page size; here
 * a cancelled job carries {@code error {code: 1}}, an expired one {@code error {code: 4}}, neither has
 * output, and a page holds 50 jobs unless asked (at most 1000), newest first. A deleted job that was
 * still running keeps its quota until it would have ended: deleting an operation does not cancel it.
 */
public final class SimulatedBatches {

    static final String BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch";
    static final String OUTPUT_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput";
    /** Google refuses request bodies over 20 MiB ("Request payload size exceeds the limit: 20971520 bytes."). */
    static final int MAX_INLINE_REQUEST_BYTES = 20 * 1024 * 1024;
    static final int DEFAULT_PAGE_SIZE = 50;
    static final int MAX_PAGE_SIZE = 1000;

    private static final Pattern BATCH_PATH = Pattern.compile("^/v1beta/batches/([a-z0-9]+)(:cancel)?$");
    private static final Pattern DOWNLOAD_PATH = Pattern.compile("^(?:/download)?/v1beta/files/([A-Za-z0-9-]+):download$");
    private static final Pattern FILE_NAME = Pattern.compile("^files/([A-Za-z0-9-]+)$");
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What the batches need from the simulator: its answers and its uploaded files. */
    interface Backend {
        /** Input tokens of a GenerateContentRequest, or why Google would refuse it. */
        long inputTokens(JsonNode request) throws GeminiSimulator.RequestRejected;

        /** The generateContent response to a request, as an interactive call would get it. */
        ObjectNode answer(String model, JsonNode request, Random random) throws GeminiSimulator.RequestRejected;

        Optional<byte[]> uploadedFile(String id);
    }

    /** An answer for the simulator to log and send: JSON or file bytes. */
    record Reply(int status, byte[] body, String contentType, String model, long tokens, String outcome) {
        static Reply json(int status, ObjectNode body, String model, long tokens, String outcome) {
            try {
                return new Reply(status, JSON.writeValueAsBytes(body), "application/json; charset=UTF-8", model, tokens, outcome);
            } catch (JsonProcessingException e) {
                throw new IllegalStateException("cannot serialise a batch reply", e);
            }
        }
    }

    /** A job as a test or benchmark sees it. */
    public record Snapshot(String name, String keyFingerprint, String model, String state, int requests, long enqueuedTokens,
                           boolean fileInput, boolean deleted) {
    }

    private enum Ending { SUCCEEDED, FAILED, EXPIRED }

    /** One request of a job: its key or metadata, its input, and (once materialised) its answer or error. */
    private static final class Item {
        final JsonNode metadata;   // inline input: echoed in the inlined response
        final String key;          // file input: the line's key
        final JsonNode request;
        ObjectNode error;          // a google.rpc.Status
        ObjectNode response;

        Item(JsonNode metadata, String key, JsonNode request, ObjectNode error) {
            this.metadata = metadata;
            this.key = key;
            this.request = request;
            this.error = error;
        }
    }

    private static final class Job {
        final long sequence;
        final String id;
        final String fingerprint;
        final String model;
        final String displayName;
        final String inputFile;    // "files/..." or null for inline requests
        final Instant created;
        final List<Item> items;
        final long tokens;
        final Ending ending;
        final long answerSeed;
        Instant cancelled;
        boolean deleted;
        boolean materialised;
        String resultsFileId;

        Job(long sequence, String id, String fingerprint, String model, String displayName, String inputFile, Instant created,
            List<Item> items, long tokens, Ending ending, long answerSeed) {
            this.sequence = sequence;
            this.id = id;
            this.fingerprint = fingerprint;
            this.model = model;
            this.displayName = displayName;
            this.inputFile = inputFile;
            this.created = created;
            this.items = items;
            this.tokens = tokens;
            this.ending = ending;
            this.answerSeed = answerSeed;
        }

        String name() {
            return "batches/" + id;
        }
    }

    private record ResultsFile(String id, String displayName, byte[] bytes, Instant created) {
    }

    private final BatchConfig config;
    private final long seed;
    private final Clock clock;
    private final Backend backend;
    private final String baseUrl;
    private final Map<String, Job> jobs = new LinkedHashMap<>();
    private final Map<String, ResultsFile> resultsFiles = new LinkedHashMap<>();
    private long sequence;

    SimulatedBatches(BatchConfig config, long seed, Clock clock, Backend backend, String baseUrl) {
        this.config = config;
        this.seed = seed;
        this.clock = clock;
        this.backend = backend;
        this.baseUrl = baseUrl;
    }

    /** The log's method name for a batch route, if this is one. */
    static Optional<String> method(String httpMethod, String path) {
        Matcher b = BATCH_PATH.matcher(path);
        if (b.matches()) {
            if (b.group(2) != null) {
                return Optional.of("POST".equals(httpMethod) ? "cancelBatch" : "unknown");
            }
            return Optional.of(switch (httpMethod) {
                case "GET" -> "getBatch";
                case "DELETE" -> "deleteBatch";
                default -> "unknown";
            });
        }
        if (path.equals("/v1beta/batches") && "GET".equals(httpMethod)) {
            return Optional.of("listBatches");
        }
        if (DOWNLOAD_PATH.matcher(path).matches() && "GET".equals(httpMethod)) {
            return Optional.of("downloadFile");
        }
        return Optional.empty();
    }

    /** Every job so far, deleted ones included, in creation order. */
    public synchronized List<Snapshot> jobs() {
        Instant now = clock.instant();
        return jobs.values().stream().map(j -> new Snapshot(j.name(), j.fingerprint, j.model, state(j, now), j.items.size(),
                j.tokens, j.inputFile != null, j.deleted)).toList();
    }

    // ---- routes --------------------------------------------------------------------------------

    /** {@code models/{model}:batchGenerateContent}. */
    synchronized Reply create(String fingerprint, String model, JsonNode body, int bodyBytes) throws GeminiSimulator.RequestRejected {
        if (bodyBytes > MAX_INLINE_REQUEST_BYTES) {
            throw invalid("Request payload size exceeds the limit: " + MAX_INLINE_REQUEST_BYTES + " bytes.");
        }
        JsonNode batch = GeminiSimulator.field(body, "batch");
        String displayName = GeminiSimulator.field(batch, "displayName").asText("");
        if (displayName.isBlank()) {
            throw invalid("* GenerateContentBatch.display_name: display_name is required\n");
        }
        JsonNode input = GeminiSimulator.field(batch, "inputConfig");
        JsonNode inline = GeminiSimulator.field(GeminiSimulator.field(input, "requests"), "requests");
        String fileName = GeminiSimulator.field(input, "fileName").asText("");
        if (inline.isMissingNode() == fileName.isEmpty()) {
            throw invalid("* GenerateContentBatch.input_config: exactly one of requests and file_name must be given\n");
        }
        List<Item> items = inline.isMissingNode() ? fileItems(fileName) : inlineItems(inline);
        if (items.isEmpty()) {
            throw invalid("* GenerateContentBatch.input_config: the batch holds no requests\n");
        }

        long seq = sequence++;
        Random draws = FaultPlan.randomFor(seed ^ 0x5DEECE66DL, seq);
        long tokens = 0;
        for (Item item : items) {
            double u = draws.nextDouble();
            if (item.error != null) {
                continue;
            }
            try {
                tokens += backend.inputTokens(item.request);
            } catch (GeminiSimulator.RequestRejected r) {
                item.error = status(r);
                continue;
            }
            if (u < config.requestErrorRate()) {
                item.error = rpcStatus(13, "Internal error encountered.");
            }
        }

        Instant now = clock.instant();
        long active = jobs.values().stream().filter(j -> j.fingerprint.equals(fingerprint) && active(j, now)).count();
        long enqueued = jobs.values().stream().filter(j -> j.fingerprint.equals(fingerprint) && j.model.equals(model)
                && active(j, now)).mapToLong(j -> j.tokens).sum();
        long tokenLimit = config.enqueuedTokensFor(model);
        if (config.maxConcurrentJobs() > 0 && active >= config.maxConcurrentJobs()) {
            sequence--; // a refused create leaves no trace in the ids that follow
            return Reply.json(429, ErrorBodies.batchQuotaExceeded(), model, tokens, "batch_concurrent_jobs_exceeded");
        }
        if (tokenLimit > 0 && enqueued + tokens > tokenLimit) {
            sequence--;
            return Reply.json(429, ErrorBodies.batchQuotaExceeded(), model, tokens, "batch_enqueued_tokens_exceeded");
        }

        double u = draws.nextDouble();
        Ending ending = u < config.jobFailureRate() ? Ending.FAILED
                : u < config.jobFailureRate() + config.jobExpiryRate() ? Ending.EXPIRED : Ending.SUCCEEDED;
        Job job = new Job(seq, batchId(draws), fingerprint, model, displayName, inline.isMissingNode() ? fileName : null, now,
                items, tokens, ending, draws.nextLong());
        jobs.put(job.id, job);
        return Reply.json(200, operation(job, now), model, tokens, "ok");
    }

    /** GET, list, cancel, delete and the results file's download. */
    synchronized Reply handle(String fingerprint, String method, String path, Map<String, String> query)
            throws GeminiSimulator.RequestRejected {
        Instant now = clock.instant();
        if (method.equals("listBatches")) {
            return list(fingerprint, query, now);
        }
        if (method.equals("downloadFile")) {
            Matcher m = DOWNLOAD_PATH.matcher(path);
            m.matches();
            ResultsFile f = resultsFiles.get(m.group(1));
            if (f == null) {
                throw new GeminiSimulator.RequestRejected(403, ErrorBodies.fileNotAccessible(m.group(1)), "not_found");
            }
            if (!"media".equals(query.get("alt"))) {
                throw invalid("Downloading a file needs ?alt=media");
            }
            return new Reply(200, f.bytes(), "application/jsonl", "", 0, "ok");
        }
        Matcher m = BATCH_PATH.matcher(path);
        if (!m.matches() || method.equals("unknown")) {
            throw new GeminiSimulator.RequestRejected(404, ErrorBodies.notFound(path), "not_found");
        }
        Job job = jobs.get(m.group(1));
        if (job == null || job.deleted || !job.fingerprint.equals(fingerprint)) {
            throw new GeminiSimulator.RequestRejected(404, ErrorBodies.notFound("batches/" + m.group(1)), "not_found");
        }
        switch (method) {
            case "getBatch" -> {
                return Reply.json(200, operation(job, now), job.model, 0, "ok");
            }
            case "cancelBatch" -> {
                // Cancelling a finished job changes nothing (Google does not say; idempotent is the safe guess).
                if (active(job, now)) {
                    job.cancelled = now;
                }
                return Reply.json(200, JsonNodeFactory.instance.objectNode(), job.model, 0, "ok");
            }
            case "deleteBatch" -> {
                job.deleted = true;
                return Reply.json(200, JsonNodeFactory.instance.objectNode(), job.model, 0, "ok");
            }
            default -> throw new GeminiSimulator.RequestRejected(404, ErrorBodies.notFound(path), "not_found");
        }
    }

    /** The File API's metadata for a results file ({@code GET v1beta/files/batch-...}), if it is one. */
    synchronized Optional<ObjectNode> resultsFileJson(String id) {
        ResultsFile f = resultsFiles.get(id);
        if (f == null) {
            return Optional.empty();
        }
        ObjectNode n = JsonNodeFactory.instance.objectNode();
        n.put("name", "files/" + f.id());
        n.put("displayName", f.displayName());
        n.put("mimeType", "application/jsonl");
        n.put("sizeBytes", Long.toString(f.bytes().length));
        n.put("createTime", f.created().toString());
        n.put("updateTime", f.created().toString());
        n.put("expirationTime", f.created().plus(Duration.ofHours(48)).toString());
        n.put("uri", baseUrl + "/v1beta/files/" + f.id());
        n.put("downloadUri", baseUrl + "/download/v1beta/files/" + f.id() + ":download?alt=media");
        n.put("state", "ACTIVE");
        n.put("source", "GENERATED");
        return Optional.of(n);
    }

    private Reply list(String fingerprint, Map<String, String> query, Instant now) throws GeminiSimulator.RequestRejected {
        int pageSize = DEFAULT_PAGE_SIZE;
        if (query.containsKey("pageSize")) {
            try {
                pageSize = Integer.parseInt(query.get("pageSize"));
            } catch (NumberFormatException e) {
                throw invalid("Invalid value at 'page_size' (TYPE_INT32), \"" + query.get("pageSize") + "\"");
            }
            pageSize = pageSize <= 0 ? DEFAULT_PAGE_SIZE : Math.min(pageSize, MAX_PAGE_SIZE);
        }
        long before = Long.MAX_VALUE;
        String token = query.getOrDefault("pageToken", "");
        if (!token.isEmpty()) {
            try {
                String decoded = new String(Base64.getUrlDecoder().decode(token), StandardCharsets.US_ASCII);
                before = Long.parseLong(decoded.substring(decoded.indexOf(':') + 1));
            } catch (IllegalArgumentException | IndexOutOfBoundsException e) {
                throw invalid("Invalid page token.");
            }
        }
        long cursor = before;
        List<Job> mine = jobs.values().stream().filter(j -> j.fingerprint.equals(fingerprint) && !j.deleted
                && j.sequence < cursor).sorted(Comparator.comparingLong((Job j) -> j.sequence).reversed()).toList();
        ObjectNode response = JsonNodeFactory.instance.objectNode();
        ArrayNode operations = response.putArray("operations");
        List<Job> page = mine.subList(0, Math.min(pageSize, mine.size()));
        for (Job j : page) {
            operations.add(operation(j, now));
        }
        if (mine.size() > page.size()) {
            String next = "before:" + page.get(page.size() - 1).sequence;
            response.put("nextPageToken", Base64.getUrlEncoder().withoutPadding().encodeToString(next.getBytes(StandardCharsets.US_ASCII)));
        }
        if (operations.isEmpty()) {
            response.remove("operations"); // proto3 JSON omits an empty repeated field
        }
        return Reply.json(200, response, "", 0, "ok");
    }

    // ---- input ---------------------------------------------------------------------------------

    private static List<Item> inlineItems(JsonNode requests) throws GeminiSimulator.RequestRejected {
        if (!requests.isArray()) {
            throw invalid("* GenerateContentBatch.input_config.requests.requests: must be a list\n");
        }
        List<Item> items = new ArrayList<>();
        for (JsonNode r : requests) {
            JsonNode metadata = GeminiSimulator.field(r, "metadata");
            items.add(new Item(metadata.isMissingNode() ? null : metadata, null, GeminiSimulator.field(r, "request"), null));
        }
        return items;
    }

    /** One item per non-blank line; a line that is not a request becomes that request's error, as Google reports it per line. */
    private List<Item> fileItems(String fileName) throws GeminiSimulator.RequestRejected {
        Matcher m = FILE_NAME.matcher(fileName);
        Optional<byte[]> bytes = m.matches() ? backend.uploadedFile(m.group(1)) : Optional.empty();
        if (bytes.isEmpty()) {
            throw new GeminiSimulator.RequestRejected(403, ErrorBodies.fileNotAccessible(fileName), "not_found");
        }
        List<Item> items = new ArrayList<>();
        for (String line : new String(bytes.get(), StandardCharsets.UTF_8).split("\n")) {
            if (line.isBlank()) {
                continue;
            }
            JsonNode node;
            try {
                node = JSON.readTree(line);
            } catch (JsonProcessingException e) {
                items.add(new Item(null, null, null, rpcStatus(3, "Invalid JSON in the input file: " + e.getOriginalMessage())));
                continue;
            }
            if (node == null || !node.isObject()) {
                items.add(new Item(null, null, null, rpcStatus(3, "Each line of the input file must be a JSON object.")));
                continue;
            }
            JsonNode key = node.path("key");
            // A line is {"key", "request"}, or a bare GenerateContentRequest (the guide's curl example writes those).
            JsonNode request = node.has("request") ? node.get("request") : node;
            items.add(new Item(null, key.isMissingNode() ? null : key.asText(), request, null));
        }
        return items;
    }

    // ---- state ---------------------------------------------------------------------------------

    private Instant runningAt(Job j) {
        return j.created.plus(config.pendingDelay());
    }

    private Instant expiresAt(Job j) {
        return j.created.plus(config.expireAfter());
    }

    /** When the job would end of itself: done, failed halfway, or expired. */
    private Instant plannedEnd(Job j) {
        Instant finish = runningAt(j).plus(j.ending == Ending.FAILED ? config.runningDelay().dividedBy(2) : config.runningDelay());
        return j.ending == Ending.EXPIRED || finish.isAfter(expiresAt(j)) ? expiresAt(j) : finish;
    }

    private Ending plannedEnding(Job j) {
        Instant finish = runningAt(j).plus(config.runningDelay());
        return j.ending == Ending.SUCCEEDED && finish.isAfter(expiresAt(j)) ? Ending.EXPIRED : j.ending;
    }

    private boolean active(Job j, Instant now) {
        return j.cancelled == null && now.isBefore(plannedEnd(j));
    }

    private String state(Job j, Instant now) {
        if (j.cancelled != null) {
            return "BATCH_STATE_CANCELLED";
        }
        if (!now.isBefore(plannedEnd(j))) {
            return "BATCH_STATE_" + plannedEnding(j).name();
        }
        boolean neverRuns = j.ending == Ending.EXPIRED;
        return neverRuns || now.isBefore(runningAt(j)) ? "BATCH_STATE_PENDING" : "BATCH_STATE_RUNNING";
    }

    /** Requests finished by {@code t}: in order, evenly over the running time; a job Google never got to finishes none. */
    private int processed(Job j, Instant t) {
        if (j.ending == Ending.EXPIRED) {
            return 0;
        }
        Instant end = j.cancelled != null && j.cancelled.isBefore(plannedEnd(j)) ? j.cancelled : plannedEnd(j);
        Instant at = t.isAfter(end) ? end : t;
        if (j.cancelled == null && !at.isBefore(plannedEnd(j)) && plannedEnding(j) == Ending.SUCCEEDED) {
            return j.items.size();
        }
        long running = config.runningDelay().toNanos();
        long elapsed = Duration.between(runningAt(j), at).toNanos();
        if (elapsed <= 0 || running == 0) {
            return 0;
        }
        return (int) Math.min(j.items.size(), (long) ((double) j.items.size() * elapsed / running));
    }

    // ---- bodies --------------------------------------------------------------------------------

    private ObjectNode operation(Job j, Instant now) {
        String state = state(j, now);
        boolean done = !state.equals("BATCH_STATE_PENDING") && !state.equals("BATCH_STATE_RUNNING");
        Instant end = j.cancelled != null ? j.cancelled : plannedEnd(j);

        ObjectNode op = JsonNodeFactory.instance.objectNode();
        op.put("name", j.name());
        ObjectNode meta = op.putObject("metadata");
        meta.put("@type", BATCH_TYPE);
        meta.put("model", "models/" + j.model);
        meta.put("displayName", j.displayName);
        if (j.inputFile != null) {
            meta.putObject("inputConfig").put("fileName", j.inputFile);
        }
        ObjectNode output = state.equals("BATCH_STATE_SUCCEEDED") ? output(j, end) : null;
        if (output != null) {
            meta.set("output", output.deepCopy());
        }
        meta.put("createTime", j.created.toString());
        if (done) {
            meta.put("endTime", end.toString());
        }
        Instant updated = done ? end : now.isBefore(runningAt(j)) || j.ending == Ending.EXPIRED ? j.created : runningAt(j);
        meta.put("updateTime", updated.toString());
        ObjectNode stats = meta.putObject("batchStats");
        int processed = processed(j, now);
        long failed = j.items.subList(0, processed).stream().filter(i -> i.error != null).count();
        putCount(stats, "requestCount", j.items.size());
        putCount(stats, "successfulRequestCount", processed - failed);
        putCount(stats, "failedRequestCount", failed);
        putCount(stats, "pendingRequestCount", j.items.size() - processed);
        meta.put("state", state);
        meta.put("name", j.name());
        if (done) {
            op.put("done", true);
        }
        switch (state) {
            case "BATCH_STATE_SUCCEEDED" -> {
                ObjectNode response = op.putObject("response");
                response.put("@type", OUTPUT_TYPE);
                response.setAll(output);
            }
            case "BATCH_STATE_FAILED" -> op.set("error", rpcStatus(13, "Batch processing failed: an internal error occurred."));
            case "BATCH_STATE_EXPIRED" -> op.set("error", rpcStatus(4, "The batch expired: it did not finish within "
                    + config.expireAfter().toHours() + " hours of its creation."));
            case "BATCH_STATE_CANCELLED" -> op.set("error", rpcStatus(1, "The batch was cancelled."));
            default -> {
                // pending or running: no result yet
            }
        }
        return op;
    }

    /** The output of a succeeded job: inline responses for inline input, a results file for file input. */
    private ObjectNode output(Job j, Instant end) {
        materialise(j);
        ObjectNode output = JsonNodeFactory.instance.objectNode();
        if (j.inputFile == null) {
            ArrayNode list = output.putObject("inlinedResponses").putArray("inlinedResponses");
            for (Item item : j.items) {
                ObjectNode r = list.addObject();
                if (item.error != null) {
                    r.set("error", item.error);
                } else {
                    r.set("response", item.response);
                }
                if (item.metadata != null) {
                    r.set("metadata", item.metadata);
                }
            }
            return output;
        }
        if (j.resultsFileId == null) {
            StringBuilder jsonl = new StringBuilder();
            for (Item item : j.items) {
                ObjectNode line = JsonNodeFactory.instance.objectNode();
                if (item.key != null) {
                    line.put("key", item.key);
                }
                line.set(item.error != null ? "error" : "response", item.error != null ? item.error : item.response);
                jsonl.append(line).append('\n');
            }
            j.resultsFileId = "batch-" + j.id;
            resultsFiles.put(j.resultsFileId, new ResultsFile(j.resultsFileId, "responses of " + j.name(),
                    jsonl.toString().getBytes(StandardCharsets.UTF_8), end));
        }
        output.put("responsesFile", "files/" + j.resultsFileId);
        return output;
    }

    /** Computes the answers once, when the job is first seen done: the same (seed, job, request) always answers alike. */
    private void materialise(Job j) {
        if (j.materialised) {
            return;
        }
        for (int i = 0; i < j.items.size(); i++) {
            Item item = j.items.get(i);
            if (item.error != null) {
                continue;
            }
            try {
                item.response = backend.answer(j.model, item.request, FaultPlan.randomFor(j.answerSeed, i));
            } catch (GeminiSimulator.RequestRejected r) {
                item.error = status(r);
            }
        }
        j.materialised = true;
    }

    private static void putCount(ObjectNode stats, String name, long count) {
        if (count != 0) {
            stats.put(name, Long.toString(count)); // int64 travels as a string; zero is omitted
        }
    }

    private static String batchId(Random r) {
        String alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
        StringBuilder sb = new StringBuilder(36);
        for (int i = 0; i < 36; i++) {
            sb.append(alphabet.charAt(r.nextInt(alphabet.length())));
        }
        return sb.toString();
    }

    /** A google.rpc.Status: the canonical (gRPC) code, not the HTTP one. */
    static ObjectNode rpcStatus(int code, String message) {
        ObjectNode n = JsonNodeFactory.instance.objectNode();
        n.put("code", code);
        n.put("message", message);
        return n;
    }

    /** A refusal the interactive API would answer with HTTP status, as the google.rpc.Status a batch reports per request. */
    private static ObjectNode status(GeminiSimulator.RequestRejected r) {
        JsonNode error = r.body.path("error");
        int code = switch (error.path("status").asText("")) {
            case "INVALID_ARGUMENT" -> 3;
            case "NOT_FOUND" -> 5;
            case "PERMISSION_DENIED" -> 7;
            case "RESOURCE_EXHAUSTED" -> 8;
            case "UNAVAILABLE" -> 14;
            default -> 13;
        };
        return rpcStatus(code, error.path("message").asText(""));
    }

    private static GeminiSimulator.RequestRejected invalid(String message) {
        return new GeminiSimulator.RequestRejected(400, ErrorBodies.invalidArgument(message), "invalid_request");
    }
}
