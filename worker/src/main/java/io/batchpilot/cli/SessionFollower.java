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
        view.show(snapshot(progress, quota, limit));
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
