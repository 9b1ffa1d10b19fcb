package io.batchpilot.simulator;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.Locale;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import org.apache.pdfbox.Loader;
import org.apache.pdfbox.pdmodel.PDDocument;

/**
 * The simulator's token counts, by its own rules: deliberately no code shared with the client's
 * {@code io.batchpilot.gemini.TokenCounter}, so that the client's estimate and the count the
 * simulator bills differ as they do against Google, and the quota gate's reconciling is exercised.
 * The rules, read 2026-12-03:
 *
 * <ul>
 *   <li><b>Images</b> (<a href="https://ai.google.dev/gemini-api/docs/image-understanding">image
 *       understanding</a>, "Token calculation"): 258 tokens if both sides are at most 384 px; a larger
 *       image is tiled into 768x768 tiles of 258 tokens each, the tiles counted by Google's "rough
 *       formula", applied literally: crop unit = floor(min(width, height) / 1.5), tiles =
 *       ceil(width / unit) x ceil(height / unit) (960x540: unit 360, 3 x 2 = 6 tiles). Above 384 px the
 *       count depends on the aspect ratio only; the client's 768 px grid depends on the size.</li>
 *   <li><b>PDF</b> (<a href="https://ai.google.dev/gemini-api/docs/document-processing">document
 *       processing</a>): "Each document page is equivalent to 258 tokens."</li>
 *   <li><b>Text</b>: Gemini's SentencePiece vocabulary, as the Gemma report describes the subset it
 *       shares (arXiv 2403.08295, section 2: "It splits digits, does not remove extra whitespace, and
 *       relies on byte-level encodings for unknown tokens"), approximated: every digit is a token; a
 *       word of letters costs one token per {@value #LETTERS_PER_TOKEN} letters (rounded up), a single
 *       space before it free; a run of other symbols one per {@value #SYMBOLS_PER_TOKEN} (rounded up);
 *       any other whitespace run one; an ideograph one; a code point outside the Basic Multilingual
 *       Plane (an emoji) its UTF-8 bytes. English prose lands near Google's "about 4 characters a token"
 *       (the extraction prompt: 122 tokens for 458 characters), JSON with amounts well above it.</li>
 * </ul>
 */
public final class SimulatorTokenizer {

    public static final int TOKENS_PER_TILE = 258;
    public static final int SMALL_IMAGE_MAX_SIDE = 384;
    public static final int TOKENS_PER_PDF_PAGE = 258;
    static final int LETTERS_PER_TOKEN = 7;
    static final int SYMBOLS_PER_TOKEN = 2;

    private SimulatorTokenizer() {
    }

    /** Tokens of a text by the rules above; empty text costs nothing. */
    public static long text(String text) {
        if (text == null || text.isEmpty()) {
            return 0;
        }
        long tokens = 0;
        int i = 0;
        int n = text.length();
        while (i < n) {
            int c = text.codePointAt(i);
            if (c == ' ' && i + 1 < n && isWordLetter(text.codePointAt(i + 1))) {
                i++; // one space joins the word after it, as SentencePiece's "▁word"
                continue;
            }
            int start = i;
            if (isWordLetter(c)) {
                int letters = 0;
                while (i < n && isWordLetter(text.codePointAt(i))) {
                    letters++;
                    i += Character.charCount(text.codePointAt(i));
                }
                tokens += ceilDiv(letters, LETTERS_PER_TOKEN);
            } else if (Character.isWhitespace(c)) {
                while (i < n && Character.isWhitespace(text.codePointAt(i))) {
                    i += Character.charCount(text.codePointAt(i));
                }
                tokens++;
            } else if (isSymbol(c)) {
                int symbols = 0;
                while (i < n && isSymbol(text.codePointAt(i))) {
                    symbols++;
                    i += Character.charCount(text.codePointAt(i));
                }
                tokens += ceilDiv(symbols, SYMBOLS_PER_TOKEN);
            } else if (Character.isSupplementaryCodePoint(c)) {
                tokens += new String(Character.toChars(c)).getBytes(StandardCharsets.UTF_8).length;
                i += Character.charCount(c);
            } else {
                tokens++; // a digit, an ideograph
                i += Character.charCount(c);
            }
            if (i == start) {
                throw new IllegalStateException("tokenizer made no progress at " + start);
            }
        }
        return tokens;
    }

    /** Tokens of an image of this size, by the crop-unit formula. */
    public static long image(int width, int height) {
        if (width <= 0 || height <= 0) {
            throw new IllegalArgumentException("image size must be positive, was " + width + "x" + height);
        }
        if (width <= SMALL_IMAGE_MAX_SIDE && height <= SMALL_IMAGE_MAX_SIDE) {
            return TOKENS_PER_TILE;
        }
        long unit = Math.max(1, (long) Math.floor(Math.min(width, height) / 1.5));
        return ceilDiv(width, unit) * ceilDiv(height, unit) * TOKENS_PER_TILE;
    }

    public static long pdf(int pages) {
        return (long) pages * TOKENS_PER_PDF_PAGE;
    }

    /**
     * Tokens of a file part by its MIME type.
     *
     * @throws IOException when the bytes are not the image or PDF they claim to be (Google answers 400)
     */
    public static long file(byte[] content, String mimeType) throws IOException {
        String type = mimeType == null ? "" : mimeType.toLowerCase(Locale.ROOT);
        if (type.equals("application/pdf")) {
            try (PDDocument document = Loader.loadPDF(content)) {
                return pdf(document.getNumberOfPages());
            }
        }
        if (type.startsWith("image/")) {
            try (ImageInputStream in = ImageIO.createImageInputStream(new ByteArrayInputStream(content))) {
                Iterator<ImageReader> readers = in == null ? null : ImageIO.getImageReaders(in);
                if (readers == null || !readers.hasNext()) {
                    throw new IOException("not an image the simulator can read");
                }
                ImageReader reader = readers.next();
                try {
                    reader.setInput(in, true, true);
                    return image(reader.getWidth(0), reader.getHeight(0));
                } finally {
                    reader.dispose();
                }
            }
        }
        if (type.startsWith("text/")) {
            return text(new String(content, StandardCharsets.UTF_8));
        }
        throw new IOException("the simulator counts image/*, application/pdf and text/* files, not '" + mimeType + "'");
    }

    private static boolean isWordLetter(int c) {
        return Character.isLetter(c) && !Character.isIdeographic(c) && !Character.isSupplementaryCodePoint(c);
    }

    private static boolean isSymbol(int c) {
        return !Character.isLetterOrDigit(c) && !Character.isWhitespace(c) && !Character.isSupplementaryCodePoint(c);
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }
}
