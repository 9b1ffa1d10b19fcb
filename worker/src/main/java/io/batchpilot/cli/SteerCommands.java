package io.batchpilot.cli;

import com.zaxxer.hikari.HikariDataSource;
import io.batchpilot.session.Progress;
import io.batchpilot.session.Sessions;
import java.util.UUID;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** pause, resume and cancel: one session, one statement each. */
final class SteerCommands {

  private SteerCommands() {}

  /** What the three share: the session argument, the connection, the not-found and wrong-state answers. */
  abstract static class Steer implements Callable<Integer> {
    @Mixin DatabaseOptions database;

    @Parameters(index = "0", paramLabel = "SESSION", description = "The session id, or its first 8 characters.")
    String session;

    @Spec CommandSpec spec;

    @Override
    public final Integer call() {
      try (HikariDataSource pool = database.open(2, "batchpilot-" + spec.name())) {
        Sessions sessions = new Sessions(pool);
        UUID id = SessionIds.resolve(sessions, session);
        Progress before;
        try {
          before = sessions.progress(id);
        } catch (IllegalArgumentException e) {
          throw SessionIds.notFound(id);
        }
        String done = apply(sessions, id);
        if (done == null) {
          throw new CliException(ExitCode.FAILED, "session " + id + " is " + before.status() + ": " + refusal());
        }
        spec.commandLine().getOut().println("session " + id + ": " + done);
        spec.commandLine().getOut().flush();
        return ExitCode.OK;
      }
    }

    /** Changes the session; null when its state does not allow it. */
    abstract String apply(Sessions sessions, UUID id);

    abstract String refusal();
  }

  @Command(name = "pause", description = "Stop claiming the session's files; files in flight finish.")
  static final class Pause extends Steer {
    @Override String apply(Sessions sessions, UUID id) {
      return sessions.pause(id) ? "paused (files in flight finish; batchpilot resume continues)" : null;
    }

    @Override String refusal() {
      return "only a pending or processing session can be paused";
    }
  }

  @Command(name = "resume", description = "Resume a paused session; every worker wakes at once.")
  static final class Resume extends Steer {
    @Override String apply(Sessions sessions, UUID id) {
      return sessions.resume(id) ? "resumed" : null;
    }

    @Override String refusal() {
      return "only a paused session can be resumed";
    }
  }

  @Command(name = "cancel", description = "End the session: files not started become skipped; files in flight finish.")
  static final class Cancel extends Steer {
    @Override String apply(Sessions sessions, UUID id) {
      int skipped = sessions.cancel(id);
      return skipped < 0 ? null : "cancelled (" + skipped + " file" + (skipped == 1 ? "" : "s") + " skipped)";
    }

    @Override String refusal() {
      return "it has already ended";
    }
  }
}
