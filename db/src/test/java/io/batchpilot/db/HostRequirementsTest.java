package io.batchpilot.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.db.testing.TestPostgres;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import org.junit.jupiter.api.Test;

/**
 * A Supabase project without the app tables batchpilot builds on learns, before anything is
 * created, exactly what is missing.
 */
class HostRequirementsTest {

  @Test
  void aProjectWithoutTeamsAndReceiptsIsToldWhatIsMissingAndGetsNothing() throws Exception {
    try (TestDatabase db = TestPostgres.get().createDatabase(false)) {
      try (Connection c = db.connect(); Statement s = c.createStatement()) {
        // Supabase's own part (an auth schema: the compatibility schema is not applied), no app tables.
        s.execute("CREATE SCHEMA auth");
        s.execute("CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS 'SELECT NULL::uuid'");
        s.execute("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN"
            + " CREATE ROLE authenticated NOLOGIN; END IF; IF NOT EXISTS (SELECT 1 FROM pg_roles"
            + " WHERE rolname = 'service_role') THEN CREATE ROLE service_role NOLOGIN; END IF; END $$");
        s.execute("CREATE TABLE public.teams (id uuid PRIMARY KEY)");
      }

      Exception refused = assertThrows(Exception.class, () -> new Migrator(db.dataSource()).migrate());

      String message = String.valueOf(refused.getMessage()) + " " + String.valueOf(refused.getCause());
      assertTrue(message.contains("batchpilot cannot be installed here: missing table public.team_members"
          + " (team_id uuid, user_id uuid); table public.receipts"), message);
      try (Connection c = db.connect(); Statement s = c.createStatement();
           ResultSet rs = s.executeQuery("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'batchpilot%'")) {
        rs.next();
        assertEquals(0, rs.getInt(1), "nothing was created");
      }
    }
  }
}
