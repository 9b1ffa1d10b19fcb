package io.batchpilot.files;

/**
 * A file that must not be sent to Gemini: empty, too large, not what it claims to be, of an
 * unsupported type, or corrupt. Never retryable; the message says what is wrong and what to do.
 */
public final class InvalidFileException extends Exception {

  /** The {@code batch_upload_files.error_type} for this failure. */
  public static final String ERROR_TYPE = "invalid_file";

  public InvalidFileException(String message) {
    super(message);
  }

  public InvalidFileException(String message, Throwable cause) {
    super(message, cause);
  }

  public String errorType() {
    return ERROR_TYPE;
  }
}
