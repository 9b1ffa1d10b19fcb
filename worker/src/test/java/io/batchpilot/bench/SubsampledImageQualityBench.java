package io.batchpilot.bench;

import io.batchpilot.files.FileValidator;
import io.batchpilot.files.FileValidatorConfig;
import io.batchpilot.files.ImagePreprocessor;
import io.batchpilot.files.ImagePreprocessorConfig;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.Image;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Random;
import javax.imageio.ImageIO;

/**
 * What decoding a large image subsampled (every step-th pixel of every step-th row, so it fits a
 * small heap) costs in the image Gemini gets. A receipt-like page of text is rendered at several
 * widths and stroke sizes and sent through the pipeline twice: validated subsampled to the size
 * sent (the worker's path) and validated at full size, both then preprocessed (scaled by halving to
 * the 1280 px longest side, JPEG). Each is compared with a reference made from the full pixels by
 * area averaging (every source pixel weighed), as PSNR in dB over the luminance: higher is closer,
 * above ~30 dB the difference is hard to see.
 *
 * <p>No arguments. Needs a heap for the full decodes (-Xmx2g).
 */
public final class SubsampledImageQualityBench {

  private static final int SENT = ImagePreprocessorConfig.DEFAULT_MAX_LONGEST_SIDE;

  public static void main(String[] args) throws Exception {
    ImagePreprocessor preprocessor = new ImagePreprocessor(ImagePreprocessorConfig.defaults());
    FileValidator subsampled = new FileValidator(FileValidatorConfig.defaults(), SENT);
    FileValidator full = new FileValidator(FileValidatorConfig.defaults(), Integer.MAX_VALUE);
    System.out.println("| width x height | characters per line | stroke at the sent size | subsampled (worker) dB | full decode dB | "
        + "subsampled vs full dB |");
    System.out.println("|---|---:|---:|---:|---:|---:|");
    Path dir = Files.createTempDirectory("quality-bench");
    try {
      for (int width : new int[] {2000, 4000, 8000, 10000}) {
        for (int perLine : new int[] {32, 64}) {
          int height = width * 3 / 2;
          BufferedImage page = receiptPage(width, height, perLine);
          Path file = dir.resolve("page-" + width + "-" + perLine + ".png");
          ImageIO.write(page, "png", file.toFile());
          BufferedImage reference = areaAveraged(page, SENT);
          page = null;
          BufferedImage fromSubsampled = sent(preprocessor.process(subsampled.validate("p.png", file, "image/png")));
          BufferedImage fromFull = sent(preprocessor.process(full.validate("p.png", file, "image/png")));
          double strokeAtSent = width / (double) perLine * 0.09 * SENT / Math.max(width, height);
          System.out.printf(Locale.ROOT, "| %d x %d | %d | %.2f px | %.1f | %.1f | %.1f |%n", width, height, perLine,
              strokeAtSent, psnr(fromSubsampled, reference), psnr(fromFull, reference), psnr(fromSubsampled, fromFull));
          Files.delete(file);
        }
      }
    } finally {
      Files.deleteIfExists(dir);
    }
  }

  /** Black monospaced text on white, perLine characters a line, lines to the bottom. */
  private static BufferedImage receiptPage(int width, int height, int perLine) {
    BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_BYTE_GRAY);
    Graphics2D g = image.createGraphics();
    try {
      g.setColor(Color.WHITE);
      g.fillRect(0, 0, width, height);
      g.setColor(Color.BLACK);
      g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
      int size = (int) Math.round(width / (double) perLine / 0.6);
      g.setFont(new Font(Font.MONOSPACED, Font.PLAIN, size));
      Random random = new Random(width * 31L + perLine);
      String alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,$-";
      for (int y = size; y < height; y += size * 1.3) {
        StringBuilder line = new StringBuilder();
        for (int i = 0; i < perLine; i++) {
          line.append(alphabet.charAt(random.nextInt(alphabet.length())));
        }
        g.drawString(line.toString(), 0, y);
      }
    } finally {
      g.dispose();
    }
    return image;
  }

  private static BufferedImage areaAveraged(BufferedImage image, int longest) {
    double scale = longest / (double) Math.max(image.getWidth(), image.getHeight());
    int w = (int) Math.round(image.getWidth() * scale);
    int h = (int) Math.round(image.getHeight() * scale);
    Image scaled = image.getScaledInstance(w, h, Image.SCALE_AREA_AVERAGING);
    BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = out.createGraphics();
    g.drawImage(scaled, 0, 0, null);
    g.dispose();
    return out;
  }

  private static BufferedImage sent(ImagePreprocessor.Result result) throws java.io.IOException {
    return ImageIO.read(new ByteArrayInputStream(result.bytes()));
  }

  /** Peak signal-to-noise ratio of the luminance, over the pixels both images have. */
  private static double psnr(BufferedImage a, BufferedImage b) {
    int w = Math.min(a.getWidth(), b.getWidth());
    int h = Math.min(a.getHeight(), b.getHeight());
    double sum = 0;
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        double d = luma(a.getRGB(x, y)) - luma(b.getRGB(x, y));
        sum += d * d;
      }
    }
    double mse = sum / ((double) w * h);
    return mse == 0 ? Double.POSITIVE_INFINITY : 10 * Math.log10(255.0 * 255.0 / mse);
  }

  private static double luma(int rgb) {
    return 0.299 * (rgb >> 16 & 0xFF) + 0.587 * (rgb >> 8 & 0xFF) + 0.114 * (rgb & 0xFF);
  }
}
