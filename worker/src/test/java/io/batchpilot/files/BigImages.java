package io.batchpilot.files;

import java.awt.image.BufferedImage;
import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import java.util.zip.DeflaterOutputStream;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageOutputStream;
import org.apache.pdfbox.pdmodel.PDDocument;
import org.apache.pdfbox.pdmodel.PDPage;
import org.apache.pdfbox.pdmodel.PDPageContentStream;
import org.apache.pdfbox.pdmodel.common.PDRectangle;
import org.apache.pdfbox.pdmodel.graphics.image.JPEGFactory;
import org.apache.pdfbox.pdmodel.graphics.image.PDImageXObject;

/**
 * Images too large to hold, written without holding them: a PNG built by hand, row by row, and a
 * detailed photo-like JPEG; and a header that lies about its size. Files are written once per
 * build into {@code target/big-images} and reused.
 */
public final class BigImages {

  private static final byte[] SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

  private BigImages() {}

  /** A valid 8-bit RGB PNG: white, with dark "text" bands every 40 rows; streamed, so any size fits. */
  public static Path uniformPng(int width, int height) throws IOException {
    Path file = folder().resolve("uniform-" + width + "x" + height + ".png");
    if (Files.exists(file)) {
      return file;
    }
    Path partial = Files.createTempFile(folder(), "png-", ".part");
    try (OutputStream raw = new BufferedOutputStream(Files.newOutputStream(partial), 1 << 16)) {
      raw.write(SIGNATURE);
      chunk(raw, "IHDR", ihdr(width, height));
      try (ChunkedIdat idat = new ChunkedIdat(raw);
           DeflaterOutputStream z = new DeflaterOutputStream(idat, new Deflater(Deflater.BEST_SPEED), 1 << 16)) {
        byte[] white = new byte[1 + width * 3];
        java.util.Arrays.fill(white, 1, white.length, (byte) 0xFF);
        byte[] text = white.clone();
        for (int x = 0; x < width; x++) {
          if ((x / 6) % 3 != 2) {
            text[1 + x * 3] = text[2 + x * 3] = text[3 + x * 3] = 0x20;
          }
        }
        for (int y = 0; y < height; y++) {
          z.write(y % 40 < 6 ? text : white);
        }
      }
      chunk(raw, "IEND", new byte[0]);
    }
    Files.move(partial, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    return file;
  }

  /**
   * A PNG whose header claims {@code width} x {@code height} and whose data is a few bytes: what a
   * decompression bomb shows a decoder before it allocates.
   */
  public static byte[] pngClaiming(int width, int height) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(SIGNATURE);
    chunk(out, "IHDR", ihdr(width, height));
    ByteArrayOutputStream data = new ByteArrayOutputStream();
    try (DeflaterOutputStream z = new DeflaterOutputStream(data)) {
      z.write(new byte[4096]);
    }
    chunk(out, "IDAT", data.toByteArray());
    chunk(out, "IEND", new byte[0]);
    return out.toByteArray();
  }

  /**
   * A photo-sized baseline JPEG of about {@code megabytes} MB: fine noise over gradients, which JPEG
   * cannot compress well, as a high-resolution camera's detail does.
   */
  public static Path photoJpeg(int width, int height, float quality) throws IOException {
    Path file = folder().resolve("photo-" + width + "x" + height + "-q" + Math.round(quality * 100) + ".jpg");
    if (Files.exists(file)) {
      return file;
    }
    BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_3BYTE_BGR);
    byte[] pixels = ((java.awt.image.DataBufferByte) image.getRaster().getDataBuffer()).getData();
    Random random = new Random(19);
    for (int y = 0; y < height; y++) {
      for (int x = 0; x < width; x++) {
        int i = (y * width + x) * 3;
        int base = (x * 255 / width + y * 255 / height) / 2;
        pixels[i] = (byte) clamp(base + random.nextInt(96) - 48);
        pixels[i + 1] = (byte) clamp(255 - base + random.nextInt(96) - 48);
        pixels[i + 2] = (byte) clamp(128 + random.nextInt(128) - 64);
      }
    }
    Path partial = Files.createTempFile(folder(), "jpeg-", ".part");
    ImageWriter writer = ImageIO.getImageWritersByFormatName("jpeg").next();
    try (ImageOutputStream ios = ImageIO.createImageOutputStream(partial.toFile())) {
      writer.setOutput(ios);
      ImageWriteParam param = writer.getDefaultWriteParam();
      param.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
      param.setCompressionQuality(quality);
      writer.write(null, new IIOImage(image, null, null), param);
    } finally {
      writer.dispose();
    }
    Files.move(partial, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    return file;
  }

  /**
   * A one-page PDF showing a JPEG, its bytes embedded as they are (DCTDecode), so the PDF is about
   * as large as the JPEG: what a scanner's PDF of a photo is.
   */
  public static Path pdfOf(Path jpeg) throws IOException {
    Path file = jpeg.resolveSibling(jpeg.getFileName().toString().replaceFirst("\\.jpg$", "") + ".pdf");
    if (Files.exists(file)) {
      return file;
    }
    Path partial = Files.createTempFile(folder(), "pdf-", ".part");
    try (PDDocument document = new PDDocument()) {
      PDImageXObject image = JPEGFactory.createFromByteArray(document, Files.readAllBytes(jpeg));
      PDPage page = new PDPage(new PDRectangle(image.getWidth() / 10f, image.getHeight() / 10f));
      document.addPage(page);
      try (PDPageContentStream content = new PDPageContentStream(document, page)) {
        content.drawImage(image, 0, 0, page.getMediaBox().getWidth(), page.getMediaBox().getHeight());
      }
      document.save(partial.toFile());
    }
    Files.move(partial, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    return file;
  }

  private static int clamp(int v) {
    return Math.max(0, Math.min(255, v));
  }

  private static Path folder() throws IOException {
    return Files.createDirectories(Path.of("target", "big-images"));
  }

  private static byte[] ihdr(int width, int height) throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    DataOutputStream d = new DataOutputStream(b);
    d.writeInt(width);
    d.writeInt(height);
    d.writeByte(8); // bit depth
    d.writeByte(2); // colour type: RGB
    d.writeByte(0); // deflate
    d.writeByte(0); // adaptive filtering
    d.writeByte(0); // not interlaced
    return b.toByteArray();
  }

  private static void chunk(OutputStream out, String type, byte[] data) throws IOException {
    DataOutputStream d = new DataOutputStream(out);
    byte[] name = type.getBytes(StandardCharsets.US_ASCII);
    d.writeInt(data.length);
    d.write(name);
    d.write(data);
    CRC32 crc = new CRC32();
    crc.update(name);
    crc.update(data);
    d.writeInt((int) crc.getValue());
    d.flush();
  }

  /** Cuts the compressed stream into IDAT chunks of at most 1 MB as it comes. */
  private static final class ChunkedIdat extends OutputStream {
    private final OutputStream out;
    private final ByteArrayOutputStream pending = new ByteArrayOutputStream(1 << 20);

    ChunkedIdat(OutputStream out) {
      this.out = out;
    }

    @Override
    public void write(int b) throws IOException {
      write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      pending.write(b, off, len);
      if (pending.size() >= 1 << 20) {
        flushChunk();
      }
    }

    private void flushChunk() throws IOException {
      if (pending.size() > 0) {
        chunk(out, "IDAT", pending.toByteArray());
        pending.reset();
      }
    }

    @Override
    public void close() throws IOException {
      flushChunk();
    }
  }
}
