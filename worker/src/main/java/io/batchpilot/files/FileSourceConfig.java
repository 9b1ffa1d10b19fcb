package io.batchpilot.files;

import io.batchpilot.settings.Kind;
import io.batchpilot.settings.Range;
import io.batchpilot.settings.Setting;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Where {@link FileSource} may read from, and how much. Validated when built; each message names
 * the setting (its environment variable, declared below) and what to do.
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

  public static final Setting<String> LOCAL_FILE_ROOT = Setting.optional("BATCHPILOT_LOCAL_FILE_ROOT",
      Kind.text("a folder"), "none: no local files",
      "the only folder `file:` URLs may name (the demo, tests); never a folder with anything but uploads in it");
  public static final Setting<URI> SUPABASE_URL = Setting.optional("SUPABASE_URL", Kind.URL,
      "none: Storage objects fail", "the project URL for Storage downloads, like https://abcd.supabase.co; set with "
          + "`SUPABASE_SERVICE_ROLE_KEY`");
  public static final Setting<String> SERVICE_ROLE_KEY = Setting.optional("SUPABASE_SERVICE_ROLE_KEY",
      Kind.text("the service_role key"), "none", "the key Storage downloads are made with; never logged or shown")
      .keptSecret();
  public static final Setting<Set<String>> STORAGE_BUCKETS = Setting.optional("BATCHPILOT_STORAGE_BUCKETS", Kind.LIST,
      "required with `SUPABASE_URL`", "the only buckets files are read from (the service-role key reads every bucket)");
  public static final Setting<Set<String>> URL_ALLOWED_HOSTS = Setting.optional("BATCHPILOT_URL_ALLOWED_HOSTS", Kind.LIST,
      "none: no URL is fetched", "hosts whose `https://` URLs may be fetched, `*.example.com` for subdomains");
  public static final Setting<Boolean> URL_ALLOW_PRIVATE_ADDRESSES = Setting.of("BATCHPILOT_URL_ALLOW_PRIVATE_ADDRESSES",
      Kind.TRUE_OR_FALSE, false, "let allowed hosts resolve to loopback, private or link-local addresses");
  /**
   * Google's limits, read 2026-12-03 (https://ai.google.dev/gemini-api/docs/file-input-methods): inline
   * data up to 100 MB a request, PDFs up to 50 MB inline; the Files API takes files up to 2 GB. The
   * default is the inline PDF limit, so any file of the default size goes inline in one request; a larger
   * setting sends the largest through the Files API, and each file in flight is held in the heap.
   */
  public static final Setting<Long> MAX_FILE_BYTES = Setting.wholeNumber("BATCHPILOT_MAX_FILE_BYTES", 50_000_000L,
      Range.between(1L, 2_000_000_000L), "the largest file read or sent, in bytes; 50 MB is the largest PDF Gemini takes "
          + "inline, 2 GB the most its Files API takes (Google's limits as read on 2026-12-03); the heap holds each file "
          + "in flight");
  public static final List<Setting<?>> SETTINGS = List.of(SUPABASE_URL, SERVICE_ROLE_KEY, STORAGE_BUCKETS,
      URL_ALLOWED_HOSTS, URL_ALLOW_PRIVATE_ADDRESSES, LOCAL_FILE_ROOT, MAX_FILE_BYTES);

  public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(10);
  public static final Duration DEFAULT_DOWNLOAD_TIMEOUT = Duration.ofSeconds(120);

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
        throw new IllegalArgumentException(LOCAL_FILE_ROOT.name() + " is " + root
            + ", which is not a folder: create it or point the setting at the uploads folder");
      }
    });
    supabaseUrl.ifPresent(url -> {
      String scheme = url.getScheme() == null ? "" : url.getScheme().toLowerCase(Locale.ROOT);
      if (!scheme.equals("https") && !scheme.equals("http") || url.getHost() == null) {
        throw new IllegalArgumentException(SUPABASE_URL.name() + " must be the project URL, such as"
            + " https://abcd.supabase.co (or http://127.0.0.1:54321 locally); got '" + url + "'");
      }
    });
    if (supabaseUrl.isPresent() != serviceRoleKey.isPresent()) {
      throw new IllegalArgumentException("set both " + SUPABASE_URL.name() + " and "
          + SERVICE_ROLE_KEY.name() + " to read Supabase Storage, or neither");
    }
    if (serviceRoleKey.filter(String::isBlank).isPresent()) {
      throw new IllegalArgumentException(SERVICE_ROLE_KEY.name() + " is blank: copy the service_role"
          + " key from the project's API settings");
    }
    storageBuckets = storageBuckets.stream().map(String::strip).collect(Collectors.toUnmodifiableSet());
    if (supabaseUrl.isPresent() && storageBuckets.isEmpty()) {
      throw new IllegalArgumentException("set " + STORAGE_BUCKETS.name() + " to the buckets uploads go to"
          + " (comma-separated): the service-role key reads every bucket, so batchpilot reads only these");
    }
    for (String bucket : storageBuckets) {
      if (bucket.isEmpty() || bucket.contains("/")) {
        throw new IllegalArgumentException(STORAGE_BUCKETS.name() + " entry '" + bucket + "' is not a bucket name");
      }
    }
    allowedHosts = allowedHosts.stream().map(h -> h.strip().toLowerCase(Locale.ROOT))
        .collect(Collectors.toUnmodifiableSet());
    for (String host : allowedHosts) {
      if (host.isEmpty() || host.contains("/") || host.contains(":") && !host.startsWith("[")
          || host.indexOf('*') > 0 || host.equals("*") || host.startsWith("*") && !host.startsWith("*.")) {
        throw new IllegalArgumentException(URL_ALLOWED_HOSTS.name() + " entry '" + host + "' is not a host"
            + " name: write names such as receipts.example.com or *.example.com, comma-separated");
      }
    }
    MAX_FILE_BYTES.check(maxFileBytes);
    if (connectTimeout.isNegative() || connectTimeout.isZero()
        || downloadTimeout.isNegative() || downloadTimeout.isZero()) {
      throw new IllegalArgumentException("file source timeouts must be positive; got connect "
          + connectTimeout + ", download " + downloadTimeout);
    }
  }

  /** Nothing allowed: a starting point for {@code with...} calls in code and tests. */
  public static FileSourceConfig defaults() {
    return new FileSourceConfig(Optional.empty(), Optional.empty(), Optional.empty(), Set.of(), Set.of(), false,
        MAX_FILE_BYTES.defaultValue(), DEFAULT_CONNECT_TIMEOUT, DEFAULT_DOWNLOAD_TIMEOUT);
  }

  /** Reads the settings declared above; unset ones take their defaults. */
  public static FileSourceConfig fromEnvironment(Map<String, String> env) {
    return new FileSourceConfig(
        LOCAL_FILE_ROOT.find(env).map(Path::of),
        SUPABASE_URL.find(env),
        SERVICE_ROLE_KEY.find(env),
        STORAGE_BUCKETS.find(env).orElse(Set.of()),
        URL_ALLOWED_HOSTS.find(env).orElse(Set.of()),
        URL_ALLOW_PRIVATE_ADDRESSES.from(env),
        MAX_FILE_BYTES.from(env),
        DEFAULT_CONNECT_TIMEOUT,
        DEFAULT_DOWNLOAD_TIMEOUT);
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
