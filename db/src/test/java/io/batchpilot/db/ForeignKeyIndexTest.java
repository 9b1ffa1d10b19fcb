package io.batchpilot.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.db.testing.TestPostgres;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.flywaydb.core.Flyway;
import org.junit.jupiter.api.Test;

/**
 * Every foreign key batchpilot's migrations add has an index leading with its columns. Without one,
 * deleting a parent row scans the child table once per deleted row: deleting a 20,000-file session
 * took minutes because of {@code duplicate_of}.
 */
class ForeignKeyIndexTest {

  /**
   * Foreign keys with no valid index whose leading columns are the key's (in any order). A partial
   * index counts only when its predicate is "column IS NOT NULL", which every key lookup implies.
   */
  private static final String FOREIGN_KEYS = """
      SELECT c.oid::bigint, c.conrelid::regclass || '.' || c.conname || ' ('
               || (SELECT string_agg(a.attname, ', ' ORDER BY k.ord)
                     FROM unnest(c.conkey) WITH ORDINALITY AS k (attnum, ord)
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum) || ')',
             EXISTS (SELECT 1 FROM pg_index i
                      WHERE i.indrelid = c.conrelid AND i.indisvalid
                        AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey
                        AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] <@ c.conkey
                        AND (i.indpred IS NULL
                             OR pg_get_expr(i.indpred, i.indrelid) ~ '^\\(?[a-z_][a-z0-9_]* IS NOT NULL\\)?$'))
        FROM pg_constraint c
       WHERE c.contype = 'f'
      """;

  @Test
  void everyForeignKeyTheMigrationsAddHasAnIndex() throws Exception {
    try (TestDatabase db = TestPostgres.get().createDatabase(false)) {
      // What Supabase (or the compatibility schema) has is the project's; only ours are checked.
      Flyway.configure().dataSource(db.dataSource()).locations(Migrator.COMPAT_MIGRATIONS)
          .table("supabase_own_history").placeholderReplacement(false).load().migrate();
      Set<Long> before = new HashSet<>();
      for (ForeignKey key : foreignKeys(db)) {
        before.add(key.oid());
      }
      new Migrator(db.dataSource()).migrate();

      List<ForeignKey> ours = foreignKeys(db).stream().filter(k -> !before.contains(k.oid())).toList();
      assertTrue(ours.size() >= 8, "the migrations' foreign keys were not found: " + ours);
      List<String> unindexed = ours.stream().filter(k -> !k.indexed()).map(ForeignKey::name).toList();
      assertEquals(List.of(), unindexed,
          "foreign keys without an index leading with their columns: add one in the migration that adds the key");
    }
  }

  @Test
  void aForeignKeyWithoutAnIndexOrWithAnUnrelatedPartialIndexIsFound() throws Exception {
    try (TestDatabase db = TestPostgres.get().createDatabase(false)) {
      try (Connection c = db.connect(); Statement s = c.createStatement()) {
        s.execute("""
            CREATE TABLE parent (id int PRIMARY KEY);
            CREATE TABLE bare (parent_id int REFERENCES parent);
            CREATE TABLE second_column (x int, parent_id int REFERENCES parent);
            CREATE INDEX ON second_column (x, parent_id);
            CREATE TABLE other_partial (parent_id int REFERENCES parent, done boolean);
            CREATE INDEX ON other_partial (parent_id) WHERE done;
            CREATE TABLE good (parent_id int REFERENCES parent, y int);
            CREATE INDEX ON good (parent_id, y);
            CREATE TABLE good_partial (parent_id int REFERENCES parent);
            CREATE INDEX ON good_partial (parent_id) WHERE parent_id IS NOT NULL;
            """);
      }
      List<String> unindexed = foreignKeys(db).stream().filter(k -> !k.indexed()).map(ForeignKey::name).sorted().toList();
      assertEquals(List.of("bare.bare_parent_id_fkey (parent_id)", "other_partial.other_partial_parent_id_fkey (parent_id)",
          "second_column.second_column_parent_id_fkey (parent_id)"), unindexed);
    }
  }

  private record ForeignKey(long oid, String name, boolean indexed) {}

  private static List<ForeignKey> foreignKeys(TestDatabase db) throws SQLException {
    List<ForeignKey> keys = new ArrayList<>();
    try (Connection c = db.dataSource().getConnection(); Statement s = c.createStatement();
         ResultSet rs = s.executeQuery(FOREIGN_KEYS)) {
      while (rs.next()) {
        keys.add(new ForeignKey(rs.getLong(1), rs.getString(2), rs.getBoolean(3)));
      }
    }
    return keys;
  }
}
