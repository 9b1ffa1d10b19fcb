package io.batchpilot.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.gemini.TokenCounter;
import io.batchpilot.simulator.SyntheticReceipts;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ImagePreprocessorTest {

    private final ImagePreprocessor preprocessor = new ImagePreprocessor(ImagePreprocessorConfig.defaults());
    private final FileValidator validator = new FileValidator(FileValidatorConfig.defaults());

    /** As the pipeline does it: the preprocessor scales the pixels the validator decoded. */
    private ImagePreprocessor.Result process(byte[] image, String mimeType) throws Exception {
        return preprocessor.process(validator.validate("receipt", OnDisk.copyOf(image), mimeType));
    }

    @Test
    void scalesTheLongestSideToTheLimitAndKeepsTheAspect() throws Exception {
        ImagePreprocessor.Result r = process(SyntheticReceipts.jpeg(1, 3000, 1.4, 0.9f), "image/jpeg");
        assertEquals(3000, r.originalWidth());
        assertEquals(4200, r.originalHeight());
        assertEquals(ImagePreprocessorConfig.DEFAULT_MAX_LONGEST_SIDE, r.height());
        assertEquals(3000 / 4200.0, r.width() / (double) r.height(), 1.0 / r.height());
        assertEquals(r.width(), TokenCounter.imageSize(r.bytes()).width);
    }

    @Test
    void fewerTilesAfterPreprocessing() throws Exception {
        byte[] photo = SyntheticReceipts.png(2, 2400, 2.0);
        long before = TokenCounter.fileTokens(photo, "image/png");
        ImagePreprocessor.Result r = process(photo, "image/png");
        long after = TokenCounter.fileTokens(r.bytes(), r.mimeType());
        assertEquals(4 * 7 * 258, before); // 2400 x 4800
        assertEquals(1 * 2 * 258, after);  // 640 x 1280
        assertEquals("image/jpeg", r.mimeType());
    }

    @Test
    void neverScalesUp() throws Exception {
        ImagePreprocessor.Result r = process(SyntheticReceipts.png(3, 300, 1.2), "image/png");
        assertEquals(300, r.width());
        assertEquals(360, r.height());
    }

    @Test
    void stripsMetadataAndAppliesExifOrientation() throws Exception {
        byte[] plain = SyntheticReceipts.jpeg(4, 400, 1.5, 0.9f); // 400 x 600
        byte[] tagged = withSegments(plain, exifOrientation(6), comment("GPS 48.85N 2.35E, owner Jane"));
        ImagePreprocessor.Result r = process(tagged, "image/jpeg");
        assertEquals(600, r.width(), "orientation 6 turns the stored 400x600 a quarter turn");
        assertEquals(400, r.height());
        String text = new String(r.bytes(), StandardCharsets.ISO_8859_1);
        assertFalse(text.contains("Exif"), "EXIF removed");
        assertFalse(text.contains("Jane"), "comment removed");
        assertTrue(r.bytes().length > 0);
    }

    @Test
    void aFileWithoutPixelsFailsWithAMessageThatSaysWhatHappens() throws Exception {
        ValidatedFile pdf = validator.validate("scan.pdf", OnDisk.copyOf(TestFiles.pdf(1)), "application/pdf");
        IOException e = assertThrows(IOException.class, () -> preprocessor.process(pdf));
        assertTrue(e.getMessage().contains("application/pdf") && e.getMessage().contains("sent unprocessed"), e.getMessage());
    }

    @Test
    void anImageLargerThanTheValidatorKeepsIsScaledFromItsSubsampledPixels() throws Exception {
        int wide = 4 * ImagePreprocessorConfig.DEFAULT_MAX_LONGEST_SIDE + 100;
        ImagePreprocessor.Result r = process(TestFiles.png(wide, 300), "image/png");
        assertEquals(wide, r.originalWidth());
        assertEquals(ImagePreprocessorConfig.DEFAULT_MAX_LONGEST_SIDE, r.width());
        assertEquals(Math.round(300.0 * r.width() / r.originalWidth()), r.height(), 1);
    }

    @Test
    void badSettingsAreRefusedByName() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new ImagePreprocessorConfig(10, 0.8f))
                .getMessage().contains("max longest side"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new ImagePreprocessorConfig(1536, 0f))
                .getMessage().contains("JPEG quality"));
    }

    private static byte[] withSegments(byte[] jpeg, byte[]... segments) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(jpeg, 0, 2);
        for (byte[] s : segments) {
            out.writeBytes(s);
        }
        out.write(jpeg, 2, jpeg.length - 2);
        return out.toByteArray();
    }

    private static byte[] segment(int marker, byte[] payload) {
        int length = payload.length + 2;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(0xFF);
        out.write(marker);
        out.write(length >> 8);
        out.write(length & 0xFF);
        out.writeBytes(payload);
        return out.toByteArray();
    }

    private static byte[] comment(String text) {
        return segment(0xFE, text.getBytes(StandardCharsets.ISO_8859_1));
    }

    /** APP1 Exif, big-endian TIFF, one IFD entry: Orientation (0x0112), SHORT, 1, value. */
    private static byte[] exifOrientation(int value) {
        byte[] payload = {'E', 'x', 'i', 'f', 0, 0, 'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1,
            0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, (byte) value, 0, 0, 0, 0, 0, 0};
        return segment(0xE1, payload);
    }
}
