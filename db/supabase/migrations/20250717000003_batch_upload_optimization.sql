-- batchpilot: generated from db/src/main/resources/batchpilot/migration by
-- io.batchpilot.db.SupabaseMigrationFile. Do not edit; edit the Flyway migrations and regenerate.
-- Apply with the Supabase CLI (supabase db push) or with `batchpilot migrate`, not both.

-- ==== V1__batch_upload_optimization.sql ====

-- batchpilot: batch sessions, per-file tracking and the API quota ledger.
-- The seed's schema (phase 3, section 3.2), corrected; see db/README.md for what changed and why.
-- Every column added to the seed's tables is nullable or has a default, so inserts shaped like the
-- seed's frontend hook keep working.

-- Helpers for row-level security live in a schema the Data API does not expose.
CREATE SCHEMA batchpilot_private;
REVOKE ALL ON SCHEMA batchpilot_private FROM PUBLIC;
GRANT USAGE ON SCHEMA batchpilot_private TO authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- Sessions
-- ---------------------------------------------------------------------------------------------
CREATE TABLE public.batch_upload_sessions (
  id                          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id                     uuid DEFAULT auth.uid() REFERENCES auth.users (id) ON DELETE CASCADE,
  team_id                     uuid REFERENCES public.teams (id) ON DELETE CASCADE,

  session_name                text,
  total_files                 integer NOT NULL
    CONSTRAINT batch_upload_sessions_total_files_check CHECK (total_files >= 0),
  -- One counter per file status, kept equal to the files' statuses by a trigger.
  files_uploading             integer NOT NULL DEFAULT 0
    CONSTRAINT batch_upload_sessions_files_uploading_check CHECK (files_uploading >= 0),
  files_pending               integer NOT NULL DEFAULT 0
    CONSTRAINT batch_upload_sessions_files_pending_check CHECK (files_pending >= 0),
  files_processing            integer NOT NULL DEFAULT 0
    CONSTRAINT batch_upload_sessions_files_processing_check CHECK (files_processing >= 0),
  files_completed             integer NOT NULL DEFAULT 0
    CONSTRAINT batch_upload_sessions_files_completed_check CHECK (files_completed >= 0),
  files_failed                integer NOT NULL DEFAULT 0
    CONSTRAINT batch_upload_sessions_files_failed_check CHECK (files_failed >= 0),
  files_skipped               integer NOT NULL DEFAULT 0
    CONSTRAINT batch_upload_sessions_files_skipped_check CHECK (files_skipped >= 0),

  provider                    text NOT NULL DEFAULT 'gemini'
    CONSTRAINT batch_upload_sessions_provider_check CHECK (provider IN ('gemini')),
  model                       text NOT NULL DEFAULT 'gemini-2.5-flash'
    CONSTRAINT batch_upload_sessions_model_check CHECK (model ~ '^[a-z0-9][a-z0-9.-]*$'),
  max_concurrent              integer NOT NULL DEFAULT 2
    CONSTRAINT batch_upload_sessions_max_concurrent_check CHECK (max_concurrent BETWEEN 1 AND 1000),
  rate_limit_config           jsonb NOT NULL DEFAULT '{}'::jsonb
    CONSTRAINT batch_upload_sessions_rate_limit_config_check CHECK (jsonb_typeof(rate_limit_config) = 'object'),
  processing_strategy         text NOT NULL DEFAULT 'adaptive'
    CONSTRAINT batch_upload_sessions_processing_strategy_check
      CHECK (processing_strategy IN ('conservative', 'balanced', 'aggressive', 'adaptive')),

  status                      text NOT NULL DEFAULT 'pending'
    CONSTRAINT batch_upload_sessions_status_check
      CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'cancelled', 'paused')),
  started_at                  timestamptz,
  completed_at                timestamptz,
  estimated_completion_at     timestamptz,

  total_processing_time_ms    bigint NOT NULL DEFAULT 0
    CONSTRAINT batch_upload_sessions_total_processing_time_ms_check CHECK (total_processing_time_ms >= 0),
  total_api_calls             integer NOT NULL DEFAULT 0
    CONSTRAINT batch_upload_sessions_total_api_calls_check CHECK (total_api_calls >= 0),
  total_tokens_used           bigint NOT NULL DEFAULT 0
    CONSTRAINT batch_upload_sessions_total_tokens_used_check CHECK (total_tokens_used >= 0),
  rate_limit_hits             integer NOT NULL DEFAULT 0
    CONSTRAINT batch_upload_sessions_rate_limit_hits_check CHECK (rate_limit_hits >= 0),
  avg_file_processing_time_ms numeric(10, 2)
    CONSTRAINT batch_upload_sessions_avg_file_processing_time_ms_check CHECK (avg_file_processing_time_ms >= 0),

  error_message               text,
  last_error_at               timestamptz,

  created_at                  timestamptz NOT NULL DEFAULT now(),
  updated_at                  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE public.batch_upload_sessions IS
  'A batch of uploaded files processed together; counters always equal the counts of its files by status.';
