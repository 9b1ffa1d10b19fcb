package io.batchpilot.files;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Bytes made in memory, written to a temporary file as {@link FileSource} spools what it loads. */
public final class OnDisk {

  private OnDisk() {}

  /** A temporary file holding the bytes, deleted when the JVM exits. */
  public static Path copyOf(byte[] bytes) {
    try {
      Path file = Files.createTempFile("batchpilot-test-", ".file");
      file.toFile().deleteOnExit();
      return Files.write(file, bytes);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
