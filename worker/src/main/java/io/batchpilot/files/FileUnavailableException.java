package io.batchpilot.files;

/**
 * The bytes of a file could not be fetched. A missing object or a refused location is permanent;
 * a server error or a timeout may pass, so {@link #retryable()} says whether to try again.
 */
public final class FileUnavailableException extends Exception {

  /** The {@code batch_upload_files.error_type} for this failure. */
  public static final String ERROR_TYPE = "file_unavailable";

  private final boolean retryable;

  public FileUnavailableException(String message, boolean retryable) {
    super(message);
    this.retryable = retryable;
  }

  public FileUnavailableException(String message, boolean retryable, Throwable cause) {
    super(message, cause);
    this.retryable = retryable;
  }

  public boolean retryable() {
    return retryable;
  }

  public String errorType() {
    return ERROR_TYPE;
  }
}
