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

  /**
   * Called once {@code outcome} is written or refused as stale: ends what the processor kept open
   * for it until then (its call's quota permit, {@link Outcome#call()}). Not called for an outcome
   * that could not be written (a stop with the database down): its permit lapses and counts the call.
   */
  default void written(Outcome outcome) {}
}
