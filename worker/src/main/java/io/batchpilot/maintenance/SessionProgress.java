package io.batchpilot.maintenance;

import io.batchpilot.store.Jooq;
import javax.sql.DataSource;
import org.jooq.DSLContext;
import org.jooq.Record;

/**
 * The leader's progress round ({@code batchpilot_private.run_progress_round}), about once a second.
 * Ends the sessions that have nothing left to do (no file uploading, pending or processing, and at
 * least {@code total_files} finished, so a session whose frontend is still registering files is not
 * ended early): completed, or failed saying so when every finished file failed; their rows get the
 * exact counters. Then publishes the running sessions' counters and totals that changed since
 * their rows last got them: claims and completions publish a session at most once a second
 * themselves, so Realtime sends each subscriber about one session change a second, and this round
 * publishes what they left. Paused sessions wait for their resume.
 */
public final class SessionProgress {

  /** What a round did: sessions ended, by how, and running sessions published. */
  public record Result(int completed, int failed, int published) {
    public int ended() {
      return completed + failed;
    }
  }

  private final DSLContext dsl;

  public SessionProgress(DataSource dataSource) {
    this.dsl = Jooq.using(dataSource);
  }

  public Result runOnce() {
    Record r = dsl.fetchOne("SELECT completed, failed, published FROM batchpilot_private.run_progress_round()");
    return new Result(r.get(0, Integer.class), r.get(1, Integer.class), r.get(2, Integer.class));
  }
}
