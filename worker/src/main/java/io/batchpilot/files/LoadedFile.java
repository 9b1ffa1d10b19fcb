package io.batchpilot.files;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;
import org.slf4j.LoggerFactory;

/**
 * A file as fetched, spooled to a temporary file of its own (never held in memory: a 20 MB photo
 * would take a small heap's room twice over), with the Content-Type its server gave (absent for
 * local files). The bytes are not yet validated: that is {@link FileValidator}'s job. Closing
 * deletes the temporary file, so close it once the file is sent.
 *
 * @param path the temporary file, readable only by this user
 * @param size its length in bytes
 */
public record LoadedFile(FileLocation location, Path path, long size, Optional<String> contentType)
    implements AutoCloseable {

  public LoadedFile {
    Objects.requireNonNull(location, "location");
    Objects.requireNonNull(path, "path");
    Objects.requireNonNull(contentType, "contentType");
  }

  /** Deletes the temporary file; a file that will not go is logged, never a reason to fail the receipt. */
  @Override
  public void close() {
    try {
      Files.deleteIfExists(path);
    } catch (IOException e) {
      LoggerFactory.getLogger(LoadedFile.class).warn("cannot delete {}, the temporary copy of {}: {}", path, location,
          e.toString());
    }
  }

  @Override
  public String toString() {
    return "LoadedFile[" + location + ", " + size + " bytes" + contentType.map(t -> ", " + t).orElse("") + "]";
  }
}
