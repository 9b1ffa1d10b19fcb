package io.batchpilot.files;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import org.junit.jupiter.api.Test;

class FileValidatorTest {

  private final FileValidator validator = new FileValidator(FileValidatorConfig.defaults());

  private String refused(String filename, byte[] bytes, String declared) {
    InvalidFileException e = assertThrows(InvalidFileException.class,
        () -> validator.validate(filename, OnDisk.copyOf(bytes), declared));
    assertEquals("invalid_file", e.errorType());
    assertTrue(e.getMessage().startsWith(filename + " "), e.getMessage());
    return e.getMessage();
  }

  @Test
  void jpegPngWebpAndPdfPassWithTheirSizeAndHash() throws Exception {
    byte[] jpeg = TestFiles.jpeg(640, 480);
    ValidatedFile j = validator.validate("a.jpg", OnDisk.copyOf(jpeg), "image/jpeg");
    assertEquals("image/jpeg", j.mimeType());
    assertEquals(640, j.width());
    assertEquals(480, j.height());
    assertArrayEquals(MessageDigest.getInstance("SHA-256").digest(jpeg), j.sha256());

    ValidatedFile p = validator.validate("b.png", OnDisk.copyOf(TestFiles.png(300, 200)), "image/png");
    assertEquals("image/png", p.mimeType());
    assertEquals(300, p.width());

    ValidatedFile lossy = validator.validate("c.webp", OnDisk.copyOf(TestFiles.WEBP_LOSSY), "image/webp");
    assertEquals("image/webp", lossy.mimeType());
    assertEquals(1, lossy.width());
    ValidatedFile lossless = validator.validate("d.webp", OnDisk.copyOf(TestFiles.WEBP_LOSSLESS), "image/webp");
    assertEquals(1, lossless.height());

    ValidatedFile pdf = validator.validate("e.pdf", OnDisk.copyOf(TestFiles.pdf(3)), "application/pdf");
    assertTrue(pdf.isPdf());
    assertEquals(3, pdf.pageCount());
  }

  @Test
  void anUndeclaredTypeIsTakenFromTheBytes() throws Exception {
    assertEquals("image/png", validator.validate("scan", OnDisk.copyOf(TestFiles.png(10, 10)), null).mimeType());
    assertEquals("image/jpeg",
        validator.validate("scan", OnDisk.copyOf(TestFiles.jpeg(10, 10)), "application/octet-stream").mimeType());
    assertEquals("image/jpeg", validator.validate("scan", OnDisk.copyOf(TestFiles.jpeg(10, 10)), "IMAGE/JPG; q=1").mimeType());
  }

  @Test
  void emptyFileIsRefused() {
    assertEquals("empty.jpg is empty (0 bytes): upload the file again",
        refused("empty.jpg", new byte[0], "image/jpeg"));
  }

  @Test
  void oversizeFileIsRefusedWithTheLimitAndSetting() {
    FileValidator small = new FileValidator(FileValidatorConfig.defaults().withMaxFileBytes(1000));
    byte[] big = TestFiles.png(400, 400);
    InvalidFileException e = assertThrows(InvalidFileException.class,
        () -> small.validate("big.png", OnDisk.copyOf(big), "image/png"));
    assertEquals("big.png is " + big.length + " bytes; the limit is 1000 bytes (BATCHPILOT_MAX_FILE_BYTES):"
        + " compress or split the file and upload it again", e.getMessage());
  }

  @Test
  void contentThatIsNotTheDeclaredTypeIsRefused() {
    String message = refused("photo.png", TestFiles.jpeg(20, 20), "image/png");
    assertEquals("photo.png is declared as image/png but its content is a JPEG image (image/jpeg):"
        + " correct file_type or upload the right file", message);
    assertTrue(refused("r.pdf", TestFiles.png(5, 5), "application/pdf").contains("content is a PNG image"));
  }

  @Test
  void corruptImagesAreRefused() {
    String png = refused("cut.png", TestFiles.firstPart(TestFiles.png(400, 300), 0.5), "image/png");
    assertTrue(png.startsWith("cut.png is a damaged PNG image that cannot be decoded ("), png);
    assertTrue(png.endsWith("): export or photograph it again and upload the new file"), png);

    String jpeg = refused("cut.jpg", TestFiles.firstPart(TestFiles.jpeg(400, 300), 0.5), "image/jpeg");
    assertTrue(jpeg.startsWith("cut.jpg is a damaged JPEG image"), jpeg);

    byte[] garbage = "\u00ff\u00d8\u00ff\u00e0 not really a jpeg".getBytes(StandardCharsets.ISO_8859_1);
    assertTrue(refused("junk.jpg", garbage, "image/jpeg").contains("damaged JPEG image"));

    byte[] webp = TestFiles.firstPart(TestFiles.WEBP_LOSSY, 0.7);
    assertTrue(refused("cut.webp", webp, "image/webp").contains("damaged WebP image"));
  }

