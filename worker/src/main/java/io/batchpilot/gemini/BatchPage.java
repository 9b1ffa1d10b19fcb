package io.batchpilot.gemini;

import java.util.List;
import java.util.Optional;

/** One page of {@code batches.list}; the next page is asked with {@link #nextPageToken()}. */
public record BatchPage(List<BatchJob> jobs, String nextPageToken) {
    public BatchPage {
        jobs = List.copyOf(jobs);
    }

    public Optional<String> next() {
        return nextPageToken == null || nextPageToken.isEmpty() ? Optional.empty() : Optional.of(nextPageToken);
    }
}
