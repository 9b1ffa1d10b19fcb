-- batchpilot V3: what the workers need to claim files fairly and record their outcomes.
-- Both functions live in batchpilot_private (not exposed by the Data API) and run as one statement
-- each, so a claim or a batch of outcomes is one round trip and one transaction.

-- A file completed from an earlier file's result (same bytes, same team and model) says which.
ALTER TABLE public.batch_upload_files
  ADD COLUMN duplicate_of uuid REFERENCES public.batch_upload_files (id) ON DELETE SET NULL;
COMMENT ON COLUMN public.batch_upload_files.duplicate_of IS
  'The earlier file whose result this one reused without calling the API (same content, team and model).';

-- ---------------------------------------------------------------------------------------------
-- Claim: up to max_files due files, fair across sessions, within each session's max_concurrent
-- across the whole fleet. Sessions in 'pending' start on their first claim (status processing,
-- started_at set), so a frontend that only inserts rows still gets its files processed; 'paused',
-- 'cancelled', 'completed' and 'failed' sessions are never claimed from.
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION batchpilot_private.claim_files(worker text, max_files integer, lease interval)
  RETURNS TABLE (
    file_id             uuid,
    batch_session_id    uuid,
    receipt_id          uuid,
    original_filename   text,
    file_type           text,
    file_size_bytes     bigint,
    storage_bucket      text,
    storage_path        text,
    source_url          text,
    content_sha256      bytea,
    attempts            integer,
    max_attempts        integer,
    provider            text,
    model               text,
    processing_strategy text,
    team_id             uuid,
    user_id             uuid)
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  claim_time timestamptz := clock_timestamp();
  claimed_ids uuid[];
BEGIN
  IF max_files < 1 THEN
    RETURN;
  END IF;

  WITH open_sessions AS MATERIALIZED (
    -- Locked in id order, as the counter trigger locks them: claimers of one session take turns and
    -- each sees the files_processing the previous one committed, so max_concurrent holds fleet-wide.
    SELECT s.id, s.max_concurrent - s.files_processing AS room
      FROM public.batch_upload_sessions s
     WHERE s.status IN ('pending', 'processing')
       AND s.files_pending > 0
       AND s.files_processing < s.max_concurrent
     ORDER BY s.id
       FOR NO KEY UPDATE OF s
  ), due AS (
    -- Each session's due files get turns 1, 2, 3...; taking the lowest turns first is a round robin,
    -- so a 10,000-file session cannot starve a 10-file one.
    SELECT d.id, d.next_attempt_at,
           row_number() OVER (PARTITION BY d.batch_session_id ORDER BY d.next_attempt_at, d.upload_order, d.id) AS turn
      FROM open_sessions s
      CROSS JOIN LATERAL (
        SELECT f.id, f.batch_session_id, f.next_attempt_at, f.upload_order
          FROM public.batch_upload_files f
         WHERE f.batch_session_id = s.id
           AND f.status = 'pending'
           AND f.next_attempt_at <= claim_time
         ORDER BY f.next_attempt_at
         LIMIT least(s.room, max_files)) d
  ), chosen AS (
    SELECT due.id FROM due ORDER BY due.turn, due.next_attempt_at LIMIT max_files
  ), locked AS (
    -- The session locks keep other claimers out; SKIP LOCKED steps over a file that a frontend or
    -- the lease rescuer is changing at this moment instead of waiting for it.
    SELECT f.id
      FROM public.batch_upload_files f
     WHERE f.id IN (SELECT chosen.id FROM chosen) AND f.status = 'pending'
       FOR UPDATE OF f SKIP LOCKED
  ), claimed AS (
    UPDATE public.batch_upload_files f
       SET status = 'processing',
           claimed_by = worker,
           lease_expires_at = claim_time + lease,
           attempts = f.attempts + 1,
           processing_started_at = claim_time
      FROM locked
     WHERE f.id = locked.id
    RETURNING f.id
  )
  SELECT coalesce(array_agg(claimed.id), '{}') INTO claimed_ids FROM claimed;

  UPDATE public.batch_upload_sessions s
     SET status = 'processing',
         started_at = coalesce(s.started_at, claim_time)
   WHERE s.id IN (SELECT f.batch_session_id FROM public.batch_upload_files f WHERE f.id = ANY (claimed_ids))
     AND (s.status = 'pending' OR s.started_at IS NULL);

  RETURN QUERY
  SELECT f.id, f.batch_session_id, f.receipt_id, f.original_filename, f.file_type, f.file_size_bytes,
         f.storage_bucket, f.storage_path, f.source_url, f.content_sha256, f.attempts, f.max_attempts,
         s.provider, coalesce(f.model, s.model), s.processing_strategy, s.team_id, s.user_id
    FROM public.batch_upload_files f
    JOIN public.batch_upload_sessions s ON s.id = f.batch_session_id
   WHERE f.id = ANY (claimed_ids);
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Complete: a batch of outcomes in one transaction. An outcome applies only while its worker still
-- holds the file (claimed_by and attempts as they were at the claim, status processing): a worker
-- whose lease expired and whose file was claimed again changes nothing. Returns the outcomes that
-- applied, with the status each file ended in.
--
-- outcomes: a JSON array of objects with
--   id, claimed_by, attempts      the claim being completed
--   status                        completed | failed | pending (retry or release)
--   counts_attempt                false for a release or a quota wait: the claim's attempt is undone
--   retry_delay_ms                for pending: next_attempt_at = now + this
--   result, duplicate_of, receipt for completed (receipt: merchant, date, currency, subtotal, tax,
--                                 total, line_items, written into public.receipts when receipt_id is set)
--   error_type, error_message     for failed and retried
--   duration_ms, api_calls, input_tokens, output_tokens, tokens_used, rate_limited
--   session_error, session_failed a message for the session (a refused key, a spent daily quota);
--                                 session_failed stops the session
--   content_sha256                hex SHA-256 of the validated bytes, kept for duplicate detection
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION batchpilot_private.complete_files(outcomes jsonb)
  RETURNS TABLE (file_id uuid, batch_session_id uuid, status text)
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  done_time timestamptz := clock_timestamp();
  applied_ids uuid[];
