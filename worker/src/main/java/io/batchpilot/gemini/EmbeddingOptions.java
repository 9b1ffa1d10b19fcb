package io.batchpilot.gemini;

import java.util.Objects;

/**
 * How to embed: the task the vectors serve and, optionally, a smaller output size.
 *
 * @param taskType              sent as {@code taskType}
 * @param outputDimensionality  sent as {@code outputDimensionality}; null for the model's default
 */
public record EmbeddingOptions(TaskType taskType, Integer outputDimensionality) {

    /** Google's {@code TaskType} values. */
    public enum TaskType {
        TASK_TYPE_UNSPECIFIED, RETRIEVAL_QUERY, RETRIEVAL_DOCUMENT, SEMANTIC_SIMILARITY, CLASSIFICATION,
        CLUSTERING, QUESTION_ANSWERING, FACT_VERIFICATION, CODE_RETRIEVAL_QUERY
    }

    public EmbeddingOptions {
        Objects.requireNonNull(taskType, "taskType");
        if (outputDimensionality != null && outputDimensionality <= 0) {
            throw new IllegalArgumentException(
                    "outputDimensionality is " + outputDimensionality + ": give a positive size or null for the model's default");
        }
    }

    /** Receipts stored for search: RETRIEVAL_DOCUMENT at the model's default size. */
    public static EmbeddingOptions forDocuments() {
        return new EmbeddingOptions(TaskType.RETRIEVAL_DOCUMENT, null);
    }
}
