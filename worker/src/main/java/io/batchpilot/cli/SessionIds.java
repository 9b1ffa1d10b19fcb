package io.batchpilot.cli;

import java.util.UUID;

/** Session ids as people paste them. */
final class SessionIds {

  private SessionIds() {}

  static UUID parse(String text) {
    try {
      return UUID.fromString(text.strip());
    } catch (IllegalArgumentException e) {
      throw CliException.usage("'" + text + "' is not a session id: expected a UUID such as "
          + "3f2b8c1e-9d4a-4c6b-8e2f-1a2b3c4d5e6f (batchpilot status lists the sessions)");
    }
  }

  static CliException notFound(UUID id) {
    return new CliException(ExitCode.NOT_FOUND, "no batch session " + id
        + ": check the id (batchpilot status lists the sessions)");
  }
}
