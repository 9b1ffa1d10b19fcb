package io.batchpilot.db;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * batchpilot's migrations as Supabase CLI migration files, for projects that manage their schema
 * with {@code supabase db push} instead of {@code batchpilot migrate}. The CLI tracks a file by its
 * timestamp only: it refuses one older than the project's newest migration (without
 * {@code --include-all}) and never runs a recorded version again. So each release reaches a
 * project as a new file named with the current UTC time, {@code <yyyyMMddHHmmss>_batchpilot_<release>.sql},
 * holding the whole install (a project without batchpilot) or the upgrade from the release it has:
 * the versioned migrations above its schema version, every repeatable one (they may run again) and
 * the installation record. Each file starts with {@code -- batchpilot release <r> schema <n>}, so
 * the next one can be generated from the folder alone.
 *
 * <p>The committed install file lives in {@code db/supabase/migrations/}; a test fails when it
 * drifts. Regenerate: {@code ./mvnw -q -pl db clean compile && java -cp db/target/classes
 * io.batchpilot.db.SupabaseMigrationFile db}
 */
public final class SupabaseMigrationFile {

  public static final Path COMMITTED_DIR = Path.of("supabase", "migrations");

  static final Pattern FILE_NAME = Pattern.compile("(\\d{14})_batchpilot_(.+)\\.sql");
  static final Pattern HEADER = Pattern.compile("-- batchpilot release (\\S+) schema (\\d+)\\b.*");
  private static final DateTimeFormatter TIMESTAMP = DateTimeFormatter.ofPattern("yyyyMMddHHmmss").withZone(ZoneOffset.UTC);

  /** A release as a folder or a database says it is installed. */
  public record Installed(String release, int schemaVersion) {}

  private SupabaseMigrationFile() {}

  /** The whole install of this build's release. */
  public static String render() {
    return install(Release.current());
  }

  /** The whole install of a release, for a project without batchpilot. */
  public static String install(Release release) {
    StringBuilder out = header(release, "The whole install, for a project without batchpilot");
    for (String name : release.migrations()) {
      section(out, name, release.read(name));
    }
    return record(out, release);
  }

  /**
   * The upgrade from an installed release, or empty when there is nothing new (the same release).
   * Refuses an installed release newer than this one.
   */
  public static Optional<String> upgrade(Release release, Installed installed) {
    int order = compareReleases(installed.release(), release.name());
    if (installed.schemaVersion() > release.schemaVersion() || order > 0) {
      throw new IllegalStateException("the project has batchpilot " + installed.release() + " (schema "
          + installed.schemaVersion() + "), newer than this batchpilot's " + release.name() + " (schema "
          + release.schemaVersion() + "): use batchpilot " + installed.release() + " or later");
    }
    if (order == 0 && installed.schemaVersion() == release.schemaVersion()) {
      return Optional.empty();
    }
    StringBuilder out = header(release, "The upgrade from " + installed.release() + " (schema "
        + installed.schemaVersion() + ")");
    for (String name : release.versionedAbove(installed.schemaVersion())) {
      section(out, name, release.read(name));
    }
    for (String name : release.repeatables()) {
      section(out, name, release.read(name));
    }
    return Optional.of(record(out, release));
  }

  /** The install, or the upgrade from what is installed (empty: nothing new). */
  public static Optional<String> text(Release release, Optional<Installed> installed) {
    return installed.isPresent() ? upgrade(release, installed.get()) : Optional.of(install(release));
  }

  /** {@code <yyyyMMddHHmmss>_batchpilot_<release>.sql}, the time in UTC. */
  public static String fileName(Release release, Instant now) {
    return TIMESTAMP.format(now) + "_batchpilot_" + release.name() + ".sql";
  }

