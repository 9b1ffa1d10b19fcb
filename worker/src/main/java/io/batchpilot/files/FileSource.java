package io.batchpilot.files;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.InetAddress;
import java.net.URI;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import okhttp3.HttpUrl;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.Response;
import okhttp3.ResponseBody;
import okio.BufferedSink;
import okio.BufferedSource;
import okio.Okio;
import okio.Source;

/**
 * Fetches a file's bytes from where its row says they are: a Supabase Storage object, an HTTPS URL
 * on an allowed host, or a local file under the configured root, into a temporary file (see
 * {@link LoadedFile}). Never reads more than {@link FileSourceConfig#maxFileBytes()}; never puts the
 * service-role key in a message.
 */
public final class FileSource {

  private static final int MAX_REDIRECTS = 5;
  private static final long SPOOL_READ_BYTES = 64 * 1024;
  /** A copy lives while its file is processed, minutes at most: one this old was left by a killed worker. */
  static final Duration ABANDONED_COPY_AGE = Duration.ofDays(1);
  private static final ObjectMapper JSON = new ObjectMapper();

  private final FileSourceConfig config;
  private final OkHttpClient storageClient;
  private final OkHttpClient urlClient;
  private final InternalAddressGuard guard;
  private final Optional<Path> realLocalRoot;
  private final Path spoolDirectory;

  /**
   * @param http the process's shared client; its connection pool and threads are reused, with this
   *     source's timeouts and no automatic redirects (each hop is checked here)
   */
  public FileSource(FileSourceConfig config, OkHttpClient http) {
    this(config, http, Path.of(System.getProperty("java.io.tmpdir")));
  }

  /** @param spoolDirectory where the temporary copies go (tests give a folder of their own) */
  FileSource(FileSourceConfig config, OkHttpClient http, Path spoolDirectory) {
    this.config = config;
    this.spoolDirectory = spoolDirectory;
    this.storageClient = http.newBuilder()
        .connectTimeout(config.connectTimeout())
        .readTimeout(config.downloadTimeout())
        .callTimeout(config.downloadTimeout())
        .followRedirects(false)
        .followSslRedirects(false)
        .build();
    this.guard = new InternalAddressGuard(config.allowPrivateAddresses());
    this.urlClient = storageClient.newBuilder().dns(guard).build();
    try {
      this.realLocalRoot = config.localRoot().isPresent()
          ? Optional.of(config.localRoot().get().toRealPath())
          : Optional.empty();
    } catch (IOException e) {
      throw new IllegalArgumentException(FileSourceConfig.LOCAL_FILE_ROOT.name() + " " + config.localRoot().get()
          + " cannot be read (" + e.getMessage() + "): create it or fix the setting", e);
    }
  }

  /**
   * Deletes the temporary copies that workers killed mid-file (kill -9) left in the spool directory:
   * those older than {@link #ABANDONED_COPY_AGE}, whichever worker on this machine made them.
   * Returns how many went; one that cannot be deleted is left for the next start.
   */
  public int deleteAbandonedCopies() {
    Instant before = Instant.now().minus(ABANDONED_COPY_AGE);
    int deleted = 0;
    try (DirectoryStream<Path> copies = Files.newDirectoryStream(spoolDirectory, "batchpilot-*.file")) {
      for (Path copy : copies) {
        try {
          if (Files.getLastModifiedTime(copy, LinkOption.NOFOLLOW_LINKS).toInstant().isBefore(before)
              && Files.deleteIfExists(copy)) {
            deleted++;
          }
        } catch (IOException e) {
          // Another worker's, or gone meanwhile.
        }
      }
    } catch (IOException e) {
      // The spool directory cannot be listed: the copies stay, and the first download says why.
    }
    return deleted;
  }

  /**
   * The file's bytes, in a temporary file that the caller closes.
   *
   * @throws FileUnavailableException when they cannot be had: permanent for a missing object or a
   *     refused location, {@link FileUnavailableException#retryable() retryable} for a server error
   *     or a timeout
   * @throws InvalidFileException when the file is larger than the limit
   */
  public LoadedFile load(FileLocation location) throws FileUnavailableException, InvalidFileException {
    if (location instanceof FileLocation.StorageObject object) {
      return loadStorageObject(object);
    }
    if (location instanceof FileLocation.RemoteUrl url) {
      return loadUrl(url);
    }
    return loadLocal((FileLocation.LocalFile) location);
  }

