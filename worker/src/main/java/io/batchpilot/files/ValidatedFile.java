package io.batchpilot.files;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.Objects;
import java.util.Optional;

/**
 * A file that is safe to send: where its bytes are, the MIME type they really are, their SHA-256,
 * and their size in pixels (images) or pages (PDFs), which the token estimate needs.
 *
 * @param file the bytes, on disk (the {@link LoadedFile}'s temporary copy, which outlives this)
 * @param size the file's length in bytes
 * @param width pixels across; 0 for a PDF
 * @param height pixels down; 0 for a PDF
 * @param pageCount pages; 0 for an image
 * @param image the pixels the validator decoded (subsampled to no less than the longest side sent, see
 *     {@link FileValidator}, or all of them), for {@link ImagePreprocessor}; empty for a PDF or an
 *     image Java cannot render (a CMYK JPEG). Large: let it go once preprocessed.
 */
public record ValidatedFile(Path file, long size, String mimeType, byte[] sha256, int width, int height,
    int pageCount, Optional<BufferedImage> image) {

  public ValidatedFile {
    Objects.requireNonNull(file, "file");
    Objects.requireNonNull(mimeType, "mimeType");
    Objects.requireNonNull(sha256, "sha256");
    Objects.requireNonNull(image, "image");
  }

  public boolean isPdf() {
    return FileType.PDF.mimeType().equals(mimeType);
  }

  public String sha256Hex() {
    return HexFormat.of().formatHex(sha256);
  }

  @Override
  public String toString() {
    return "ValidatedFile[" + mimeType + ", " + size + " bytes, sha256 " + sha256Hex()
        + (isPdf() ? ", " + pageCount + " pages" : ", " + width + "x" + height) + "]";
  }
}