COMMENT ON COLUMN public.batch_upload_sessions.team_id IS
  'NULL for a personal session, visible to its owner only; otherwise visible to the team''s members.';

CREATE INDEX batch_upload_sessions_user_status_idx
  ON public.batch_upload_sessions (user_id, status, created_at);
CREATE INDEX batch_upload_sessions_team_status_idx
  ON public.batch_upload_sessions (team_id, status, created_at);
CREATE INDEX batch_upload_sessions_active_idx
  ON public.batch_upload_sessions (status) WHERE status IN ('pending', 'processing', 'paused');

-- ---------------------------------------------------------------------------------------------
-- Files
-- ---------------------------------------------------------------------------------------------
CREATE TABLE public.batch_upload_files (
  id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  batch_session_id        uuid NOT NULL REFERENCES public.batch_upload_sessions (id) ON DELETE CASCADE,
  receipt_id              uuid REFERENCES public.receipts (id) ON DELETE CASCADE,

  original_filename       text NOT NULL
    CONSTRAINT batch_upload_files_original_filename_check CHECK (length(original_filename) BETWEEN 1 AND 1024),
  file_size_bytes         bigint
    CONSTRAINT batch_upload_files_file_size_bytes_check CHECK (file_size_bytes >= 0),
  file_type               text,
  upload_order            integer
    CONSTRAINT batch_upload_files_upload_order_check CHECK (upload_order >= 0),

  -- Where the bytes are: a Supabase Storage object, or a URL.
  storage_bucket          text,
  storage_path            text,
  source_url              text,
  CONSTRAINT batch_upload_files_storage_path_check
    CHECK ((storage_bucket IS NULL) = (storage_path IS NULL)),
  content_sha256          bytea
    CONSTRAINT batch_upload_files_content_sha256_check CHECK (octet_length(content_sha256) = 32),

  status                  text NOT NULL DEFAULT 'pending'
    CONSTRAINT batch_upload_files_status_check
      CHECK (status IN ('pending', 'uploading', 'processing', 'completed', 'failed', 'skipped')),
  processing_started_at   timestamptz,
  processing_completed_at timestamptz,
  processing_duration_ms  integer
    CONSTRAINT batch_upload_files_processing_duration_ms_check CHECK (processing_duration_ms >= 0),

  -- Claiming: who holds the file and until when; when it may next be tried.
  claimed_by              text,
  lease_expires_at        timestamptz,
  next_attempt_at         timestamptz NOT NULL DEFAULT now(),
  attempts                integer NOT NULL DEFAULT 0
    CONSTRAINT batch_upload_files_attempts_check CHECK (attempts >= 0),
  max_attempts            integer NOT NULL DEFAULT 5
    CONSTRAINT batch_upload_files_max_attempts_check CHECK (max_attempts BETWEEN 1 AND 100),

  model                   text
    CONSTRAINT batch_upload_files_model_check CHECK (model ~ '^[a-z0-9][a-z0-9.-]*$'),
  api_calls_made          integer NOT NULL DEFAULT 0
    CONSTRAINT batch_upload_files_api_calls_made_check CHECK (api_calls_made >= 0),
  input_tokens            integer
    CONSTRAINT batch_upload_files_input_tokens_check CHECK (input_tokens >= 0),
  output_tokens           integer
    CONSTRAINT batch_upload_files_output_tokens_check CHECK (output_tokens >= 0),
  tokens_used             integer NOT NULL DEFAULT 0
    CONSTRAINT batch_upload_files_tokens_used_check CHECK (tokens_used >= 0),
  rate_limited            boolean NOT NULL DEFAULT false,
  -- The seed's column, derived so that it can never disagree with attempts.
  retry_count             integer GENERATED ALWAYS AS (greatest(attempts - 1, 0)) STORED,

  result                  jsonb,
  error_type              text
    CONSTRAINT batch_upload_files_error_type_check CHECK (error_type IN (
      'upload_failed', 'processing_failed', 'invalid_file', 'file_unavailable',
      'rate_limited', 'quota_exhausted', 'overloaded', 'server_error', 'timeout',
      'invalid_request', 'permission_denied', 'not_found', 'blocked_output',
      'malformed_response', 'lease_expired')),
  error_message           text,

  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now()
);