  private LoadedFile loadStorageObject(FileLocation.StorageObject object)
      throws FileUnavailableException, InvalidFileException {
    if (config.supabaseUrl().isEmpty()) {
      throw new FileUnavailableException(object + " cannot be read: this worker has no "
          + FileSourceConfig.SUPABASE_URL.name() + " and " + FileSourceConfig.SERVICE_ROLE_KEY.name()
          + "; set them and retry the file", false);
    }
    if (!config.storageBuckets().contains(object.bucket())) {
      throw new FileUnavailableException(object + " is refused: bucket '" + object.bucket()
          + "' is not in " + FileSourceConfig.STORAGE_BUCKETS.name() + "; add it there if uploads go to it", false);
    }
    HttpUrl base = HttpUrl.get(config.supabaseUrl().get().toString());
    HttpUrl.Builder url = base.newBuilder().addPathSegments("storage/v1/object/authenticated")
        .addPathSegment(object.bucket());
    for (String segment : object.path().split("/", -1)) {
      // OkHttp resolves "." and "..", which would let a path climb into another bucket.
      if (segment.isEmpty() || segment.equals(".") || segment.equals("..")) {
        throw new FileUnavailableException(object + " is refused: storage_path has an empty, '.' or"
            + " '..' segment; give the object's plain path inside the bucket", false);
      }
      url.addPathSegment(segment);
    }
    String key = config.serviceRoleKey().orElseThrow();
    Request request = new Request.Builder().url(url.build()).get()
        .header("Authorization", "Bearer " + key)
        .header("apikey", key)
        .build();
    try (Response response = storageClient.newCall(request).execute()) {
      int code = response.code();
      if (response.isSuccessful()) {
        return spool(object, response);
      }
      if (code == 404 || code == 400 && storageSaysNotFound(response.body())) {
        // Storage has answered a missing object with 400 and {"statusCode":"404"} in the body.
        throw new FileUnavailableException(object + " does not exist in Supabase Storage: upload"
            + " the file again or correct storage_bucket/storage_path", false);
      }
      if (code == 401 || code == 403) {
        throw new FileUnavailableException("Supabase Storage refused the service-role key for "
            + object + " (HTTP " + code + "): check " + FileSourceConfig.SERVICE_ROLE_KEY.name(), false);
      }
      throw httpFailure(object, code);
    } catch (IOException e) {
      throw ioFailure(object, e);
    }
  }

  private LoadedFile loadUrl(FileLocation.RemoteUrl location)
      throws FileUnavailableException, InvalidFileException {
    URI current = location.url();
    for (int hop = 0; hop <= MAX_REDIRECTS; hop++) {
      HttpUrl url = checkedUrl(location, current);
      Request request = new Request.Builder().url(url).get().build();
      try (Response response = urlClient.newCall(request).execute()) {
        int code = response.code();
        if (response.isSuccessful()) {
          return spool(location, response);
        }
        if (response.isRedirect() && response.header("Location") != null) {
          HttpUrl next = url.resolve(response.header("Location"));
          if (next == null) {
            throw new FileUnavailableException(location + " redirects to an unusable location '"
                + response.header("Location") + "'", false);
          }
          current = next.uri();
          continue;
        }
        if (code == 404 || code == 410) {
          throw new FileUnavailableException(location + " does not exist (HTTP " + code
              + "): correct source_url or upload the file again", false);
        }
        throw httpFailure(location, code);
      } catch (InternalAddressGuard.RefusedAddressException e) {
        throw refusedAddress(location, e);
      } catch (IOException e) {
        throw ioFailure(location, e);
      }
    }
    throw new FileUnavailableException(location + " redirected more than " + MAX_REDIRECTS
        + " times: give source_url the file's final address", false);
  }

  /** Each hop must be https on an allowed host, and not a literal internal address. */
  private HttpUrl checkedUrl(FileLocation.RemoteUrl location, URI uri) throws FileUnavailableException {
    HttpUrl url = HttpUrl.parse(uri.toString());
    if (url == null || !url.isHttps()) {
      throw new FileUnavailableException(location + ": only https URLs are fetched (got '" + uri
          + "'): serve the file over https", false);
    }
    if (!config.hostAllowed(url.host())) {
      throw new FileUnavailableException(location + ": host " + url.host() + " is not in "
          + FileSourceConfig.URL_ALLOWED_HOSTS.name() + ": add it there if files may come from it", false);
    }
    if (InternalAddressGuard.isIpLiteral(url.host())) {
      try {
        guard.checkLiteral(InetAddress.getByName(url.host()));
      } catch (InternalAddressGuard.RefusedAddressException e) {
        throw refusedAddress(location, e);
      } catch (IOException e) {
        throw new FileUnavailableException(location + ": bad address " + url.host(), false, e);
      }
    }
    return url;
  }

