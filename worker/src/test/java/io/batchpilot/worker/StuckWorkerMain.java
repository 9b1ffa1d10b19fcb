package io.batchpilot.worker;

import io.batchpilot.db.ConnectionPools;
import io.batchpilot.db.DatabaseUrl;
import io.batchpilot.metrics.Metrics;
import io.batchpilot.notify.NotifierConfig;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import javax.sql.DataSource;

/**
 * A worker in its own JVM whose files never finish: it prints "processing &lt;file id&gt;" and
 * holds the file, so a test can kill it mid-file. Database URL in BATCHPILOT_DATABASE_URL; the
 * lease in milliseconds as the first argument.
 */
public final class StuckWorkerMain {

  private StuckWorkerMain() {}

  public static void main(String[] args) throws Exception {
    DatabaseUrl url = DatabaseUrl.parse("BATCHPILOT_DATABASE_URL", System.getenv("BATCHPILOT_DATABASE_URL"));
    Duration lease = Duration.ofMillis(Long.parseLong(args[0]));
    DataSource pool = ConnectionPools.open(url, 2, "stuck-worker");
    WorkerConfig config = WorkerConfig.defaults().withConcurrency(1).withLease(lease, lease.dividedBy(4))
        .withNotifier(new NotifierConfig(Duration.ofMillis(200), Duration.ofMillis(50), Duration.ofSeconds(1)));
    Worker worker = new Worker(config, pool, url, file -> {
      System.out.println("processing " + file.id());
      System.out.flush();
      new CountDownLatch(1).await();
      throw new AssertionError("unreachable");
    }, new Metrics());
    worker.start();
    Thread.currentThread().join();
  }
}
