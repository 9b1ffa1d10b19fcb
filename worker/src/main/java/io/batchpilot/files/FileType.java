package io.batchpilot.files;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;

/** The kinds of file recognised by their first bytes, and whether Gemini may be sent them. */
enum FileType {
  JPEG("image/jpeg", "JPEG image", true, "jpeg"),
  PNG("image/png", "PNG image", true, "png"),
  WEBP("image/webp", "WebP image", true, "webp"),
  PDF("application/pdf", "PDF document", true, null),
  HEIC("image/heic", "HEIC image", false, null),
  AVIF("image/avif", "AVIF image", false, null),
  GIF("image/gif", "GIF image", false, null),
  BMP("image/bmp", "BMP image", false, null),
  TIFF("image/tiff", "TIFF image", false, null);

  /** Brands of an ISO media file ("ftyp" box) that mean HEIC/HEIF. */
  private static final Set<String> HEIF_BRANDS =
      Set.of("heic", "heix", "hevc", "hevx", "heim", "heis", "hevm", "hevs", "mif1", "msf1");

  private final String mimeType;
  private final String description;
  private final boolean supported;
  private final String imageIoFormat;

  FileType(String mimeType, String description, boolean supported, String imageIoFormat) {
    this.mimeType = mimeType;
    this.description = description;
    this.supported = supported;
    this.imageIoFormat = imageIoFormat;
  }

  String mimeType() {
    return mimeType;
  }

  String description() {
    return description;
  }

  boolean supported() {
    return supported;
  }

  /** The ImageIO format name that decodes it, or null for a PDF or an unsupported type. */
  String imageIoFormat() {
    return imageIoFormat;
  }

  /** The type the bytes are, by their magic numbers. */
  static Optional<FileType> sniff(byte[] b) {
    if (startsWith(b, 0, 0xFF, 0xD8, 0xFF)) {
      return Optional.of(JPEG);
    }
    if (startsWith(b, 0, 0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A)) {
      return Optional.of(PNG);
    }
    if (startsWith(b, 0, 'R', 'I', 'F', 'F') && startsWith(b, 8, 'W', 'E', 'B', 'P')) {
      return Optional.of(WEBP);
    }
    if (startsWith(b, 0, 'G', 'I', 'F', '8')) {
      return Optional.of(GIF);
    }
    if (startsWith(b, 0, 'B', 'M')) {
      return Optional.of(BMP);
    }
    if (startsWith(b, 0, 'I', 'I', '*', 0) || startsWith(b, 0, 'M', 'M', 0, '*')) {
      return Optional.of(TIFF);
    }
    if (startsWith(b, 4, 'f', 't', 'y', 'p') && b.length >= 12) {
      String brand = new String(b, 8, 4, StandardCharsets.US_ASCII);
      if (HEIF_BRANDS.contains(brand)) {
        return Optional.of(HEIC);
      }
      if (brand.startsWith("avi")) {
        return Optional.of(AVIF);
      }
    }
    // PDF readers accept the header anywhere in the first 1024 bytes, and so does PDFBox.
    if (indexOf(b, "%PDF-".getBytes(StandardCharsets.US_ASCII), 1024) >= 0) {
      return Optional.of(PDF);
    }
    return Optional.empty();
  }

  /** The type a declared MIME type names, ignoring parameters and case; "image/jpg" is JPEG. */
  static Optional<FileType> ofMimeType(String declared) {
    String mime = declared.split(";", 2)[0].strip().toLowerCase(Locale.ROOT);
    if (mime.equals("image/jpg") || mime.equals("image/pjpeg")) {
      return Optional.of(JPEG);
    }
    if (mime.equals("image/heif") || mime.equals("image/heic-sequence") || mime.equals("image/heif-sequence")) {
      return Optional.of(HEIC);
    }
    if (mime.equals("application/x-pdf")) {
      return Optional.of(PDF);
    }
    return Arrays.stream(values()).filter(t -> t.mimeType.equals(mime)).findFirst();
  }

  private static boolean startsWith(byte[] b, int offset, int... expected) {
    if (b.length < offset + expected.length) {
      return false;
    }
    for (int i = 0; i < expected.length; i++) {
      if ((b[offset + i] & 0xFF) != expected[i]) {
        return false;
      }
    }
    return true;
  }

  private static int indexOf(byte[] b, byte[] needle, int within) {
    int end = Math.min(b.length, within) - needle.length;
    outer:
    for (int i = 0; i <= end; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (b[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }
}
