package io.batchpilot.session;

import java.util.Objects;
import java.util.UUID;

/**
 * A file to register in a session: where its bytes are (a Storage object, or a URL the file
 * sources accept) and, optionally, the receipt its extraction fills in.
 */
public record NewFile(String originalFilename, String fileType, Long fileSizeBytes, String storageBucket,
                      String storagePath, String sourceUrl, UUID receiptId) {

  public NewFile {
    Objects.requireNonNull(originalFilename, "originalFilename");
    if ((storageBucket == null) != (storagePath == null)) {
      throw new IllegalArgumentException("file '" + originalFilename + "': give both a storage bucket and a path, or neither");
    }
    if (storageBucket == null && sourceUrl == null) {
      throw new IllegalArgumentException("file '" + originalFilename + "' has no location: give a storage bucket and path, or a source URL");
    }
  }

  /** A file the worker reads from {@code sourceUrl}. */
  public static NewFile at(String originalFilename, String fileType, String sourceUrl) {
    return new NewFile(originalFilename, fileType, null, null, null, sourceUrl, null);
  }
}
