package io.batchpilot.files;

import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.awt.image.WritableRaster;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.Locale;
import java.util.Optional;
import javax.imageio.ImageIO;
import javax.imageio.ImageReadParam;
import javax.imageio.ImageReader;
import javax.imageio.event.IIOReadWarningListener;
import javax.imageio.stream.FileImageInputStream;
import javax.imageio.stream.ImageInputStream;
import org.apache.pdfbox.Loader;
import org.apache.pdfbox.pdmodel.PDDocument;
import org.apache.pdfbox.pdmodel.encryption.InvalidPasswordException;

/**
 * Checks a file before any quota is spent on it: not empty, not too large, really the type it is
 * declared as (by its first bytes), a type Gemini is sent (JPEG, PNG, WebP, PDF), and readable
 * (an image decodes, a PDF opens without a password). Thread-safe.
 */
public final class FileValidator {

  private static final String SUPPORTED = "JPEG, PNG, WebP or PDF";
  /**
   * The longest side an image header may claim, whatever its pixel count: a decoder holds a few
   * rows of the full width (a 65,535 px row of 16-bit RGBA is 512 KB), so a claimed width of
   * millions would allocate gigabytes for one row. 65,535 is JPEG's own limit; WebP's is 16,383.
   */
  public static final int MAX_IMAGE_SIDE = 65_535;
  /** What {@link FileType#sniff} looks at: PDF readers find the header anywhere in the first 1024 bytes. */
  private static final int HEADER_BYTES = 1024;

  private final FileValidatorConfig config;
  private final int keptLongestSide;

  /** Keeps {@link ImagePreprocessorConfig#DEFAULT_MAX_LONGEST_SIDE} pixels, the default size sent. */
  public FileValidator(FileValidatorConfig config) {
    this(config, ImagePreprocessorConfig.DEFAULT_MAX_LONGEST_SIDE);
  }

  /**
   * @param keptLongestSide the longest side the preprocessor sends: images are decoded subsampled
   *     to no less than this, so the pixels held are bounded by what is sent (about 1,300 x 1,300 x
   *     3 bytes), not by the file's size (a 14,000 x 14,000 PNG would be 590 MB whole)
   */
  public FileValidator(FileValidatorConfig config, int keptLongestSide) {
    if (keptLongestSide < 1) {
      throw new IllegalArgumentException("kept longest side must be at least 1 px, was " + keptLongestSide);
    }
    this.config = config;
    this.keptLongestSide = keptLongestSide;
  }

