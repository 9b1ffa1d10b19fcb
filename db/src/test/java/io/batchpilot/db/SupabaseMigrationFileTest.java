package io.batchpilot.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class SupabaseMigrationFileTest {

  @Test
  void committedSupabaseFileMatchesTheFlywayMigrations() throws Exception {
    Path committed = SupabaseMigrationFile.COMMITTED;
    assertTrue(Files.exists(committed), committed + " is missing: regenerate it (see db/README.md)");
    assertEquals(SupabaseMigrationFile.render(), Files.readString(committed, StandardCharsets.UTF_8),
        committed + " has drifted from the Flyway migrations: regenerate it with "
            + "./mvnw -q -pl db compile exec:java -Dexec.mainClass=io.batchpilot.db.SupabaseMigrationFile");
  }

  @Test
  void everyFlywayMigrationIsInTheSupabaseFileInVersionOrder() {
    String rendered = SupabaseMigrationFile.render();
    int last = -1;
    for (String name : SupabaseMigrationFile.migrationNames()) {
      int at = rendered.indexOf("-- ==== " + name + " ====");
      assertTrue(at > last, name + " missing or out of order");
      last = at;
    }
  }
}
