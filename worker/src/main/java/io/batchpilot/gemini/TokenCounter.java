package io.batchpilot.gemini;

import java.awt.Dimension;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Locale;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.FileImageInputStream;
import javax.imageio.stream.ImageInputStream;
import org.apache.pdfbox.Loader;
import org.apache.pdfbox.pdmodel.PDDocument;

/**
 * Input tokens by Google's published rules, shared by the client's pre-call estimate and the
 * simulator's usageMetadata so the two can never disagree.
 *
 * <p>Images: both sides up to 384 px cost 258 tokens; anything larger is cut into 768x768 tiles,
 * 258 tokens each (ceil(width/768) x ceil(height/768) tiles, as Google's token guide states it).
 * PDF: 258 tokens a page. Text: characters divided by a ratio (4 by default, Google's "about 4
 * characters a token"), rounded up; callers correct the ratio with what usageMetadata reports.
 */
public final class TokenCounter {

    public static final int TOKENS_PER_IMAGE_TILE = 258;
    public static final int SMALL_IMAGE_MAX_SIDE = 384;
    public static final int TILE_SIDE = 768;
    public static final int TOKENS_PER_PDF_PAGE = 258;
    public static final double DEFAULT_CHARS_PER_TOKEN = 4.0;

    public static final TokenCounter DEFAULT = new TokenCounter(DEFAULT_CHARS_PER_TOKEN);

    private final double charsPerToken;

    public TokenCounter(double charsPerToken) {
        if (!(charsPerToken > 0) || Double.isInfinite(charsPerToken)) {
            throw new IllegalArgumentException("charsPerToken must be a positive number, was " + charsPerToken);
        }
        this.charsPerToken = charsPerToken;
    }

    public double charsPerToken() {
        return charsPerToken;
    }

    public static long imageTokens(int width, int height) {
        if (width <= 0 || height <= 0) {
            throw new IllegalArgumentException("image size must be positive, was " + width + "x" + height);
        }
        if (width <= SMALL_IMAGE_MAX_SIDE && height <= SMALL_IMAGE_MAX_SIDE) {
            return TOKENS_PER_IMAGE_TILE;
        }
        return imageTiles(width, height) * TOKENS_PER_IMAGE_TILE;
    }

    /** Tiles an image costs: 1 for a small image, else the 768x768 tiles that cover it. */
    public static long imageTiles(int width, int height) {
        if (width <= SMALL_IMAGE_MAX_SIDE && height <= SMALL_IMAGE_MAX_SIDE) {
            return 1;
        }
        return ceilDiv(width, TILE_SIDE) * ceilDiv(height, TILE_SIDE);
    }

    public static long pdfTokens(int pages) {
        if (pages < 0) {
            throw new IllegalArgumentException("page count must not be negative, was " + pages);
        }
        return (long) pages * TOKENS_PER_PDF_PAGE;
    }

    /** Text tokens: code points divided by the ratio, rounded up (empty text costs nothing). */
    public long textTokens(String text) {
        if (text == null || text.isEmpty()) {
            return 0;
        }
        return (long) Math.ceil(text.codePointCount(0, text.length()) / charsPerToken);
    }

    /**
     * Tokens of a file part (inline data or an uploaded file) by its MIME type.
     *
     * @throws IOException when the bytes cannot be read as the declared type; the message names it
     */
    public static long fileTokens(byte[] content, String mimeType) throws IOException {
        String type = mimeType == null ? "" : mimeType.toLowerCase(Locale.ROOT);
        if (type.equals("application/pdf")) {
            return pdfTokens(pdfPages(content));
        }
        if (type.startsWith("image/")) {
            Dimension size = imageSize(content);
            return imageTokens(size.width, size.height);
        }
        if (type.startsWith("text/")) {
            return DEFAULT.textTokens(new String(content, java.nio.charset.StandardCharsets.UTF_8));
        }
        throw new IOException("cannot count tokens for MIME type '" + mimeType
                + "': supported are image/*, application/pdf and text/*");
    }

    /** Tokens of a file on disk, as {@link #fileTokens(byte[], String)}; only its headers are read. */
    public static long fileTokens(Path content, String mimeType) throws IOException {
        String type = mimeType == null ? "" : mimeType.toLowerCase(Locale.ROOT);
        if (type.equals("application/pdf")) {
            return pdfTokens(pdfPages(content));
        }
        if (type.startsWith("image/")) {
            try (ImageInputStream in = new FileImageInputStream(content.toFile())) {
                Dimension size = imageSize(in);
                return imageTokens(size.width, size.height);
            }
        }
        if (type.startsWith("text/")) {
            return DEFAULT.textTokens(Files.readString(content));
        }
        throw new IOException("cannot count tokens for MIME type '" + mimeType
                + "': supported are image/*, application/pdf and text/*");
    }

    /** Width and height from the image header, without decoding the pixels. */
    public static Dimension imageSize(byte[] content) throws IOException {
        try (ImageInputStream in = ImageIO.createImageInputStream(new ByteArrayInputStream(content))) {
            return imageSize(in);
        }
    }

    private static Dimension imageSize(ImageInputStream in) throws IOException {
        Iterator<ImageReader> readers = in == null ? null : ImageIO.getImageReaders(in);
        if (readers == null || !readers.hasNext()) {
            throw new IOException("not an image format this JVM can read (PNG, JPEG, GIF, BMP are)");
        }
        ImageReader reader = readers.next();
        try {
            reader.setInput(in, true, true);
            return new Dimension(reader.getWidth(0), reader.getHeight(0));
        } finally {
            reader.dispose();
        }
    }

    public static int pdfPages(byte[] content) throws IOException {
        try (PDDocument document = Loader.loadPDF(content)) {
            return document.getNumberOfPages();
        }
    }

    /** Pages of a PDF on disk, read through PDFBox's small buffer rather than whole. */
    public static int pdfPages(Path content) throws IOException {
        try (PDDocument document = Loader.loadPDF(content.toFile())) {
            return document.getNumberOfPages();
        }
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }
}
