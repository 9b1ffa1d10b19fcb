package io.batchpilot.gemini;

import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * A Gemini batch job as {@code batches.get} last described it (the long-running operation and its
 * {@code GenerateContentBatch} metadata).
 *
 * @param name            {@code batches/{id}}: what get, cancel and delete take
 * @param model           model id without the {@code models/} prefix
 * @param endTime         null until the job has ended
 * @param inputFile       {@code files/...} when the requests went as an uploaded JSONL file, else null
 * @param responsesFile   {@code files/...} holding the results of a succeeded file-input job, else null
 * @param inlineResults   the results of a succeeded inline job, in request order; empty otherwise
 * @param error           why a failed, expired or cancelled job ended (Google's google.rpc.Status), else null
 */
public record BatchJob(
        String name,
        String model,
        String displayName,
        BatchState state,
        Instant createTime,
        Instant updateTime,
        Instant endTime,
        Stats stats,
        String inputFile,
        String responsesFile,
        List<BatchResult> inlineResults,
        Failure error) {

    /** {@code batchStats}: how many requests, and how many are done or still waiting. */
    public record Stats(long requests, long successful, long failed, long pending) {
    }

    /** The operation's {@code error}: a canonical (gRPC) code and Google's message. */
    public record Failure(int code, String message) {
    }

    public BatchJob {
        inlineResults = List.copyOf(inlineResults);
    }

    public Optional<Failure> failure() {
        return Optional.ofNullable(error);
    }
}