  /**
   * Reads the file from disk (a few KB at a time: its bytes are never all in memory).
   *
   * @param filename the name shown in messages (the row's original_filename)
   * @param file the bytes, as {@link FileSource} spooled them
   * @param declaredMimeType the row's file_type; null, blank or application/octet-stream means
   *     "not declared" and the bytes decide
   */
  public ValidatedFile validate(String filename, Path file, String declaredMimeType) throws InvalidFileException {
    long size;
    byte[] header;
    try (InputStream in = Files.newInputStream(file)) {
      size = Files.size(file);
      header = in.readNBytes(HEADER_BYTES);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + filename + " from its temporary copy " + file, e);
    }
    if (size == 0) {
      throw new InvalidFileException(filename + " is empty (0 bytes): upload the file again");
    }
    if (size > config.maxFileBytes()) {
      throw new InvalidFileException(filename + " is " + size + " bytes; the limit is "
          + config.maxFileBytes() + " bytes (" + FileSourceConfig.MAX_FILE_BYTES.name()
          + "): compress or split the file and upload it again");
    }
    Optional<FileType> sniffed = FileType.sniff(header);
    if (sniffed.isEmpty()) {
      throw new InvalidFileException(filename + " is not a " + SUPPORTED + " file (it begins "
          + HexFormat.ofDelimiter(" ").formatHex(header, 0, Math.min(8, header.length))
          + "): upload a photo or PDF of the receipt");
    }
    FileType type = sniffed.get();
    checkDeclared(filename, type, declaredMimeType);
    if (type == FileType.HEIC) {
      throw new InvalidFileException(filename + " is a HEIC photo, which batchpilot cannot read:"
          + " convert it to JPEG (on an iPhone: Settings > Camera > Formats > Most Compatible) and"
          + " upload it again");
    }
    if (!type.supported()) {
      throw new InvalidFileException(filename + " is a " + type.description() + "; supported types are "
          + SUPPORTED + ": convert it and upload it again");
    }
    byte[] sha256 = sha256(filename, file);
    if (type == FileType.PDF) {
      int pages = pdfPages(filename, file);
      return new ValidatedFile(file, size, type.mimeType(), sha256, 0, 0, pages, Optional.empty());
    }
    return decodeImage(filename, type, file, size, sha256);
  }

  private static void checkDeclared(String filename, FileType actual, String declaredMimeType)
      throws InvalidFileException {
    if (declaredMimeType == null || declaredMimeType.isBlank()
        || declaredMimeType.strip().toLowerCase(Locale.ROOT).startsWith("application/octet-stream")) {
      return;
    }
    Optional<FileType> declared = FileType.ofMimeType(declaredMimeType);
    if (declared.isEmpty() || declared.get() != actual) {
      throw new InvalidFileException(filename + " is declared as " + declaredMimeType.strip()
          + " but its content is a " + actual.description() + " (" + actual.mimeType()
          + "): correct file_type or upload the right file");
    }
  }

  /**
   * One sample per step-th pixel aliases thin strokes away (text 1-2 px wide at the size sent lost
   * 6-14 dB against an area-averaged reference, docs/BENCHMARKS.md, "Subsampled decoding"). Three
   * more reads, offset by half a step across, down and both, are averaged into {@code image}: a
   * 2x2 filter at the cost of three more decodes and one more subsampled buffer (reused), never the
   * full-size pixels.
   */
  private static void averageOffsets(ImageReader reader, ImageReadParam param, int step, BufferedImage image)
      throws IOException {
    int half = step / 2;
    int[][] offsets = {{half, 0}, {0, half}, {half, half}};
    WritableRaster sum = image.getRaster();
    int bands = sum.getNumBands();
    int[] a = new int[sum.getWidth() * bands];
    int[] b = new int[sum.getWidth() * bands];
    BufferedImage other = null;
    int reads = 1;
    for (int[] offset : offsets) {
      param.setSourceSubsampling(step, step, offset[0], offset[1]);
      param.setDestination(other);
      other = reader.read(0, param);
      reads++;
      // An offset read may be a column or row short: the edge keeps the reads it has.
      Raster next = other.getRaster();
      int w = Math.min(sum.getWidth(), next.getWidth());
      int h = Math.min(sum.getHeight(), next.getHeight());
      for (int y = 0; y < h; y++) {
        sum.getPixels(0, y, w, 1, a);
        next.getPixels(0, y, w, 1, b);
        for (int i = 0; i < w * bands; i++) {
          // The running mean of the reads so far, rounded.
          a[i] = (a[i] * (reads - 1) + b[i] + reads / 2) / reads;
        }
        sum.setPixels(0, y, w, 1, a);
      }
    }
  }

  /**
   * Decodes every byte, so a truncated or damaged image is refused here, and keeps the pixels for
   * the preprocessor: each image is decoded once.
   */
  private ValidatedFile decodeImage(String filename, FileType type, Path file, long size, byte[] sha256)
      throws InvalidFileException {
    Iterator<ImageReader> readers = ImageIO.getImageReadersByFormatName(type.imageIoFormat());
    if (!readers.hasNext()) {
      throw new IllegalStateException("no ImageIO reader for " + type.imageIoFormat()
          + ": the build lost a dependency (imageio-webp)");
    }
    ImageReader reader = readers.next();
    // Read from the file as the decoder asks (ImageIO's own cache would copy it to another file).
    try (ImageInputStream in = new FileImageInputStream(file.toFile())) {
      // Not forward-only: a subsampled image is read again at other offsets (see averageOffsets).
      reader.setInput(in, false, true);
      int width = reader.getWidth(0);
      int height = reader.getHeight(0);
      if (width < 1 || height < 1) {
        throw corrupt(filename, type, "it is " + width + "x" + height + " pixels");
      }
      if (Math.max(width, height) > MAX_IMAGE_SIDE) {
        throw new InvalidFileException(filename + " claims to be " + width + "x" + height + " pixels; the longest"
            + " side allowed is " + MAX_IMAGE_SIDE + " pixels, so it was not decoded: scale it down and upload it again");
      }
      if ((long) width * height > config.maxImagePixels()) {
        throw new InvalidFileException(filename + " is " + width + "x" + height + " pixels; the"
            + " limit is " + config.maxImagePixels() + " pixels (" + FileValidatorConfig.MAX_IMAGE_PIXELS.name()
            + "): scale it down and upload it again");
      }
      StringBuilder warnings = new StringBuilder();
      // The JPEG decoder reports a truncated file as a warning and fills the rest with grey.
      reader.addIIOReadWarningListener((IIOReadWarningListener) (source, warning) ->
          warnings.append(warnings.length() == 0 ? "" : "; ").append(warning));
      ImageReadParam param = reader.getDefaultReadParam();
      // Only every step-th pixel of every step-th row is stored: at least keptLongestSide remain.
      int step = Math.max(1, Math.max(width, height) / keptLongestSide);
      param.setSourceSubsampling(step, step, 0, 0);
      Optional<BufferedImage> pixels;
      if (reader.getImageTypes(0).hasNext()) {
        BufferedImage image = reader.read(0, param);
        // Palette images hold indexes, which do not average.
        if (step > 1 && warnings.length() == 0 && !(image.getColorModel() instanceof IndexColorModel)) {
          averageOffsets(reader, param, step, image);
        }
        pixels = Optional.of(image);
      } else {
        // No colour model Java can render (a CMYK JPEG): a raster still proves the bytes decode,
        // and the file is sent as uploaded.
        reader.readRaster(0, param);
        pixels = Optional.empty();
      }
      if (warnings.length() > 0) {
        throw corrupt(filename, type, warnings.toString());
      }
      return new ValidatedFile(file, size, type.mimeType(), sha256, width, height, 0, pixels);
    } catch (IOException | RuntimeException e) {
      // The PNG reader wraps any Throwable in an IIOException: running out of memory is not damage.
      OutOfMemoryError outOfMemory = outOfMemoryIn(e);
      if (outOfMemory != null) {
        throw outOfMemory;
      }
      // Decoders throw runtime exceptions on some damaged data, not only IIOException.
      throw corrupt(filename, type, String.valueOf(e.getMessage()));
    } finally {
      reader.dispose();
    }
  }

  private static OutOfMemoryError outOfMemoryIn(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof OutOfMemoryError oom) {
        return oom;
      }
    }
    return null;
  }

  private static InvalidFileException corrupt(String filename, FileType type, String detail) {
    return new InvalidFileException(filename + " is a damaged " + type.description() + " that cannot"
        + " be decoded (" + detail + "): export or photograph it again and upload the new file");
  }

  /** PDFBox reads the file through a small buffer, and a page's streams only when they are used. */
  private int pdfPages(String filename, Path file) throws InvalidFileException {
    try (PDDocument document = Loader.loadPDF(file.toFile())) {
      int pages = document.getNumberOfPages();
      if (pages < 1) {
        throw new InvalidFileException(filename + " is a PDF with no pages: export it again and upload it");
      }
      if (pages > config.maxPdfPages()) {
        throw new InvalidFileException(filename + " has " + pages + " pages; the limit is "
            + config.maxPdfPages() + " (" + FileValidatorConfig.MAX_PDF_PAGES.name()
            + "): split it and upload the parts");
      }
      return pages;
    } catch (InvalidPasswordException e) {
      throw new InvalidFileException(filename + " is a password-protected PDF: remove the password"
          + " (for example, print it to a new PDF) and upload it again");
    } catch (IOException | RuntimeException e) {
      throw new InvalidFileException(filename + " is a damaged PDF that cannot be read ("
          + e.getMessage() + "): export it again and upload the new file");
    }
  }

  private static byte[] sha256(String filename, Path file) {
    MessageDigest digest;
    try {
      digest = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JVM has SHA-256", e);
    }
    try (InputStream in = new DigestInputStream(Files.newInputStream(file), digest)) {
      in.transferTo(OutputStream.nullOutputStream());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + filename + " from its temporary copy " + file, e);
    }
    return digest.digest();
  }
}