  /**
   * What the newest batchpilot file in a Supabase migrations folder installs, or empty when the
   * folder has none (or does not exist).
   */
  public static Optional<Installed> newestIn(Path folder) throws IOException {
    Optional<Path> newest = batchpilotFiles(folder).stream().reduce((a, b) -> b);
    if (newest.isEmpty()) {
      return Optional.empty();
    }
    String first;
    try (Stream<String> lines = Files.lines(newest.get(), StandardCharsets.UTF_8)) {
      first = lines.findFirst().orElse("");
    }
    Matcher m = HEADER.matcher(first);
    if (!m.matches()) {
      throw new IllegalStateException(newest.get() + " does not start with \"-- batchpilot release <release> schema <n>\": "
          + "it was not generated by batchpilot supabase-migration; regenerate it, or pass --database-url so the "
          + "installed release is read from the database");
    }
    return Optional.of(new Installed(m.group(1), Integer.parseInt(m.group(2))));
  }

  /** The folder's batchpilot files, oldest first (by their timestamp). */
  static List<Path> batchpilotFiles(Path folder) throws IOException {
    if (!Files.isDirectory(folder)) {
      return List.of();
    }
    try (Stream<Path> files = Files.list(folder)) {
      return files.filter(p -> FILE_NAME.matcher(p.getFileName().toString()).matches())
          .sorted(Comparator.comparing(p -> p.getFileName().toString())).toList();
    }
  }

  /**
   * Orders release names as semantic versions: numbers numerically, a pre-release ({@code -test},
   * {@code -rc.1}) before its release.
   */
  static int compareReleases(String a, String b) {
    String[] ap = a.split("-", 2);
    String[] bp = b.split("-", 2);
    String[] an = ap[0].split("\\.");
    String[] bn = bp[0].split("\\.");
    for (int i = 0; i < Math.max(an.length, bn.length); i++) {
      long x = i < an.length ? Long.parseLong(an[i]) : 0;
      long y = i < bn.length ? Long.parseLong(bn[i]) : 0;
      if (x != y) {
        return Long.compare(x, y);
      }
    }
    if (ap.length != bp.length) {
      return ap.length == 1 ? 1 : -1;
    }
    return ap.length == 1 ? 0 : ap[1].compareTo(bp[1]);
  }

  private static StringBuilder header(Release release, String what) {
    return new StringBuilder()
        .append("-- batchpilot release ").append(release.name()).append(" schema ").append(release.schemaVersion()).append('\n')
        .append("-- ").append(what).append(".\n")
        .append("-- Generated by `batchpilot supabase-migration` from db/src/main/resources/batchpilot/migration.\n")
        .append("-- Do not edit. Apply with the Supabase CLI (supabase db push) or use `batchpilot migrate`, not both.\n");
  }

  private static void section(StringBuilder out, String name, String text) {
    out.append("\n-- ==== ").append(name).append(" ====\n\n").append(text);
    if (!text.endsWith("\n")) {
      out.append('\n');
    }
  }

  private static String record(StringBuilder out, Release release) {
    section(out, "installation", "-- The release this project now has (batchpilot_private.installed_release()).\n"
        + Installation.recordStatement(release));
    return out.toString();
  }

  /** The committed install file of this build's release in a {@code db/} folder, if there is one. */
  public static Optional<Path> committed(Path dbFolder) throws IOException {
    String suffix = "_batchpilot_" + Release.current().name() + ".sql";
    return batchpilotFiles(dbFolder.resolve(COMMITTED_DIR)).stream()
        .filter(p -> p.getFileName().toString().endsWith(suffix)).findFirst();
  }

  /**
   * Writes the committed install file; the one argument is the {@code db/} folder (default: the
   * current folder). A file of this release keeps its name; files of other releases are replaced
   * by one named with the current time.
   */
  public static void main(String[] args) throws IOException {
    Path dbFolder = Path.of(args.length > 0 ? args[0] : ".");
    Path dir = dbFolder.resolve(COMMITTED_DIR);
    Files.createDirectories(dir);
    Release release = Release.current();
    Optional<Path> existing = committed(dbFolder);
    Path target = existing.orElse(dir.resolve(fileName(release, Instant.now())));
    List<Path> stale = new ArrayList<>(batchpilotFiles(dir));
    stale.remove(target);
    for (Path old : stale) {
      Files.delete(old);
      System.out.println("deleted " + old);
    }
    Files.writeString(target, render(), StandardCharsets.UTF_8);
    System.out.println("wrote " + target);
  }
}
