package io.batchpilot.pipeline;

import io.batchpilot.limiter.Permit;
import java.util.Objects;

/**
 * The quota permit a Gemini call was granted, and what to end it with once the call's outcome is
 * written ({@link GatedCall#end}): ended only then, so a worker killed in between never loses the
 * call from its session's count nor counts it twice.
 *
 * @param actualInputTokens the response's prompt tokens; null ends it without a count (a failed call,
 *                          or an answer that reports no usage)
 */
public record CallPermit(Permit permit, Long actualInputTokens) {
  public CallPermit {
    Objects.requireNonNull(permit, "permit");
  }
}