BEGIN
  -- Statement 1: the files. Its counter trigger locks the sessions in id order, so the session
  -- update below never takes locks in an order that could deadlock with another worker.
  WITH o AS (
    SELECT * FROM jsonb_to_recordset(outcomes) AS o (
      id uuid, claimed_by text, attempts integer, status text, counts_attempt boolean,
      retry_delay_ms bigint, result jsonb, duplicate_of uuid, error_type text, error_message text,
      duration_ms integer, input_tokens integer, output_tokens integer, tokens_used integer,
      api_calls integer, rate_limited boolean, content_sha256 text)
  ), decided AS (
    -- A retry past max_attempts fails instead; a release or a quota wait never counts as an attempt.
    SELECT o.*,
           CASE WHEN o.status = 'pending' AND coalesce(o.counts_attempt, true) AND f.attempts >= f.max_attempts
                THEN 'failed' ELSE o.status END AS final_status,
           CASE WHEN o.status = 'pending' AND coalesce(o.counts_attempt, true) AND f.attempts >= f.max_attempts
                THEN 'gave up after ' || f.attempts || ' attempts; the last: ' || o.error_message
                ELSE o.error_message END AS final_message
      FROM o JOIN public.batch_upload_files f ON f.id = o.id
  ), applied AS (
    UPDATE public.batch_upload_files f
       SET status = o.final_status,
           error_message = CASE WHEN o.final_status = 'completed' THEN NULL ELSE o.final_message END,
           error_type = CASE WHEN o.final_status = 'completed' THEN NULL ELSE o.error_type END,
           attempts = CASE WHEN coalesce(o.counts_attempt, true) THEN f.attempts ELSE f.attempts - 1 END,
           next_attempt_at = CASE
             WHEN o.final_status = 'pending' THEN done_time + make_interval(secs => coalesce(o.retry_delay_ms, 0) / 1000.0)
             ELSE f.next_attempt_at END,
           claimed_by = NULL,
           lease_expires_at = NULL,
           processing_completed_at = CASE WHEN o.final_status = 'pending' THEN NULL ELSE done_time END,
           processing_duration_ms = coalesce(o.duration_ms, f.processing_duration_ms),
           result = CASE WHEN o.final_status = 'completed' THEN o.result ELSE f.result END,
           duplicate_of = CASE WHEN o.final_status = 'completed' THEN o.duplicate_of ELSE f.duplicate_of END,
           input_tokens = coalesce(o.input_tokens, f.input_tokens),
           output_tokens = coalesce(o.output_tokens, f.output_tokens),
           tokens_used = f.tokens_used + coalesce(o.tokens_used, 0),
           api_calls_made = f.api_calls_made + coalesce(o.api_calls, 0),
           rate_limited = f.rate_limited OR coalesce(o.rate_limited, false),
           content_sha256 = coalesce(decode(o.content_sha256, 'hex'), f.content_sha256)
      FROM decided o
     WHERE f.id = o.id
       AND f.status = 'processing'
       AND f.claimed_by = o.claimed_by
       AND f.attempts = o.attempts
    RETURNING f.id
  )
  SELECT coalesce(array_agg(applied.id), '{}') INTO applied_ids FROM applied;

  -- Statement 2: the sessions' totals, from the outcomes that applied.
  WITH o AS (
    SELECT * FROM jsonb_to_recordset(outcomes) AS o (
      id uuid, duration_ms integer, tokens_used integer, api_calls integer, rate_limited boolean,
      session_error text, session_failed boolean)
     WHERE o.id = ANY (applied_ids)
  ), per_session AS (
    SELECT f.batch_session_id AS id,
           sum(coalesce(o.api_calls, 0)) AS api_calls,
           sum(coalesce(o.tokens_used, 0)) AS tokens_used,
           count(*) FILTER (WHERE o.rate_limited) AS rate_limit_hits,
           sum(coalesce(o.duration_ms, 0)) AS duration_ms,
           (array_agg(o.session_error) FILTER (WHERE o.session_error IS NOT NULL))[1] AS session_error,
           bool_or(coalesce(o.session_failed, false)) AS session_failed
      FROM o JOIN public.batch_upload_files f ON f.id = o.id
     GROUP BY f.batch_session_id
  )
  UPDATE public.batch_upload_sessions s
     SET total_api_calls = s.total_api_calls + p.api_calls,
         total_tokens_used = s.total_tokens_used + p.tokens_used,
         rate_limit_hits = s.rate_limit_hits + p.rate_limit_hits,
         total_processing_time_ms = s.total_processing_time_ms + p.duration_ms,
         -- Every attempt's time, over the files that are done: what a finished file cost on average.
         avg_file_processing_time_ms = round((s.total_processing_time_ms + p.duration_ms)::numeric
             / nullif(s.files_completed + s.files_failed, 0), 2),
         error_message = coalesce(p.session_error, s.error_message),
         last_error_at = CASE WHEN p.session_error IS NULL THEN s.last_error_at ELSE done_time END,
         status = CASE WHEN p.session_failed AND s.status IN ('pending', 'processing') THEN 'failed' ELSE s.status END,
         completed_at = CASE WHEN p.session_failed AND s.status IN ('pending', 'processing') THEN done_time
                        ELSE s.completed_at END
    FROM per_session p
   WHERE s.id = p.id;

  -- Statement 3: the extraction into the receipt the file belongs to.
  UPDATE public.receipts r
     SET merchant = o.receipt ->> 'merchant',
         date = (o.receipt ->> 'date')::date,
         currency = o.receipt ->> 'currency',
         subtotal = (o.receipt ->> 'subtotal')::numeric,
         tax = (o.receipt ->> 'tax')::numeric,
         total = (o.receipt ->> 'total')::numeric,
         line_items = o.receipt -> 'line_items',
         updated_at = done_time
    FROM jsonb_to_recordset(outcomes) AS o (id uuid, status text, receipt jsonb)
    JOIN public.batch_upload_files f ON f.id = o.id
   WHERE o.id = ANY (applied_ids)
     AND o.status = 'completed'
     AND o.receipt IS NOT NULL
     AND r.id = f.receipt_id;

  RETURN QUERY
  SELECT f.id, f.batch_session_id, f.status FROM public.batch_upload_files f WHERE f.id = ANY (applied_ids);
