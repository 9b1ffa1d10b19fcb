-- batchpilot 0.3.0: one queue. A file's extraction and its embedding are jobs of two kinds in
-- batchpilot_private.jobs, claimed, leased, retried and rescued by the same rules; the published
-- file row keeps what a person follows (status, result, error, timings, cost).
--
-- Until 0.2.0 the queue lived on public.batch_upload_files: the claim's lease, owner and attempts
-- and seven embedding_* columns. That row is in the supabase_realtime publication, so Realtime
-- sent every move of the queue to every viewer: 6.0 row changes per file at full speed, 7.0 under
-- quota waits (each wait past BATCHPILOT_MAX_QUOTA_WAIT sent the file back to pending and claimed it
-- again). Now a file's row changes when it is uploaded, when its first attempt starts
-- (processing) and when it ends; a wait for quota, a retry and the embedding stay in the job row.
--
-- Removed from public.batch_upload_files: attempts, retry_count, claimed_by, lease_expires_at,
-- next_attempt_at, embedding_status, embedding_attempts, embedding_next_attempt_at,
-- embedding_claimed_by, embedding_lease_expires_at, embedding_error_type, embedding_error,
-- embedded_at. A file's embedding is its row in public.receipt_embeddings. A frontend retries a
-- failed file as before, by setting its status back to pending.

CREATE TYPE batchpilot_private.job_kind AS ENUM ('extraction', 'embedding');
-- available: due at scheduled_at; running: a worker (or a batch job, 'batch:<job id>') holds it
-- until lease_expires_at; completed, failed, cancelled: ended.
CREATE TYPE batchpilot_private.job_state AS ENUM ('available', 'running', 'completed', 'failed', 'cancelled');

CREATE TABLE batchpilot_private.jobs (
  file_id          uuid NOT NULL REFERENCES public.batch_upload_files (id) ON DELETE CASCADE,
  kind             batchpilot_private.job_kind NOT NULL,
  -- The file's session, copied (a file never moves): the claim picks due jobs session by session.
  -- The file's foreign key removes the job with its session.
  batch_session_id uuid NOT NULL,
  state            batchpilot_private.job_state NOT NULL DEFAULT 'available',
  attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  max_attempts     integer NOT NULL DEFAULT 5 CHECK (max_attempts BETWEEN 1 AND 100),
  scheduled_at     timestamptz NOT NULL DEFAULT now(),
  claimed_by       text,
  lease_expires_at timestamptz,
  -- An extraction's content hash once its worker has read the bytes: a second file with the same
  -- content waits for this one's result instead of calling Gemini too.
  content_sha256   bytea CHECK (octet_length(content_sha256) = 32),
  -- The last failed attempt's error, kept while the job is retried.
  error_type       text,
  error_message    text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  finished_at      timestamptz,
  PRIMARY KEY (file_id, kind),
  CONSTRAINT jobs_running_check
    CHECK ((state = 'running') = (claimed_by IS NOT NULL AND lease_expires_at IS NOT NULL))
);

COMMENT ON TABLE batchpilot_private.jobs IS
  'The work queue: one job per file and kind (extraction, embedding), claimed with a lease; public.batch_upload_files shows only what a person follows.';

-- The claim: a session's due extractions, oldest first; the embedding claim: due embeddings.
CREATE INDEX jobs_extraction_due_idx ON batchpilot_private.jobs (batch_session_id, scheduled_at)
  WHERE kind = 'extraction' AND state = 'available';
CREATE INDEX jobs_embedding_due_idx ON batchpilot_private.jobs (scheduled_at)
  WHERE kind = 'embedding' AND state = 'available';
-- Jobs in flight per session (max_concurrent, fair shares), and the rescue of lapsed leases.
CREATE INDEX jobs_running_idx ON batchpilot_private.jobs (kind, batch_session_id) WHERE state = 'running';
CREATE INDEX jobs_lease_idx ON batchpilot_private.jobs (lease_expires_at) WHERE state = 'running';
-- Identical content in flight.
CREATE INDEX jobs_content_in_flight_idx ON batchpilot_private.jobs (content_sha256)
  WHERE kind = 'extraction' AND state = 'running' AND content_sha256 IS NOT NULL;

REVOKE ALL ON batchpilot_private.jobs FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON batchpilot_private.jobs TO service_role;

-- The queue of an installed 0.2.0, in flight or not. A file still uploading has no job yet.
INSERT INTO batchpilot_private.jobs
       (file_id, kind, batch_session_id, state, attempts, max_attempts, scheduled_at, claimed_by,
        lease_expires_at, content_sha256, error_type, error_message, created_at, finished_at)
