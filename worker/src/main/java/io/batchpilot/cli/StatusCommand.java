package io.batchpilot.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.zaxxer.hikari.HikariDataSource;
import io.batchpilot.session.BatchJobStatus;
import io.batchpilot.session.Delivery;
import io.batchpilot.session.FileStatus;
import io.batchpilot.session.Progress;
import io.batchpilot.session.Sessions;
import java.io.PrintWriter;
import java.time.OffsetDateTime;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(name = "status", description = "Show one session (its failed files' errors too; for batch delivery, its "
    + "batch jobs at Google), or the 20 most recent sessions. Exits 1 when the session failed or ended with failed files.")
final class StatusCommand implements Callable<Integer> {

  /** Failed files shown without --files; the rest are counted. */
  static final int FAILED_SHOWN = 10;

  @Mixin DatabaseOptions database;

  @Parameters(arity = "0..1", paramLabel = "SESSION",
      description = "A session id, or its first 8 characters as progress prints them; without it, the 20 most recent sessions.")
  String session;

  @Option(names = "--files", description = "List every file of the session with its status, attempts and error.")
  boolean files;

  @Option(names = "--json", description = "Print one JSON object (a session with its failed files, or every file "
      + "with --files; or {\"sessions\": [...]}) instead of text.")
  boolean json;

  @Spec CommandSpec spec;

  @Override
  public Integer call() {
    if (files && session == null) {
      throw CliException.usage("--files needs a session: batchpilot status SESSION --files");
    }
    PrintWriter out = spec.commandLine().getOut();
    try (HikariDataSource pool = database.open(2, "batchpilot-status")) {
      Sessions sessions = new Sessions(pool);
      if (session == null) {
        printRecent(out, sessions.recent(20));
        return ExitCode.OK;
      }
      UUID id = SessionIds.resolve(sessions, session);
      Progress p;
      try {
        p = sessions.progress(id);
      } catch (IllegalArgumentException e) {
        throw SessionIds.notFound(id);
      }
      List<FileStatus> shown = sessions.files(id, !files);
      // An interactive session that fell back from batch still has the jobs it had.
      List<BatchJobStatus> jobs = sessions.batchJobs(id);
      if (json) {
        ObjectNode node = JsonOutput.session(p, shown);
        JsonOutput.batchJobs(node, jobs);
        JsonOutput.print(out, node);
      } else {
        printOne(out, p, shown, jobs);
      }
      return exitCode(p);
    }
  }

  /** 1 for a session that failed, or ended with failed files: a script can test it. */
  static int exitCode(Progress p) {
    boolean failed = "failed".equals(p.status()) || ("completed".equals(p.status()) && p.failed() > 0);
    return failed ? ExitCode.FAILED : ExitCode.OK;
  }

  private void printRecent(PrintWriter out, List<Progress> recent) {
    if (json) {
      ObjectNode node = JsonOutput.object();
      ArrayNode list = node.putArray("sessions");
      recent.forEach(p -> list.add(JsonOutput.session(p, null)));
      JsonOutput.print(out, node);
      return;
    }
    if (recent.isEmpty()) {
      out.println("no batch sessions yet: batchpilot submit <files or folders> creates one");
      out.flush();
      return;
    }
    out.printf("%-36s  %-16s  %-10s  %9s  %6s  %7s  %s%n", "SESSION", "CREATED", "STATUS", "DONE", "FAILED", "PENDING",
        "NAME");
    for (Progress p : recent) {
      out.printf("%-36s  %-16s  %-10s  %4d/%-4d  %6d  %7d  %s%n", p.sessionId(), shortTime(p.createdAt()), p.status(),
          p.finished(), p.totalFiles(), p.failed(), p.pending() + p.processing(), p.name() == null ? "" : p.name());
    }
    out.flush();
  }

