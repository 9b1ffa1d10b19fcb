package io.batchpilot.db;

/** The database answers but has no batchpilot schema: the fix is to migrate it. */
public final class SchemaMissingException extends IllegalStateException {

  public SchemaMissingException(String message) {
    super(message);
  }
}