SELECT f.id, 'extraction', f.batch_session_id,
       CASE WHEN f.status = 'processing' AND f.claimed_by IS NOT NULL AND f.lease_expires_at IS NOT NULL
              THEN 'running'
            WHEN f.status IN ('pending', 'processing') THEN 'available'
            WHEN f.status = 'completed' THEN 'completed'
            WHEN f.status = 'failed' THEN 'failed'
            ELSE 'cancelled' END::batchpilot_private.job_state,
       f.attempts, f.max_attempts, f.next_attempt_at,
       CASE WHEN f.status = 'processing' THEN f.claimed_by END,
       CASE WHEN f.status = 'processing' AND f.claimed_by IS NOT NULL THEN f.lease_expires_at END,
       f.content_sha256, f.error_type, f.error_message, f.created_at,
       CASE WHEN f.status IN ('completed', 'failed', 'skipped') THEN coalesce(f.processing_completed_at, f.updated_at) END
  FROM public.batch_upload_files f
 WHERE f.status <> 'uploading';

INSERT INTO batchpilot_private.jobs
       (file_id, kind, batch_session_id, state, attempts, scheduled_at, claimed_by, lease_expires_at,
        error_type, error_message, created_at, finished_at)
SELECT f.id, 'embedding', f.batch_session_id,
       CASE WHEN f.embedding_status = 'processing' AND f.embedding_claimed_by IS NOT NULL
                 AND f.embedding_lease_expires_at IS NOT NULL THEN 'running'
            WHEN f.embedding_status IN ('pending', 'processing') THEN 'available'
            WHEN f.embedding_status = 'completed' THEN 'completed'
            ELSE 'failed' END::batchpilot_private.job_state,
       f.embedding_attempts, coalesce(f.embedding_next_attempt_at, now()),
       CASE WHEN f.embedding_status = 'processing' THEN f.embedding_claimed_by END,
       CASE WHEN f.embedding_status = 'processing' AND f.embedding_claimed_by IS NOT NULL
            THEN f.embedding_lease_expires_at END,
       f.embedding_error_type, f.embedding_error, coalesce(f.processing_completed_at, f.created_at),
       CASE WHEN f.embedding_status = 'completed' THEN coalesce(f.embedded_at, now())
            WHEN f.embedding_status = 'failed' THEN now() END
  FROM public.batch_upload_files f
 WHERE f.embedding_status IS NOT NULL;

-- 0.2.0's triggers read the columns removed below; the repeatable migrations define this
-- release's right after.
DROP TRIGGER IF EXISTS batch_upload_files_queue_embedding_inserted ON public.batch_upload_files;
DROP TRIGGER IF EXISTS batch_upload_files_queue_embedding_updated ON public.batch_upload_files;
DROP TRIGGER IF EXISTS batch_upload_files_notify_inserted ON public.batch_upload_files;
DROP TRIGGER IF EXISTS batch_upload_files_notify_updated ON public.batch_upload_files;
DROP FUNCTION IF EXISTS batchpilot_private.queue_embedding();
DROP FUNCTION IF EXISTS batchpilot_private.notify_claimable_files();

ALTER TABLE public.batch_upload_files
  DROP COLUMN retry_count,
  DROP COLUMN attempts,
  DROP COLUMN claimed_by,
  DROP COLUMN lease_expires_at,
  DROP COLUMN next_attempt_at,
  DROP COLUMN embedding_status,
  DROP COLUMN embedding_attempts,
  DROP COLUMN embedding_next_attempt_at,
  DROP COLUMN embedding_claimed_by,
  DROP COLUMN embedding_lease_expires_at,
  DROP COLUMN embedding_error_type,
  DROP COLUMN embedding_error,
  DROP COLUMN embedded_at;

COMMENT ON COLUMN public.batch_upload_files.max_attempts IS
  'How many attempts the file''s extraction may take (set at insert; its job counts them).';
COMMENT ON COLUMN public.batch_upload_files.content_sha256 IS
  'The bytes'' SHA-256: given by the frontend, or recorded when the file ends.';
COMMENT ON COLUMN public.batch_upload_files.status IS
  'pending until its first attempt starts, processing until it ends (a wait for quota or a retry stays processing), then completed, failed or skipped.';

-- Files naming a model of their own, not yet ended: Batch Mode groups their due jobs by model (a
-- retried one stays processing).
DROP INDEX public.batch_upload_files_own_model_idx;
CREATE INDEX batch_upload_files_own_model_idx
  ON public.batch_upload_files (batch_session_id)
  WHERE status IN ('pending', 'processing') AND model IS NOT NULL;
