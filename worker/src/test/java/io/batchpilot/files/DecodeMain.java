package io.batchpilot.files;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Validates and preprocesses files as a worker's threads do, in a JVM of its own, so a test can
 * give it a small heap. Arguments: the longest side kept when decoding, then the files, each
 * decoded on a thread of its own at once. Prints one line per file ("ok", "invalid", "out of
 * memory") and, last, "peak RSS &lt;kB&gt;" (VmHWM).
 */
public final class DecodeMain {

  private DecodeMain() {}

  public static void main(String[] args) throws Exception {
    int kept = Integer.parseInt(args[0]);
    FileValidator validator = new FileValidator(FileValidatorConfig.defaults(), kept);
    ImagePreprocessor preprocessor = new ImagePreprocessor(ImagePreprocessorConfig.defaults());
    ExecutorService threads = Executors.newFixedThreadPool(args.length - 1);
    List<Future<String>> results = new ArrayList<>();
    for (int i = 1; i < args.length; i++) {
      Path file = Path.of(args[i]);
      results.add(threads.submit(() -> {
        String name = file.getFileName().toString();
        try {
          // Read from disk inside the thread, as a worker's file thread reads the copy it spooled.
          ValidatedFile valid = validator.validate(name, file, null);
          ImagePreprocessor.Result r = preprocessor.process(valid);
          return "ok " + name + " " + r.originalWidth() + "x" + r.originalHeight() + " -> " + r.width() + "x" + r.height();
        } catch (InvalidFileException e) {
          return "invalid " + name + " " + e.getMessage();
        } catch (OutOfMemoryError e) {
          return "out of memory " + name + " " + e.getMessage();
        }
      }));
    }
    for (Future<String> result : results) {
      System.out.println(result.get());
    }
    threads.shutdown();
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("VmHWM:")) {
        System.out.println("peak RSS " + line.replaceAll("\\D", ""));
      }
    }
  }
}
