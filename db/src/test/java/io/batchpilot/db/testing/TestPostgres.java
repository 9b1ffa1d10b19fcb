package io.batchpilot.db.testing;

import io.batchpilot.db.DatabaseUrl;
import io.batchpilot.db.EmbeddedPostgres;
import io.batchpilot.db.Migrator;
import io.batchpilot.db.SupabaseMigrationFile;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.PostgreSQLContainer;

/**
 * The PostgreSQL server that tests run against, found once per JVM in this order:
 * <ol>
 *   <li>{@value #URL_VARIABLE}, a URL of any form {@link DatabaseUrl} reads, naming a database on a
 *       server where its user may create databases (CI and the development machines: the local
 *       server on 127.0.0.1:5432);</li>
 *   <li>Testcontainers, where a Docker engine answers;</li>
 *   <li>an {@link EmbeddedPostgres}.</li>
 * </ol>
 * {@value #SERVER_VARIABLE}{@code =embedded} skips the first two. Every test class gets its own
 * database, copied from a migrated template that is built once per version of the migrations.
 */
public final class TestPostgres {

  public static final String URL_VARIABLE = "BATCHPILOT_TEST_DATABASE_URL";
  public static final String SERVER_VARIABLE = "BATCHPILOT_TEST_POSTGRES";

  private static final Logger log = LoggerFactory.getLogger(TestPostgres.class);
  /** SQLSTATE of "database ... does not exist". */
  private static final String INVALID_CATALOG_NAME = "3D000";
  private static TestPostgres instance;

  private final DatabaseUrl admin;
  private final String description;
  private String template;

  private TestPostgres(DatabaseUrl admin, String description) {
    this.admin = admin;
    this.description = description;
  }

  public static synchronized TestPostgres get() {
    if (instance == null) {
      instance = resolve();
      log.info("tests run against {}", instance.description);
    }
    return instance;
  }

  private static TestPostgres resolve() {
    String forced = System.getenv(SERVER_VARIABLE);
    if ("embedded".equalsIgnoreCase(forced)) {
      return embedded();
    }
    String url = System.getenv(URL_VARIABLE);
    if (url != null && !url.isBlank()) {
      DatabaseUrl parsed = DatabaseUrl.parse(URL_VARIABLE, url);
      return new TestPostgres(parsed, parsed.toString() + " (from " + URL_VARIABLE + ")");
    }
    if (dockerAnswers()) {
      PostgreSQLContainer<?> container = new PostgreSQLContainer<>("postgres:15-alpine");
      container.start();
      DatabaseUrl parsed = new DatabaseUrl(container.getHost(), container.getMappedPort(5432),
          container.getDatabaseName(), container.getUsername(), container.getPassword(), null);
      return new TestPostgres(parsed, "Testcontainers " + container.getDockerImageName());
    }
    return embedded();
  }

  private static TestPostgres embedded() {
    EmbeddedPostgres server = EmbeddedPostgres.start();
    return new TestPostgres(server.url(), "embedded PostgreSQL " + server.url());
  }

  private static boolean dockerAnswers() {
    try {
      return DockerClientFactory.instance().isDockerAvailable();
    } catch (RuntimeException | LinkageError e) {
      return false;
    }
  }

  /** A new, empty database; {@code migrated} copies it from the migrated template instead. */
  public TestDatabase createDatabase(boolean migrated) {
    String name = "bp_test_" + UUID.randomUUID().toString().replace("-", "").substring(0, 16);
    if (!migrated) {
      execute("CREATE DATABASE " + name + " TEMPLATE template0");
    } else if (!copyTemplate(name)) {
      // Another checkout with other migrations shares the server and dropped ours as stale: build it again.
      forgetTemplate();
      if (!copyTemplate(name)) {
        throw new IllegalStateException("the test template " + migratedTemplate() + " vanished twice on " + admin
            + ": is another build dropping it? Give each checkout its own server or database URL");
      }
    }
    return new TestDatabase(this, name, admin.withDatabase(name));
  }