COMMENT ON COLUMN public.batch_upload_files.file_type IS 'The declared MIME type, checked against the bytes before any API call.';
COMMENT ON COLUMN public.batch_upload_files.claimed_by IS 'The worker holding the file while its lease runs.';
COMMENT ON COLUMN public.batch_upload_files.retry_count IS 'attempts - 1: derived, read-only.';

CREATE INDEX batch_upload_files_session_status_idx
  ON public.batch_upload_files (batch_session_id, status, upload_order);
CREATE INDEX batch_upload_files_receipt_idx
  ON public.batch_upload_files (receipt_id);
-- The claim: pending files that are due, oldest first.
CREATE INDEX batch_upload_files_claimable_idx
  ON public.batch_upload_files (batch_session_id, next_attempt_at) WHERE status = 'pending';
-- The lease rescuer: files whose lease may have run out.
CREATE INDEX batch_upload_files_lease_idx
  ON public.batch_upload_files (lease_expires_at) WHERE status = 'processing';
-- Duplicate content: an earlier completed result for the same bytes and model.
CREATE INDEX batch_upload_files_content_idx
  ON public.batch_upload_files (content_sha256, model) WHERE status = 'completed';

-- ---------------------------------------------------------------------------------------------
-- The API quota ledger: one row per (provider, model, quota type, minute)
-- ---------------------------------------------------------------------------------------------
CREATE TABLE public.api_quota_tracking (
  id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  api_provider        text NOT NULL
    CONSTRAINT api_quota_tracking_api_provider_check CHECK (api_provider IN ('gemini')),
  model               text NOT NULL
    CONSTRAINT api_quota_tracking_model_check CHECK (model ~ '^[a-z0-9][a-z0-9.-]*$'),
  quota_type          text NOT NULL
    CONSTRAINT api_quota_tracking_quota_type_check
      CHECK (quota_type IN ('requests', 'input_tokens', 'output_tokens')),
  time_window         timestamptz NOT NULL
    CONSTRAINT api_quota_tracking_time_window_check CHECK (time_window = date_trunc('minute', time_window)),

  quota_used          bigint NOT NULL DEFAULT 0
    CONSTRAINT api_quota_tracking_quota_used_check CHECK (quota_used >= 0),
  quota_limit         bigint NOT NULL
    CONSTRAINT api_quota_tracking_quota_limit_check CHECK (quota_limit >= 0),
  quota_remaining     bigint GENERATED ALWAYS AS (quota_limit - quota_used) STORED,

  is_rate_limited     boolean NOT NULL DEFAULT false,
  rate_limit_reset_at timestamptz,

  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),

  -- Gemini's quotas are per model.
  CONSTRAINT api_quota_tracking_window_key UNIQUE (api_provider, model, quota_type, time_window)
);

CREATE INDEX api_quota_tracking_window_idx ON public.api_quota_tracking (time_window);

-- ---------------------------------------------------------------------------------------------
-- updated_at
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION batchpilot_private.touch_updated_at() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$$;

CREATE TRIGGER batch_upload_sessions_touch BEFORE UPDATE ON public.batch_upload_sessions
  FOR EACH ROW EXECUTE FUNCTION batchpilot_private.touch_updated_at();
CREATE TRIGGER batch_upload_files_touch BEFORE UPDATE ON public.batch_upload_files
  FOR EACH ROW EXECUTE FUNCTION batchpilot_private.touch_updated_at();
CREATE TRIGGER api_quota_tracking_touch BEFORE UPDATE ON public.api_quota_tracking
  FOR EACH ROW EXECUTE FUNCTION batchpilot_private.touch_updated_at();

