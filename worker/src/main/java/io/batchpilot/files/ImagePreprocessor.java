package io.batchpilot.files;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.AffineTransform;
import java.awt.image.BufferedImage;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageOutputStream;

/**
 * Makes a photo cheaper to send: applies its EXIF orientation, scales it down so the longest side
 * fits the limit (never up), drops all metadata (EXIF, GPS, comments) and re-encodes it as JPEG.
 * Fewer 768x768 tiles means fewer input tokens (258 a tile).
 */
public final class ImagePreprocessor {

    /** The processed image and its size before and after. */
    public record Result(byte[] bytes, String mimeType, int width, int height, int originalWidth, int originalHeight) {
    }

    private final ImagePreprocessorConfig config;

    public ImagePreprocessor(ImagePreprocessorConfig config) {
        this.config = config;
    }

    /**
     * Works on the pixels the validator decoded, so the image is not decoded a second time.
     *
     * @throws IOException when there are none (a PDF, or an image Java cannot render, such as a
     *     CMYK JPEG); the message says so, so the caller can send the original
     */
    public Result process(ValidatedFile file) throws IOException {
        BufferedImage source = file.image().orElseThrow(() -> new IOException("the " + file.mimeType()
                + " file has no pixels Java can render (a PDF, or a CMYK image): it is sent unprocessed"));
        int orientation = "image/jpeg".equalsIgnoreCase(file.mimeType()) ? ExifOrientation.read(file.file()) : 1;
        // Scaled before flattened: a full-size RGB copy of a large image would double what is held.
        BufferedImage upright = ExifOrientation.apply(source, orientation);
        BufferedImage scaled = toRgb(scaleToFit(upright, config.maxLongestSide()));
        boolean turned = orientation >= 5;
        return new Result(jpeg(scaled, config.jpegQuality()), "image/jpeg", scaled.getWidth(), scaled.getHeight(),
                turned ? file.height() : file.width(), turned ? file.width() : file.height());
    }

    /** Scales so the longest side is at most the limit, halving first so thin strokes survive. */
    static BufferedImage scaleToFit(BufferedImage image, int maxLongestSide) {
        int w = image.getWidth();
        int h = image.getHeight();
        int longest = Math.max(w, h);
        if (longest <= maxLongestSide) {
            return image;
        }
        double scale = maxLongestSide / (double) longest;
        int targetW = Math.max(1, (int) Math.round(w * scale));
        int targetH = Math.max(1, (int) Math.round(h * scale));
        BufferedImage current = image;
        while (current.getWidth() / 2 >= targetW && current.getHeight() / 2 >= targetH) {
            current = resize(current, current.getWidth() / 2, current.getHeight() / 2);
        }
        return resize(current, targetW, targetH);
    }