  /** False when the template does not exist (any more). */
  private boolean copyTemplate(String database) {
    String sql = "CREATE DATABASE " + database + " TEMPLATE " + migratedTemplate();
    try (Connection connection = connect(admin); Statement statement = connection.createStatement()) {
      statement.execute(sql);
      return true;
    } catch (SQLException e) {
      if (INVALID_CATALOG_NAME.equals(e.getSQLState())) {
        return false;
      }
      throw new IllegalStateException(sql + " failed on " + admin + ": " + e.getMessage(), e);
    }
  }

  private synchronized void forgetTemplate() {
    template = null;
  }

  void drop(String database) {
    execute("DROP DATABASE IF EXISTS " + database + " WITH (FORCE)");
  }

  /** The server's administrative URL (the database named in the configuration). */
  public DatabaseUrl adminUrl() {
    return admin;
  }

  private synchronized String migratedTemplate() {
    if (template != null) {
      return template;
    }
    String name = "bp_template_" + migrationsFingerprint();
    try (Connection connection = connect(admin); Statement statement = connection.createStatement()) {
      // Several JVMs (one per Maven module) may share a server: one of them builds the template.
      statement.execute("SELECT pg_advisory_lock(hashtext('batchpilot test template'))");
      try {
        boolean exists;
        try (ResultSet rs = statement.executeQuery(
            "SELECT count(*) FROM pg_database WHERE datname = '" + name + "'")) {
          rs.next();
          exists = rs.getInt(1) > 0;
        }
        if (!exists) {
          statement.execute("CREATE DATABASE " + name + "_building TEMPLATE template0");
          TestDatabase building = new TestDatabase(this, name + "_building", admin.withDatabase(name + "_building"));
          new Migrator(building.dataSource()).migrate();
          building.closePool();
          statement.execute("ALTER DATABASE " + name + "_building RENAME TO " + name);
          statement.execute("ALTER DATABASE " + name + " WITH IS_TEMPLATE true");
          log.info("built test template {}", name);
          dropStaleTemplates(statement, name);
        }
      } finally {
        statement.execute("SELECT pg_advisory_unlock(hashtext('batchpilot test template'))");
      }
    } catch (SQLException e) {
      throw new IllegalStateException("cannot build the test template on " + admin + ": " + e.getMessage(), e);
    }
    template = name;
    return name;
  }

  /** Templates of earlier migrations would pile up on a shared server: drop the ones nobody uses. */
  private static void dropStaleTemplates(Statement statement, String current) throws SQLException {
    List<String> stale = new ArrayList<>();
    try (ResultSet rs = statement.executeQuery("SELECT datname FROM pg_database WHERE datname LIKE 'bp\\_template\\_%'"
        + " AND datname <> '" + current + "'")) {
      while (rs.next()) {
        stale.add(rs.getString(1));
      }
    }
    for (String name : stale) {
      try {
        statement.execute("ALTER DATABASE " + name + " WITH IS_TEMPLATE false");
        statement.execute("DROP DATABASE " + name);
        log.info("dropped stale test template {}", name);
      } catch (SQLException e) {
        log.info("left test template {} in place: {}", name, e.getMessage());
      }
    }
  }

  /** Changes whenever a migration does, so a stale template is never used. */
  private static String migrationsFingerprint() {
    try {
      MessageDigest digest = MessageDigest.getInstance("SHA-256");
      digest.update(SupabaseMigrationFile.render().getBytes(StandardCharsets.UTF_8));
      digest.update(readCompat().getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(digest.digest()).substring(0, 12).toLowerCase(Locale.ROOT);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  private static String readCompat() {
    try (var in = TestPostgres.class.getClassLoader()
        .getResourceAsStream("batchpilot/compat/V1__supabase_compatibility.sql")) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (java.io.IOException e) {
      throw new IllegalStateException(e);
    }
  }

  private void execute(String sql) {
    try (Connection connection = connect(admin); Statement statement = connection.createStatement()) {
      statement.execute(sql);
    } catch (SQLException e) {
      throw new IllegalStateException(sql + " failed on " + admin + ": " + e.getMessage(), e);
    }
  }

  static Connection connect(DatabaseUrl url) throws SQLException {
    return DriverManager.getConnection(url.pgjdbcNgUrl(), url.user(), url.password());
  }
}
