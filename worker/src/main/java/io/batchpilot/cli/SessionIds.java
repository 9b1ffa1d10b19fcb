package io.batchpilot.cli;

import io.batchpilot.session.Sessions;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.regex.Pattern;

/** Session ids as people paste them: the whole UUID, or its start as the progress line prints it. */
final class SessionIds {

  /** The 8 characters the progress line prints, or more; fewer would match too many sessions to be useful. */
  static final int SHORTEST_PREFIX = 4;
  private static final Pattern PREFIX = Pattern.compile("[0-9a-f][0-9a-f-]{" + (SHORTEST_PREFIX - 1) + ",35}");

  private SessionIds() {}

  /** A whole UUID, checked for form only (the commands look it up themselves). */
  static UUID parse(String text) {
    try {
      return UUID.fromString(text.strip());
    } catch (IllegalArgumentException e) {
      throw malformed(text);
    }
  }

  /** A whole UUID or the start of exactly one session's id. */
  static UUID resolve(Sessions sessions, String text) {
    String t = text.strip().toLowerCase(Locale.ROOT);
    if (t.length() == 36) {
      return parse(t);
    }
    if (!PREFIX.matcher(t).matches()) {
      throw malformed(text);
    }
    List<UUID> matches = sessions.idsStartingWith(t, 6);
    if (matches.isEmpty()) {
      throw new CliException(ExitCode.NOT_FOUND, "no batch session whose id starts with " + t
          + ": check the id (batchpilot status lists the sessions)");
    }
    if (matches.size() > 1) {
      throw CliException.usage("'" + t + "' is the start of several sessions' ids ("
          + String.join(", ", matches.stream().limit(5).map(UUID::toString).toList())
          + (matches.size() > 5 ? ", ..." : "") + "): give more of the id");
    }
    return matches.get(0);
  }

  private static CliException malformed(String text) {
    return CliException.usage("'" + text + "' is not a session id: expected a UUID such as "
        + "3f2b8c1e-9d4a-4c6b-8e2f-1a2b3c4d5e6f, or its first 8 characters as progress prints them "
        + "(batchpilot status lists the sessions)");
  }

  static CliException notFound(UUID id) {
    return new CliException(ExitCode.NOT_FOUND, "no batch session " + id
        + ": check the id (batchpilot status lists the sessions)");
  }
}
