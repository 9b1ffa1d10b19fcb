package io.batchpilot.files;

/**
 * @param maxLongestSide images whose longest side is larger are scaled down to it (aspect kept);
 *     default {@value #DEFAULT_MAX_LONGEST_SIDE} px, the smallest limit that kept every synthetic
 *     receipt legible (docs/BENCHMARKS.md, "Image preprocessing")
 * @param jpegQuality quality of the re-encoded JPEG, 0.0 to 1.0, default {@value #DEFAULT_JPEG_QUALITY}
 */
public record ImagePreprocessorConfig(int maxLongestSide, float jpegQuality) {

    public static final int DEFAULT_MAX_LONGEST_SIDE = 1280;
    public static final float DEFAULT_JPEG_QUALITY = 0.85f;

    public ImagePreprocessorConfig {
        if (maxLongestSide < 64) {
            throw new IllegalArgumentException("image max longest side must be at least 64 px, was " + maxLongestSide);
        }
        if (!(jpegQuality > 0 && jpegQuality <= 1)) {
            throw new IllegalArgumentException("image JPEG quality must be in (0, 1], was " + jpegQuality);
        }
    }

    public static ImagePreprocessorConfig defaults() {
        return new ImagePreprocessorConfig(DEFAULT_MAX_LONGEST_SIDE, DEFAULT_JPEG_QUALITY);
    }
}