-- ---------------------------------------------------------------------------------------------
-- Session counters: statement-level triggers sum the status changes of every row a statement
-- touched and update each session once. They run as the owner, so a frontend that may not write
-- the counters still keeps them true.
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION batchpilot_private.apply_file_status_changes(
  session_ids uuid[], statuses text[], deltas integer[]) RETURNS void
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
BEGIN
  -- Lock the sessions in one order, so two statements that touch the same sessions cannot deadlock.
  PERFORM 1 FROM public.batch_upload_sessions
   WHERE id = ANY (session_ids) ORDER BY id FOR NO KEY UPDATE;

  WITH changes AS (
    SELECT * FROM unnest(session_ids, statuses, deltas) AS c (batch_session_id, status, delta)
  ), per_session AS (
    SELECT batch_session_id,
           coalesce(sum(delta) FILTER (WHERE status = 'uploading'), 0)  AS uploading,
           coalesce(sum(delta) FILTER (WHERE status = 'pending'), 0)    AS pending,
           coalesce(sum(delta) FILTER (WHERE status = 'processing'), 0) AS processing,
           coalesce(sum(delta) FILTER (WHERE status = 'completed'), 0)  AS completed,
           coalesce(sum(delta) FILTER (WHERE status = 'failed'), 0)     AS failed,
           coalesce(sum(delta) FILTER (WHERE status = 'skipped'), 0)    AS skipped
      FROM changes
     GROUP BY batch_session_id
  )
  UPDATE public.batch_upload_sessions s
     SET files_uploading  = s.files_uploading  + c.uploading,
         files_pending    = s.files_pending    + c.pending,
         files_processing = s.files_processing + c.processing,
         files_completed  = s.files_completed  + c.completed,
         files_failed     = s.files_failed     + c.failed,
         files_skipped    = s.files_skipped    + c.skipped
    FROM per_session c
   WHERE s.id = c.batch_session_id
     AND (c.uploading, c.pending, c.processing, c.completed, c.failed, c.skipped)
         IS DISTINCT FROM (0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint);
END
$$;

-- A trigger with transition tables fires for one event only, so each event has its own.
CREATE FUNCTION batchpilot_private.count_file_statuses() RETURNS trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM batchpilot_private.apply_file_status_changes(
      array_agg(batch_session_id), array_agg(status), array_agg(1)) FROM new_files;
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM batchpilot_private.apply_file_status_changes(
      array_agg(batch_session_id), array_agg(status), array_agg(-1)) FROM old_files;
  ELSE
    PERFORM batchpilot_private.apply_file_status_changes(
      array_agg(c.batch_session_id), array_agg(c.status), array_agg(c.delta))
      FROM (SELECT n.batch_session_id, n.status, 1 AS delta
              FROM new_files n JOIN old_files o USING (id)
             WHERE (n.batch_session_id, n.status) IS DISTINCT FROM (o.batch_session_id, o.status)
            UNION ALL
            SELECT o.batch_session_id, o.status, -1
              FROM new_files n JOIN old_files o USING (id)
             WHERE (n.batch_session_id, n.status) IS DISTINCT FROM (o.batch_session_id, o.status)) c;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER batch_upload_files_count_inserted
  AFTER INSERT ON public.batch_upload_files
  REFERENCING NEW TABLE AS new_files
  FOR EACH STATEMENT EXECUTE FUNCTION batchpilot_private.count_file_statuses();
CREATE TRIGGER batch_upload_files_count_updated
  AFTER UPDATE ON public.batch_upload_files
  REFERENCING OLD TABLE AS old_files NEW TABLE AS new_files
  FOR EACH STATEMENT EXECUTE FUNCTION batchpilot_private.count_file_statuses();
CREATE TRIGGER batch_upload_files_count_deleted
  AFTER DELETE ON public.batch_upload_files
  REFERENCING OLD TABLE AS old_files
  FOR EACH STATEMENT EXECUTE FUNCTION batchpilot_private.count_file_statuses();

-- ---------------------------------------------------------------------------------------------
-- Wake-ups: one NOTIFY per statement, carrying session ids only (never file contents), when files
-- become claimable or a session starts or resumes. Workers also poll, so a lost one costs latency,
-- not files.
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION batchpilot_private.notify_sessions(session_ids uuid[]) RETURNS void
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  payload text;
BEGIN
  IF cardinality(session_ids) = 0 THEN
    RETURN;
  END IF;
  payload := array_to_string(session_ids, ',');
  -- NOTIFY payloads stop at 8000 bytes; an empty payload means "look at every session".
  IF octet_length(payload) > 7900 THEN
    payload := '';
  END IF;
  PERFORM pg_notify('batchpilot_work', payload);
END
$$;

CREATE FUNCTION batchpilot_private.notify_claimable_files() RETURNS trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  PERFORM batchpilot_private.notify_sessions(array_agg(DISTINCT batch_session_id))
     FROM new_files
    WHERE status = 'pending' AND next_attempt_at <= clock_timestamp();
  RETURN NULL;
