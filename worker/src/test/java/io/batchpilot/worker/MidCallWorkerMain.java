package io.batchpilot.worker;

import io.batchpilot.db.ConnectionPools;
import io.batchpilot.db.DatabaseUrl;
import io.batchpilot.limiter.Admission;
import io.batchpilot.limiter.QuotaGate;
import io.batchpilot.limiter.QuotaGateConfig;
import io.batchpilot.limiter.Strategy;
import io.batchpilot.metrics.Metrics;
import io.batchpilot.notify.NotifierConfig;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import javax.sql.DataSource;

/**
 * A worker in its own JVM whose calls never return: each file gets a quota permit (from a gate with
 * the worker's lease, kept alive by the worker's heartbeat, as {@code WorkerProcess} wires it), then
 * it prints "calling &lt;file id&gt;" and waits, so a test can kill it mid-call. Database URL in
 * BATCHPILOT_DATABASE_URL; the lease in milliseconds and the concurrency as arguments.
 */
public final class MidCallWorkerMain {

  private MidCallWorkerMain() {}

  public static void main(String[] args) throws Exception {
    DatabaseUrl url = DatabaseUrl.parse("BATCHPILOT_DATABASE_URL", System.getenv("BATCHPILOT_DATABASE_URL"));
    Duration lease = Duration.ofMillis(Long.parseLong(args[0]));
    int concurrency = Integer.parseInt(args[1]);
    DataSource pool = ConnectionPools.open(url, 2 + concurrency, "mid-call-worker");
    QuotaGate gate = new QuotaGate(pool, QuotaGateConfig.defaults(), lease);
    WorkerConfig config = WorkerConfig.defaults().withConcurrency(concurrency).withLease(lease, lease.dividedBy(4))
        .withNotifier(new NotifierConfig(Duration.ofMillis(200), Duration.ofMillis(50), Duration.ofSeconds(1)));
    Worker worker = new Worker(config, pool, url, file -> {
      Admission admission = gate.acquireWithin(file.provider(), file.model(), 10, Strategy.AGGRESSIVE,
          Duration.ofSeconds(60), file.id());
      if (!(admission instanceof Admission.Granted)) {
        throw new AssertionError("no permit for " + file.id() + ": " + admission);
      }
      System.out.println("calling " + file.id());
      System.out.flush();
      new CountDownLatch(1).await();
      throw new AssertionError("unreachable");
    }, new Metrics(), gate);
    worker.start();
    Thread.currentThread().join();
  }
}
