package io.batchpilot.files;

import io.batchpilot.settings.WholeNumbers;
import java.util.Map;

/**
 * What {@link FileValidator} accepts.
 *
 * @param maxFileBytes the largest file, the same setting as {@link FileSourceConfig#maxFileBytes()}
 * @param maxImagePixels the largest image, width x height, so that a small file cannot decode to
 *     gigabytes of pixels
 * @param maxPdfPages the most pages a PDF may have
 */
public record FileValidatorConfig(long maxFileBytes, long maxImagePixels, int maxPdfPages) {

  /**
   * The largest phone cameras take 200-megapixel photos. Memory no longer grows with the pixels
   * (images are decoded subsampled to the size sent), but decoding time does: every pixel is still
   * inflated or decompressed, about 2 s per 100 megapixels here. A header claiming more (a
   * decompression bomb: a few KB that inflate to gigabytes) is refused before decoding.
   */
  public static final long DEFAULT_MAX_IMAGE_PIXELS = 200_000_000L;
  /** Gemini reads at most 1,000 pages of a document. */
  public static final int DEFAULT_MAX_PDF_PAGES = 1000;

  public static final String ENV_MAX_IMAGE_PIXELS = "BATCHPILOT_MAX_IMAGE_PIXELS";
  public static final String ENV_MAX_PDF_PAGES = "BATCHPILOT_MAX_PDF_PAGES";

  public FileValidatorConfig {
    if (maxFileBytes < 1) {
      throw new IllegalArgumentException(FileSourceConfig.ENV_MAX_FILE_BYTES
          + " must be at least 1; got " + maxFileBytes);
    }
    if (maxImagePixels < 1) {
      throw new IllegalArgumentException(ENV_MAX_IMAGE_PIXELS + " must be at least 1; got " + maxImagePixels);
    }
    if (maxPdfPages < 1) {
      throw new IllegalArgumentException(ENV_MAX_PDF_PAGES + " must be at least 1; got " + maxPdfPages);
    }
  }

  public static FileValidatorConfig defaults() {
    return new FileValidatorConfig(FileSourceConfig.DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_IMAGE_PIXELS,
        DEFAULT_MAX_PDF_PAGES);
  }

  public static FileValidatorConfig fromEnvironment(Map<String, String> env) {
    return new FileValidatorConfig(
        WholeNumbers.fromEnvironment(env, FileSourceConfig.ENV_MAX_FILE_BYTES, FileSourceConfig.DEFAULT_MAX_FILE_BYTES),
        WholeNumbers.fromEnvironment(env, ENV_MAX_IMAGE_PIXELS, DEFAULT_MAX_IMAGE_PIXELS),
        WholeNumbers.intFromEnvironment(env, ENV_MAX_PDF_PAGES, DEFAULT_MAX_PDF_PAGES));
  }

  public FileValidatorConfig withMaxFileBytes(long max) {
    return new FileValidatorConfig(max, maxImagePixels, maxPdfPages);
  }
}