END
$$;

CREATE TRIGGER batch_upload_files_notify_inserted
  AFTER INSERT ON public.batch_upload_files
  REFERENCING NEW TABLE AS new_files
  FOR EACH STATEMENT EXECUTE FUNCTION batchpilot_private.notify_claimable_files();
CREATE TRIGGER batch_upload_files_notify_updated
  AFTER UPDATE ON public.batch_upload_files
  REFERENCING NEW TABLE AS new_files
  FOR EACH STATEMENT EXECUTE FUNCTION batchpilot_private.notify_claimable_files();

CREATE FUNCTION batchpilot_private.notify_resumed_sessions() RETURNS trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  PERFORM batchpilot_private.notify_sessions(array_agg(n.id))
     FROM new_sessions n JOIN old_sessions o USING (id)
    WHERE n.status = 'processing' AND o.status IS DISTINCT FROM 'processing';
  RETURN NULL;
END
$$;

CREATE TRIGGER batch_upload_sessions_notify_resumed
  AFTER UPDATE ON public.batch_upload_sessions
  REFERENCING OLD TABLE AS old_sessions NEW TABLE AS new_sessions
  FOR EACH STATEMENT EXECUTE FUNCTION batchpilot_private.notify_resumed_sessions();

-- ---------------------------------------------------------------------------------------------
-- Row-level security. Membership and admin checks are SECURITY DEFINER functions, so policies do
-- not recurse into team_members' own policies, and `authenticated` never needs to read auth.users.
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION batchpilot_private.my_team_ids() RETURNS SETOF uuid
  LANGUAGE sql STABLE
  SECURITY DEFINER
  SET search_path = ''
AS $$
  SELECT m.team_id FROM public.team_members m WHERE m.user_id = (SELECT auth.uid())
$$;

CREATE FUNCTION batchpilot_private.my_session_ids() RETURNS SETOF uuid
  LANGUAGE sql STABLE
  SECURITY DEFINER
  SET search_path = ''
AS $$
  SELECT s.id
    FROM public.batch_upload_sessions s
   WHERE (s.team_id IS NULL AND s.user_id = (SELECT auth.uid()))
      OR s.team_id IN (SELECT batchpilot_private.my_team_ids())
$$;

-- An admin's app_metadata.role is 'admin'. Only the service key can set app_metadata; a user can
-- change their own user_metadata, so it is never trusted here.
CREATE FUNCTION batchpilot_private.is_admin() RETURNS boolean
  LANGUAGE sql STABLE
  SECURITY DEFINER
  SET search_path = ''
AS $$
  SELECT coalesce((SELECT auth.jwt()) -> 'app_metadata' ->> 'role' = 'admin', false)
      OR EXISTS (SELECT 1 FROM auth.users u
                  WHERE u.id = (SELECT auth.uid())
                    AND u.raw_app_meta_data ->> 'role' = 'admin')
$$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA batchpilot_private FROM PUBLIC;
GRANT EXECUTE ON FUNCTION batchpilot_private.my_team_ids(), batchpilot_private.my_session_ids(),
  batchpilot_private.is_admin() TO authenticated, service_role;

ALTER TABLE public.batch_upload_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.batch_upload_files ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.api_quota_tracking ENABLE ROW LEVEL SECURITY;

-- Sessions: personal ones to their owner, team ones to the team's members. A new session belongs
-- to its creator; no session can be moved into a team its writer is not a member of.
CREATE POLICY batch_sessions_select ON public.batch_upload_sessions
  FOR SELECT TO authenticated
  USING ((team_id IS NULL AND user_id = (SELECT auth.uid()))
         OR team_id IN (SELECT batchpilot_private.my_team_ids()));

CREATE POLICY batch_sessions_insert ON public.batch_upload_sessions
  FOR INSERT TO authenticated
  WITH CHECK (user_id = (SELECT auth.uid())
              AND (team_id IS NULL OR team_id IN (SELECT batchpilot_private.my_team_ids())));

CREATE POLICY batch_sessions_update ON public.batch_upload_sessions
  FOR UPDATE TO authenticated
  USING ((team_id IS NULL AND user_id = (SELECT auth.uid()))
         OR team_id IN (SELECT batchpilot_private.my_team_ids()))
  WITH CHECK ((team_id IS NULL AND user_id = (SELECT auth.uid()))
              OR team_id IN (SELECT batchpilot_private.my_team_ids()));