    private static BufferedImage resize(BufferedImage image, int w, int h) {
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
            g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
            // Alpha is flattened onto white here (JPEG has none), as toRgb does for unscaled images.
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, w, h);
            g.drawImage(image, 0, 0, w, h, null);
        } finally {
            g.dispose();
        }
        return out;
    }

    /** Flattens alpha onto white (JPEG has none) and normalises the pixel layout. */
    private static BufferedImage toRgb(BufferedImage image) {
        if (image.getType() == BufferedImage.TYPE_INT_RGB) {
            return image;
        }
        BufferedImage out = new BufferedImage(image.getWidth(), image.getHeight(), BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        try {
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, image.getWidth(), image.getHeight());
            g.drawImage(image, 0, 0, null);
        } finally {
            g.dispose();
        }
        return out;
    }

    /** Writes pixels only: no metadata node is passed, so none is written. */
    private static byte[] jpeg(BufferedImage image, float quality) throws IOException {
        ImageWriter writer = ImageIO.getImageWritersByFormatName("jpeg").next();
        try (ByteArrayOutputStream out = new ByteArrayOutputStream();
             ImageOutputStream ios = ImageIO.createImageOutputStream(out)) {
            writer.setOutput(ios);
            ImageWriteParam param = writer.getDefaultWriteParam();
            param.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
            param.setCompressionQuality(quality);
            writer.write(null, new IIOImage(image, null, null), param);
            ios.flush();
            return out.toByteArray();
        } finally {
            writer.dispose();
        }
    }

    /** The EXIF orientation tag (1..8) of a JPEG, which re-encoding would otherwise lose. */
    static final class ExifOrientation {

        private ExifOrientation() {
        }

        /** Reads the segments before the image data (the EXIF one is at most 64 KB), not the file. */
        static int read(Path jpeg) throws IOException {
            try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(jpeg)))) {
                if (in.readUnsignedShort() != 0xFFD8) {
                    return 1;
                }
                while (in.read() == 0xFF) {
                    int marker = in.read();
                    int length = in.readUnsignedShort();
                    if (marker == 0xDA || length < 2) {
                        break;
                    }
                    if (marker != 0xE1) {
                        in.skipNBytes(length - 2);
                        continue;
                    }
                    byte[] segment = in.readNBytes(length - 2);
                    if (segment.length >= 6 && new String(segment, 0, 4, StandardCharsets.US_ASCII).equals("Exif")) {
                        return fromTiff(segment, 6, segment.length);
                    }
                }
                return 1;
            } catch (EOFException e) {
                return 1; // cut short before its image data: no orientation to apply
            }
        }

        private static int fromTiff(byte[] b, int start, int end) {
            if (start + 8 > end) {
                return 1;
            }
            boolean little = b[start] == 'I';
            int ifd = start + u32(b, start + 4, little);
            if (ifd < start || ifd + 2 > end) {
                return 1;
            }
            int entries = u16(b, ifd, little);
            for (int e = 0; e < entries; e++) {
                int p = ifd + 2 + e * 12;
                if (p + 12 > end) {
                    return 1;
                }
                if (u16(b, p, little) == 0x0112) {
                    int v = u16(b, p + 8, little);
                    return v >= 1 && v <= 8 ? v : 1;
                }
            }
            return 1;
        }

        private static int u16(byte[] b, int p, boolean little) {
            return little ? (b[p] & 0xFF) | (b[p + 1] & 0xFF) << 8 : (b[p] & 0xFF) << 8 | (b[p + 1] & 0xFF);
        }

        private static int u32(byte[] b, int p, boolean little) {
            return little ? u16(b, p, true) | u16(b, p + 2, true) << 16 : u16(b, p, false) << 16 | u16(b, p + 2, false);
        }

        /** Turns the stored pixels the way the orientation tag says a viewer would show them. */
        static BufferedImage apply(BufferedImage image, int orientation) {
            if (orientation <= 1) {
                return image;
            }
            int w = image.getWidth();
            int h = image.getHeight();
            boolean swap = orientation >= 5;
            AffineTransform t = new AffineTransform();
            switch (orientation) {
                case 2 -> { t.translate(w, 0); t.scale(-1, 1); }
                case 3 -> { t.translate(w, h); t.rotate(Math.PI); }
                case 4 -> { t.translate(0, h); t.scale(1, -1); }
                case 5 -> { t.rotate(Math.PI / 2); t.scale(1, -1); }
                case 6 -> { t.translate(h, 0); t.rotate(Math.PI / 2); }
                case 7 -> { t.scale(-1, 1); t.translate(-h, 0); t.translate(0, w); t.rotate(3 * Math.PI / 2); }
                case 8 -> { t.translate(0, w); t.rotate(3 * Math.PI / 2); }
                default -> {
                    return image;
                }
            }
            BufferedImage out = new BufferedImage(swap ? h : w, swap ? w : h, BufferedImage.TYPE_INT_RGB);
            Graphics2D g = out.createGraphics();
            try {
                g.drawImage(image, t, null);
            } finally {
                g.dispose();
            }
            return out;
        }
    }
}
