package io.batchpilot.session;

/** One file of a session as {@code batchpilot status --files} shows it. */
public record FileStatus(String filename, String status, int attempts, String errorType, String errorMessage) {}