CREATE POLICY batch_sessions_delete ON public.batch_upload_sessions
  FOR DELETE TO authenticated
  USING ((team_id IS NULL AND user_id = (SELECT auth.uid()))
         OR team_id IN (SELECT batchpilot_private.my_team_ids()));

-- Files follow their session. A frontend registers files as uploading or pending and may retry or
-- skip them; only the workers (service_role, which bypasses RLS) complete or fail them.
CREATE POLICY batch_files_select ON public.batch_upload_files
  FOR SELECT TO authenticated
  USING (batch_session_id IN (SELECT batchpilot_private.my_session_ids()));

CREATE POLICY batch_files_insert ON public.batch_upload_files
  FOR INSERT TO authenticated
  WITH CHECK (batch_session_id IN (SELECT batchpilot_private.my_session_ids())
              AND status IN ('uploading', 'pending'));

CREATE POLICY batch_files_update ON public.batch_upload_files
  FOR UPDATE TO authenticated
  USING (batch_session_id IN (SELECT batchpilot_private.my_session_ids()))
  WITH CHECK (batch_session_id IN (SELECT batchpilot_private.my_session_ids())
              AND status IN ('uploading', 'pending', 'skipped'));

CREATE POLICY batch_files_delete ON public.batch_upload_files
  FOR DELETE TO authenticated
  USING (batch_session_id IN (SELECT batchpilot_private.my_session_ids()));

-- The quota ledger: admins read it; only the workers write it.
CREATE POLICY api_quota_admin_select ON public.api_quota_tracking
  FOR SELECT TO authenticated
  USING ((SELECT batchpilot_private.is_admin()));

-- Privileges. Supabase grants the API roles everything in public by default; these tables take
-- back what RLS alone would leave open: anon gets nothing, authenticated writes only the columns
-- a frontend owns (counters, leases, results and tokens are the workers').
REVOKE ALL ON public.batch_upload_sessions, public.batch_upload_files, public.api_quota_tracking
  FROM anon, authenticated;
GRANT SELECT, DELETE ON public.batch_upload_sessions, public.batch_upload_files TO authenticated;
GRANT INSERT (id, user_id, team_id, session_name, total_files, provider, model, max_concurrent,
              rate_limit_config, processing_strategy, status)
  ON public.batch_upload_sessions TO authenticated;
GRANT UPDATE (session_name, total_files, max_concurrent, rate_limit_config, processing_strategy, status)
  ON public.batch_upload_sessions TO authenticated;
GRANT INSERT (id, batch_session_id, receipt_id, original_filename, file_size_bytes, file_type,
              upload_order, storage_bucket, storage_path, source_url, content_sha256, status,
              model, max_attempts)
  ON public.batch_upload_files TO authenticated;
GRANT UPDATE (receipt_id, original_filename, file_size_bytes, file_type, storage_bucket,
              storage_path, source_url, content_sha256, status, next_attempt_at)
  ON public.batch_upload_files TO authenticated;
GRANT SELECT ON public.api_quota_tracking TO authenticated;
GRANT ALL ON public.batch_upload_sessions, public.batch_upload_files, public.api_quota_tracking
  TO service_role;

-- ---------------------------------------------------------------------------------------------
-- Realtime: frontends subscribe to their sessions' and files' row changes.
-- ---------------------------------------------------------------------------------------------
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'supabase_realtime') THEN
    ALTER PUBLICATION supabase_realtime ADD TABLE public.batch_upload_sessions, public.batch_upload_files;
  END IF;
END
$$;

-- ==== V3__worker.sql ====

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
      api_calls integer, rate_limited boolean)
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
           rate_limited = f.rate_limited OR coalesce(o.rate_limited, false)
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

-- ---------------------------------------------------------------------------------------------
-- V1's notify_sessions received NULL (array_agg over no rows) from every session UPDATE that
-- resumed nothing, and sent an empty NOTIFY ("look at every session") for it: each counter update,
-- so every claim and completion, woke the whole fleet and took NOTIFY's commit lock. No ids, no NOTIFY.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.notify_sessions(session_ids uuid[]) RETURNS void
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  payload text;
BEGIN
  IF coalesce(cardinality(session_ids), 0) = 0 THEN
    RETURN;
  END IF;
  payload := array_to_string(session_ids, ',');
  -- NOTIFY payloads stop at 8000 bytes; an empty payload means "look at every session".
  IF octet_length(payload) > 7900 THEN
    payload := '';
  END IF;
  PERFORM pg_notify('batchpilot_work', payload);
END
$$;
