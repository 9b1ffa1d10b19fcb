package io.batchpilot.files;

import io.batchpilot.settings.Range;
import io.batchpilot.settings.Setting;
import java.util.List;
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
  public static final Setting<Long> MAX_IMAGE_PIXELS = Setting.wholeNumber("BATCHPILOT_MAX_IMAGE_PIXELS", 200_000_000L,
      Range.atLeast(1L), "the largest image, width x height, refused before it is decoded");
  /** Gemini reads at most 1,000 pages of a document. */
  public static final Setting<Integer> MAX_PDF_PAGES = Setting.integer("BATCHPILOT_MAX_PDF_PAGES", 1000,
      Range.atLeast(1), "the most pages of a PDF (1000 is Gemini's document limit)");
  public static final List<Setting<?>> SETTINGS = List.of(MAX_IMAGE_PIXELS, MAX_PDF_PAGES);

  public FileValidatorConfig {
    FileSourceConfig.MAX_FILE_BYTES.check(maxFileBytes);
    MAX_IMAGE_PIXELS.check(maxImagePixels);
    MAX_PDF_PAGES.check(maxPdfPages);
  }

  public static FileValidatorConfig defaults() {
    return new FileValidatorConfig(FileSourceConfig.MAX_FILE_BYTES.defaultValue(), MAX_IMAGE_PIXELS.defaultValue(),
        MAX_PDF_PAGES.defaultValue());
  }

  /** Reads {@link FileSourceConfig#MAX_FILE_BYTES} and the settings declared above. */
  public static FileValidatorConfig fromEnvironment(Map<String, String> env) {
    return new FileValidatorConfig(FileSourceConfig.MAX_FILE_BYTES.from(env), MAX_IMAGE_PIXELS.from(env),
        MAX_PDF_PAGES.from(env));
  }

  public FileValidatorConfig withMaxFileBytes(long max) {
    return new FileValidatorConfig(max, maxImagePixels, maxPdfPages);
  }
}
