package io.batchpilot.files;

import java.util.Objects;
import java.util.Optional;

/**
 * The bytes of a file as fetched, with the Content-Type its server gave (absent for local files).
 * The bytes are not yet validated: that is {@link FileValidator}'s job.
 */
public record LoadedFile(FileLocation location, byte[] bytes, Optional<String> contentType) {

  public LoadedFile {
    Objects.requireNonNull(location, "location");
    Objects.requireNonNull(bytes, "bytes");
    Objects.requireNonNull(contentType, "contentType");
  }

  public int size() {
    return bytes.length;
  }

  @Override
  public String toString() {
    return "LoadedFile[" + location + ", " + bytes.length + " bytes"
        + contentType.map(t -> ", " + t).orElse("") + "]";
  }
}
