package io.batchpilot.batch;

import io.batchpilot.gemini.BatchState;
import io.batchpilot.pipeline.ClaimedFile;
import io.batchpilot.pipeline.FairShare;
import io.batchpilot.pipeline.FileClaims;
import io.batchpilot.session.BatchJobState;
import io.batchpilot.store.Jooq;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.Collection;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Collectors;
import javax.sql.DataSource;
import org.jooq.DSLContext;
import org.jooq.Record;

/**
 * Batch jobs as the database keeps them ({@code batchpilot_private.batch_jobs}, R__35_batch_jobs.sql):
 * opened with their files' claim in one transaction, admitted by the batch gate, recorded once
 * Google named them, leased to one poller at a time, ended. A job's files are claimed by
 * {@code batch:<job id>}, which is also how a completion knows it was billed at the batch price.
 */
public final class BatchJobs {

  /** Claims by a job are held longer than Google keeps a job (48 hours), so no lease rescue takes them. */
  static final Duration FILE_LEASE = Duration.ofHours(49);

  /** A model's due batch files. */
  public record Due(String provider, String model, long files, OffsetDateTime oldestDueAt) {}

  /** What the batch gate has left for a model: jobs (over all models) and enqueued tokens. */
  public record Room(int jobsFree, long tokensFree) {
    boolean none() {
      return jobsFree <= 0 || tokensFree <= 0;
    }
  }

  /** A job as a poller claimed it. */
  public record Job(UUID id, String provider, String model, String name, BatchJobState state, int polls,
                    OffsetDateTime createdAt, OffsetDateTime leaseExpiresAt) {
    String displayName() {
      return displayName(id);
    }

    static String displayName(UUID id) {
      return "batchpilot-" + id;
    }
  }

  private final DSLContext dsl;

  public BatchJobs(DataSource dataSource) {
    this.dsl = Jooq.using(dataSource);
  }

  public static String claimant(UUID job) {
    return "batch:" + job;
  }

  public List<Due> due() {
    return dsl.fetch("SELECT provider, model, files, oldest_due_at FROM batchpilot_private.batch_models_due()")
        .map(r -> new Due(r.get("provider", String.class), r.get("model", String.class), r.get("files", Long.class),
            r.get("oldest_due_at", OffsetDateTime.class)));
  }

  /** Null when the model has no batch_quota_limits row. */
  public Room room(String provider, String model) {
    Record r = dsl.fetchOne("SELECT jobs_free, tokens_free FROM batchpilot_private.batch_job_room(?, ?)", provider, model);
    return r == null ? null : new Room(r.get("jobs_free", Integer.class), r.get("tokens_free", Long.class));
  }

  /**
   * Writes the job (creating, leased to {@code worker} for {@code createLease}) and claims up to
   * {@code maxFiles} due files of the model's batch sessions for it, in one transaction: from its
   * commit on, the job is the database's to finish, whoever dies.
   */
  public List<ClaimedFile> open(UUID job, String provider, String model, String worker, int maxFiles,
                                FairShare share, Duration createLease) {
    return dsl.transactionResult(tx -> {
      DSLContext t = tx.dsl();
      t.execute("INSERT INTO batchpilot_private.batch_jobs (id, provider, model, owner, lease_expires_at) "
          + "VALUES (?, ?, ?, ?, clock_timestamp() + make_interval(secs => ?))", job, provider, model, worker,
          createLease.toMillis() / 1000.0);
      String claimant = claimant(job);
      List<ClaimedFile> files = t.fetch("SELECT * FROM batchpilot_private.claim_files(?, ?, make_interval(secs => ?), ?, "
              + "'batch', ?)", claimant, maxFiles, FILE_LEASE.toSeconds(), share.sqlName(), model)
          .map(r -> FileClaims.toClaimedFile(r, claimant));
      if (files.isEmpty()) {
        t.execute("DELETE FROM batchpilot_private.batch_jobs WHERE id = ?", job);
        return files;
      }
      t.execute("INSERT INTO batchpilot_private.batch_job_files (job_id, file_id, attempts) "
              + "SELECT ?, j.file_id, j.attempts FROM batchpilot_private.jobs j "
              + "WHERE j.kind = 'extraction' AND j.file_id = ANY (string_to_array(?, ',')::uuid[])",
          job, list(files.stream().map(ClaimedFile::id).toList()));
      return files;
    });
  }

