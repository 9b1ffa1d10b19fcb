package io.batchpilot.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestData;
import io.batchpilot.db.testing.TestDatabase;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.UUID;
import javax.sql.DataSource;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Each CHECK constraint rejects an impossible value, and the error names the column: constraints are
 * named {@code <table>_<column>_check}, and PostgreSQL puts the constraint's name in the message.
 */
@ExtendWith(PostgresExtension.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ConstraintTest {

  private static final String CHECK_VIOLATION = "23514";
  private static final String NOT_NULL_VIOLATION = "23502";

  private final DataSource db;
  private UUID session;
  private UUID file;
  private UUID quotaRow;

  ConstraintTest(TestDatabase database) {
    this.db = database.dataSource();
  }

  @BeforeAll
  void oneValidRowInEachTable() throws SQLException {
    TestData data = new TestData(db);
    UUID user = data.user();
    session = data.session(user, null);
    file = data.file(session, "pending");
    try (Connection c = db.getConnection(); Statement s = c.createStatement();
         var rs = s.executeQuery("INSERT INTO public.api_quota_tracking (api_provider, model, quota_type, time_window, quota_limit)"
             + " VALUES ('gemini', 'gemini-2.5-flash', 'requests', date_trunc('minute', now()), 10) RETURNING id")) {
      rs.next();
      quotaRow = rs.getObject(1, UUID.class);
    }
  }

  @ParameterizedTest(name = "{0}.{1} = {2}")
  @CsvSource(delimiter = '|', quoteCharacter = '"', value = {
      "batch_upload_sessions | total_files                 | -1",
      "batch_upload_sessions | files_uploading             | -1",
      "batch_upload_sessions | files_pending               | -1",
      "batch_upload_sessions | files_processing            | -1",
      "batch_upload_sessions | files_completed             | -1",
      "batch_upload_sessions | files_failed                | -1",
      "batch_upload_sessions | files_skipped               | -1",
      "batch_upload_sessions | provider                    | 'openai'",
      "batch_upload_sessions | model                       | 'Gemini 2.5 Flash!'",
      "batch_upload_sessions | max_concurrent              | 0",
      "batch_upload_sessions | rate_limit_config           | '[1, 2]'::jsonb",
      "batch_upload_sessions | processing_strategy         | 'reckless'",
      "batch_upload_sessions | status                      | 'running'",
      "batch_upload_sessions | total_processing_time_ms    | -1",
      "batch_upload_sessions | total_api_calls             | -1",
      "batch_upload_sessions | total_tokens_used           | -1",
      "batch_upload_sessions | total_thinking_tokens       | -1",
      "batch_upload_sessions | rate_limit_hits             | -1",
      "batch_upload_sessions | avg_file_processing_time_ms | -0.5",
      "batch_upload_files    | original_filename           | ''",
      "batch_upload_files    | file_size_bytes             | -1",
      "batch_upload_files    | upload_order                | -1",
      "batch_upload_files    | storage_path                | NULL, storage_bucket = 'receipts'",
      "batch_upload_files    | content_sha256              | '\\x00ff'::bytea",
      "batch_upload_files    | status                      | 'done'",
      "batch_upload_files    | processing_duration_ms      | -1",
      "batch_upload_files    | max_attempts                | 0",
      "batch_upload_files    | model                       | 'models/gemini-2.5-flash'",
      "batch_upload_files    | api_calls_made              | -1",
      "batch_upload_files    | input_tokens                | -1",
      "batch_upload_files    | output_tokens               | -1",
      "batch_upload_files    | thinking_tokens             | -1",
      "batch_upload_files    | tokens_used                 | -1",
      "batch_upload_files    | error_type                  | 'something_broke'",
      "api_quota_tracking    | api_provider                | 'openai'",
      "api_quota_tracking    | model                       | ''",
      "api_quota_tracking    | quota_type                  | 'tokens_per_fortnight'",
      "api_quota_tracking    | time_window                 | date_trunc('minute', now()) + interval '30 seconds'",
      "api_quota_tracking    | quota_used                  | -1",
      "api_quota_tracking    | quota_limit                 | -1",
  })
  void checkRejectsAnImpossibleValueAndNamesTheColumn(String table, String column, String badValue) {
    SQLException refused = assertThrows(SQLException.class, () -> set(table, column, badValue),
        table + "." + column + " accepted " + badValue);
    assertEquals(CHECK_VIOLATION, refused.getSQLState(), refused.getMessage());
    assertTrue(refused.getMessage().contains(table + "_" + column + "_check"),
        "the error must name the column: " + refused.getMessage());
  }

  @ParameterizedTest(name = "{0}.{1} = NULL")
  @CsvSource(delimiter = '|', quoteCharacter = '"', value = {
      "batch_upload_sessions | total_files",
      "batch_upload_sessions | processing_strategy",
      "batch_upload_sessions | status",
      "batch_upload_files    | original_filename",
      "batch_upload_files    | status",
  })
  void requiredColumnRejectsNullAndNamesTheColumn(String table, String column) {
    SQLException refused = assertThrows(SQLException.class, () -> set(table, column, "NULL"));
    assertEquals(NOT_NULL_VIOLATION, refused.getSQLState(), refused.getMessage());
    assertTrue(refused.getMessage().contains(column), refused.getMessage());
  }

  /** Sets one column of the table's valid row; the statement's own transaction leaves nothing behind. */
  private void set(String table, String column, String value) throws SQLException {
    UUID id = switch (table) {
      case "batch_upload_sessions" -> session;
      case "batch_upload_files" -> file;
      case "api_quota_tracking" -> quotaRow;
      default -> throw new IllegalArgumentException(table);
    };
    try (Connection c = db.getConnection(); Statement s = c.createStatement()) {
      s.executeUpdate("UPDATE public." + table + " SET " + column + " = " + value + " WHERE id = '" + id + "'");
    }
  }
}
