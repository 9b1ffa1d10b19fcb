package io.batchpilot.bench;

import io.batchpilot.files.FileValidator;
import io.batchpilot.files.OnDisk;
import io.batchpilot.files.FileValidatorConfig;
import io.batchpilot.files.ImagePreprocessor;
import io.batchpilot.files.ImagePreprocessorConfig;
import io.batchpilot.gemini.TokenCounter;
import io.batchpilot.simulator.SyntheticReceipts;
import java.awt.Dimension;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Input tokens per receipt image before and after preprocessing, for each candidate longest-side
 * limit, on the synthetic set; how many receipts the limit makes illegible (font pushed below
 * 16 px) and the carried ground truth still decodes. Prints a Markdown table for docs/BENCHMARKS.md.
 */
public final class ImageTokensBench {

    static final double LEGIBLE_FONT_PX = 16;

    public static void main(String[] args) throws Exception {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 56;
        List<SyntheticReceipts.Sample> images = new ArrayList<>();
        for (SyntheticReceipts.Sample s : SyntheticReceipts.sampleSet(n)) {
            if (s.mimeType().startsWith("image/")) {
                images.add(s);
            }
        }
        FileValidator validator = new FileValidator(FileValidatorConfig.defaults());
        long[] before = new long[images.size()];
        for (int i = 0; i < images.size(); i++) {
            before[i] = TokenCounter.fileTokens(images.get(i).bytes(), images.get(i).mimeType());
        }
        System.out.printf(Locale.ROOT, "%d receipt images (PNG and JPEG, 300x420 to 3024x4022)%n%n", images.size());
        System.out.println("| longest side limit | tokens/receipt (mean) | median | vs original | receipts pushed below a 16 px font | ground truth decodes after | ms/image (median) |");
        System.out.println("|---|---|---|---|---|---|---|");
        row("original", before, before, 0, images.size(), Double.NaN);
        for (int limit : new int[] {3072, 2048, 1536, 1280, 1024, 768}) {
            ImagePreprocessor p = new ImagePreprocessor(new ImagePreprocessorConfig(limit, ImagePreprocessorConfig.DEFAULT_JPEG_QUALITY));
            long[] after = new long[images.size()];
            double[] millis = new double[images.size()];
            int decodes = 0;
            for (int i = 0; i < images.size(); i++) {
                SyntheticReceipts.Sample s = images.get(i);
                java.nio.file.Path onDisk = OnDisk.copyOf(s.bytes());
                long t0 = System.nanoTime();
                ImagePreprocessor.Result r = p.process(validator.validate(s.filename(), onDisk, s.mimeType()));
                millis[i] = (System.nanoTime() - t0) / 1e6;
                after[i] = TokenCounter.fileTokens(r.bytes(), r.mimeType());
                if (SyntheticReceipts.seedOf(r.bytes(), r.mimeType()).equals(java.util.Optional.of(s.truth().seed()))) {
                    decodes++;
                }
            }
            Arrays.sort(millis);
            row(Integer.toString(limit), before, after, madeIllegible(images, limit), decodes, millis[millis.length / 2]);
        }
    }

    /** Receipts whose font the limit pushes below the legible size (ones already smaller are not counted). */
    private static int madeIllegible(List<SyntheticReceipts.Sample> images, int limit) throws Exception {
        int count = 0;
        for (SyntheticReceipts.Sample s : images) {
            Dimension d = TokenCounter.imageSize(s.bytes());
            double font = SyntheticReceipts.textHeightPx(d.width);
            double scale = Math.min(1.0, limit / (double) Math.max(d.width, d.height));
            if (font >= LEGIBLE_FONT_PX && font * scale < LEGIBLE_FONT_PX) {
                count++;
            }
        }
        return count;
    }

    private static void row(String limit, long[] before, long[] after, int illegible, int decodes, double medianMillis) {
        double mean = Arrays.stream(after).average().orElse(0);
        long[] sorted = after.clone();
        Arrays.sort(sorted);
        double ratio = mean / Arrays.stream(before).average().orElse(1);
        System.out.printf(Locale.ROOT, "| %s | %.0f | %d | %.2f | %d | %d/%d | %s |%n", limit, mean, sorted[sorted.length / 2],
                ratio, illegible, decodes, after.length,
                Double.isNaN(medianMillis) ? "-" : String.format(Locale.ROOT, "%.0f", medianMillis));
    }

    private ImageTokensBench() {
    }
}
