package io.batchpilot.maintenance;

import com.zaxxer.hikari.HikariDataSource;
import io.batchpilot.db.ConnectionPools;
import io.batchpilot.db.DatabaseUrl;
import java.time.Duration;

/** A separate JVM that becomes the leader, says so, and runs until it is killed. */
public final class LeaderProcess {

  static final String ENV_DATABASE_URL = "LEADER_TEST_DATABASE_URL";
  static final String LEADING = "LEADING";

  private LeaderProcess() {}

  public static void main(String[] args) throws Exception {
    DatabaseUrl url = DatabaseUrl.parse(ENV_DATABASE_URL, System.getenv(ENV_DATABASE_URL));
    HikariDataSource pool = ConnectionPools.open(url, 2, "leader-process");
    LeaderElector elector = new LeaderElector(pool, args[0], Duration.ofMillis(Long.parseLong(args[1])),
        Duration.ofMillis(Long.parseLong(args[2])));
    while (!elector.attemptOnce()) {
      Thread.sleep(50);
    }
    elector.start();
    System.out.println(LEADING);
    System.out.flush();
    Thread.sleep(Long.MAX_VALUE);
  }
}