END
$$;

REVOKE ALL ON FUNCTION batchpilot_private.claim_files(text, integer, interval),
  batchpilot_private.complete_files(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION batchpilot_private.claim_files(text, integer, interval),
  batchpilot_private.complete_files(jsonb) TO service_role;

-- ---------------------------------------------------------------------------------------------
-- ETA: for each processing session, the files left at the rate its files finished over the last
-- `measured` interval (or since it started, when younger). The rate already reflects the session's
-- share of the quota, because the gate admits the fleet's calls at the quota's pace.
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION batchpilot_private.estimate_completion(measured interval) RETURNS integer
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  now_time timestamptz := clock_timestamp();
  updated integer;
BEGIN
  WITH rates AS (
    SELECT s.id,
           s.files_pending + s.files_processing AS files_left,
           (SELECT count(*) FROM public.batch_upload_files f
             WHERE f.batch_session_id = s.id
               AND f.status IN ('completed', 'failed')
               AND f.processing_completed_at > greatest(now_time - measured, s.started_at)) AS finished,
           extract(epoch FROM now_time - greatest(now_time - measured, s.started_at)) AS seconds
      FROM public.batch_upload_sessions s
     WHERE s.status = 'processing' AND s.started_at IS NOT NULL
  )
  UPDATE public.batch_upload_sessions s
     SET estimated_completion_at = CASE
           WHEN r.files_left = 0 THEN now_time
           ELSE now_time + make_interval(secs => r.files_left * r.seconds / r.finished) END
    FROM rates r
   WHERE s.id = r.id AND r.finished > 0 AND r.seconds > 0;
  GET DIAGNOSTICS updated = ROW_COUNT;
  RETURN updated;
END
$$;

REVOKE ALL ON FUNCTION batchpilot_private.estimate_completion(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION batchpilot_private.estimate_completion(interval) TO service_role;