  /**
   * Renews {@code worker}'s creation lease on the job; false when the job is no longer its to
   * create (its lease ran out and another worker took it over, or it was given up).
   */
  public boolean renewCreation(UUID job, String worker, Duration lease) {
    return dsl.execute("UPDATE batchpilot_private.batch_jobs SET lease_expires_at = clock_timestamp() "
        + "+ make_interval(secs => ?) WHERE id = ? AND state = 'creating' AND owner = ?",
        lease.toMillis() / 1000.0, job, worker) == 1;
  }

  /** How many of the requests (in order, with these estimated tokens) the batch gate admits into the job. */
  public int admit(UUID job, long[] requestTokens) {
    return dsl.fetchOne("SELECT batchpilot_private.admit_batch_job(?, string_to_array(?, ',')::bigint[])", job,
            list(java.util.Arrays.stream(requestTokens).boxed().toList()))
        .get(0, Integer.class);
  }

  /** The files that will not go in the job after all: their rows leave it (their outcomes put them back). */
  public void detach(UUID job, Collection<UUID> files) {
    if (!files.isEmpty()) {
      dsl.execute("DELETE FROM batchpilot_private.batch_job_files WHERE job_id = ? AND file_id = ANY (string_to_array(?, ',')::uuid[])", job,
          list(files));
    }
  }

  /** Each request's content hash, written on its file with the result. */
  public void contentHashes(UUID job, Map<UUID, byte[]> hashes) {
    if (hashes.isEmpty()) {
      return;
    }
    List<UUID> ids = List.copyOf(hashes.keySet());
    List<String> hex = ids.stream().map(id -> HexFormat.of().formatHex(hashes.get(id))).toList();
    dsl.execute("UPDATE batchpilot_private.batch_job_files jf SET content_sha256 = decode(h.sha, 'hex') "
            + "FROM unnest(string_to_array(?, ',')::uuid[], string_to_array(?, ',')) AS h (id, sha) WHERE jf.job_id = ? AND jf.file_id = h.id",
        list(ids), list(hex), job);
  }

  /** Google named the job: from now on any worker may poll it, first after {@code firstPoll}. */
  public void submitted(UUID job, String name, BatchState state, Duration firstPoll) {
    dsl.execute("UPDATE batchpilot_private.batch_jobs SET name = ?, state = ?::batchpilot_private.batch_job_state, "
            + "submitted_at = clock_timestamp(), owner = NULL, lease_expires_at = NULL, polls = 0, "
            + "next_poll_at = clock_timestamp() + make_interval(secs => ?) WHERE id = ?",
        name, stateOf(state).sqlName(), firstPoll.toMillis() / 1000.0, job);
  }

  /** Up to {@code max} jobs due a poll, or left creating by a worker whose lease ran out, leased to {@code worker}. */
  public List<Job> claimPolls(String worker, int max, Duration lease) {
    return dsl.fetch("SELECT id, provider, model, name, state::text AS state, polls, created_at, lease_expires_at "
            + "FROM batchpilot_private.claim_batch_polls(?, ?, make_interval(secs => ?))", worker, max,
            lease.toMillis() / 1000.0)
        .map(r -> new Job(r.get("id", UUID.class), r.get("provider", String.class), r.get("model", String.class),
            r.get("name", String.class), BatchJobState.fromSqlName(r.get("state", String.class)), r.get("polls", Integer.class),
            r.get("created_at", OffsetDateTime.class), r.get("lease_expires_at", OffsetDateTime.class)));
  }

  /** Still running at Google: the next poll after {@code next}, the lease given up. */
  public void polled(UUID job, BatchState state, Duration next) {
    dsl.execute("UPDATE batchpilot_private.batch_jobs SET state = ?::batchpilot_private.batch_job_state, owner = NULL, "
            + "lease_expires_at = NULL, next_poll_at = clock_timestamp() + make_interval(secs => ?) WHERE id = ?",
        stateOf(state).sqlName(), next.toMillis() / 1000.0, job);
  }

