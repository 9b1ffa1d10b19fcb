package io.batchpilot.db;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The Flyway migrations as one Supabase CLI migration file, for projects that manage their schema
 * with {@code supabase db push} instead of {@code batchpilot migrate}. The committed copy lives in
 * {@code db/supabase/migrations/}; a test fails when it drifts from the Flyway files.
 *
 * <p>Regenerate: {@code ./mvnw -q -pl db compile exec:java -Dexec.mainClass=io.batchpilot.db.SupabaseMigrationFile}
 */
public final class SupabaseMigrationFile {

  /** Supabase CLI names migrations {@code <timestamp>_<name>.sql}; the seed chose this one. */
  public static final String FILE_NAME = "20250717000003_batch_upload_optimization.sql";
  public static final Path COMMITTED = Path.of("supabase", "migrations", FILE_NAME);

  private static final String RESOURCE_DIR = "batchpilot/migration";
  private static final Pattern VERSIONED = Pattern.compile("V(\\d+)__(.+)\\.sql");
  private static final Pattern REPEATABLE = Pattern.compile("R__(.+)\\.sql");

  private SupabaseMigrationFile() {}

  /**
   * The file's text: every Flyway migration in the order Flyway applies them (versioned ones by
   * version, then the repeatable ones by description), each under a header naming it.
   */
  public static String render() {
    StringBuilder out = new StringBuilder();
    out.append("-- batchpilot: generated from db/src/main/resources/batchpilot/migration by\n")
        .append("-- io.batchpilot.db.SupabaseMigrationFile. Do not edit; edit the Flyway migrations and regenerate.\n")
        .append("-- Apply with the Supabase CLI (supabase db push) or with `batchpilot migrate`, not both.\n");
    for (String name : migrationNames()) {
      out.append("\n-- ==== ").append(name).append(" ====\n\n").append(read(RESOURCE_DIR + "/" + name));
    }
    return out.toString();
  }

  static List<String> migrationNames() {
    URL url = SupabaseMigrationFile.class.getClassLoader().getResource(RESOURCE_DIR);
    if (url == null) {
      throw new IllegalStateException(RESOURCE_DIR + " is not on the classpath");
    }
    List<String> names = new ArrayList<>();
    try {
      if (url.getProtocol().equals("jar")) {
        try (FileSystem jar = FileSystems.newFileSystem(url.toURI(), Map.of())) {
          names.addAll(list(jar.getPath(RESOURCE_DIR)));
        }
      } else {
        names.addAll(list(Path.of(url.toURI())));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
    names.sort(FLYWAY_ORDER);
    return names;
  }

  /** Versioned migrations by version, then repeatable ones by description, as Flyway applies them. */
  static final Comparator<String> FLYWAY_ORDER = Comparator
      .comparing((String name) -> REPEATABLE.matcher(name).matches())
      .thenComparingInt(name -> VERSIONED.matcher(name).matches() ? version(name) : 0)
      .thenComparing(name -> name);

  private static List<String> list(Path dir) throws IOException {
    try (Stream<Path> files = Files.list(dir)) {
      return files.map(p -> p.getFileName().toString())
          .filter(n -> VERSIONED.matcher(n).matches() || REPEATABLE.matcher(n).matches()).toList();
    }
  }

  private static int version(String name) {
    Matcher m = VERSIONED.matcher(name);
    if (!m.matches()) {
      throw new IllegalArgumentException(name);
    }
    return Integer.parseInt(m.group(1));
  }

  static String read(String resource) {
    try (InputStream in = SupabaseMigrationFile.class.getClassLoader().getResourceAsStream(resource)) {
      if (in == null) {
        throw new IllegalStateException(resource + " is not on the classpath");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Writes the file; the one argument is the {@code db/} folder (default: the current folder). */
  public static void main(String[] args) throws IOException {
    Path dbFolder = Path.of(args.length > 0 ? args[0] : ".");
    Path target = dbFolder.resolve(COMMITTED);
    Files.createDirectories(target.getParent());
    Files.writeString(target, render(), StandardCharsets.UTF_8);
    System.out.println("wrote " + target);
  }
}