  private void printOne(PrintWriter out, Progress p, List<FileStatus> shown, List<BatchJobStatus> jobs) {
    out.printf("session      %s%n", p.sessionId());
    if (p.name() != null) {
      out.printf("name         %s%n", p.name());
    }
    out.printf("status       %s%n", p.status());
    out.printf("created      %s%n", time(p.createdAt()));
    out.printf("delivery     %s%n", delivery(p));
    out.printf("files        %d total: %d completed, %d failed, %d skipped, %d pending, %d processing%n",
        p.totalFiles(), p.completed(), p.failed(), p.skipped(), p.pending(), p.processing());
    out.printf("api calls    %d (%d rate limited), %d tokens (%d of them thinking)%n", p.apiCalls(), p.rateLimitHits(),
        p.tokensUsed(), p.thinkingTokens());
    if (p.startedAt() != null) {
      out.printf("started      %s%n", time(p.startedAt()));
    }
    if (p.completedAt() != null) {
      out.printf("ended        %s%n", time(p.completedAt()));
    } else if (p.delivery() == Delivery.BATCH) {
      // Google gives no estimate but its 24-hour target; it is usually done much sooner.
      out.printf("eta          within 24 h%s%n", p.estimatedCompletionAt() == null ? "" : " (by " + time(p.estimatedCompletionAt()) + ")");
    } else if (p.estimatedCompletionAt() != null) {
      out.printf("eta          %s%n", time(p.estimatedCompletionAt()));
    }
    if (p.errorMessage() != null) {
      out.printf("message      %s%n", p.errorMessage());
    }
    if (!jobs.isEmpty()) {
      out.printf("%nbatch jobs%n");
      out.printf("  %-10s  %-15s  %-25s  %-36s  %s%n", "STATE", "AT GOOGLE", "DUE BY", "JOB", "NAME");
      for (BatchJobStatus j : jobs) {
        String atGoogle = j.filesAtGoogle() + " of " + j.files() + " file" + (j.files() == 1 ? "" : "s");
        out.printf("  %-10s  %-15s  %-25s  %-36s  %s%s%n", j.state().sqlName(), atGoogle, j.live() ? time(j.dueBy()) : "ended " + shortTime(j.endedAt()),
            j.jobId(), j.name() != null ? j.name() : j.live() ? "(not at Google yet)" : "(never at Google)",
            j.errorMessage() == null ? "" : ": " + j.errorMessage());
      }
    }
    if (files) {
      out.printf("%n%-40s  %-10s  %8s  %s%n", "FILE", "STATUS", "ATTEMPTS", "ERROR");
      for (FileStatus f : shown) {
        out.printf("%-40s  %-10s  %8d  %s%n", f.filename(), f.status(), f.attempts(), error(f));
      }
    } else if (!shown.isEmpty()) {
      out.printf("%nfailed files%n");
      shown.stream().limit(FAILED_SHOWN).forEach(f -> out.printf("  %s: %s%n", f.filename(), error(f)));
      if (shown.size() > FAILED_SHOWN) {
        out.printf("  ... and %d more (--files lists every file)%n", shown.size() - FAILED_SHOWN);
      }
    }
    out.flush();
  }

  private static String delivery(Progress p) {
    if (p.delivery() == Delivery.INTERACTIVE) {
      return "interactive";
    }
    return "batch (Gemini Batch Mode, half price, within 24 h; "
        + (p.interactiveFallback() ? "an expired or failed job's files go interactive)" : "an expired or failed job's files go into a new job)");
  }

  private static String error(FileStatus f) {
    if (f.errorType() == null && f.errorMessage() == null) {
      return "";
    }
    return (f.errorType() == null ? "" : f.errorType() + ": ") + (f.errorMessage() == null ? "" : f.errorMessage());
  }

  private static final DateTimeFormatter MINUTES = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm");
  private static final DateTimeFormatter SECONDS = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss xxx");

  /** Times in the machine's zone: a person reads them; --json gives UTC instants. */
  private static String time(OffsetDateTime at) {
    if (at == null) {
      return "";
    }
    return at.atZoneSameInstant(java.time.ZoneId.systemDefault()).format(SECONDS);
  }

  static String shortTime(OffsetDateTime at) {
    return at == null ? "" : at.atZoneSameInstant(java.time.ZoneId.systemDefault()).format(MINUTES);
  }
}
