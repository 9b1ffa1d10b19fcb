package io.batchpilot.simulator;

import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.Rectangle;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Random;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageReadParam;
import javax.imageio.ImageReader;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.ImageOutputStream;
import org.apache.pdfbox.Loader;
import org.apache.pdfbox.pdmodel.PDDocument;
import org.apache.pdfbox.pdmodel.PDPage;
import org.apache.pdfbox.pdmodel.PDPageContentStream;
import org.apache.pdfbox.pdmodel.common.PDRectangle;
import org.apache.pdfbox.pdmodel.font.PDType1Font;
import org.apache.pdfbox.pdmodel.font.Standard14Fonts;

/**
 * Receipts with known ground truth: PNG and JPEG of any width, and PDFs of one or more pages.
 *
 * <p>Each receipt is generated from a 32-bit seed. Images carry the seed as a row of black and white
 * cells across the top (40 cells: the seed and an 8-bit check), sized relative to the width, so it
 * survives scaling, metadata stripping and JPEG re-encoding by the preprocessor; PDFs carry it in the
 * document information ("BatchpilotReceiptSeed"). The simulator reads the seed back and answers with
 * {@link #receipt(long)}; bytes without a valid seed get a receipt derived from their SHA-256.
 */
public final class SyntheticReceipts {

    static final String PDF_SEED_KEY = "BatchpilotReceiptSeed";
    private static final int CODE_BITS = 40;
    /** The page is this many cells wide; the code starts 5 cells in, one cell down. */
    private static final int CELLS_ACROSS = 50;
    private static final int CODE_FIRST_CELL = 5;

    private static final String[] MERCHANTS = {"Corner Grocery", "Blue Bottle Cafe", "Hardware Depot", "City Pharmacy",
        "Green Market", "Book Nook", "Noodle House", "Fuel Stop 24"};
    private static final String[] ITEMS = {"Milk 1L", "Bread", "Coffee beans", "Eggs x12", "Bananas", "Screws M4",
        "Paint brush", "Aspirin", "Notebook", "Ramen", "Green tea", "Apples", "Batteries AA", "Cheese", "Pasta"};
    private static final String[] CURRENCIES = {"USD", "EUR", "GBP"};

    private SyntheticReceipts() {
    }

    /** The ground truth for a seed (only its low 32 bits matter). */
    public static SyntheticReceipt receipt(long seed) {
        long s = seed & 0xFFFFFFFFL;
        Random r = new Random(s * 0x5DEECE66DL + 11);
        int count = 1 + r.nextInt(6);
        List<SyntheticReceipt.Item> items = new ArrayList<>();
        BigDecimal subtotal = BigDecimal.ZERO.setScale(2);
        for (int i = 0; i < count; i++) {
            BigDecimal qty = BigDecimal.valueOf(1 + r.nextInt(4));
            BigDecimal price = BigDecimal.valueOf(50 + r.nextInt(2500), 2);
            BigDecimal amount = price.multiply(qty).setScale(2, RoundingMode.HALF_UP);
            items.add(new SyntheticReceipt.Item(ITEMS[r.nextInt(ITEMS.length)], qty, price, amount));
            subtotal = subtotal.add(amount);
        }
        BigDecimal tax = subtotal.multiply(BigDecimal.valueOf(5 + r.nextInt(16), 2)).setScale(2, RoundingMode.HALF_UP);
        LocalDate date = LocalDate.of(2024, 1, 1).plusDays(r.nextInt(700));
        return new SyntheticReceipt(s, MERCHANTS[r.nextInt(MERCHANTS.length)], date,
                CURRENCIES[r.nextInt(CURRENCIES.length)], subtotal, tax, subtotal.add(tax), items);
    }

    /** The receipt the simulator answers for these bytes: the carried seed's, else one derived from the hash. */
    public static SyntheticReceipt extract(byte[] content, String mimeType) {
        return receipt(seedOf(content, mimeType).orElseGet(() -> hashSeed(content)));
    }

