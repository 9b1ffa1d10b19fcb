package io.batchpilot.files;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Where {@link FileSource} may read from, and how much. Validated when built; each message names
 * the setting (its environment variable) and what to do.
 *
 * @param localRoot the only folder {@code file:} URLs may point into (demo and tests); absent: local
 *     files are refused. Any signed-in user can insert file rows, so this must never be a folder
 *     with anything but uploads in it.
 * @param supabaseUrl the project URL for Storage downloads; absent: Storage objects are refused
 * @param serviceRoleKey the key Storage downloads are made with; never logged or shown
 * @param storageBuckets the only buckets files are read from. The service-role key reads every
 *     bucket and any signed-in user can insert a file row naming any bucket, so without this list
 *     a user could have a private bucket's object processed into their own row.
 * @param allowedHosts hosts whose URLs may be fetched: exact names, or {@code *.example.com} for
 *     subdomains; empty: no URL is fetched
 * @param allowPrivateAddresses whether an allowed host may resolve to a loopback, private,
 *     link-local or otherwise internal address (off: a row cannot make the worker reach the
 *     cloud metadata service or the database's private network)
 * @param maxFileBytes the largest file read; reading stops as soon as a file goes past it
 * @param connectTimeout connecting to Storage or a URL
 * @param downloadTimeout a whole download, from connecting to the last byte
 */
public record FileSourceConfig(
    Optional<Path> localRoot,
    Optional<URI> supabaseUrl,
    Optional<String> serviceRoleKey,
    Set<String> storageBuckets,
    Set<String> allowedHosts,
    boolean allowPrivateAddresses,
    long maxFileBytes,
    Duration connectTimeout,
    Duration downloadTimeout) {

  /** Gemini takes at most 20 MB inline in a request; larger files would need the File API. */
  public static final long DEFAULT_MAX_FILE_BYTES = 20L * 1024 * 1024;
  public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(10);
  public static final Duration DEFAULT_DOWNLOAD_TIMEOUT = Duration.ofSeconds(120);

  public static final String ENV_LOCAL_ROOT = "BATCHPILOT_LOCAL_FILE_ROOT";
  public static final String ENV_SUPABASE_URL = "SUPABASE_URL";
  public static final String ENV_SERVICE_ROLE_KEY = "SUPABASE_SERVICE_ROLE_KEY";
  public static final String ENV_STORAGE_BUCKETS = "BATCHPILOT_STORAGE_BUCKETS";
  public static final String ENV_ALLOWED_HOSTS = "BATCHPILOT_URL_ALLOWED_HOSTS";
  public static final String ENV_ALLOW_PRIVATE_ADDRESSES = "BATCHPILOT_URL_ALLOW_PRIVATE_ADDRESSES";
  public static final String ENV_MAX_FILE_BYTES = "BATCHPILOT_MAX_FILE_BYTES";

  public FileSourceConfig {
    Objects.requireNonNull(localRoot, "localRoot");
    Objects.requireNonNull(supabaseUrl, "supabaseUrl");
    Objects.requireNonNull(serviceRoleKey, "serviceRoleKey");
    Objects.requireNonNull(storageBuckets, "storageBuckets");
    Objects.requireNonNull(allowedHosts, "allowedHosts");
    Objects.requireNonNull(connectTimeout, "connectTimeout");
    Objects.requireNonNull(downloadTimeout, "downloadTimeout");
    localRoot = localRoot.map(p -> p.toAbsolutePath().normalize());
    localRoot.ifPresent(root -> {
      if (!Files.isDirectory(root)) {
        throw new IllegalArgumentException(ENV_LOCAL_ROOT + " is " + root
            + ", which is not a folder: create it or point the setting at the uploads folder");
      }
    });
    supabaseUrl.ifPresent(url -> {
      String scheme = url.getScheme() == null ? "" : url.getScheme().toLowerCase(Locale.ROOT);
      if (!scheme.equals("https") && !scheme.equals("http") || url.getHost() == null) {
        throw new IllegalArgumentException(ENV_SUPABASE_URL + " must be the project URL, such as"
            + " https://abcd.supabase.co (or http://127.0.0.1:54321 locally); got '" + url + "'");
      }
    });
    if (supabaseUrl.isPresent() != serviceRoleKey.isPresent()) {
      throw new IllegalArgumentException("set both " + ENV_SUPABASE_URL + " and "
          + ENV_SERVICE_ROLE_KEY + " to read Supabase Storage, or neither");
    }
    if (serviceRoleKey.filter(String::isBlank).isPresent()) {
      throw new IllegalArgumentException(ENV_SERVICE_ROLE_KEY + " is blank: copy the service_role"
          + " key from the project's API settings");
    }
    storageBuckets = storageBuckets.stream().map(String::strip).collect(Collectors.toUnmodifiableSet());
    if (supabaseUrl.isPresent() && storageBuckets.isEmpty()) {
      throw new IllegalArgumentException("set " + ENV_STORAGE_BUCKETS + " to the buckets uploads go to"
          + " (comma-separated): the service-role key reads every bucket, so batchpilot reads only these");
    }
    for (String bucket : storageBuckets) {
      if (bucket.isEmpty() || bucket.contains("/")) {
        throw new IllegalArgumentException(ENV_STORAGE_BUCKETS + " entry '" + bucket + "' is not a bucket name");
      }
    }
    allowedHosts = allowedHosts.stream().map(h -> h.strip().toLowerCase(Locale.ROOT))
        .collect(Collectors.toUnmodifiableSet());
    for (String host : allowedHosts) {
      if (host.isEmpty() || host.contains("/") || host.contains(":") && !host.startsWith("[")
          || host.indexOf('*') > 0 || host.equals("*") || host.startsWith("*") && !host.startsWith("*.")) {
        throw new IllegalArgumentException(ENV_ALLOWED_HOSTS + " entry '" + host + "' is not a host"
            + " name: write names such as receipts.example.com or *.example.com, comma-separated");
      }
    }
    if (maxFileBytes < 1) {
      throw new IllegalArgumentException(ENV_MAX_FILE_BYTES + " must be at least 1; got " + maxFileBytes);
    }
    if (connectTimeout.isNegative() || connectTimeout.isZero()
        || downloadTimeout.isNegative() || downloadTimeout.isZero()) {
      throw new IllegalArgumentException("file source timeouts must be positive; got connect "
          + connectTimeout + ", download " + downloadTimeout);
    }
  }

  /** Nothing allowed: a starting point for {@code with...} calls in code and tests. */
  public static FileSourceConfig defaults() {
    return new FileSourceConfig(Optional.empty(), Optional.empty(), Optional.empty(), Set.of(), Set.of(), false,
        DEFAULT_MAX_FILE_BYTES, DEFAULT_CONNECT_TIMEOUT, DEFAULT_DOWNLOAD_TIMEOUT);
  }

  /** The settings from environment variables (names in the {@code ENV_} constants and the README). */
  public static FileSourceConfig fromEnvironment(Map<String, String> env) {
    Optional<String> maxBytes = setting(env, ENV_MAX_FILE_BYTES);
    long max;
    try {
      max = maxBytes.map(Long::parseLong).orElse(DEFAULT_MAX_FILE_BYTES);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(ENV_MAX_FILE_BYTES + " must be a number of bytes; got '"
          + maxBytes.get() + "'");
    }
    Optional<URI> supabase;
    try {
      supabase = setting(env, ENV_SUPABASE_URL).map(URI::create);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(ENV_SUPABASE_URL + " is not a URL: " + e.getMessage());
    }
    return new FileSourceConfig(
        setting(env, ENV_LOCAL_ROOT).map(Path::of),
        supabase,
        setting(env, ENV_SERVICE_ROLE_KEY),
        list(env, ENV_STORAGE_BUCKETS),
        list(env, ENV_ALLOWED_HOSTS),
        setting(env, ENV_ALLOW_PRIVATE_ADDRESSES).map(FileSourceConfig::trueOrFalse).orElse(false),
        max,
        DEFAULT_CONNECT_TIMEOUT,
        DEFAULT_DOWNLOAD_TIMEOUT);
  }

  // Boolean.parseBoolean would read a typo such as "yes" as false, silently.
  private static boolean trueOrFalse(String value) {
    return switch (value.strip().toLowerCase(Locale.ROOT)) {
      case "true" -> true;
      case "false" -> false;
      default -> throw new IllegalArgumentException(ENV_ALLOW_PRIVATE_ADDRESSES + " must be true or false; got '"
          + value + "'");
    };
  }

  private static Set<String> list(Map<String, String> env, String name) {
    return setting(env, name)
        .map(v -> Arrays.stream(v.split(",")).filter(s -> !s.isBlank()).collect(Collectors.toSet()))
        .orElse(Set.of());
  }

  private static Optional<String> setting(Map<String, String> env, String name) {
    return Optional.ofNullable(env.get(name)).filter(v -> !v.isBlank());
  }

  public FileSourceConfig withLocalRoot(Path root) {
    return new FileSourceConfig(Optional.of(root), supabaseUrl, serviceRoleKey, storageBuckets, allowedHosts,
        allowPrivateAddresses, maxFileBytes, connectTimeout, downloadTimeout);
  }

  public FileSourceConfig withSupabase(URI url, String key, Set<String> buckets) {
    return new FileSourceConfig(localRoot, Optional.of(url), Optional.of(key), buckets, allowedHosts,
        allowPrivateAddresses, maxFileBytes, connectTimeout, downloadTimeout);
  }

  public FileSourceConfig withAllowedHosts(Set<String> hosts, boolean allowPrivate) {
    return new FileSourceConfig(localRoot, supabaseUrl, serviceRoleKey, storageBuckets, hosts, allowPrivate,
        maxFileBytes, connectTimeout, downloadTimeout);
  }

  public FileSourceConfig withMaxFileBytes(long max) {
    return new FileSourceConfig(localRoot, supabaseUrl, serviceRoleKey, storageBuckets, allowedHosts,
        allowPrivateAddresses, max, connectTimeout, downloadTimeout);
  }

  public FileSourceConfig withTimeouts(Duration connect, Duration download) {
    return new FileSourceConfig(localRoot, supabaseUrl, serviceRoleKey, storageBuckets, allowedHosts,
        allowPrivateAddresses, maxFileBytes, connect, download);
  }

  /** Whether a URL on this host may be fetched at all (before its addresses are checked). */
  boolean hostAllowed(String host) {
    String h = host.toLowerCase(Locale.ROOT);
    for (String allowed : allowedHosts) {
      if (allowed.startsWith("*.") ? h.endsWith(allowed.substring(1)) : h.equals(allowed)) {
        return true;
      }
    }
    return false;
  }

  @Override
  public String toString() {
    // The key stays out: this record is logged at startup.
    return "FileSourceConfig[localRoot=" + localRoot.map(Path::toString).orElse("(none)")
        + ", supabaseUrl=" + supabaseUrl.map(URI::toString).orElse("(none)")
        + ", serviceRoleKey=" + (serviceRoleKey.isPresent() ? "(set)" : "(none)")
        + ", storageBuckets=" + storageBuckets
        + ", allowedHosts=" + allowedHosts + ", allowPrivateAddresses=" + allowPrivateAddresses
        + ", maxFileBytes=" + maxFileBytes + ", connectTimeout=" + connectTimeout
        + ", downloadTimeout=" + downloadTimeout + "]";
  }
}
