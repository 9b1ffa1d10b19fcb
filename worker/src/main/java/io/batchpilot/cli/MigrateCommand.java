package io.batchpilot.cli;

import com.zaxxer.hikari.HikariDataSource;
import io.batchpilot.db.Migrator;
import io.batchpilot.db.SupabaseMigrationFile;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "migrate", description = "Apply batchpilot's migration to DATABASE_URL (Flyway, own history table).")
final class MigrateCommand implements Callable<Integer> {

  @Mixin DatabaseOptions database;

  @Option(names = "--print-supabase",
      description = "Print the migration as one Supabase CLI migration file instead (for supabase/migrations/).")
  boolean printSupabase;

  @Spec CommandSpec spec;

  @Override
  public Integer call() {
    PrintWriter out = spec.commandLine().getOut();
    if (printSupabase) {
      out.print(SupabaseMigrationFile.render());
      out.flush();
      return ExitCode.OK;
    }
    try (HikariDataSource pool = database.open(2, "batchpilot-migrate")) {
      Migrator migrator = new Migrator(pool);
      Migrator.Result result = migrator.migrate();
      out.printf("migrated %s to batchpilot %s, schema version %s (%d migration%s applied%s)%n", database.url(),
          result.release(), result.schemaVersion(),
          result.migrationsApplied(), result.migrationsApplied() == 1 ? "" : "s",
          result.compatibilityApplied() ? "; plain PostgreSQL, so the Supabase compatibility schema is in place" : "");
      migrator.realtimeNote().ifPresent(note -> out.println("note: " + note));
      out.flush();
      return ExitCode.OK;
    }
  }
}
