package io.batchpilot.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.simulator.SyntheticReceipts;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Images are decoded within bounded memory: subsampled to the size that is sent, whatever their
 * own size, and a header that claims an absurd size is refused before anything is allocated. The
 * decodes run in a JVM of their own with a 64 MB heap, as the small-heap advice of the README and docs/operations.md has it.
 */
class BoundedImageMemoryTest {

  static final int HUGE_SIDE = 14_000;
  /** About 19 MB of JPEG (measured: 19.8 MB), a 24-megapixel photo with the detail of a good camera. */
  static final int PHOTO_WIDTH = 6000;
  static final int PHOTO_HEIGHT = 4000;
  static final float PHOTO_QUALITY = 0.95f;

  @TempDir
  Path folder;

  private record Run(List<String> lines, long peakRssKb) {}

  private static Run decodeInSmallHeap(int kept, Path... files) throws Exception {
    List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx64m", "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"), DecodeMain.class.getName(),
        String.valueOf(kept)));
    for (Path f : files) {
      command.add(f.toString());
    }
    Process child = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(child.waitFor(120, TimeUnit.SECONDS), out);
    assertEquals(0, child.exitValue(), out);
    List<String> lines = new ArrayList<>(out.lines().filter(l -> !l.isBlank()).toList());
    String peak = lines.remove(lines.size() - 1);
    assertTrue(peak.startsWith("peak RSS "), out);
    return new Run(lines, Long.parseLong(peak.substring("peak RSS ".length())));
  }

  @Test
  void aHugePngAndALargePhotoArePreparedAtA64MbHeapOnFourThreadsWhileABombFailsAlone() throws Exception {
    Path huge = BigImages.uniformPng(HUGE_SIDE, HUGE_SIDE);
    Path photo = BigImages.photoJpeg(PHOTO_WIDTH, PHOTO_HEIGHT, PHOTO_QUALITY);
    assertTrue(Files.size(photo) > 18_000_000, "the photo is " + Files.size(photo) + " bytes");
    Path bomb = Files.write(folder.resolve("bomb.png"), BigImages.pngClaiming(60_000, 60_000));
    Path receipt = Files.write(folder.resolve("receipt.png"), SyntheticReceipts.png(3, 900, 2.0));

    Run run = decodeInSmallHeap(ImagePreprocessorConfig.DEFAULT_MAX_LONGEST_SIDE, huge, photo, bomb, receipt);

    int sent = ImagePreprocessorConfig.DEFAULT_MAX_LONGEST_SIDE;
    assertEquals(List.of(
        "ok " + huge.getFileName() + " 14000x14000 -> " + sent + "x" + sent,
        "ok " + photo.getFileName() + " 6000x4000 -> " + sent + "x853",
        "invalid bomb.png bomb.png is 60000x60000 pixels; the limit is 200000000 pixels"
            + " (BATCHPILOT_MAX_IMAGE_PIXELS): scale it down and upload it again",
        "ok receipt.png 900x1800 -> 640x" + sent), run.lines());
    System.out.printf("peak RSS of the 64 MB-heap JVM: %d MB%n", run.peakRssKb() / 1024);
  }

  @Test
  void runningOutOfMemoryWhileDecodingIsNeverCalledDamage() throws Exception {
    Path huge = BigImages.uniformPng(HUGE_SIDE, HUGE_SIDE);
    // Kept whole: 14000 x 14000 x 3 bytes cannot fit a 64 MB heap.
    Run run = decodeInSmallHeap(HUGE_SIDE, huge);
    assertEquals(1, run.lines().size(), run.lines().toString());
    assertTrue(run.lines().get(0).startsWith("out of memory " + huge.getFileName()), run.lines().get(0));
  }

  @Test
  void aHeaderClaimingAnAbsurdSideIsRefusedBeforeDecoding() throws IOException {
    FileValidator validator = new FileValidator(FileValidatorConfig.defaults());
    InvalidFileException wide = assertThrows(InvalidFileException.class,
        () -> validator.validate("strip.png", OnDisk.copyOf(BigImages.pngClaiming(2_000_000, 1)), "image/png"));
    assertEquals("strip.png claims to be 2000000x1 pixels; the longest side allowed is 65535 pixels, so it was not"
        + " decoded: scale it down and upload it again", wide.getMessage());
  }

  @Test
  void decodedPixelsAreBoundedByTheSizeSentNotByTheFile() throws Exception {
    FileValidator validator = new FileValidator(FileValidatorConfig.defaults(), 1280);
    ValidatedFile valid = validator.validate("wide.png", OnDisk.copyOf(TestFiles.png(5 * 1280 + 100, 400)), "image/png");
    assertEquals(5 * 1280 + 100, valid.width());
    int kept = valid.image().orElseThrow().getWidth();
    assertTrue(kept >= 1280 && kept < 2 * 1280, "kept " + kept + " px of " + valid.width());
  }
}
