package io.batchpilot.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchpilot.session.BatchJobStatus;
import io.batchpilot.session.FileStatus;
import io.batchpilot.session.Progress;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.time.OffsetDateTime;
import java.util.List;

/**
 * What {@code --json} prints: one JSON object on one line of stdout, field names in snake_case as
 * the tables name them. Built on first use: picocli builds every command at startup, and a worker
 * should not wait for Jackson there.
 */
final class JsonOutput {

  static final ObjectMapper MAPPER = new ObjectMapper();

  private JsonOutput() {}

  static ObjectNode object() {
    return MAPPER.createObjectNode();
  }

  static void print(PrintWriter out, ObjectNode node) {
    try {
      out.println(MAPPER.writeValueAsString(node));
    } catch (JsonProcessingException e) {
      throw new UncheckedIOException(e);
    }
    out.flush();
  }

  /** A session as {@code status --json} shows it; {@code files} null leaves the list out. */
  static ObjectNode session(Progress p, List<FileStatus> files) {
    ObjectNode node = object();
    node.put("id", p.sessionId().toString());
    node.put("name", p.name());
    node.put("status", p.status());
    node.put("created_at", text(p.createdAt()));
    node.put("started_at", text(p.startedAt()));
    node.put("completed_at", text(p.completedAt()));
    node.put("estimated_completion_at", text(p.estimatedCompletionAt()));
    node.put("delivery", p.delivery().sqlName());
    node.put("interactive_fallback", p.interactiveFallback());
    node.put("total_files", p.totalFiles());
    node.put("files_completed", p.completed());
    node.put("files_failed", p.failed());
    node.put("files_skipped", p.skipped());
    node.put("files_pending", p.pending());
    node.put("files_processing", p.processing());
    node.put("api_calls", p.apiCalls());
    node.put("rate_limit_hits", p.rateLimitHits());
    node.put("tokens_used", p.tokensUsed());
    node.put("thinking_tokens", p.thinkingTokens());
    node.put("error_message", p.errorMessage());
    if (files != null) {
      ArrayNode list = node.putArray("files");
      for (FileStatus f : files) {
        list.addObject()
            .put("filename", f.filename())
            .put("status", f.status())
            .put("attempts", f.attempts())
            .put("error_type", f.errorType())
            .put("error_message", f.errorMessage());
      }
    }
    return node;
  }

  /** A session's batch jobs as {@code batchpilot_session_batch_jobs} names their columns, newest first. */
  static void batchJobs(ObjectNode session, List<BatchJobStatus> jobs) {
    ArrayNode list = session.putArray("batch_jobs");
    for (BatchJobStatus j : jobs) {
      list.addObject()
          .put("job_id", j.jobId().toString())
          .put("name", j.name())
          .put("model", j.model())
          .put("state", j.state().sqlName())
          .put("files", j.files())
          .put("files_at_google", j.filesAtGoogle())
          .put("created_at", text(j.createdAt()))
          .put("submitted_at", text(j.submittedAt()))
          .put("ended_at", text(j.endedAt()))
          .put("due_by", text(j.dueBy()))
          .put("error_message", j.errorMessage());
    }
  }

  private static String text(OffsetDateTime at) {
    return at == null ? null : at.toInstant().toString();
  }
}
