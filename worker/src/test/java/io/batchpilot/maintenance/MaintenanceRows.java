package io.batchpilot.maintenance;

import java.util.UUID;
import org.jooq.DSLContext;

/** Sessions and files in given states, written straight into the tables for maintenance tests. */
final class MaintenanceRows {

  private final DSLContext dsl;

  MaintenanceRows(DSLContext dsl) {
    this.dsl = dsl;
  }

  UUID session(String status, int totalFiles) {
    return uuid("insert into public.batch_upload_sessions (user_id, total_files, status) values (null, ?, ?)"
        + " returning id", totalFiles, status);
  }

  UUID file(UUID session, String status) {
    return uuid("insert into public.batch_upload_files (batch_session_id, original_filename, status)"
        + " values (?, 'r.jpg', ?) returning id", session, status);
  }

  /** A file registered as uploading whose row last changed {@code minutesAgo} minutes ago. */
  UUID uploading(UUID session, int minutesAgo) {
    return uuid("insert into public.batch_upload_files (batch_session_id, original_filename, status, created_at,"
        + " updated_at) values (?, 'r.jpg', 'uploading', clock_timestamp() - make_interval(mins => ?),"
        + " clock_timestamp() - make_interval(mins => ?)) returning id", session, minutesAgo, minutesAgo);
  }

  /** A file in flight whose lease ended {@code secondsAgo} ago (negative: ends in the future). */
  UUID leased(UUID session, int attempts, int maxAttempts, int secondsAgo) {
    UUID file = uuid("insert into public.batch_upload_files (batch_session_id, original_filename, status,"
        + " max_attempts, processing_started_at) values (?, 'r.jpg', 'processing', ?, clock_timestamp() - interval '1 hour')"
        + " returning id", session, maxAttempts);
    dsl.execute("insert into batchpilot_private.jobs (file_id, kind, batch_session_id, state, attempts, max_attempts,"
        + " scheduled_at, claimed_by, lease_expires_at) values (?, 'extraction', ?, 'running', ?, ?,"
        + " clock_timestamp() - interval '1 hour', 'worker-dead', clock_timestamp() - make_interval(secs => ?))",
        file, session, attempts, maxAttempts, secondsAgo);
    return file;
  }

  private UUID uuid(String sql, Object... bindings) {
    return dsl.fetchOne(sql, bindings).get(0, UUID.class);
  }
}
