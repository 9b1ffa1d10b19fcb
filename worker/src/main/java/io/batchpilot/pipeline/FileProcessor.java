package io.batchpilot.pipeline;

/**
 * What the worker does with one claimed file, from its bytes to an {@link Outcome}. It never
 * writes the file's row: the completer does, once, for the claim.
 */
@FunctionalInterface
public interface FileProcessor {

  /**
   * Processes {@code file}. Throws InterruptedException when the worker shuts down before the file
   * was sent anywhere, so that its lease is released instead of counted as an attempt.
   */
  Outcome process(ClaimedFile file) throws InterruptedException;
}
