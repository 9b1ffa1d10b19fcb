package io.batchpilot.db;

import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
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

  private static final List<String> SSL_MODES =
      List.of("disable", "allow", "prefer", "require", "verify-ca", "verify-full");

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
    if (uri.getPort() == 0 || uri.getPort() > 65535) {
      throw invalid(settingName, trimmed, "port " + uri.getPort() + " is not between 1 and 65535");
    }
    String path = uri.getRawPath() == null ? "" : uri.getRawPath();
    String database = decode(settingName, trimmed, path.startsWith("/") ? path.substring(1) : path);
    if (database.isEmpty()) {
      throw invalid(settingName, trimmed, "it names no database (add /postgres or your database's name after the port)");
    }
    String user = null;
    String password = null;
    if (uri.getRawUserInfo() != null) {
      String info = uri.getRawUserInfo();
      int colon = info.indexOf(':');
      user = decode(settingName, trimmed, colon < 0 ? info : info.substring(0, colon));
      password = colon < 0 ? null : decode(settingName, trimmed, info.substring(colon + 1));
    }
    Map<String, String> parameters = parameters(settingName, trimmed, uri.getRawQuery());
    user = parameters.getOrDefault("user", user);
    password = parameters.getOrDefault("password", password);
    String sslMode = sslMode(settingName, trimmed, parameters);
    int port = uri.getPort() < 0 ? DEFAULT_PORT : uri.getPort();
    return new DatabaseUrl(uri.getHost(), port, database, user == null || user.isEmpty() ? null : user,
        password, sslMode);
  }

  /** libpq's sslmode; pgjdbc-ng's ssl.mode and pgjdbc's ssl=true (which verifies fully) say the same. */
  private static String sslMode(String settingName, String text, Map<String, String> parameters) {
    String mode = parameters.get("sslmode");
    if (mode == null && parameters.containsKey("ssl.mode")) {
      mode = parameters.get("ssl.mode").replaceAll("([a-z])([A-Z])", "$1-$2").toLowerCase(Locale.ROOT);
    }
    if (mode == null && "true".equalsIgnoreCase(parameters.get("ssl"))) {
      mode = "verify-full";
    }
    if (mode != null && !SSL_MODES.contains(mode)) {
      throw invalid(settingName, text, "sslmode '" + mode + "' is not one of " + String.join(", ", SSL_MODES));
    }
    return mode;
  }

  private static IllegalArgumentException invalid(String settingName, String text, String why) {
    return new IllegalArgumentException(settingName + " '" + maskPassword(text) + "' is not a PostgreSQL URL: " + why
        + ". Example: postgresql://postgres:password@db.example.supabase.co:5432/postgres");
  }

  /**
   * Replaces the password in a URL-shaped string, so that it can be logged or shown. An unencoded
   * {@code @} or {@code /} in a password is a common mistake, so everything from the user's colon to
   * the last {@code @} is masked: showing too little beats showing part of a password.
   */
  public static String maskPassword(String text) {
    String masked = text;
    int scheme = masked.indexOf("://");
    int at = masked.lastIndexOf('@');
    if (scheme >= 0 && at > scheme) {
      int colon = masked.indexOf(':', scheme + 3);
      if (colon >= 0 && colon < at) {
        masked = masked.substring(0, colon + 1) + "****" + masked.substring(at);
      }
    }
    return masked.replaceAll("(?i)(password=)[^&]*", "$1****");
  }

  private static Map<String, String> parameters(String settingName, String text, String rawQuery) {
    Map<String, String> result = new LinkedHashMap<>();
    if (rawQuery == null || rawQuery.isEmpty()) {
      return result;
    }
    for (String pair : rawQuery.split("&")) {
      int eq = pair.indexOf('=');
      if (eq > 0) {
        // Query strings encode a space as '+'; user info and paths keep '+' literal.
        result.put(decode(settingName, text, pair.substring(0, eq)),
            decode(settingName, text, pair.substring(eq + 1).replace('+', ' ')));
      }
    }
    return result;
  }

  /** Percent-decoding as RFC 3986 defines it: unlike URLDecoder, a '+' stays a '+'. */
  private static String decode(String settingName, String text, String s) {
    if (s.indexOf('%') < 0) {
      return s;
    }
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(s.length());
    int i = 0;
    while (i < s.length()) {
      int escape = s.indexOf('%', i);
      if (escape != i) {
        int end = escape < 0 ? s.length() : escape;
        bytes.writeBytes(s.substring(i, end).getBytes(StandardCharsets.UTF_8));
        i = end;
        continue;
      }
      int high = i + 2 < s.length() ? Character.digit(s.charAt(i + 1), 16) : -1;
      int low = i + 2 < s.length() ? Character.digit(s.charAt(i + 2), 16) : -1;
      if (high < 0 || low < 0) {
        // The characters after '%' may be part of a password: the message does not quote them.
        throw invalid(settingName, text, "'%' must be followed by two hex digits (write a literal % as %25)");
      }
      bytes.write(high * 16 + low);
      i += 3;
    }
    return bytes.toString(StandardCharsets.UTF_8);
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
          + "' is not one of " + String.join(", ", SSL_MODES));
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

  /**
   * The URL with its password, percent-encoded, for handing to another process or command. Never
   * log it: {@link #toString()} is the loggable form.
   */
  public String withCredentials() {
    String credentials = user == null ? "" : encode(user) + (password == null ? "" : ":" + encode(password)) + "@";
    return "postgresql://" + credentials + hostForUrl() + ":" + port + "/" + encode(database)
        + (sslMode == null ? "" : "?sslmode=" + sslMode);
  }

  private static String encode(String s) {
    return java.net.URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
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
