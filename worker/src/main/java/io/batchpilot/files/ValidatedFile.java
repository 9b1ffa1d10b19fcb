package io.batchpilot.files;

import java.util.HexFormat;
import java.util.Objects;

/**
 * A file that is safe to send: its bytes, the MIME type they really are, their SHA-256, and their
 * size in pixels (images) or pages (PDFs), which the token estimate needs.
 *
 * @param width pixels across; 0 for a PDF
 * @param height pixels down; 0 for a PDF
 * @param pageCount pages; 0 for an image
 */
public record ValidatedFile(byte[] bytes, String mimeType, byte[] sha256, int width, int height,
    int pageCount) {

  public ValidatedFile {
    Objects.requireNonNull(bytes, "bytes");
    Objects.requireNonNull(mimeType, "mimeType");
    Objects.requireNonNull(sha256, "sha256");
  }

  public boolean isPdf() {
    return FileType.PDF.mimeType().equals(mimeType);
  }

  public String sha256Hex() {
    return HexFormat.of().formatHex(sha256);
  }

  @Override
  public String toString() {
    return "ValidatedFile[" + mimeType + ", " + bytes.length + " bytes, sha256 " + sha256Hex()
        + (isPdf() ? ", " + pageCount + " pages" : ", " + width + "x" + height) + "]";
  }
}