  /** Asked about again after {@code next} (Google did not answer), the lease given up. */
  public void retryPoll(UUID job, Duration next, String why) {
    dsl.execute("UPDATE batchpilot_private.batch_jobs SET owner = NULL, lease_expires_at = NULL, error_message = ?, "
        + "next_poll_at = clock_timestamp() + make_interval(secs => ?) WHERE id = ?", why, next.toMillis() / 1000.0, job);
  }

  /** The job is over, in {@code state} (a final one). */
  public void end(UUID job, BatchJobState state, String message) {
    if (state.live()) {
      throw new IllegalArgumentException("a batch job ends in a final state, not " + state);
    }
    dsl.execute("UPDATE batchpilot_private.batch_jobs SET state = ?::batchpilot_private.batch_job_state, "
        + "ended_at = clock_timestamp(), owner = NULL, lease_expires_at = NULL, error_message = coalesce(?, error_message) "
        + "WHERE id = ?", state.sqlName(), message, job);
  }

  /** Whether every session with files in the job was cancelled or failed, so nothing in it is wanted. */
  public boolean unwanted(UUID job) {
    return dsl.fetchOne("SELECT batchpilot_private.batch_job_unwanted(?)", job).get(0, Boolean.class);
  }

  /** A file the job still holds, with its content's hash (empty when unknown). */
  public record HeldFile(ClaimedFile file, byte[] sha256) {}

  /**
   * The job's files it still holds (their extraction jobs running, claimed by it, in the claim it made): claimed files
   * whose outcomes the completer applies.
   */
  public List<HeldFile> heldFiles(UUID job) {
    String claimant = claimant(job);
    return dsl.fetch("SELECT f.id AS file_id, f.batch_session_id, f.receipt_id, f.original_filename, f.file_type, "
            + "f.file_size_bytes, f.storage_bucket, f.storage_path, f.source_url, jf.content_sha256, j.attempts, "
            + "j.max_attempts, s.provider, coalesce(f.model, s.model) AS model, s.processing_strategy, s.team_id, s.user_id "
            + "FROM batchpilot_private.batch_job_files jf "
            + "JOIN batchpilot_private.jobs j ON j.file_id = jf.file_id AND j.kind = 'extraction' "
            + "JOIN public.batch_upload_files f ON f.id = jf.file_id "
            + "JOIN public.batch_upload_sessions s ON s.id = f.batch_session_id "
            + "WHERE jf.job_id = ? AND j.state = 'running' AND j.claimed_by = ? AND j.attempts = jf.attempts",
            job, claimant)
        .map(r -> {
          byte[] sha = r.get("content_sha256", byte[].class);
          return new HeldFile(FileClaims.toClaimedFile(r, claimant), sha == null ? new byte[0] : sha);
        });
  }

  /**
   * Sessions of the job's files that asked for interactive fallback go interactive: their files,
   * back in the queue, are claimed for calls instead of a new job. Returns how many sessions.
   */
  public int fallBackToInteractive(UUID job) {
    return dsl.execute("UPDATE public.batch_upload_sessions s SET delivery = 'interactive' "
        + "WHERE s.interactive_fallback AND s.delivery = 'batch' AND s.id IN ("
        + "SELECT f.batch_session_id FROM batchpilot_private.batch_job_files jf "
        + "JOIN public.batch_upload_files f ON f.id = jf.file_id WHERE jf.job_id = ?)", job);
  }

  /**
   * A list as one comma-separated text, split into an array in the statement
   * ({@code string_to_array(?, ',')::uuid[]}): pgjdbc-ng binds no array through jOOQ's plain SQL.
   */
  private static String list(Collection<?> values) {
    return values.stream().map(String::valueOf).collect(Collectors.joining(","));
  }

  /** Google's state as ours (one Google does not name is taken as not yet running). */
  static BatchJobState stateOf(BatchState state) {
    return switch (state) {
      case PENDING, UNSPECIFIED -> BatchJobState.PENDING;
      case RUNNING -> BatchJobState.RUNNING;
      case SUCCEEDED -> BatchJobState.SUCCEEDED;
      case FAILED -> BatchJobState.FAILED;
      case CANCELLED -> BatchJobState.CANCELLED;
      case EXPIRED -> BatchJobState.EXPIRED;
    };
  }
}
