package io.batchpilot.cli;

import com.zaxxer.hikari.HikariDataSource;
import io.batchpilot.db.Installation;
import io.batchpilot.db.Release;
import io.batchpilot.db.SupabaseMigrationFile;
import io.batchpilot.db.SupabaseMigrationFile.Installed;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(name = "supabase-migration",
    description = {"Write this release of batchpilot into a Supabase project's migrations folder as one file, "
        + "<yyyyMMddHHmmss>_batchpilot_<release>.sql named with the current UTC time, for `supabase db push`: "
        + "the whole install where the project has no batchpilot, else only the upgrade from the release it has "
        + "(read from the database when DATABASE_URL is given, else from the newest *_batchpilot_*.sql in DIR). "
        + "Writes nothing, and says so, when there is nothing new."})
final class SupabaseMigrationCommand implements Callable<Integer> {

  private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("yyyyMMddHHmmss").withZone(ZoneOffset.UTC);

  @Parameters(index = "0", arity = "0..1", paramLabel = "DIR", defaultValue = "supabase/migrations",
      description = "The project's Supabase migrations folder (default: ${DEFAULT-VALUE}).")
  Path folder;

  @Mixin DatabaseOptions database;

  @Option(names = "--release-folder", paramLabel = "FOLDER", hidden = true,
      description = "Another release: a folder with release.properties and migration/ (tests of a next release).")
  Path releaseFolder;

  @Spec CommandSpec spec;

  /** The file is named with its time (UTC). */
  Clock clock = Clock.systemUTC();

  @Override
  public Integer call() {
    PrintWriter out = spec.commandLine().getOut();
    Release release = releaseFolder == null ? Release.current() : Release.of(releaseFolder);
    Optional<Installed> installed;
    String source;
    if (database.isSet()) {
      installed = fromDatabase();
      source = "the database " + database.url();
    } else {
      installed = fromFolder();
      source = folder.toString();
    }
    Optional<String> text;
    try {
      text = SupabaseMigrationFile.text(release, installed);
    } catch (IllegalStateException e) {
      throw CliException.usage(e.getMessage());
    }
    if (text.isEmpty()) {
      out.printf("nothing to write: %s already has batchpilot %s (schema %d)%n", source, release.name(),
          release.schemaVersion());
      out.flush();
      return ExitCode.OK;
    }
    Path target = folder.resolve(SupabaseMigrationFile.fileName(release, timestamp()));
    try {
      Files.createDirectories(folder);
      Files.writeString(target, text.get(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw CliException.usage("cannot write " + target + ": " + e.getMessage()
          + " (DIR must be the project's supabase/migrations folder, writable)");
    }
    out.printf("wrote %s: %s (%s); apply it with `supabase db push`%n", target,
        installed.map(i -> "the upgrade from batchpilot " + i.release() + " (schema " + i.schemaVersion() + ") to "
            + release.name() + " (schema " + release.schemaVersion() + ")")
            .orElse("the whole install of batchpilot " + release.name() + " (schema " + release.schemaVersion() + ")"),
        installed.isPresent() ? "installed release read from " + source : "no batchpilot in " + source);
    out.flush();
    return ExitCode.OK;
  }

  /**
   * Now, or one second after the folder's newest migration if that is later: the CLI applies a file
   * without --include-all only when it is newer than every migration the project has pushed.
   */
  private Instant timestamp() {
    Instant now = clock.instant();
    try (Stream<Path> files = Files.isDirectory(folder) ? Files.list(folder) : Stream.empty()) {
      Optional<Instant> newest = files.map(p -> p.getFileName().toString())
          .filter(n -> n.matches("\\d{14}_.*\\.sql"))
          .map(n -> STAMP.parse(n.substring(0, 14), Instant::from))
          .max(Instant::compareTo);
      return newest.filter(n -> !n.isBefore(now)).map(n -> n.plusSeconds(1)).orElse(now);
    } catch (IOException e) {
      throw CliException.usage("cannot list " + folder + ": " + e.getMessage());
    }
  }

  private Optional<Installed> fromFolder() {
    try {
      return SupabaseMigrationFile.newestIn(folder);
    } catch (IOException e) {
      throw CliException.usage("cannot read " + folder + ": " + e.getMessage());
    } catch (IllegalStateException e) {
      throw CliException.usage(e.getMessage());
    }
  }

  private Optional<Installed> fromDatabase() {
    try (HikariDataSource pool = database.open(1, "batchpilot-supabase-migration");
         Connection connection = pool.getConnection()) {
      Optional<Installation.Installed> installed = Installation.read(connection);
      if (installed.isEmpty()) {
        try (Statement statement = connection.createStatement();
             ResultSet rs = statement.executeQuery("SELECT to_regclass('public.batch_upload_sessions') IS NOT NULL")) {
          rs.next();
          if (rs.getBoolean(1)) {
            throw CliException.usage(database.url() + " has batchpilot's tables but no batchpilot_private.installation "
                + "row (installed before release 0.1.0): roll it back (db/src/main/resources/batchpilot/rollback.sql) "
                + "and install again");
          }
        }
      }
      return installed.map(i -> new Installed(i.release(), i.schemaVersion()));
    } catch (SQLException e) {
      throw new CliException(ExitCode.UNAVAILABLE, "cannot read the installed batchpilot release from "
          + database.url() + ": " + e.getMessage(), e);
    }
  }
}
