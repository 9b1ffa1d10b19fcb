package io.batchpilot.pipeline;


import io.batchpilot.store.JobKind;
import io.batchpilot.store.JobState;
import io.batchpilot.store.Jobs;
import io.batchpilot.store.Jooq;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.Collection;
import java.util.List;
import java.util.UUID;
import javax.sql.DataSource;
import org.jooq.DSLContext;
import org.jooq.Record;
import org.jooq.impl.DSL;

/**
 * The claim side of the queue: taking due files (one statement, {@code batchpilot_private.claim_files})
 * and keeping their leases alive while they are in flight.
 */
public final class FileClaims {

  private final DSLContext dsl;

  public FileClaims(DataSource dataSource) {
    this.dsl = Jooq.using(dataSource);
  }

  /** Claims up to {@code maxFiles} due files for {@code worker}, each leased for {@code lease}, fair by team. */
  public List<ClaimedFile> claim(String worker, int maxFiles, Duration lease) {
    return claim(worker, maxFiles, lease, FairShare.TEAM);
  }

  /** Claims up to {@code maxFiles} due files for {@code worker}, each leased for {@code lease}, fair by {@code share}. */
  public List<ClaimedFile> claim(String worker, int maxFiles, Duration lease, FairShare share) {
    return dsl.select()
        .from(DSL.table("batchpilot_private.claim_files({0}, {1}, make_interval(secs => {2}), {3})",
            DSL.val(worker), DSL.val(maxFiles), DSL.val(lease.toMillis() / 1000.0), DSL.val(share.sqlName())))
        .fetch(r -> toClaimedFile(r, worker));
  }

  /**
   * Extends the leases of {@code files}, those of them {@code worker} still holds, in one statement;
   * returns how many. A file left out (its thread died without an outcome) keeps its old lease and
   * is rescued when it runs out.
   */
  public int extendLeases(String worker, Collection<UUID> files, Duration lease) {
    return dsl.update(Jobs.JOBS)
        .set(Jobs.LEASE_EXPIRES_AT,
            DSL.field("clock_timestamp() + make_interval(secs => {0})", OffsetDateTime.class,
                DSL.val(lease.toMillis() / 1000.0)))
        .where(Jobs.kindIs(JobKind.EXTRACTION))
        .and(Jobs.stateIs(JobState.RUNNING))
        .and(Jobs.CLAIMED_BY.eq(worker))
        .and(Jobs.FILE_ID.in(files))
        .execute();
  }

  /**
   * A claimed file from a row with {@code claim_files}' columns (file_id, batch_session_id, ...,
   * team_id, user_id), held by {@code worker}: the claim's own rows, and a batch job's files.
   */
  public static ClaimedFile toClaimedFile(Record r, String worker) {
    return new ClaimedFile(
        r.get("file_id", UUID.class),
        r.get("batch_session_id", UUID.class),
        r.get("receipt_id", UUID.class),
        r.get("original_filename", String.class),
        r.get("file_type", String.class),
        r.get("file_size_bytes", Long.class),
        r.get("storage_bucket", String.class),
        r.get("storage_path", String.class),
        r.get("source_url", String.class),
        r.get("content_sha256", byte[].class),
        r.get("attempts", Integer.class),
        r.get("max_attempts", Integer.class),
        r.get("provider", String.class),
        r.get("model", String.class),
        r.get("processing_strategy", String.class),
        r.get("team_id", UUID.class),
        r.get("user_id", UUID.class),
        worker);
  }
}