  private static FileUnavailableException refusedAddress(FileLocation location, IOException e) {
    return new FileUnavailableException(location + " is refused: " + e.getMessage() + "; set "
        + FileSourceConfig.URL_ALLOW_PRIVATE_ADDRESSES.name() + "=true only if the worker may read from"
        + " its own network", false, e);
  }

  private LoadedFile loadLocal(FileLocation.LocalFile file)
      throws FileUnavailableException, InvalidFileException {
    if (realLocalRoot.isEmpty()) {
      throw new FileUnavailableException(file + " is refused: this worker reads no local files ("
          + FileSourceConfig.LOCAL_FILE_ROOT.name() + " is not set)", false);
    }
    Path real;
    try {
      // The real path follows links, so a link inside the root cannot lead outside it.
      real = file.path().toRealPath();
    } catch (NoSuchFileException e) {
      throw new FileUnavailableException(file + " does not exist: correct source_url or put the"
          + " file back", false);
    } catch (IOException e) {
      throw new FileUnavailableException(file + " cannot be read: " + e.getMessage(), false, e);
    }
    if (!real.startsWith(realLocalRoot.get())) {
      throw new FileUnavailableException(file + " is refused: it is outside "
          + FileSourceConfig.LOCAL_FILE_ROOT.name() + " (" + realLocalRoot.get() + ")", false);
    }
    if (!Files.isRegularFile(real, LinkOption.NOFOLLOW_LINKS)) {
      throw new FileUnavailableException(file + " is not a regular file", false);
    }
    try (Source in = Okio.source(real)) {
      return spool(file, in, Optional.empty());
    } catch (IOException e) {
      throw new FileUnavailableException(file + " cannot be read: " + e.getMessage(), true, e);
    }
  }

  /** Spools at most the limit, refusing as soon as the body (or its declared length) goes past it. */
  private LoadedFile spool(FileLocation location, Response response) throws IOException, InvalidFileException {
    ResponseBody body = response.body();
    if (body.contentLength() > config.maxFileBytes()) {
      throw tooLarge(location, String.valueOf(body.contentLength()));
    }
    return spool(location, body.source(), contentType(response));
  }

  /**
   * Copies the bytes into a temporary file of their own, at most the limit: the file is never held in
   * memory, and nothing is left on disk when the copy fails.
   */
  private LoadedFile spool(FileLocation location, Source in, Optional<String> contentType)
      throws IOException, InvalidFileException {
    Path spooled = Files.createTempFile(spoolDirectory, "batchpilot-", ".file"); // owner-only on POSIX
    try {
      long size = 0;
      try (BufferedSink out = Okio.buffer(Okio.sink(spooled))) {
        for (long n; (n = in.read(out.getBuffer(), SPOOL_READ_BYTES)) != -1; ) {
          size += n;
          if (size > config.maxFileBytes()) {
            throw tooLarge(location, "more than " + config.maxFileBytes());
          }
          out.emitCompleteSegments();
        }
      }
      return new LoadedFile(location, spooled, size, contentType);
    } catch (Throwable e) {
      Files.deleteIfExists(spooled);
      throw e;
    }
  }

  private InvalidFileException tooLarge(FileLocation location, String size) {
    return new InvalidFileException(location + " is " + size + " bytes; the limit is "
        + config.maxFileBytes() + " bytes (" + FileSourceConfig.MAX_FILE_BYTES.name()
        + "): compress or split the file and upload it again");
  }

  private static Optional<String> contentType(Response response) {
    return Optional.ofNullable(response.header("Content-Type"));
  }

  private static boolean storageSaysNotFound(ResponseBody body) {
    try {
      BufferedSource source = body.source();
      source.request(64 * 1024); // an error body is small; never read more than this of one
      JsonNode json = JSON.readTree(source.getBuffer().readUtf8());
      return json != null && ("404".equals(json.path("statusCode").asText())
          || "not_found".equals(json.path("error").asText()));
    } catch (IOException e) {
      return false;
    }
  }

  private static FileUnavailableException httpFailure(FileLocation location, int code) {
    boolean retryable = code == 408 || code == 429 || code >= 500;
    return new FileUnavailableException(location + " could not be downloaded: HTTP " + code
        + (retryable ? " (will retry)" : ": check the location and the server's permissions"), retryable);
  }

  private static FileUnavailableException ioFailure(FileLocation location, IOException e) {
    String what = e instanceof InterruptedIOException ? "timed out" : "failed (" + e.getMessage() + ")";
    return new FileUnavailableException("downloading " + location + " " + what + " (will retry)", true, e);
  }
}
