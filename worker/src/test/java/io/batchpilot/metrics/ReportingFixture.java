package io.batchpilot.metrics;

import io.batchpilot.store.Jooq;
import java.util.UUID;
import javax.sql.DataSource;
import org.jooq.DSLContext;
import org.jooq.Field;
import org.jooq.impl.DSL;
import org.jooq.impl.SQLDataType;

/**
 * Fills a migrated database with file history a short real run does not produce (three sessions of
 * two teams and a person, skipped files, files left mid-retry), by UPDATE statements shaped like
 * the pipeline's, so the usage rollup trigger does its work. The dashboards are tested on a real run
 * ({@link SimulatedRun}).
 */
final class ReportingFixture {

  static final String TEAM_A = "Receipts Team A";
  static final String TEAM_B = "Receipts Team B";
  static final String FLASH = "gemini-2.5-flash";
  static final String LITE = "gemini-2.5-flash-lite";

  private ReportingFixture() {}

  static void fill(DataSource dataSource) {
    DSLContext dsl = Jooq.using(dataSource);
    UUID teamA = uuid(dsl, "INSERT INTO public.teams (name) VALUES (?) RETURNING id", TEAM_A);
    UUID teamB = uuid(dsl, "INSERT INTO public.teams (name) VALUES (?) RETURNING id", TEAM_B);
    UUID owner = uuid(dsl, "INSERT INTO auth.users (id) VALUES (gen_random_uuid()) RETURNING id");

    UUID big = session(dsl, teamA, null, "march receipts", FLASH, "adaptive", 40);
    UUID small = session(dsl, teamB, null, "team b expenses", LITE, "balanced", 12);
    UUID personal = session(dsl, null, owner, "my receipts", FLASH, "conservative", 6);

    // What the workers do to files: claim, then complete, retry or fail them.
    claim(dsl, big, 30);
    claim(dsl, small, 12);
    claim(dsl, personal, 6);
    complete(dsl, big, 22, 1290, 180);
    complete(dsl, small, 10, 258, 95);
    complete(dsl, personal, 5, 516, 140);
    retry(dsl, big, 3, "rate_limited");
    fail(dsl, big, 2, "invalid_file");
    fail(dsl, small, 1, "blocked_output");
    dsl.execute("UPDATE public.batch_upload_files SET status = 'skipped' WHERE batch_session_id = ? AND status = 'pending'"
        + " AND id IN (SELECT id FROM public.batch_upload_files WHERE batch_session_id = ? AND status = 'pending' LIMIT 1)",
        uuid(personal), uuid(personal));

  }

  private static UUID uuid(DSLContext dsl, String sql, Object... bindings) {
    return dsl.resultQuery(sql, bindings).fetchOne(0, UUID.class);
  }

  static Field<UUID> uuid(UUID value) {
    return DSL.val(value, SQLDataType.UUID);
  }

  private static UUID session(DSLContext dsl, UUID team, UUID user, String name, String model, String strategy, int files) {
    UUID id = uuid(dsl, "INSERT INTO public.batch_upload_sessions (team_id, user_id, session_name, total_files, model,"
        + " processing_strategy, status, started_at) VALUES (?, ?, ?, ?, ?, ?, 'processing', now()) RETURNING id",
        uuid(team), uuid(user), name, files, model, strategy);
    dsl.execute("INSERT INTO public.batch_upload_files (batch_session_id, original_filename, file_type, upload_order, model)"
        + " SELECT ?, 'receipt-' || n || '.jpg', 'image/jpeg', n, ? FROM generate_series(1, ?) n", uuid(id), model, files);
    return id;
  }

  private static void claim(DSLContext dsl, UUID session, int files) {
    dsl.execute("UPDATE public.batch_upload_files SET status = 'processing', processing_started_at = now()"
        + " WHERE id IN (SELECT id FROM public.batch_upload_files WHERE batch_session_id = ? AND status = 'pending'"
        + " ORDER BY upload_order LIMIT ? FOR UPDATE SKIP LOCKED)", uuid(session), files);
  }

  /** Completes {@code files} files, each thinking twice as many tokens as it answers (a 2.5 model's habit). */
  private static void complete(DSLContext dsl, UUID session, int files, int inputTokens, int outputTokens) {
    int thinkingTokens = 2 * outputTokens;
    dsl.execute("UPDATE public.batch_upload_files SET status = 'completed',"
        + " processing_completed_at = now(), processing_duration_ms = 900 + upload_order * 37, api_calls_made = api_calls_made + 1,"
        + " input_tokens = ?, output_tokens = ?, thinking_tokens = ?, tokens_used = ?, result = '{\"merchant\": \"ACME\"}'"
        + " WHERE id IN (SELECT id FROM public.batch_upload_files WHERE batch_session_id = ? AND status = 'processing'"
        + " ORDER BY upload_order LIMIT ?)", inputTokens, outputTokens, thinkingTokens,
        inputTokens + outputTokens + thinkingTokens, uuid(session), files);
  }

  private static void retry(DSLContext dsl, UUID session, int files, String errorType) {
    dsl.execute("UPDATE public.batch_upload_files SET status = 'pending',"
        + " api_calls_made = api_calls_made + 1, rate_limited = true, error_type = ?"
        + " WHERE id IN (SELECT id FROM public.batch_upload_files WHERE batch_session_id = ? AND status = 'processing'"
        + " ORDER BY upload_order LIMIT ?)", errorType, uuid(session), files);
  }

  private static void fail(DSLContext dsl, UUID session, int files, String errorType) {
    dsl.execute("UPDATE public.batch_upload_files SET status = 'failed',"
        + " processing_completed_at = now(), processing_duration_ms = 120, error_type = ?, error_message = 'fixture'"
        + " WHERE id IN (SELECT id FROM public.batch_upload_files WHERE batch_session_id = ? AND status = 'processing'"
        + " ORDER BY upload_order LIMIT ?)", errorType, uuid(session), files);
  }
}
