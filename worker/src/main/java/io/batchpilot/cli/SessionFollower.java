package io.batchpilot.cli;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_SESSIONS;
import static io.batchpilot.jooq.Tables.QUOTA_LIMITS;

import io.batchpilot.limiter.QuotaGate;
import io.batchpilot.limiter.QuotaGateConfig;
import io.batchpilot.limiter.QuotaStatus;
import io.batchpilot.session.Progress;
import io.batchpilot.session.Sessions;
import io.batchpilot.store.Jooq;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import javax.sql.DataSource;
import org.jooq.DSLContext;
import org.jooq.Record;
import org.jooq.Record2;

/** Polls one session and shows its progress until it ends; the exit code says how it ended. */
final class SessionFollower {

  static final Set<String> ENDED = Set.of("completed", "failed", "cancelled");
  private static final Duration POLL = Duration.ofMillis(500);

  private final Sessions sessions;
  private final QuotaGate gate;
  private final DSLContext dsl;
  private final UUID sessionId;

  SessionFollower(DataSource dataSource, UUID sessionId) {
    this.sessions = new Sessions(dataSource);
    this.gate = new QuotaGate(dataSource, QuotaGateConfig.defaults());
    this.dsl = Jooq.using(dataSource);
    this.sessionId = sessionId;
  }

  int followToEnd() {
    return followToEnd(ProgressView.forStdout("session " + sessionId.toString().substring(0, 8)));
  }

  /** Follows the session with {@code view}, which it closes. */
  int followToEnd(ProgressView progressView) {
    Record2<String, String> model = dsl.select(BATCH_UPLOAD_SESSIONS.PROVIDER, BATCH_UPLOAD_SESSIONS.MODEL)
        .from(BATCH_UPLOAD_SESSIONS).where(BATCH_UPLOAD_SESSIONS.ID.eq(sessionId)).fetchOptional()
        .orElseThrow(() -> SessionIds.notFound(sessionId));
    long limit = dsl.select(QUOTA_LIMITS.REQUESTS_PER_MINUTE).from(QUOTA_LIMITS)
        .where(QUOTA_LIMITS.PROVIDER.eq(model.value1()), QUOTA_LIMITS.MODEL.eq(model.value2()))
        .fetchOptional(QUOTA_LIMITS.REQUESTS_PER_MINUTE).orElse(0);
    Progress progress;
    try (ProgressView view = progressView) {
      do {
        progress = sessions.progress(sessionId);
        Optional<QuotaStatus> quota = gate.status(model.value1(), model.value2());
        view.show(snapshot(progress, quota, limit).withAtGoogle(atGoogle()));
        if (!ENDED.contains(progress.status())) {
          sleep();
        }
      } while (!ENDED.contains(progress.status()));
    }
    return exitCode(progress);
  }

  static ProgressView.Snapshot snapshot(Progress p, Optional<QuotaStatus> quota, long requestLimit) {
    double perMinute = 0;
    if (p.startedAt() != null) {
      Instant end = p.completedAt() != null ? p.completedAt().toInstant() : Instant.now();
      double minutes = Duration.between(p.startedAt().toInstant(), end).toMillis() / 60_000.0;
      perMinute = minutes > 0 ? p.finished() / minutes : 0;
    }
    return new ProgressView.Snapshot(p.finished(), p.totalFiles(), p.failed(), perMinute,
        quota.map(QuotaStatus::requestsInWindow).orElse(0L), requestLimit, p.rateLimitHits(),
        Optional.ofNullable(p.estimatedCompletionAt()).map(t -> t.toInstant()));
  }

  /** The session's files at Google in live batch jobs; empty for an interactive session. */
  private Optional<ProgressView.AtGoogle> atGoogle() {
    Record r = dsl.fetchOne("SELECT s.delivery, coalesce(sum(j.files_at_google), 0) AS files, "
        + "count(j.job_id) FILTER (WHERE j.files_at_google > 0) AS jobs, "
        + "(array_agg(j.state ORDER BY j.created_at DESC) FILTER (WHERE j.files_at_google > 0))[1] AS state, "
        + "min(coalesce(j.submitted_at, j.created_at)) FILTER (WHERE j.files_at_google > 0) AS since, "
        + "max(j.due_by) FILTER (WHERE j.files_at_google > 0) AS due_by "
        + "FROM public.batch_upload_sessions s LEFT JOIN LATERAL public.batchpilot_session_batch_jobs(s.id) j ON true "
        + "WHERE s.id = ? GROUP BY s.delivery", sessionId);
    if (r == null || (!"batch".equals(r.get("delivery", String.class)) && r.get("files", Long.class) == 0)) {
      return Optional.empty();
    }
    int jobs = r.get("jobs", Integer.class);
    return Optional.of(new ProgressView.AtGoogle(r.get("files", Long.class), jobs,
        jobs == 0 ? null : r.get("state", String.class),
        jobs == 0 ? null : r.get("since", java.time.OffsetDateTime.class).toInstant(),
        jobs == 0 ? null : r.get("due_by", java.time.OffsetDateTime.class).toInstant()));
  }

  static int exitCode(Progress p) {
    return "completed".equals(p.status()) && p.failed() == 0 ? ExitCode.OK : ExitCode.FAILED;
  }

  private static void sleep() {
    try {
      Thread.sleep(POLL.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CliException(ExitCode.FAILED, "interrupted while following the session");
    }
  }
}
