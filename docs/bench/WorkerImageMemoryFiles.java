import io.batchpilot.files.BigImages;
import java.nio.file.*;
public class WorkerImageMemoryFiles {
  public static void main(String[] a) throws Exception {
    Path out = Path.of(a[0]);
    Files.createDirectories(out);
    Files.copy(BigImages.uniformPng(14000, 14000), out.resolve("uniform-14000x14000.png"), StandardCopyOption.REPLACE_EXISTING);
    Files.copy(BigImages.photoJpeg(6000, 4000, 0.95f), out.resolve("photo-6000x4000-q95.jpg"), StandardCopyOption.REPLACE_EXISTING);
    Files.write(out.resolve("receipt-1.png"), io.batchpilot.simulator.SyntheticReceipts.png(5001, 900, 2.0));
    Files.write(out.resolve("receipt-2.jpg"), io.batchpilot.simulator.SyntheticReceipts.jpeg(5002, 1200, 1.6f, 0.9f));
  }
}
