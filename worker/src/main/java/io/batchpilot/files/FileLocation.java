package io.batchpilot.files;

import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Locale;
import java.util.Objects;

/**
 * Where a file's bytes are, as a {@code batch_upload_files} row says: a Supabase Storage object
 * ({@code storage_bucket} + {@code storage_path}), an HTTPS URL, or a {@code file:} URL in
 * {@code source_url} for the demo and tests (readable only under {@link FileSourceConfig#localRoot()}).
 */
public sealed interface FileLocation {

  /** A Supabase Storage object, read with the service-role key. */
  record StorageObject(String bucket, String path) implements FileLocation {
    public StorageObject {
      Objects.requireNonNull(bucket, "bucket");
      Objects.requireNonNull(path, "path");
    }

    @Override
    public String toString() {
      return "storage object " + bucket + "/" + path;
    }
  }

  /** A URL on another server, fetched only if its host is allowed. */
  record RemoteUrl(URI url) implements FileLocation {
    public RemoteUrl {
      Objects.requireNonNull(url, "url");
    }

    @Override
    public String toString() {
      return "URL " + url;
    }
  }

  /** A local file, named by a {@code file:} URL. */
  record LocalFile(Path path) implements FileLocation {
    public LocalFile {
      Objects.requireNonNull(path, "path");
    }

    @Override
    public String toString() {
      return "local file " + path;
    }
  }

  /**
   * The location a file row names: its Storage object when it has one, else its {@code source_url}.
   *
   * @throws FileUnavailableException (not retryable) when the row names neither, or a URL that is
   *     neither http(s) nor file
   */
  static FileLocation of(String storageBucket, String storagePath, String sourceUrl)
      throws FileUnavailableException {
    if (storageBucket != null && storagePath != null) {
      return new StorageObject(storageBucket, storagePath);
    }
    if (sourceUrl == null || sourceUrl.isBlank()) {
      throw new FileUnavailableException("the file row has neither storage_bucket/storage_path nor"
          + " source_url: set one of them to where the file was uploaded", false);
    }
    URI uri;
    try {
      uri = new URI(sourceUrl.strip());
    } catch (URISyntaxException e) {
      throw new FileUnavailableException("source_url '" + sourceUrl + "' is not a valid URL ("
          + e.getReason() + "): correct it", false);
    }
    String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
    switch (scheme) {
      case "https", "http" -> {
        return new RemoteUrl(uri);
      }
      case "file" -> {
        try {
          return new LocalFile(Paths.get(uri));
        } catch (IllegalArgumentException e) {
          throw new FileUnavailableException("source_url '" + sourceUrl + "' is not a usable file: URL ("
              + e.getMessage() + "): write it as file:///absolute/path", false);
        }
      }
      default -> throw new FileUnavailableException("source_url '" + sourceUrl + "' has scheme '"
          + scheme + "': only https (and file: under the worker's local root) are read", false);
    }
  }
}
