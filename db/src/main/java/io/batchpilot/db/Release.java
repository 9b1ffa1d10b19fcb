package io.batchpilot.db;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystem;
import java.nio.file.FileSystemAlreadyExistsException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A batchpilot release as the classpath holds it: its name ({@code <root>/release.properties}, the
 * one place the release string is written) and its Flyway migrations ({@code <root>/migration}).
 * Its schema version is the highest versioned migration. Both install paths, Flyway
 * ({@link Migrator}) and the Supabase CLI file ({@link SupabaseMigrationFile}), record it in the
 * database ({@link Installation}).
 */
public final class Release {

  /** Where the shipped release lives on the classpath. */
  public static final String ROOT = "batchpilot";

  private static final Pattern NAME = Pattern.compile("[0-9]+\\.[0-9]+\\.[0-9]+(-[0-9A-Za-z.-]+)?");
  private static final Pattern VERSIONED = Pattern.compile("V(\\d+)__(.+)\\.sql");
  private static final Pattern REPEATABLE = Pattern.compile("R__(.+)\\.sql");

  /** Versioned migrations by version, then repeatable ones by description, as Flyway applies them. */
  static final Comparator<String> FLYWAY_ORDER = Comparator
      .comparing((String name) -> isRepeatable(name))
      .thenComparingInt(name -> isRepeatable(name) ? 0 : version(name))
      .thenComparing(name -> name);

  private final String flywayLocation;
  private final String name;
  private final List<String> migrations;
  private final Map<String, String> texts;

  private Release(String flywayLocation, String name, Map<String, String> texts) {
    this.flywayLocation = flywayLocation;
    this.name = name;
    List<String> names = new ArrayList<>(texts.keySet());
    names.sort(FLYWAY_ORDER);
    this.migrations = List.copyOf(names);
    this.texts = Map.copyOf(texts);
    if (migrations.stream().allMatch(Release::isRepeatable)) {
      throw new IllegalStateException(flywayLocation + " holds no versioned migration (V1__baseline.sql)");
    }
  }

  /** The release this build ships. */
  public static Release current() {
    return of(ROOT);
  }

  /** The release under another classpath folder. */
  public static Release of(String root) {
    String file = root + "/release.properties";
    String name;
    try (InputStream in = Release.class.getClassLoader().getResourceAsStream(file)) {
      if (in == null) {
        throw new IllegalStateException(file + " is not on the classpath: it names the release (release=0.1.0)");
      }
      name = releaseName(file, in);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    String dir = root + "/migration";
    Map<String, String> texts = new HashMap<>();
    for (String migration : list(dir)) {
      try (InputStream in = Release.class.getClassLoader().getResourceAsStream(dir + "/" + migration)) {
        texts.put(migration, new String(in.readAllBytes(), StandardCharsets.UTF_8));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return new Release("classpath:" + dir, name, texts);
  }

  /**
   * The release in a folder holding {@code release.properties} and {@code migration/} (tests build
   * a next release there from this one).
   */
  public static Release of(Path folder) {
    Path file = folder.resolve("release.properties");
    try {
      String name;
      try (InputStream in = Files.newInputStream(file)) {
        name = releaseName(file.toString(), in);
      }
      Map<String, String> texts = new HashMap<>();
      for (String migration : names(folder.resolve("migration"))) {
        texts.put(migration, Files.readString(folder.resolve("migration").resolve(migration), StandardCharsets.UTF_8));
      }
      return new Release("filesystem:" + folder.resolve("migration").toAbsolutePath(), name, texts);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the release in " + folder + ": " + e.getMessage(), e);
    }
  }

  private static String releaseName(String file, InputStream in) throws IOException {
    Properties properties = new Properties();
    properties.load(in);
    String name = properties.getProperty("release", "").trim();
    if (!NAME.matcher(name).matches()) {
      throw new IllegalStateException(file + ": release=" + name + " is not a release name like 0.1.0 or 0.2.0-rc.1");
    }
    return name;
  }

  public String name() {
    return name;
  }

  /** The highest versioned migration: what a database of this release has applied. */
  public int schemaVersion() {
    return migrations.stream().filter(n -> !isRepeatable(n)).mapToInt(Release::version).max().orElseThrow();
  }

  /** Every migration file name, in Flyway's order. */
  public List<String> migrations() {
    return migrations;
  }

  /** The versioned migrations above {@code installedSchemaVersion}, in order. */
  public List<String> versionedAbove(int installedSchemaVersion) {
    return migrations.stream().filter(n -> !isRepeatable(n) && version(n) > installedSchemaVersion).toList();
  }

  /** The repeatable migrations, in order. */
  public List<String> repeatables() {
    return migrations.stream().filter(Release::isRepeatable).toList();
  }

  /** For Flyway's {@code locations}. */
  public String flywayLocation() {
    return flywayLocation;
  }

  /** A migration file's text. */
  public String read(String migration) {
    String text = texts.get(migration);
    if (text == null) {
      throw new IllegalArgumentException(migration + " is not a migration of " + this + " (" + flywayLocation + ")");
    }
    return text;
  }

  static boolean isRepeatable(String migration) {
    return REPEATABLE.matcher(migration).matches();
  }

  static int version(String migration) {
    Matcher m = VERSIONED.matcher(migration);
    if (!m.matches()) {
      throw new IllegalArgumentException(migration + " is not a versioned migration (V<n>__<name>.sql)");
    }
    return Integer.parseInt(m.group(1));
  }

  private static List<String> list(String dir) {
    URL url = Release.class.getClassLoader().getResource(dir);
    if (url == null) {
      throw new IllegalStateException(dir + " is not on the classpath");
    }
    List<String> names = new ArrayList<>();
    try {
      if (url.getProtocol().equals("jar")) {
        FileSystem jar;
        boolean opened = false;
        try {
          jar = FileSystems.newFileSystem(url.toURI(), Map.of());
          opened = true;
        } catch (FileSystemAlreadyExistsException e) {
          jar = FileSystems.getFileSystem(url.toURI());
        }
        try {
          names.addAll(names(jar.getPath(dir)));
        } finally {
          if (opened) {
            jar.close();
          }
        }
      } else {
        names.addAll(names(Path.of(url.toURI())));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
    return names;
  }

  private static List<String> names(Path dir) throws IOException {
    try (Stream<Path> files = Files.list(dir)) {
      return files.map(p -> p.getFileName().toString())
          .filter(n -> VERSIONED.matcher(n).matches() || REPEATABLE.matcher(n).matches()).toList();
    }
  }

  @Override
  public String toString() {
    return "batchpilot " + name + " (schema " + schemaVersion() + ")";
  }
}
