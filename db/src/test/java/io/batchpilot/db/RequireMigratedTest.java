package io.batchpilot.db;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.testing.FixtureRelease;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.db.testing.TestPostgres;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What a worker checks before its first claim: the database has this release's schema. */
class RequireMigratedTest {

  @Test
  void aDatabaseWithoutBatchpilotIsRefusedSayingToMigrate() {
    try (TestDatabase db = TestPostgres.get().createDatabase(false)) {
      SchemaMissingException e = assertThrows(SchemaMissingException.class,
          () -> new Migrator(db.dataSource()).requireMigrated());
      assertTrue(e.getMessage().contains("no batchpilot schema: run `batchpilot migrate`"), e.getMessage());
    }
  }

  @Test
  void aDatabaseOfThisReleasePasses() {
    try (TestDatabase db = TestPostgres.get().createDatabase(true)) {
      new Migrator(db.dataSource()).requireMigrated();
    }
  }

  @Test
  void aDatabaseOlderThanTheBuildIsRefusedNamingBothReleases(@TempDir Path folder) {
    Release next = FixtureRelease.create(folder);
    try (TestDatabase db = TestPostgres.get().createDatabase(true)) {
      SchemaMissingException e = assertThrows(SchemaMissingException.class,
          () -> new Migrator(db.dataSource(), next).requireMigrated());
      assertTrue(e.getMessage().contains("older than this build's " + FixtureRelease.NAME + " (schema version 4)")
          && e.getMessage().contains(Release.current().name()) && e.getMessage().contains("run `batchpilot migrate`"),
          e.getMessage());
      new Migrator(db.dataSource(), next).migrate();
      new Migrator(db.dataSource(), next).requireMigrated();
    }
  }
}
