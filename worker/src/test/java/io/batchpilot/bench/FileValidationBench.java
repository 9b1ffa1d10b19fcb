package io.batchpilot.bench;

import io.batchpilot.files.FileValidator;
import io.batchpilot.files.OnDisk;
import io.batchpilot.files.FileValidatorConfig;
import io.batchpilot.files.ImagePreprocessor;
import io.batchpilot.files.ImagePreprocessorConfig;
import io.batchpilot.files.ValidatedFile;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.Iterator;
import java.util.Optional;
import java.util.Random;
import javax.imageio.ImageIO;
import javax.imageio.ImageReadParam;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;

/**
 * What validating a file costs before any quota is spent: FileValidator (magic bytes, SHA-256, a
 * decode of every byte) beside reading the image header alone, which would miss a truncated file;
 * and validation plus preprocessing, decoding each image once (now) beside twice (before: the
 * validator's 1024-px check decode, then the preprocessor's full decode). Medians of repeated
 * runs, side by side, on receipt-like photos and scans.
 */
public final class FileValidationBench {

  private static final int RUNS = 15;

  private FileValidationBench() {}

  public static void main(String[] args) throws Exception {
    FileValidator validator = new FileValidator(FileValidatorConfig.defaults());
    ImagePreprocessor preprocessor = new ImagePreprocessor(ImagePreprocessorConfig.defaults());
    Object[][] samples = {
        {"JPEG 1000x1400 scan", encode(photo(1000, 1400, 1), "jpeg"), "image/jpeg"},
        {"JPEG 3024x4032 phone photo", encode(photo(3024, 4032, 2), "jpeg"), "image/jpeg"},
        {"PNG 1080x2376 screenshot", encode(photo(1080, 2376, 3), "png"), "image/png"},
    };
    System.out.println("| file | bytes | header only (ms) | validate (ms) | validate + preprocess, two decodes (before, ms) | validate + preprocess, one decode (now, ms) | now / before |");
    System.out.println("|---|---|---|---|---|---|---|");
    for (Object[] sample : samples) {
      byte[] bytes = (byte[]) sample[1];
      String mimeType = (String) sample[2];
      String format = mimeType.substring("image/".length());
      double header = median(() -> header(bytes, format));
      java.nio.file.Path onDisk = OnDisk.copyOf(bytes);
      double validate = median(() -> validator.validate("bench", onDisk, mimeType));
      double[] both = alternatingMedians(() -> preprocessor.process(decodedTwice(bytes, onDisk, format, mimeType)),
          () -> preprocessor.process(validator.validate("bench", onDisk, mimeType)));
      double twice = both[0];
      double once = both[1];
      System.out.printf("| %s | %d | %.1f | %.1f | %.1f | %.1f | %.2f |%n", sample[0], bytes.length, header, validate,
          twice, once, once / twice);
    }
  }

  /**
   * The former path: the validator decoded a raster subsampled to about 1024 px (to catch damaged
   * bytes) and kept nothing, then the preprocessor decoded the whole file again.
   */
  private static ValidatedFile decodedTwice(byte[] bytes, java.nio.file.Path onDisk, String format, String mimeType)
      throws Exception {
    byte[] sha256 = MessageDigest.getInstance("SHA-256").digest(bytes);
    ImageReader reader = ImageIO.getImageReadersByFormatName(format).next();
    int width;
    int height;
    try (ImageInputStream in = ImageIO.createImageInputStream(new ByteArrayInputStream(bytes))) {
      reader.setInput(in, true, true);
      width = reader.getWidth(0);
      height = reader.getHeight(0);
      ImageReadParam param = reader.getDefaultReadParam();
      int step = Math.max(1, (Math.max(width, height) + 1023) / 1024);
      param.setSourceSubsampling(step, step, 0, 0);
      if (reader.canReadRaster()) {
        reader.readRaster(0, param);
      } else {
        reader.read(0, param);
      }
    } finally {
      reader.dispose();
    }
    BufferedImage full = ImageIO.read(new ByteArrayInputStream(bytes));
    return new ValidatedFile(onDisk, bytes.length, mimeType, sha256, width, height, 0, Optional.of(full));
  }

  interface Run {
    void run() throws Exception;
  }

  private static double median(Run run) throws Exception {
    run.run(); // warm-up
    run.run();
    double[] ms = new double[RUNS];
    for (int i = 0; i < RUNS; i++) {
      long start = System.nanoTime();
      run.run();
      ms[i] = (System.nanoTime() - start) / 1e6;
    }
    Arrays.sort(ms);
    return ms[RUNS / 2];
  }

  /** Runs a and b in turn, so a shift in the machine's load falls on both; their medians. */
  private static double[] alternatingMedians(Run a, Run b) throws Exception {
    a.run(); // warm-up
    b.run();
    double[][] ms = new double[2][RUNS];
    for (int i = 0; i < RUNS; i++) {
      Run[] order = i % 2 == 0 ? new Run[] {a, b} : new Run[] {b, a};
      for (Run run : order) {
        long start = System.nanoTime();
        run.run();
        ms[run == a ? 0 : 1][i] = (System.nanoTime() - start) / 1e6;
      }
    }
    Arrays.sort(ms[0]);
    Arrays.sort(ms[1]);
    return new double[] {ms[0][RUNS / 2], ms[1][RUNS / 2]};
  }

  private static void header(byte[] bytes, String format) throws Exception {
    Iterator<ImageReader> readers = ImageIO.getImageReadersByFormatName(format);
    ImageReader reader = readers.next();
    try (ImageInputStream in = ImageIO.createImageInputStream(new ByteArrayInputStream(bytes))) {
      reader.setInput(in, true, true);
      if (reader.getWidth(0) < 1 || reader.getHeight(0) < 1) {
        throw new IllegalStateException("empty image");
      }
    } finally {
      reader.dispose();
    }
  }

  /** Paper-white with printed lines and sensor-like noise, so the encoder works as on a real photo. */
  private static BufferedImage photo(int width, int height, long seed) {
    BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
    Random random = new Random(seed);
    for (int y = 0; y < height; y++) {
      for (int x = 0; x < width; x++) {
        int v = 225 + random.nextInt(24);
        image.setRGB(x, y, v << 16 | v << 8 | (v - 8));
      }
    }
    Graphics2D g = image.createGraphics();
    g.setColor(Color.DARK_GRAY);
    g.setFont(new Font(Font.MONOSPACED, Font.PLAIN, Math.max(12, width / 40)));
    for (int y = width / 20; y < height; y += width / 25) {
      g.drawString("ITEM " + random.nextInt(1000) + "   2 x 3.50   7.00", width / 20, y);
    }
    g.dispose();
    return image;
  }

  private static byte[] encode(BufferedImage image, String format) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ImageIO.write(image, format, out);
    return out.toByteArray();
  }
}