    /** The seed the bytes carry, if they are a synthetic receipt (after any preprocessing). */
    public static Optional<Long> seedOf(byte[] content, String mimeType) {
        try {
            if ("application/pdf".equalsIgnoreCase(mimeType)) {
                try (PDDocument doc = Loader.loadPDF(content)) {
                    String v = doc.getDocumentInformation().getCustomMetadataValue(PDF_SEED_KEY);
                    return v == null ? Optional.empty() : Optional.of(Long.parseLong(v));
                }
            }
            return readCode(content);
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    public static byte[] png(long seed, int width, double aspect) {
        return encode(render(seed, width, aspect), "png", 1f);
    }

    public static byte[] jpeg(long seed, int width, double aspect, float quality) {
        return encode(render(seed, width, aspect), "jpeg", quality);
    }

    /** A PDF of the given number of pages; the receipt is on the first, the rest carry "continued". */
    public static byte[] pdf(long seed, int pages) {
        SyntheticReceipt r = receipt(seed);
        try (PDDocument doc = new PDDocument(); ByteArrayOutputStream out = new ByteArrayOutputStream()) {
            PDType1Font font = new PDType1Font(Standard14Fonts.FontName.COURIER);
            for (int p = 0; p < pages; p++) {
                PDPage page = new PDPage(new PDRectangle(226, 600));
                doc.addPage(page);
                try (PDPageContentStream cs = new PDPageContentStream(doc, page)) {
                    cs.beginText();
                    cs.setFont(font, 8);
                    cs.newLineAtOffset(10, 580);
                    for (String line : p == 0 ? lines(r) : List.of("(continued, page " + (p + 1) + ")")) {
                        cs.showText(line);
                        cs.newLineAtOffset(0, -11);
                    }
                    cs.endText();
                }
            }
            doc.getDocumentInformation().setCustomMetadataValue(PDF_SEED_KEY, Long.toString(seed & 0xFFFFFFFFL));
            doc.save(out);
            return out.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** One synthetic file: its bytes, type, seed and the truth to compare an extraction with. */
    public record Sample(String filename, String mimeType, byte[] bytes, SyntheticReceipt truth) {
    }

    /**
     * Sizes of receipt images as they arrive: a thumbnail, a narrow scan, a screenshot, cropped
     * photos, and 16:9 and 4:3 phone photos (width, height / width).
     */
    private static final double[][] SIZES = {{300, 1.4}, {600, 2.8}, {900, 2.0}, {1080, 2.2}, {1600, 1.6},
        {2268, 1.78}, {3024, 1.33}};

    /**
     * A varied set: PNG and JPEG in the sizes above, and a PDF every eighth file (1 to 3 pages).
     * Same n, same set.
     */
    public static List<Sample> sampleSet(int n) {
        List<Sample> samples = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            long seed = 1000 + i;
            if (i % 8 == 7) {
                samples.add(new Sample("receipt-" + i + ".pdf", "application/pdf", pdf(seed, 1 + (i / 8) % 3), receipt(seed)));
                continue;
            }
            double[] size = SIZES[(i - i / 8) % SIZES.length];
            if (i % 2 == 0) {
                samples.add(new Sample("receipt-" + i + ".png", "image/png", png(seed, (int) size[0], size[1]), receipt(seed)));
            } else {
                samples.add(new Sample("receipt-" + i + ".jpg", "image/jpeg", jpeg(seed, (int) size[0], size[1], 0.85f),
                        receipt(seed)));
            }
        }
        return samples;
    }

    /** The pixel height of the receipt's text at this width (the font grows with the page). */
    public static double textHeightPx(int width) {
        return width / 25.0;
    }

    static BufferedImage render(long seed, int width, double aspect) {
        if (width < CELLS_ACROSS * 4) {
            throw new IllegalArgumentException("synthetic receipts need a width of at least " + CELLS_ACROSS * 4 + " px");
        }
        SyntheticReceipt r = receipt(seed);
        int height = (int) Math.round(width * aspect);
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        try {
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, width, height);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.BLACK);
            double cell = width / (double) CELLS_ACROSS;
            long code = ((seed & 0xFFFFFFFFL) << 8) | check(seed);
            for (int i = 0; i < CODE_BITS; i++) {
                if ((code >>> (CODE_BITS - 1 - i) & 1) == 1) {
                    int x0 = (int) Math.round((CODE_FIRST_CELL + i) * cell);
                    int x1 = (int) Math.round((CODE_FIRST_CELL + i + 1) * cell);
                    g.fillRect(x0, (int) Math.round(cell), x1 - x0, (int) Math.round(cell));
                }
            }
            int fontSize = (int) Math.round(textHeightPx(width));
            g.setFont(new Font(Font.MONOSPACED, Font.PLAIN, fontSize));
            int y = (int) Math.round(3 * cell) + fontSize;
            for (String line : lines(r)) {
                if (y > height) {
                    break;
                }
                g.drawString(line, (int) Math.round(cell), y);
                y += (int) Math.round(fontSize * 1.3);
            }
        } finally {
            g.dispose();
        }
        return image;
    }

    static List<String> lines(SyntheticReceipt r) {
        List<String> lines = new ArrayList<>();
        lines.add(r.merchant().toUpperCase(Locale.ROOT));
        lines.add("Date: " + r.date() + "  " + r.currency());
        lines.add("--------------------------------");
        for (SyntheticReceipt.Item i : r.lineItems()) {
            lines.add(String.format(Locale.ROOT, "%-14s %sx%s %8s", i.description(), i.quantity(), i.unitPrice(), i.amount()));
        }
        lines.add("--------------------------------");
        lines.add(String.format(Locale.ROOT, "Subtotal %23s", r.subtotal()));
        lines.add(String.format(Locale.ROOT, "Tax      %23s", r.tax()));
        lines.add(String.format(Locale.ROOT, "TOTAL    %23s", r.total()));
        return lines;
    }

    /** Decodes only the top rows, where the code is: a few ms even for a 12-megapixel photo. */
    private static Optional<Long> readCode(byte[] content) throws IOException {
        try (ImageInputStream in = ImageIO.createImageInputStream(new ByteArrayInputStream(content))) {
            Iterator<ImageReader> readers = in == null ? null : ImageIO.getImageReaders(in);
            if (readers == null || !readers.hasNext()) {
                return Optional.empty();
            }
            ImageReader reader = readers.next();
            try {
                reader.setInput(in, true, true);
                int width = reader.getWidth(0);
                double cell = width / (double) CELLS_ACROSS;
                int rows = (int) Math.ceil(2 * cell) + 1;
                if (cell < 2 || reader.getHeight(0) < rows) {
                    return Optional.empty();
                }
                ImageReadParam param = reader.getDefaultReadParam();
                param.setSourceRegion(new Rectangle(0, 0, width, rows));
                return readCode(reader.read(0, param), cell);
            } finally {
                reader.dispose();
            }
        }
    }

    private static Optional<Long> readCode(BufferedImage image, double cell) {
        int y = (int) (1.5 * cell);
        long code = 0;
        for (int i = 0; i < CODE_BITS; i++) {
            int x = (int) ((CODE_FIRST_CELL + i + 0.5) * cell);
            int rgb = image.getRGB(x, y);
            int luminance = ((rgb >> 16 & 0xFF) * 299 + (rgb >> 8 & 0xFF) * 587 + (rgb & 0xFF) * 114) / 1000;
            code = code << 1 | (luminance < 128 ? 1 : 0);
        }
        long seed = code >>> 8;
        return (code & 0xFF) == check(seed) ? Optional.of(seed) : Optional.empty();
    }

    /** An 8-bit check so that an arbitrary image almost never decodes as a seed (an all-white row fails). */
    private static long check(long seed) {
        long s = seed & 0xFFFFFFFFL;
        long h = (s * 0x9E3779B1L) ^ (s >>> 15) ^ 0xA5;
        return (h ^ (h >>> 8) ^ (h >>> 16) ^ (h >>> 24)) & 0xFF | 0x01;
    }

    static long hashSeed(byte[] content) {
        try {
            return ByteBuffer.wrap(MessageDigest.getInstance("SHA-256").digest(content)).getInt() & 0xFFFFFFFFL;
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    private static byte[] encode(BufferedImage image, String format, float quality) {
        try (ByteArrayOutputStream out = new ByteArrayOutputStream()) {
            ImageWriter writer = ImageIO.getImageWritersByFormatName(format).next();
            try (ImageOutputStream ios = ImageIO.createImageOutputStream(out)) {
                writer.setOutput(ios);
                ImageWriteParam param = writer.getDefaultWriteParam();
                if (format.equals("jpeg")) {
                    param.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
                    param.setCompressionQuality(quality);
                }
                writer.write(null, new IIOImage(image, null, null), param);
            } finally {
                writer.dispose();
            }
            return out.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
