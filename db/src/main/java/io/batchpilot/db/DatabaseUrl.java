package io.batchpilot.db;

import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Where a PostgreSQL database is, parsed from any of the forms people paste: Supabase's
 * {@code postgresql://user:password@host:5432/postgres}, {@code postgres://...}, or a JDBC URL
 * ({@code jdbc:postgresql://...}, {@code jdbc:pgsql://...}) with user and password as parameters.
 * The password never appears in {@link #toString()} or in an error.
 */
public final class DatabaseUrl {

  public static final int DEFAULT_PORT = 5432;

  private final String host;
  private final int port;
  private final String database;
  private final String user;
  private final String password;
  private final String sslMode;

  public DatabaseUrl(String host, int port, String database, String user, String password, String sslMode) {
    this.host = Objects.requireNonNull(host, "host");
    this.port = port;
    this.database = Objects.requireNonNull(database, "database");
    this.user = user;
    this.password = password;
    this.sslMode = sslMode;
  }

  /**
   * Parses {@code text}; {@code settingName} (say, {@code DATABASE_URL}) is named in the error a
   * person sees when the text is not a PostgreSQL URL.
   */
  public static DatabaseUrl parse(String settingName, String text) {
    if (text == null || text.isBlank()) {
      throw new IllegalArgumentException(settingName + " is empty: set it to postgresql://user:password@host:5432/database");
    }
    String trimmed = text.trim();
    String rest;
    if (trimmed.startsWith("jdbc:postgresql://")) {
      rest = trimmed.substring("jdbc:postgresql://".length());
    } else if (trimmed.startsWith("jdbc:pgsql://")) {
      rest = trimmed.substring("jdbc:pgsql://".length());
    } else if (trimmed.startsWith("postgresql://")) {
      rest = trimmed.substring("postgresql://".length());
    } else if (trimmed.startsWith("postgres://")) {
      rest = trimmed.substring("postgres://".length());
    } else {
      throw invalid(settingName, trimmed, "it must start with postgresql://, postgres://, jdbc:postgresql:// or jdbc:pgsql://");
    }
    URI uri;
    try {
      uri = new URI("postgresql://" + rest);
    } catch (URISyntaxException e) {
      throw invalid(settingName, trimmed, "it is not a valid URL (" + e.getReason() + "; a password with special characters must be percent-encoded)");
    }
    if (uri.getHost() == null) {
      throw invalid(settingName, trimmed, "it names no host");
    }
    String path = uri.getRawPath() == null ? "" : uri.getRawPath();
    String database = path.startsWith("/") ? decode(path.substring(1)) : decode(path);
    if (database.isEmpty()) {
      throw invalid(settingName, trimmed, "it names no database (add /postgres or your database's name after the port)");
    }
    String user = null;
    String password = null;
    if (uri.getRawUserInfo() != null) {
      String info = uri.getRawUserInfo();
      int colon = info.indexOf(':');
      user = decode(colon < 0 ? info : info.substring(0, colon));
      password = colon < 0 ? null : decode(info.substring(colon + 1));
    }
    Map<String, String> parameters = parameters(uri.getRawQuery());
    user = parameters.getOrDefault("user", user);
    password = parameters.getOrDefault("password", password);
    String sslMode = parameters.getOrDefault("sslmode", parameters.get("sslMode"));
    int port = uri.getPort() < 0 ? DEFAULT_PORT : uri.getPort();
    return new DatabaseUrl(uri.getHost(), port, database, user, password, sslMode);
  }

  private static IllegalArgumentException invalid(String settingName, String text, String why) {
    return new IllegalArgumentException(settingName + " '" + maskPassword(text) + "' is not a PostgreSQL URL: " + why
        + ". Example: postgresql://postgres:password@db.example.supabase.co:5432/postgres");
  }

  /** Replaces the password in a URL-shaped string, so that it can be logged or shown. */
  public static String maskPassword(String text) {
    String masked = text.replaceAll("(://[^:/@?]+:)[^@/]*@", "$1****@");
    return masked.replaceAll("(?i)(password=)[^&]*", "$1****");
  }

  private static Map<String, String> parameters(String rawQuery) {
    Map<String, String> result = new LinkedHashMap<>();
    if (rawQuery == null || rawQuery.isEmpty()) {
      return result;
    }
    for (String pair : rawQuery.split("&")) {
      int eq = pair.indexOf('=');
      if (eq > 0) {
        result.put(decode(pair.substring(0, eq)), decode(pair.substring(eq + 1)));
      }
    }
    return result;
  }

  private static String decode(String s) {
    return URLDecoder.decode(s, StandardCharsets.UTF_8);
  }

  /** The same server, another database on it. */
  public DatabaseUrl withDatabase(String otherDatabase) {
    return new DatabaseUrl(host, port, otherDatabase, user, password, sslMode);
  }

  /** The URL for pgjdbc-ng, without credentials (they go to the pool as properties). */
  public String pgjdbcNgUrl() {
    String url = "jdbc:pgsql://" + hostForUrl() + ":" + port + "/" + database;
    return sslMode == null ? url : url + "?ssl.mode=" + pgjdbcNgSslMode(sslMode);
  }

  private static String pgjdbcNgSslMode(String libpqMode) {
    // pgjdbc-ng spells libpq's modes in its own words.
    return switch (libpqMode) {
      case "disable" -> "Disable";
      case "allow" -> "Allow";
      case "prefer" -> "Prefer";
      case "require" -> "Require";
      case "verify-ca" -> "VerifyCa";
      case "verify-full" -> "VerifyFull";
      default -> throw new IllegalArgumentException("sslmode '" + libpqMode
          + "' is not one of disable, allow, prefer, require, verify-ca, verify-full");
    };
  }

  private String hostForUrl() {
    return host.contains(":") && !host.startsWith("[") ? "[" + host + "]" : host;
  }

  public String host() {
    return host;
  }

  public int port() {
    return port;
  }

  public String database() {
    return database;
  }

  public String user() {
    return user;
  }

  public String password() {
    return password;
  }

  public String sslMode() {
    return sslMode;
  }

  @Override
  public String toString() {
    return "postgresql://" + (user == null ? "" : user + (password == null ? "" : ":****") + "@")
        + hostForUrl() + ":" + port + "/" + database + (sslMode == null ? "" : "?sslmode=" + sslMode);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof DatabaseUrl other && host.equals(other.host) && port == other.port
        && database.equals(other.database) && Objects.equals(user, other.user)
        && Objects.equals(password, other.password) && Objects.equals(sslMode, other.sslMode);
  }

  @Override
  public int hashCode() {
    return Objects.hash(host, port, database, user);
  }
}
