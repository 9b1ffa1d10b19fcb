package io.batchpilot.cli;

import com.zaxxer.hikari.HikariDataSource;
import io.batchpilot.session.Progress;
import io.batchpilot.session.Sessions;
import java.io.PrintWriter;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(name = "status", description = "Show one session, or the most recent sessions.")
final class StatusCommand implements Callable<Integer> {

  @Mixin DatabaseOptions database;

  @Parameters(arity = "0..1", paramLabel = "SESSION", description = "A session id; without it, the 20 most recent sessions.")
  String session;

  @Spec CommandSpec spec;

  @Override
  public Integer call() {
    PrintWriter out = spec.commandLine().getOut();
    try (HikariDataSource pool = database.open(2, "batchpilot-status")) {
      Sessions sessions = new Sessions(pool);
      if (session == null) {
        List<Progress> recent = sessions.recent(20);
        if (recent.isEmpty()) {
          out.println("no batch sessions yet: batchpilot submit <files or folders> creates one");
        }
        out.printf("%-36s  %-10s  %9s  %6s  %7s  %5s%n", "SESSION", "STATUS", "DONE", "FAILED", "PENDING", "429s");
        for (Progress p : recent) {
          out.printf("%-36s  %-10s  %4d/%-4d  %6d  %7d  %5d%n", p.sessionId(), p.status(), p.finished(), p.totalFiles(),
              p.failed(), p.pending() + p.processing(), p.rateLimitHits());
        }
      } else {
        UUID id = SessionIds.parse(session);
        Progress p;
        try {
          p = sessions.progress(id);
        } catch (IllegalArgumentException e) {
          throw SessionIds.notFound(id);
        }
        out.printf("session      %s%nstatus       %s%nfiles        %d total: %d completed, %d failed, %d skipped, %d pending, %d processing%n",
            p.sessionId(), p.status(), p.totalFiles(), p.completed(), p.failed(), p.skipped(), p.pending(), p.processing());
        out.printf("api calls    %d (%d rate limited), %d tokens%n", p.apiCalls(), p.rateLimitHits(), p.tokensUsed());
        if (p.startedAt() != null) {
          out.printf("started      %s%n", p.startedAt());
        }
        if (p.completedAt() != null) {
          out.printf("ended        %s%n", p.completedAt());
        } else if (p.estimatedCompletionAt() != null) {
          out.printf("eta          %s%n", p.estimatedCompletionAt());
        }
        if (p.errorMessage() != null) {
          out.printf("message      %s%n", p.errorMessage());
        }
      }
      out.flush();
      return ExitCode.OK;
    }
  }
}