  @Test
  void unreadableAndPasswordProtectedPdfsAreRefused() {
    String cut = refused("cut.pdf", "%PDF-1.7\n1 0 obj\n<< /Type /Cat".getBytes(StandardCharsets.US_ASCII),
        "application/pdf");
    assertTrue(cut.startsWith("cut.pdf is a damaged PDF that cannot be read ("), cut);
    assertTrue(cut.endsWith("): export it again and upload the new file"), cut);

    assertEquals("locked.pdf is a password-protected PDF: remove the password (for example, print it"
        + " to a new PDF) and upload it again",
        refused("locked.pdf", TestFiles.passwordProtectedPdf(), "application/pdf"));
  }

  @Test
  void heicIsRefusedWithHowToConvertIt() {
    byte[] heic = new byte[64];
    System.arraycopy(new byte[] {0, 0, 0, 0x18, 'f', 't', 'y', 'p', 'h', 'e', 'i', 'c'}, 0, heic, 0, 12);
    assertEquals("IMG_0001.HEIC is a HEIC photo, which batchpilot cannot read: convert it to JPEG"
        + " (on an iPhone: Settings > Camera > Formats > Most Compatible) and upload it again",
        refused("IMG_0001.HEIC", heic, "image/heic"));
  }

  @Test
  void otherImageTypesAndUnknownBytesAreRefused() {
    byte[] gif = "GIF89a\u0001\u0000\u0001\u0000".getBytes(StandardCharsets.ISO_8859_1);
    assertEquals("a.gif is a GIF image; supported types are JPEG, PNG, WebP or PDF: convert it and upload it again",
        refused("a.gif", gif, "image/gif"));
    assertEquals("notes.txt is not a JPEG, PNG, WebP or PDF file (it begins 68 65 6c 6c 6f): upload a"
        + " photo or PDF of the receipt", refused("notes.txt", "hello".getBytes(StandardCharsets.US_ASCII), null));
  }

  @Test
  void anImageWithTooManyPixelsIsRefusedBeforeDecoding() {
    FileValidator strict = new FileValidator(new FileValidatorConfig(1 << 20, 10_000, 10));
    InvalidFileException e = assertThrows(InvalidFileException.class,
        () -> strict.validate("huge.png", OnDisk.copyOf(TestFiles.png(200, 100)), "image/png"));
    assertEquals("huge.png is 200x100 pixels; the limit is 10000 pixels (BATCHPILOT_MAX_IMAGE_PIXELS):"
        + " scale it down and upload it again", e.getMessage());
  }

  @Test
  void aPdfWithTooManyPagesIsRefused() {
    FileValidator strict = new FileValidator(new FileValidatorConfig(1 << 20, 10_000, 2));
    InvalidFileException e = assertThrows(InvalidFileException.class,
        () -> strict.validate("long.pdf", OnDisk.copyOf(TestFiles.pdf(3)), "application/pdf"));
    assertEquals("long.pdf has 3 pages; the limit is 2 (BATCHPILOT_MAX_PDF_PAGES): split it and upload the parts",
        e.getMessage());
  }

  @Test
  void aSubsampledImageAveragesWhatItsStepSkips() throws Exception {
    // 1 px black lines on every odd column of a 2560 px wide page, kept at 1280 px: a decode that
    // took every second pixel alone would see only the white even columns.
    java.awt.image.BufferedImage lines = new java.awt.image.BufferedImage(2560, 64, java.awt.image.BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < lines.getHeight(); y++) {
      for (int x = 0; x < lines.getWidth(); x++) {
        lines.setRGB(x, y, x % 2 == 1 ? 0x000000 : 0xFFFFFF);
      }
    }
    java.io.ByteArrayOutputStream png = new java.io.ByteArrayOutputStream();
    javax.imageio.ImageIO.write(lines, "png", png);

    ValidatedFile kept = new FileValidator(FileValidatorConfig.defaults(), 1280)
        .validate("lines.png", OnDisk.copyOf(png.toByteArray()), "image/png");

    java.awt.image.BufferedImage pixels = kept.image().orElseThrow();
    assertEquals(1280, pixels.getWidth(), "decoded subsampled");
    long sum = 0;
    for (int x = 0; x < pixels.getWidth(); x++) {
      sum += pixels.getRGB(x, 10) & 0xFF;
    }
    assertEquals(128, sum / (double) pixels.getWidth(), 2, "the lines and the page between them, averaged to grey");
  }
}
