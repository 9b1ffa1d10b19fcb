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
  -- array_agg over no rows is NULL, not empty: a statement that made nothing claimable sends nothing.
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

CREATE FUNCTION batchpilot_private.notify_claimable_files() RETURNS trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM batchpilot_private.notify_sessions(array_agg(DISTINCT batch_session_id))
       FROM new_files
      WHERE status = 'pending' AND next_attempt_at <= clock_timestamp();
  ELSE
    -- Only rows that were not claimable before: a worker's own writes and a rename stay silent.
    PERFORM batchpilot_private.notify_sessions(array_agg(DISTINCT n.batch_session_id))
       FROM new_files n JOIN old_files o USING (id)
      WHERE n.status = 'pending' AND n.next_attempt_at <= clock_timestamp()
        AND (o.status <> 'pending' OR o.next_attempt_at > clock_timestamp()
             OR o.batch_session_id <> n.batch_session_id);
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER batch_upload_files_notify_inserted
  AFTER INSERT ON public.batch_upload_files
  REFERENCING NEW TABLE AS new_files
  FOR EACH STATEMENT EXECUTE FUNCTION batchpilot_private.notify_claimable_files();
CREATE TRIGGER batch_upload_files_notify_updated
  AFTER UPDATE ON public.batch_upload_files
  REFERENCING OLD TABLE AS old_files NEW TABLE AS new_files
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

-- Supabase's default privileges may grant functions to the API roles directly, not only to PUBLIC.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA batchpilot_private FROM PUBLIC, anon, authenticated, service_role;
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
-- skip them; only the workers (service_role, which bypasses RLS) complete or fail them, and a file
-- a worker holds (processing) or has completed is not the frontend's to change.
CREATE POLICY batch_files_select ON public.batch_upload_files
  FOR SELECT TO authenticated
  USING (batch_session_id IN (SELECT batchpilot_private.my_session_ids()));

CREATE POLICY batch_files_insert ON public.batch_upload_files
  FOR INSERT TO authenticated
  WITH CHECK (batch_session_id IN (SELECT batchpilot_private.my_session_ids())
              AND status IN ('uploading', 'pending'));

CREATE POLICY batch_files_update ON public.batch_upload_files
  FOR UPDATE TO authenticated
  USING (batch_session_id IN (SELECT batchpilot_private.my_session_ids())
         AND status IN ('uploading', 'pending', 'failed', 'skipped'))
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
-- The quota ledger stays out: it changes on every API call and only admins may read it.
-- A publication FOR ALL TABLES already streams them and refuses ADD TABLE.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'supabase_realtime' AND NOT puballtables) THEN
    ALTER PUBLICATION supabase_realtime ADD TABLE public.batch_upload_sessions, public.batch_upload_files;
  END IF;
END
$$;

-- ==== V2__quota_gate.sql ====

-- batchpilot: the global quota gate. One row per (provider, model) holds the limits an admin edits
-- and the fleet's shared state; fine-grained buckets count what was granted; permits track what is
-- in flight. Every worker, Edge Function or service that calls batchpilot_acquire_quota shares the
-- same quota. See the README, "The quota gate", for the proof and an Edge Function example.

-- ---------------------------------------------------------------------------------------------
-- Limits (admin-edited) and the gate's shared state, per (provider, model)
-- ---------------------------------------------------------------------------------------------
CREATE TABLE public.quota_limits (
  provider                text NOT NULL
    CONSTRAINT quota_limits_provider_check CHECK (provider IN ('gemini')),
  model                   text NOT NULL
    CONSTRAINT quota_limits_model_check CHECK (model ~ '^[a-z0-9][a-z0-9.-]*$'),

  -- The limits, per window (window_ms; 60 s in production).
  requests_per_minute     integer NOT NULL
    CONSTRAINT quota_limits_requests_per_minute_check CHECK (requests_per_minute > 0),
  input_tokens_per_minute bigint NOT NULL
    CONSTRAINT quota_limits_input_tokens_per_minute_check CHECK (input_tokens_per_minute > 0),
  -- NULL: no daily limit. Resets at midnight America/Los_Angeles, as Google's does.
  requests_per_day        integer
    CONSTRAINT quota_limits_requests_per_day_check CHECK (requests_per_day > 0),
  max_in_flight           integer NOT NULL DEFAULT 64
    CONSTRAINT quota_limits_max_in_flight_check CHECK (max_in_flight > 0),

  -- The window the limits hold over, and how finely it is counted: a grant is refused unless the
  -- buckets of the last window + safety margin (rounded up to whole buckets, plus the current one)
  -- leave room. Tests compress the window to ~2 s.
  window_ms               integer NOT NULL DEFAULT 60000
    CONSTRAINT quota_limits_window_ms_check CHECK (window_ms BETWEEN 100 AND 86400000),
  -- Buckets are whole milliseconds wide, so bucket arithmetic is exact.
  buckets_per_window      integer NOT NULL DEFAULT 60
    CONSTRAINT quota_limits_buckets_per_window_check CHECK (buckets_per_window BETWEEN 1 AND 600),
  -- Covers the spread between grant and arrival at the server (network, GC, client queueing).
  safety_margin_ms        integer NOT NULL DEFAULT 1000
    CONSTRAINT quota_limits_safety_margin_ms_check CHECK (safety_margin_ms >= 0),
  -- A permit not released within this lease no longer counts as in flight (its worker died).
  permit_lease_ms         integer NOT NULL DEFAULT 300000
    CONSTRAINT quota_limits_permit_lease_ms_check CHECK (permit_lease_ms > 0),

  -- Adaptive strategy: a fraction of the limits shared by the fleet, cut on a 429 and restored by
  -- adaptive_increase per window without one. The value in effect is computed from
  -- adaptive_factor at adaptive_changed_at (see batchpilot_private.adaptive_factor_at).
  adaptive_factor         double precision NOT NULL DEFAULT 1
    CONSTRAINT quota_limits_adaptive_factor_check CHECK (adaptive_factor > 0 AND adaptive_factor <= 1),
  adaptive_changed_at     timestamptz NOT NULL DEFAULT now(),
  adaptive_min            double precision NOT NULL DEFAULT 0.1
    CONSTRAINT quota_limits_adaptive_min_check CHECK (adaptive_min > 0 AND adaptive_min <= 1),
  adaptive_decrease       double precision NOT NULL DEFAULT 0.5
    CONSTRAINT quota_limits_adaptive_decrease_check CHECK (adaptive_decrease > 0 AND adaptive_decrease < 1),
  adaptive_increase       double precision NOT NULL DEFAULT 0.05
    CONSTRAINT quota_limits_adaptive_increase_check CHECK (adaptive_increase >= 0 AND adaptive_increase <= 1),

  -- A 429 blocks the fleet until blocked_until; a per-day 429 (or the daily limit reached) parks it
  -- until the next midnight America/Los_Angeles.
  blocked_until           timestamptz,
  blocked_quota_id        text,
  parked_until            timestamptz,

  -- Maintained by the gate.
  day                     date,
  requests_today          integer NOT NULL DEFAULT 0,
  current_bucket          timestamptz,
  last_grant_at           timestamptz,

  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (provider, model),
  CONSTRAINT quota_limits_margin_check CHECK (safety_margin_ms < window_ms),
  CONSTRAINT quota_limits_bucket_width_check CHECK (window_ms % buckets_per_window = 0)
);

COMMENT ON TABLE public.quota_limits IS
  'Per (provider, model): the limits an admin edits, and the quota gate''s fleet-wide state.';
COMMENT ON COLUMN public.quota_limits.parked_until IS
  'Set when the daily quota is exhausted: nothing is granted before this instant (next midnight America/Los_Angeles).';

CREATE TRIGGER quota_limits_touch BEFORE UPDATE ON public.quota_limits
  FOR EACH ROW EXECUTE FUNCTION batchpilot_private.touch_updated_at();

-- Gemini's free-tier limits (November 2026): a project on a paid tier raises them here.
INSERT INTO public.quota_limits
  (provider, model, requests_per_minute, input_tokens_per_minute, requests_per_day, max_in_flight)
VALUES
  ('gemini', 'gemini-2.5-flash',      10, 250000,  250, 10),
  ('gemini', 'gemini-2.5-flash-lite', 15, 250000, 1000, 15),
  ('gemini', 'gemini-2.5-pro',         5, 250000,  100,  5),
  ('gemini', 'gemini-embedding-001', 100,  30000, 1000, 20);

-- What was granted, per bucket of window_ms / buckets_per_window.
CREATE TABLE public.quota_buckets (
  provider      text NOT NULL,
  model         text NOT NULL,
  bucket_start  timestamptz NOT NULL,
  requests      integer NOT NULL DEFAULT 0,
  input_tokens  bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (provider, model, bucket_start),
  FOREIGN KEY (provider, model) REFERENCES public.quota_limits ON DELETE CASCADE
);

COMMENT ON TABLE public.quota_buckets IS
  'Granted requests and input tokens per (provider, model) and bucket; kept for one window and a margin.';

-- One row per grant: in flight until released or its lease ends; reconciled with the real tokens.
CREATE TABLE public.quota_permits (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  provider      text NOT NULL,
  model         text NOT NULL,
  bucket_start  timestamptz NOT NULL,
  input_tokens  bigint NOT NULL,
  granted_at    timestamptz NOT NULL,
  expires_at    timestamptz NOT NULL,
  released_at   timestamptz,
  FOREIGN KEY (provider, model) REFERENCES public.quota_limits ON DELETE CASCADE
);

COMMENT ON TABLE public.quota_permits IS
  'Quota grants: in flight until released_at is set or expires_at passes.';

CREATE INDEX quota_permits_in_flight_idx
  ON public.quota_permits (provider, model, expires_at) WHERE released_at IS NULL;
CREATE INDEX quota_permits_granted_idx
  ON public.quota_permits (provider, model, granted_at);

-- ---------------------------------------------------------------------------------------------
-- Arithmetic
-- ---------------------------------------------------------------------------------------------

-- The adaptive factor in effect at an instant: the stored one plus adaptive_increase for every
-- whole window since it last changed, capped at 1.
CREATE FUNCTION batchpilot_private.adaptive_factor_at(q public.quota_limits, at timestamptz)
  RETURNS double precision
  LANGUAGE sql IMMUTABLE
  SET search_path = ''
AS $$
  SELECT least(1.0, q.adaptive_factor + q.adaptive_increase * greatest(0, floor(
    extract(epoch FROM at - q.adaptive_changed_at) * 1000 / q.window_ms)))
$$;

-- The fraction of the limits (and of the in-flight cap) a strategy may use. Conservative leaves
-- half of the project's quota to other apps; balanced a quarter; aggressive uses all of it, which
-- is safe because the gate is exact; adaptive follows the fleet's shared factor.
CREATE FUNCTION batchpilot_private.strategy_fraction(q public.quota_limits, strategy text, at timestamptz)
  RETURNS double precision
  LANGUAGE plpgsql IMMUTABLE
  SET search_path = ''
AS $$
BEGIN
  RETURN CASE strategy
    WHEN 'conservative' THEN 0.5
    WHEN 'balanced' THEN 0.75
    WHEN 'aggressive' THEN 1.0
    WHEN 'adaptive' THEN batchpilot_private.adaptive_factor_at(q, at)
  END;
END
$$;

-- Whole milliseconds since the epoch, and back: bucket boundaries are computed in integers only.
CREATE FUNCTION batchpilot_private.epoch_ms(at timestamptz) RETURNS bigint
  LANGUAGE sql IMMUTABLE
  SET search_path = ''
AS $$
  SELECT floor(extract(epoch FROM at) * 1000)::bigint
$$;

CREATE FUNCTION batchpilot_private.from_epoch_ms(ms bigint) RETURNS timestamptz
  LANGUAGE sql IMMUTABLE
  SET search_path = ''
AS $$
  SELECT 'epoch'::timestamptz + ms * interval '1 millisecond'
$$;

-- The next midnight America/Los_Angeles after an instant: when Google resets daily quotas.
CREATE FUNCTION batchpilot_private.next_pacific_midnight(at timestamptz) RETURNS timestamptz
  LANGUAGE sql IMMUTABLE
  SET search_path = ''
AS $$
  SELECT (date_trunc('day', at AT TIME ZONE 'America/Los_Angeles') + interval '1 day')
         AT TIME ZONE 'America/Los_Angeles'
$$;

-- ---------------------------------------------------------------------------------------------
-- Acquire. The guarantee: let w = window_ms / buckets_per_window and n = ceil((window_ms +
-- safety_margin_ms) / w). A request granted at t (bucket b = floor(t / w)) is admitted only if the
-- buckets b-n .. b plus its own cost stay within the limit. Take any window of length window_ms at
-- the server, and in it the request r granted last (grant order = lock order = time order, since
-- `now` is read after the row lock). Every other request in that window arrived at most
-- window_ms + spread before r did, so (spread <= safety margin) it was granted within
-- window_ms + margin before r, hence in buckets b_r-n .. b_r, and before r: r's check counted it.
-- So the window holds at most the limit. Tokens likewise, as long as estimates are not below the
-- real counts (reconcile corrects the buckets for later grants).
--
-- p_now exists for the property tests only (they step a clock); the public function passes NULL,
-- which means clock_timestamp() read after the lock.
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION batchpilot_private.acquire_quota(
  p_provider text, p_model text, p_input_tokens bigint, p_strategy text, p_now timestamptz)
  RETURNS TABLE (granted boolean, permit_id uuid, wait_ms bigint, reason text, granted_at timestamptz)
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  q               public.quota_limits;
  now_at          timestamptz;
  bucket_ms       bigint;
  lookback        bigint;
  cur_index       bigint;
  cur             timestamptz;
  oldest          timestamptz;
  fraction        double precision;
  request_limit   bigint;
  token_limit     bigint;
  in_flight_limit integer;
  used_requests   bigint;
  used_tokens     bigint;
  in_flight       bigint;
  free_at         timestamptz;
  new_permit      uuid;
  today           date;
BEGIN
  IF p_input_tokens IS NULL OR p_input_tokens < 0 THEN
    RAISE EXCEPTION 'batchpilot_acquire_quota: estimated input tokens must be 0 or more, got %', p_input_tokens
      USING ERRCODE = '22023';
  END IF;
  IF p_strategy IS NULL OR p_strategy NOT IN ('conservative', 'balanced', 'aggressive', 'adaptive') THEN
    RAISE EXCEPTION 'batchpilot_acquire_quota: unknown strategy %: use conservative, balanced, aggressive or adaptive',
      p_strategy USING ERRCODE = '22023';
  END IF;

  SELECT * INTO q FROM public.quota_limits l
   WHERE l.provider = p_provider AND l.model = p_model FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'batchpilot_acquire_quota: no quota_limits row for provider % model %: insert one into '
      'public.quota_limits with the project''s limits for this model', p_provider, p_model
      USING ERRCODE = 'P0002';
  END IF;
  IF p_input_tokens > q.input_tokens_per_minute THEN
    RAISE EXCEPTION 'batchpilot_acquire_quota: % input tokens exceed the % per window allowed for % %: shrink '
      'the request (fewer pages, smaller images) or raise quota_limits.input_tokens_per_minute',
      p_input_tokens, q.input_tokens_per_minute, p_provider, p_model
      USING ERRCODE = '22023';
  END IF;

  -- The row lock is held until commit: waiting for a WAL flush there would serialise the fleet on
  -- fsync and widen the gap between grant and send. A crash can lose the last ~200 ms of grants
  -- (wal_writer_delay); recovery takes longer than that, so nothing is admitted twice in practice.
  PERFORM set_config('synchronous_commit', 'off', true);

  -- Read after the lock, and never behind the last grant, so grant order is time order.
  now_at := greatest(coalesce(p_now, clock_timestamp()), q.last_grant_at);

  IF q.blocked_until > now_at THEN
    RETURN QUERY SELECT false, NULL::uuid, ceil(extract(epoch FROM q.blocked_until - now_at) * 1000)::bigint, 'rate_limited', NULL::timestamptz;
    RETURN;
  END IF;
  IF q.parked_until > now_at THEN
    RETURN QUERY SELECT false, NULL::uuid, ceil(extract(epoch FROM q.parked_until - now_at) * 1000)::bigint, 'daily_quota_exhausted', NULL::timestamptz;
    RETURN;
  END IF;
  today := (now_at AT TIME ZONE 'America/Los_Angeles')::date;
  IF q.day IS DISTINCT FROM today THEN
    q.requests_today := 0;
  END IF;
  IF q.requests_per_day IS NOT NULL AND q.requests_today >= q.requests_per_day THEN
    UPDATE public.quota_limits l SET parked_until = batchpilot_private.next_pacific_midnight(now_at)
     WHERE l.provider = p_provider AND l.model = p_model;
    RETURN QUERY SELECT false, NULL::uuid,
      ceil(extract(epoch FROM batchpilot_private.next_pacific_midnight(now_at) - now_at) * 1000)::bigint,
      'daily_quota_exhausted', NULL::timestamptz;
    RETURN;
  END IF;

  fraction := batchpilot_private.strategy_fraction(q, p_strategy, now_at);
  request_limit := greatest(1, floor(q.requests_per_minute * fraction));
  -- A request that fits the real limit but not the reduced one may still go, alone.
  token_limit := greatest(p_input_tokens, floor(q.input_tokens_per_minute * fraction));
  in_flight_limit := greatest(1, floor(q.max_in_flight * fraction));

  bucket_ms := q.window_ms / q.buckets_per_window;
  lookback := ceil((q.window_ms + q.safety_margin_ms)::numeric / bucket_ms);
  cur_index := batchpilot_private.epoch_ms(now_at) / bucket_ms;
  cur := batchpilot_private.from_epoch_ms(cur_index * bucket_ms);
  oldest := batchpilot_private.from_epoch_ms((cur_index - lookback) * bucket_ms);

  SELECT coalesce(sum(b.requests), 0), coalesce(sum(b.input_tokens), 0)
    INTO used_requests, used_tokens
    FROM public.quota_buckets b
   WHERE b.provider = p_provider AND b.model = p_model AND b.bucket_start >= oldest;

  IF used_requests + 1 > request_limit OR used_tokens + p_input_tokens > token_limit THEN
    -- Room comes back when enough of the oldest buckets leave the lookback: the first bucket at
    -- which the running totals cover the excess leaves it lookback + 1 buckets after it started.
    SELECT min(r.bucket_start) INTO free_at
      FROM (SELECT b.bucket_start,
                   sum(b.requests) OVER w AS requests_through,
                   sum(b.input_tokens) OVER w AS tokens_through
              FROM public.quota_buckets b
             WHERE b.provider = p_provider AND b.model = p_model AND b.bucket_start >= oldest
            WINDOW w AS (ORDER BY b.bucket_start)) r
     WHERE r.requests_through >= used_requests + 1 - request_limit
       AND r.tokens_through >= used_tokens + p_input_tokens - token_limit;
    free_at := batchpilot_private.from_epoch_ms(
      (batchpilot_private.epoch_ms(free_at) / bucket_ms + lookback + 1) * bucket_ms);
    RETURN QUERY SELECT false, NULL::uuid,
      greatest(1, ceil(extract(epoch FROM free_at - now_at) * 1000))::bigint,
      CASE WHEN used_requests + 1 > request_limit THEN 'requests' ELSE 'input_tokens' END, NULL::timestamptz;
    RETURN;
  END IF;

  -- Counting stops at the cap: the cost stays bounded however many permits a crash left behind.
  SELECT count(*) INTO in_flight FROM (
    SELECT 1 FROM public.quota_permits p
     WHERE p.provider = p_provider AND p.model = p_model AND p.released_at IS NULL AND p.expires_at > now_at
     LIMIT in_flight_limit) f;
  IF in_flight >= in_flight_limit THEN
    -- A release can come at any moment; ask again after one bucket (at most 100 ms).
    RETURN QUERY SELECT false, NULL::uuid, least(100, bucket_ms), 'in_flight', NULL::timestamptz;
    RETURN;
  END IF;

  INSERT INTO public.quota_buckets AS b (provider, model, bucket_start, requests, input_tokens)
  VALUES (p_provider, p_model, cur, 1, p_input_tokens)
  ON CONFLICT (provider, model, bucket_start) DO UPDATE
    SET requests = b.requests + 1, input_tokens = b.input_tokens + excluded.input_tokens;

  INSERT INTO public.quota_permits (provider, model, bucket_start, input_tokens, granted_at, expires_at)
  VALUES (p_provider, p_model, cur, p_input_tokens, now_at,
          now_at + make_interval(secs => q.permit_lease_ms / 1000.0))
  RETURNING id INTO new_permit;

  -- The ledger: per calendar minute, what was granted against the configured limit.
  INSERT INTO public.api_quota_tracking AS t (api_provider, model, quota_type, time_window, quota_used, quota_limit)
  VALUES (p_provider, p_model, 'requests', date_trunc('minute', now_at), 1, q.requests_per_minute),
         (p_provider, p_model, 'input_tokens', date_trunc('minute', now_at), p_input_tokens, q.input_tokens_per_minute)
  ON CONFLICT (api_provider, model, quota_type, time_window) DO UPDATE
    SET quota_used = t.quota_used + excluded.quota_used, quota_limit = excluded.quota_limit;

  -- Once per bucket: forget buckets and finished permits that no longer matter.
  IF q.current_bucket IS DISTINCT FROM cur THEN
    DELETE FROM public.quota_buckets b
     WHERE b.provider = p_provider AND b.model = p_model AND b.bucket_start < oldest;
    DELETE FROM public.quota_permits p
     WHERE p.provider = p_provider AND p.model = p_model AND p.granted_at < oldest
       AND (p.released_at IS NOT NULL OR p.expires_at <= now_at);
  END IF;

  UPDATE public.quota_limits l
     SET day = today, requests_today = q.requests_today + 1, current_bucket = cur, last_grant_at = now_at
   WHERE l.provider = p_provider AND l.model = p_model;

  RETURN QUERY SELECT true, new_permit, 0::bigint, NULL::text, now_at;
END
$$;

CREATE FUNCTION public.batchpilot_acquire_quota(
  provider text, model text, estimated_input_tokens bigint, strategy text DEFAULT 'adaptive')
  RETURNS TABLE (granted boolean, permit_id uuid, wait_ms bigint, reason text, granted_at timestamptz)
  LANGUAGE sql
  SECURITY DEFINER
  SET search_path = ''
AS $$
  SELECT * FROM batchpilot_private.acquire_quota(provider, model, estimated_input_tokens, strategy, NULL)
$$;

COMMENT ON FUNCTION public.batchpilot_acquire_quota(text, text, bigint, text) IS
  'Grant one request of the given estimated input tokens (granted, permit_id, granted_at), or say how long to wait (wait_ms, reason).';

-- ---------------------------------------------------------------------------------------------
-- Reconcile, release, report
-- ---------------------------------------------------------------------------------------------

-- Replaces a grant's estimate with the real prompt token count, in the bucket and ledger minute
-- where it was counted. Returns false when the permit is unknown (already forgotten).
CREATE FUNCTION public.batchpilot_reconcile_quota(permit_id uuid, actual_input_tokens bigint)
  RETURNS boolean
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
DECLARE
  p     public.quota_permits;
  delta bigint;
BEGIN
  IF actual_input_tokens IS NULL OR actual_input_tokens < 0 THEN
    RAISE EXCEPTION 'batchpilot_reconcile_quota: actual input tokens must be 0 or more, got %', actual_input_tokens
      USING ERRCODE = '22023';
  END IF;
  SELECT * INTO p FROM public.quota_permits x WHERE x.id = batchpilot_reconcile_quota.permit_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  delta := actual_input_tokens - p.input_tokens;
  IF delta = 0 THEN
    RETURN true;
  END IF;
  -- As in acquire: a lost adjustment costs a little accuracy, a flush wait costs every worker.
  PERFORM set_config('synchronous_commit', 'off', true);
  UPDATE public.quota_permits x SET input_tokens = actual_input_tokens WHERE x.id = p.id;
  UPDATE public.quota_buckets b SET input_tokens = greatest(0, b.input_tokens + delta)
   WHERE b.provider = p.provider AND b.model = p.model AND b.bucket_start = p.bucket_start;
  UPDATE public.api_quota_tracking t SET quota_used = greatest(0, t.quota_used + delta)
   WHERE t.api_provider = p.provider AND t.model = p.model AND t.quota_type = 'input_tokens'
     AND t.time_window = date_trunc('minute', p.granted_at);
  RETURN true;
END
$$;

-- Ends a permit's time in flight. Returns false when it had already ended.
CREATE FUNCTION public.batchpilot_release_quota(permit_id uuid)
  RETURNS boolean
  LANGUAGE sql
  SECURITY DEFINER
  SET search_path = ''
AS $$
  -- A release lost in a crash is made good by the permit's lease; no flush wait for it.
  SELECT set_config('synchronous_commit', 'off', true);
  WITH released AS (
    UPDATE public.quota_permits p SET released_at = clock_timestamp()
     WHERE p.id = batchpilot_release_quota.permit_id AND p.released_at IS NULL
    RETURNING 1)
  SELECT EXISTS (SELECT 1 FROM released)
$$;

-- A 429 for a per-minute quota: the whole fleet waits retry_delay_ms for this (provider, model),
-- and the adaptive factor is cut once per blocked period, however many workers report it.
-- Returns the instant the block ends.
CREATE FUNCTION public.batchpilot_report_rate_limit(
  provider text, model text, retry_delay_ms bigint, quota_id text DEFAULT NULL)
  RETURNS timestamptz
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
DECLARE
  q      public.quota_limits;
  now_at timestamptz;
  block_end timestamptz;
BEGIN
  IF retry_delay_ms IS NULL OR retry_delay_ms < 0 THEN
    RAISE EXCEPTION 'batchpilot_report_rate_limit: retry delay must be 0 ms or more, got %', retry_delay_ms
      USING ERRCODE = '22023';
  END IF;
  SELECT * INTO q FROM public.quota_limits l
   WHERE l.provider = batchpilot_report_rate_limit.provider AND l.model = batchpilot_report_rate_limit.model
     FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'batchpilot_report_rate_limit: no quota_limits row for provider % model %: insert one into '
      'public.quota_limits', provider, model USING ERRCODE = 'P0002';
  END IF;
  now_at := clock_timestamp();
  block_end := now_at + make_interval(secs => retry_delay_ms / 1000.0);
  IF q.blocked_until IS NULL OR q.blocked_until <= now_at THEN
    UPDATE public.quota_limits l
       SET adaptive_factor = greatest(l.adaptive_min,
             batchpilot_private.adaptive_factor_at(q, now_at) * l.adaptive_decrease),
           adaptive_changed_at = now_at
     WHERE l.provider = q.provider AND l.model = q.model;
  END IF;
  block_end := greatest(block_end, q.blocked_until);
  UPDATE public.quota_limits l
     SET blocked_until = block_end, blocked_quota_id = coalesce(quota_id, l.blocked_quota_id)
   WHERE l.provider = q.provider AND l.model = q.model;
  PERFORM batchpilot_private.mark_ledger_limited(q, now_at, block_end);
  RETURN block_end;
END
$$;

-- A 429 for a per-day quota: the fleet stops asking for this (provider, model) until the next
-- midnight America/Los_Angeles. Returns that instant; sessions read quota_limits.parked_until.
CREATE FUNCTION public.batchpilot_report_daily_quota_exhausted(provider text, model text)
  RETURNS timestamptz
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
DECLARE
  q      public.quota_limits;
  now_at timestamptz;
  park_end timestamptz;
BEGIN
  SELECT * INTO q FROM public.quota_limits l
   WHERE l.provider = batchpilot_report_daily_quota_exhausted.provider
     AND l.model = batchpilot_report_daily_quota_exhausted.model
     FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'batchpilot_report_daily_quota_exhausted: no quota_limits row for provider % model %: '
      'insert one into public.quota_limits', provider, model USING ERRCODE = 'P0002';
  END IF;
  now_at := clock_timestamp();
  park_end := batchpilot_private.next_pacific_midnight(now_at);
  UPDATE public.quota_limits l SET parked_until = park_end
   WHERE l.provider = q.provider AND l.model = q.model;
  PERFORM batchpilot_private.mark_ledger_limited(q, now_at, park_end);
  RETURN park_end;
END
$$;

CREATE FUNCTION batchpilot_private.mark_ledger_limited(q public.quota_limits, at timestamptz, block_end timestamptz)
  RETURNS void
  LANGUAGE sql
  SET search_path = ''
AS $$
  INSERT INTO public.api_quota_tracking AS t
    (api_provider, model, quota_type, time_window, quota_used, quota_limit, is_rate_limited, rate_limit_reset_at)
  VALUES (q.provider, q.model, 'requests', date_trunc('minute', at), 0, q.requests_per_minute, true, block_end),
         (q.provider, q.model, 'input_tokens', date_trunc('minute', at), 0, q.input_tokens_per_minute, true, block_end)
  ON CONFLICT (api_provider, model, quota_type, time_window) DO UPDATE
    SET is_rate_limited = true,
        rate_limit_reset_at = greatest(t.rate_limit_reset_at, excluded.rate_limit_reset_at)
$$;

-- What the gate knows about one (provider, model) right now: for sessions ("parked until"),
-- the ETA and dashboards.
CREATE FUNCTION public.batchpilot_quota_status(provider text, model text)
  RETURNS TABLE (adaptive_factor double precision, blocked_until timestamptz, parked_until timestamptz,
                 requests_in_window bigint, input_tokens_in_window bigint, in_flight bigint)
  LANGUAGE sql
  SECURITY DEFINER
  SET search_path = ''
AS $$
  SELECT batchpilot_private.adaptive_factor_at(q, clock_timestamp()),
         CASE WHEN q.blocked_until > clock_timestamp() THEN q.blocked_until END,
         CASE WHEN q.parked_until > clock_timestamp() THEN q.parked_until END,
         (SELECT coalesce(sum(b.requests), 0) FROM public.quota_buckets b
           WHERE b.provider = q.provider AND b.model = q.model
             AND b.bucket_start > clock_timestamp() - make_interval(secs => q.window_ms / 1000.0)),
         (SELECT coalesce(sum(b.input_tokens), 0) FROM public.quota_buckets b
           WHERE b.provider = q.provider AND b.model = q.model
             AND b.bucket_start > clock_timestamp() - make_interval(secs => q.window_ms / 1000.0)),
         (SELECT count(*) FROM public.quota_permits p
           WHERE p.provider = q.provider AND p.model = q.model
             AND p.released_at IS NULL AND p.expires_at > clock_timestamp())
    FROM public.quota_limits q
   WHERE q.provider = batchpilot_quota_status.provider AND q.model = batchpilot_quota_status.model
$$;

-- ---------------------------------------------------------------------------------------------
-- Privileges: the gate's functions belong to the workers and the project's own services
-- (service_role); the limits are readable by admins in the dashboard.
-- ---------------------------------------------------------------------------------------------
REVOKE ALL ON FUNCTION batchpilot_private.adaptive_factor_at(public.quota_limits, timestamptz),
  batchpilot_private.strategy_fraction(public.quota_limits, text, timestamptz),
  batchpilot_private.next_pacific_midnight(timestamptz),
  batchpilot_private.epoch_ms(timestamptz),
  batchpilot_private.from_epoch_ms(bigint),
  batchpilot_private.acquire_quota(text, text, bigint, text, timestamptz),
  batchpilot_private.mark_ledger_limited(public.quota_limits, timestamptz, timestamptz)
  FROM PUBLIC;
REVOKE ALL ON FUNCTION public.batchpilot_acquire_quota(text, text, bigint, text),
  public.batchpilot_reconcile_quota(uuid, bigint),
  public.batchpilot_release_quota(uuid),
  public.batchpilot_report_rate_limit(text, text, bigint, text),
  public.batchpilot_report_daily_quota_exhausted(text, text),
  public.batchpilot_quota_status(text, text)
  FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.batchpilot_acquire_quota(text, text, bigint, text),
  public.batchpilot_reconcile_quota(uuid, bigint),
  public.batchpilot_release_quota(uuid),
  public.batchpilot_report_rate_limit(text, text, bigint, text),
  public.batchpilot_report_daily_quota_exhausted(text, text),
  public.batchpilot_quota_status(text, text)
  TO service_role;

ALTER TABLE public.quota_limits ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.quota_buckets ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.quota_permits ENABLE ROW LEVEL SECURITY;

CREATE POLICY quota_limits_admin_select ON public.quota_limits
  FOR SELECT TO authenticated
  USING ((SELECT batchpilot_private.is_admin()));

REVOKE ALL ON public.quota_limits, public.quota_buckets, public.quota_permits FROM anon, authenticated;
GRANT SELECT ON public.quota_limits TO authenticated;
GRANT ALL ON public.quota_limits, public.quota_buckets, public.quota_permits TO service_role;

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

-- ==== V4__metrics.sql ====

-- batchpilot: metrics for the Grafana dashboards.
-- Workers write metric snapshots and heartbeats; a trigger rolls file outcomes and tokens up per
-- minute, so no dashboard ever scans batch_upload_files. Grafana reads only the views in
-- batchpilot_reporting, as the role batchpilot_grafana, which can read nothing else.
-- Retention (maintenance) prunes the snapshots, heartbeats and rollup by their time column.

-- ---------------------------------------------------------------------------------------------
-- Worker heartbeats: one row per worker process, refreshed with every metrics report.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE public.batchpilot_worker_heartbeats (
  worker_id    text PRIMARY KEY
    CONSTRAINT batchpilot_worker_heartbeats_worker_id_check CHECK (length(worker_id) BETWEEN 1 AND 200),
  host         text NOT NULL,
  version      text NOT NULL,
  started_at   timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  in_flight    integer NOT NULL DEFAULT 0
    CONSTRAINT batchpilot_worker_heartbeats_in_flight_check CHECK (in_flight >= 0),
  -- Set by a clean shutdown; a worker that died keeps NULL and simply stops being seen.
  stopped_at   timestamptz
);

COMMENT ON TABLE public.batchpilot_worker_heartbeats IS
  'One row per worker process; a worker is alive while last_seen_at is recent (the database clock).';

CREATE INDEX batchpilot_worker_heartbeats_last_seen_idx
  ON public.batchpilot_worker_heartbeats (last_seen_at);

-- ---------------------------------------------------------------------------------------------
-- Metric snapshots: every few seconds each worker writes one row per metric of its registry.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE public.batchpilot_metric_snapshots (
  -- The inserting transaction's time: one snapshot, one instant, from the database's clock.
  taken_at  timestamptz NOT NULL DEFAULT now(),
  worker_id text NOT NULL,
  name      text NOT NULL
    CONSTRAINT batchpilot_metric_snapshots_name_check CHECK (name ~ '^[a-z][a-z0-9_.]*$'),
  -- The dimensions the dashboards group by, e.g. {"model": "gemini-2.5-flash", "outcome": "ok"}.
  tags      jsonb NOT NULL DEFAULT '{}'::jsonb
    CONSTRAINT batchpilot_metric_snapshots_tags_check CHECK (jsonb_typeof(tags) = 'object'),
  kind      text NOT NULL
    CONSTRAINT batchpilot_metric_snapshots_kind_check
      CHECK (kind IN ('counter', 'gauge', 'meter', 'timer', 'histogram')),
  -- Events since the worker started, and since its previous snapshot (what per-minute sums use).
  count     bigint,
  delta     bigint,
  value     double precision,
  -- Events per second over the last minute (meters, timers).
  rate_1m   double precision,
  -- Over the last minute of a timer (milliseconds) or histogram (its own unit).
  mean      double precision,
  p50       double precision,
  p95       double precision,
  p99       double precision,
  max       double precision
);

COMMENT ON TABLE public.batchpilot_metric_snapshots IS
  'Dropwizard metrics of each worker, one row per metric per report; pruned by maintenance.';

-- Dashboards read one metric over a time range; retention deletes by time.
CREATE INDEX batchpilot_metric_snapshots_name_time_idx
  ON public.batchpilot_metric_snapshots (name, taken_at);
CREATE INDEX batchpilot_metric_snapshots_time_idx
  ON public.batchpilot_metric_snapshots (taken_at);

-- ---------------------------------------------------------------------------------------------
-- Usage per minute: file outcomes, calls and tokens by team and model, kept by a trigger on the
-- file table in the same transaction as the change, so it always agrees with the files.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE public.batchpilot_usage_per_minute (
  minute          timestamptz NOT NULL
    CONSTRAINT batchpilot_usage_per_minute_minute_check CHECK (minute = date_trunc('minute', minute)),
  team_id         uuid,
  -- The owner of a personal session (team_id NULL); NULL for team sessions.
  user_id         uuid,
  model           text NOT NULL,
  -- Completers on different connections update different rows of the same minute, so they do not
  -- queue behind one hot row lock; dashboards sum the shards.
  shard           smallint NOT NULL
    CONSTRAINT batchpilot_usage_per_minute_shard_check CHECK (shard BETWEEN 0 AND 3),
  files_completed integer NOT NULL DEFAULT 0,
  files_failed    integer NOT NULL DEFAULT 0,
  files_skipped   integer NOT NULL DEFAULT 0,
  -- Attempts that ended in a retry (back to pending with an error_type).
  files_retried   integer NOT NULL DEFAULT 0,
  api_calls       bigint NOT NULL DEFAULT 0,
  input_tokens    bigint NOT NULL DEFAULT 0,
  output_tokens   bigint NOT NULL DEFAULT 0,
  processing_ms   bigint NOT NULL DEFAULT 0,
  CONSTRAINT batchpilot_usage_per_minute_key UNIQUE NULLS NOT DISTINCT (minute, team_id, user_id, model, shard)
);

COMMENT ON TABLE public.batchpilot_usage_per_minute IS
  'Files by outcome, API calls and tokens per minute, team and model; sums of changes to batch_upload_files.';

CREATE FUNCTION batchpilot_private.roll_up_file_usage() RETURNS trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  INSERT INTO public.batchpilot_usage_per_minute AS u
         (minute, team_id, user_id, model, shard, files_completed, files_failed, files_skipped,
          files_retried, api_calls, input_tokens, output_tokens, processing_ms)
  SELECT date_trunc('minute', clock_timestamp()),
         s.team_id,
         CASE WHEN s.team_id IS NULL THEN s.user_id END,
         coalesce(n.model, s.model),
         (pg_backend_pid() % 4)::smallint,
         count(*) FILTER (WHERE n.status = 'completed' AND o.status <> 'completed'),
         count(*) FILTER (WHERE n.status = 'failed' AND o.status <> 'failed'),
         count(*) FILTER (WHERE n.status = 'skipped' AND o.status <> 'skipped'),
         count(*) FILTER (WHERE n.status = 'pending' AND o.status = 'processing' AND n.error_type IS NOT NULL),
         coalesce(sum(n.api_calls_made - o.api_calls_made), 0),
         coalesce(sum(coalesce(n.input_tokens, 0) - coalesce(o.input_tokens, 0)), 0),
         coalesce(sum(coalesce(n.output_tokens, 0) - coalesce(o.output_tokens, 0)), 0),
         coalesce(sum(n.processing_duration_ms)
                    FILTER (WHERE n.status IN ('completed', 'failed') AND o.status <> n.status), 0)
    FROM new_files n
    JOIN old_files o USING (id)
    JOIN public.batch_upload_sessions s ON s.id = n.batch_session_id
   WHERE n.status IS DISTINCT FROM o.status
      OR n.api_calls_made IS DISTINCT FROM o.api_calls_made
      OR n.input_tokens IS DISTINCT FROM o.input_tokens
      OR n.output_tokens IS DISTINCT FROM o.output_tokens
   GROUP BY 1, 2, 3, 4, 5
   -- Rows are locked in key order, so two statements touching the same keys cannot deadlock.
   ORDER BY 1, 2, 3, 4, 5
  ON CONFLICT ON CONSTRAINT batchpilot_usage_per_minute_key DO UPDATE
     SET files_completed = u.files_completed + excluded.files_completed,
         files_failed    = u.files_failed + excluded.files_failed,
         files_skipped   = u.files_skipped + excluded.files_skipped,
         files_retried   = u.files_retried + excluded.files_retried,
         api_calls       = u.api_calls + excluded.api_calls,
         input_tokens    = u.input_tokens + excluded.input_tokens,
         output_tokens   = u.output_tokens + excluded.output_tokens,
         processing_ms   = u.processing_ms + excluded.processing_ms;
  RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION batchpilot_private.roll_up_file_usage() FROM PUBLIC;

-- Files change status and tokens by UPDATE only (inserts are pending or uploading, with no tokens).
CREATE TRIGGER batch_upload_files_roll_up_usage
  AFTER UPDATE ON public.batch_upload_files
  REFERENCING OLD TABLE AS old_files NEW TABLE AS new_files
  FOR EACH STATEMENT EXECUTE FUNCTION batchpilot_private.roll_up_file_usage();

-- ---------------------------------------------------------------------------------------------
-- The quota gate's adaptive factor over time. quota_limits (V2) keeps only the last cut and when it
-- happened; the factor then grows back by adaptive_increase per window. Each cut is recorded here,
-- so the quota dashboard can draw the factor at any past minute. Cuts are rare (once per blocked
-- period), and the trigger fires only when these columns are written, never on a grant.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE public.batchpilot_adaptive_factor_changes (
  provider          text NOT NULL,
  model             text NOT NULL,
  changed_at        timestamptz NOT NULL,
  adaptive_factor   double precision NOT NULL,
  adaptive_increase double precision NOT NULL,
  window_ms         integer NOT NULL,
  PRIMARY KEY (provider, model, changed_at)
);

COMMENT ON TABLE public.batchpilot_adaptive_factor_changes IS
  'Each value quota_limits.adaptive_factor was set to, with what it grows back by; pruned by maintenance.';

CREATE INDEX batchpilot_adaptive_factor_changes_time_idx
  ON public.batchpilot_adaptive_factor_changes (changed_at);

CREATE FUNCTION batchpilot_private.record_adaptive_factor() RETURNS trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  INSERT INTO public.batchpilot_adaptive_factor_changes
         (provider, model, changed_at, adaptive_factor, adaptive_increase, window_ms)
  VALUES (NEW.provider, NEW.model, NEW.adaptive_changed_at, NEW.adaptive_factor, NEW.adaptive_increase, NEW.window_ms)
  ON CONFLICT (provider, model, changed_at) DO UPDATE
     SET adaptive_factor = excluded.adaptive_factor,
         adaptive_increase = excluded.adaptive_increase,
         window_ms = excluded.window_ms;
  RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION batchpilot_private.record_adaptive_factor() FROM PUBLIC;

CREATE TRIGGER quota_limits_record_adaptive_factor
  AFTER INSERT OR UPDATE OF adaptive_factor, adaptive_changed_at, adaptive_increase, window_ms
  ON public.quota_limits
  FOR EACH ROW EXECUTE FUNCTION batchpilot_private.record_adaptive_factor();

INSERT INTO public.batchpilot_adaptive_factor_changes
       (provider, model, changed_at, adaptive_factor, adaptive_increase, window_ms)
SELECT provider, model, adaptive_changed_at, adaptive_factor, adaptive_increase, window_ms
  FROM public.quota_limits;

-- ---------------------------------------------------------------------------------------------
-- Prices, for the cost dashboard. Admins edit them (SQL editor, or the Data API with an admin JWT).
-- Standard (paid tier) list prices in USD per million tokens, from Google's pricing page
-- https://ai.google.dev/gemini-api/docs/pricing as transcribed on 2026-09-20 and March 2026
-- (gemini-2.5-pro: prompts up to 200k tokens; output prices include thinking tokens). Check them
-- against that page before trusting the spend panels: a new price is one UPDATE.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE public.batchpilot_model_prices (
  model                  text PRIMARY KEY
    CONSTRAINT batchpilot_model_prices_model_check CHECK (model ~ '^[a-z0-9][a-z0-9.-]*$'),
  input_usd_per_million  numeric(12, 6) NOT NULL
    CONSTRAINT batchpilot_model_prices_input_usd_per_million_check CHECK (input_usd_per_million >= 0),
  output_usd_per_million numeric(12, 6) NOT NULL
    CONSTRAINT batchpilot_model_prices_output_usd_per_million_check CHECK (output_usd_per_million >= 0),
  source                 text,
  updated_at             timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER batchpilot_model_prices_touch BEFORE UPDATE ON public.batchpilot_model_prices
  FOR EACH ROW EXECUTE FUNCTION batchpilot_private.touch_updated_at();

INSERT INTO public.batchpilot_model_prices (model, input_usd_per_million, output_usd_per_million, source) VALUES
  ('gemini-2.5-pro',        1.25, 10.00, 'https://ai.google.dev/gemini-api/docs/pricing (prompts <= 200k tokens)'),
  ('gemini-2.5-flash',      0.30,  2.50, 'https://ai.google.dev/gemini-api/docs/pricing (text/image/video input)'),
  ('gemini-2.5-flash-lite', 0.10,  0.40, 'https://ai.google.dev/gemini-api/docs/pricing'),
  ('gemini-2.0-flash',      0.10,  0.40, 'https://ai.google.dev/gemini-api/docs/pricing'),
  ('gemini-embedding-001',  0.15,  0.00, 'https://ai.google.dev/gemini-api/docs/pricing');

-- ---------------------------------------------------------------------------------------------
-- Privileges on the tables: the workers (service_role) write; admins manage prices.
-- ---------------------------------------------------------------------------------------------
ALTER TABLE public.batchpilot_worker_heartbeats ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.batchpilot_metric_snapshots ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.batchpilot_usage_per_minute ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.batchpilot_model_prices ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.batchpilot_adaptive_factor_changes ENABLE ROW LEVEL SECURITY;

REVOKE ALL ON public.batchpilot_worker_heartbeats, public.batchpilot_metric_snapshots,
  public.batchpilot_usage_per_minute, public.batchpilot_model_prices,
  public.batchpilot_adaptive_factor_changes FROM anon, authenticated;
GRANT ALL ON public.batchpilot_worker_heartbeats, public.batchpilot_metric_snapshots,
  public.batchpilot_usage_per_minute, public.batchpilot_model_prices,
  public.batchpilot_adaptive_factor_changes TO service_role;

CREATE POLICY batchpilot_model_prices_admin ON public.batchpilot_model_prices
  FOR ALL TO authenticated
  USING ((SELECT batchpilot_private.is_admin()))
  WITH CHECK ((SELECT batchpilot_private.is_admin()));
GRANT SELECT, INSERT, UPDATE, DELETE ON public.batchpilot_model_prices TO authenticated;

-- ---------------------------------------------------------------------------------------------
-- What Grafana reads: views in a schema the Data API does not expose. They run with the owner's
-- rights (the migration's user), so Grafana needs no grant on the tables and RLS stays as it is.
-- ---------------------------------------------------------------------------------------------
CREATE SCHEMA batchpilot_reporting;
REVOKE ALL ON SCHEMA batchpilot_reporting FROM PUBLIC;

CREATE VIEW batchpilot_reporting.worker_heartbeats AS
  SELECT worker_id, host, version, started_at, last_seen_at, in_flight, stopped_at
    FROM public.batchpilot_worker_heartbeats;

CREATE VIEW batchpilot_reporting.metric_snapshots AS
  SELECT taken_at, worker_id, name, tags, kind, count, delta, value, rate_1m, mean, p50, p95, p99, max
    FROM public.batchpilot_metric_snapshots;

CREATE VIEW batchpilot_reporting.usage_per_minute AS
  SELECT u.minute, u.team_id, u.user_id,
         coalesce(t.name, CASE WHEN u.team_id IS NULL THEN 'personal' ELSE u.team_id::text END) AS team,
         u.model, u.files_completed, u.files_failed, u.files_skipped, u.files_retried,
         u.api_calls, u.input_tokens, u.output_tokens, u.processing_ms
    FROM public.batchpilot_usage_per_minute u
    LEFT JOIN public.teams t ON t.id = u.team_id;

-- Sessions still running; their counters are kept true by V1's trigger.
CREATE VIEW batchpilot_reporting.active_sessions AS
  SELECT s.id, s.session_name,
         coalesce(t.name, CASE WHEN s.team_id IS NULL THEN 'personal' ELSE s.team_id::text END) AS team,
         s.model, s.processing_strategy, s.status, s.total_files,
         s.files_pending + s.files_uploading AS files_waiting, s.files_processing, s.files_completed,
         s.files_failed, s.files_skipped, s.rate_limit_hits, s.total_tokens_used,
         s.started_at, s.estimated_completion_at, s.error_message, s.last_error_at, s.created_at
    FROM public.batch_upload_sessions s
    LEFT JOIN public.teams t ON t.id = s.team_id
   WHERE s.status IN ('pending', 'processing', 'paused');

CREATE VIEW batchpilot_reporting.quota_usage_per_minute AS
  SELECT api_provider, model, quota_type, time_window, quota_used, quota_limit, is_rate_limited,
         rate_limit_reset_at
    FROM public.api_quota_tracking;

-- The factor in effect at an instant, from a recorded value: the same arithmetic as V2's
-- batchpilot_private.adaptive_factor_at (QuotaPanelsTest checks they agree), over plain values so
-- the history table can use it.
CREATE FUNCTION batchpilot_reporting.adaptive_factor(
  factor double precision, increase double precision, window_ms integer, changed_at timestamptz, at timestamptz)
  RETURNS double precision
  LANGUAGE sql IMMUTABLE
  SET search_path = ''
AS $$
  SELECT least(1.0, factor + increase * greatest(0, floor(extract(epoch FROM at - changed_at) * 1000 / window_ms)))
$$;

-- Each model's limits and the gate's state now.
CREATE VIEW batchpilot_reporting.quota_limits AS
  SELECT provider, model, requests_per_minute, input_tokens_per_minute, requests_per_day, max_in_flight,
         CASE WHEN day = (now() AT TIME ZONE 'America/Los_Angeles')::date THEN requests_today ELSE 0 END
           AS requests_today,
         batchpilot_reporting.adaptive_factor(adaptive_factor, adaptive_increase, window_ms, adaptive_changed_at, now())
           AS adaptive_factor,
         CASE WHEN blocked_until > now() THEN blocked_until END AS blocked_until,
         CASE WHEN blocked_until > now() THEN blocked_quota_id END AS blocked_quota_id,
         CASE WHEN parked_until > now() THEN parked_until END AS parked_until
    FROM public.quota_limits;

CREATE VIEW batchpilot_reporting.adaptive_factor_changes AS
  SELECT provider, model, changed_at, adaptive_factor, adaptive_increase, window_ms
    FROM public.batchpilot_adaptive_factor_changes;

CREATE VIEW batchpilot_reporting.model_prices AS
  SELECT model, input_usd_per_million, output_usd_per_million, updated_at
    FROM public.batchpilot_model_prices;

-- ---------------------------------------------------------------------------------------------
-- The Grafana role: cluster-wide, so created only if missing; NOLOGIN until an admin gives it a
-- password (README: Grafana). It may read the reporting views and nothing else.
-- ---------------------------------------------------------------------------------------------
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'batchpilot_grafana') THEN
    CREATE ROLE batchpilot_grafana NOLOGIN;
  END IF;
EXCEPTION WHEN duplicate_object THEN
  NULL; -- another database's migration created it at the same moment
END
$$;

REVOKE ALL ON FUNCTION batchpilot_reporting.adaptive_factor(double precision, double precision, integer,
  timestamptz, timestamptz) FROM PUBLIC;

GRANT USAGE ON SCHEMA batchpilot_reporting TO batchpilot_grafana;
GRANT SELECT ON batchpilot_reporting.worker_heartbeats, batchpilot_reporting.metric_snapshots,
  batchpilot_reporting.usage_per_minute, batchpilot_reporting.active_sessions,
  batchpilot_reporting.quota_usage_per_minute, batchpilot_reporting.quota_limits,
  batchpilot_reporting.adaptive_factor_changes, batchpilot_reporting.model_prices
  TO batchpilot_grafana;
GRANT EXECUTE ON FUNCTION batchpilot_reporting.adaptive_factor(double precision, double precision, integer,
  timestamptz, timestamptz) TO batchpilot_grafana;

-- ==== V5__embeddings.sql ====

-- batchpilot V5: every extracted receipt becomes searchable. When a file's extraction completes, its
-- embedding becomes due (embedding_status pending, set by a trigger in the same transaction, so a
-- crash loses nothing); workers claim due files in batches (FOR UPDATE SKIP LOCKED, with a lease),
-- embed up to 100 texts per batchEmbedContents call and store the vectors in receipt_embeddings.
-- The extraction is never undone by an embedding failure: only the embedding_* columns change.

-- ---------------------------------------------------------------------------------------------
-- The embedding's progress, on the file row, so frontends see it through the files' RLS and Realtime
-- ---------------------------------------------------------------------------------------------
ALTER TABLE public.batch_upload_files
  ADD COLUMN embedding_status           text
    CONSTRAINT batch_upload_files_embedding_status_check
      CHECK (embedding_status IN ('pending', 'processing', 'completed', 'failed')),
  ADD COLUMN embedding_attempts         integer NOT NULL DEFAULT 0
    CONSTRAINT batch_upload_files_embedding_attempts_check CHECK (embedding_attempts >= 0),
  ADD COLUMN embedding_next_attempt_at  timestamptz,
  ADD COLUMN embedding_claimed_by       text,
  ADD COLUMN embedding_lease_expires_at timestamptz,
  ADD COLUMN embedding_error_type       text
    CONSTRAINT batch_upload_files_embedding_error_type_check CHECK (embedding_error_type IN (
      'rate_limited', 'quota_exhausted', 'overloaded', 'server_error', 'timeout', 'invalid_request',
      'permission_denied', 'not_found', 'blocked_output', 'malformed_response', 'lease_expired',
      'invalid_result')),
  ADD COLUMN embedding_error            text,
  ADD COLUMN embedded_at                timestamptz;

COMMENT ON COLUMN public.batch_upload_files.embedding_status IS
  'NULL until the extraction completes; then pending, processing (a worker holds it), completed or failed. Never changes status or result.';
COMMENT ON COLUMN public.batch_upload_files.embedding_error IS
  'Why the last embedding attempt failed (kept while it is retried; cleared when it succeeds).';

-- The embedding claim: due embeddings oldest first, and embeddings whose worker stopped.
CREATE INDEX batch_upload_files_embedding_due_idx
  ON public.batch_upload_files (embedding_next_attempt_at) WHERE embedding_status = 'pending';
CREATE INDEX batch_upload_files_embedding_lease_idx
  ON public.batch_upload_files (embedding_lease_expires_at) WHERE embedding_status = 'processing';

-- A file whose extraction completes (or is replaced by a new one) needs an embedding.
CREATE FUNCTION batchpilot_private.queue_embedding() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
BEGIN
  NEW.embedding_status := 'pending';
  NEW.embedding_attempts := 0;
  NEW.embedding_next_attempt_at := clock_timestamp();
  NEW.embedding_claimed_by := NULL;
  NEW.embedding_lease_expires_at := NULL;
  NEW.embedding_error_type := NULL;
  NEW.embedding_error := NULL;
  RETURN NEW;
END
$$;

CREATE TRIGGER batch_upload_files_queue_embedding_inserted
  BEFORE INSERT ON public.batch_upload_files
  FOR EACH ROW WHEN (NEW.status = 'completed' AND NEW.result IS NOT NULL)
  EXECUTE FUNCTION batchpilot_private.queue_embedding();
CREATE TRIGGER batch_upload_files_queue_embedding_updated
  BEFORE UPDATE OF status, result ON public.batch_upload_files
  FOR EACH ROW WHEN (NEW.status = 'completed' AND NEW.result IS NOT NULL
                     AND (OLD.status IS DISTINCT FROM 'completed' OR OLD.result IS DISTINCT FROM NEW.result))
  EXECUTE FUNCTION batchpilot_private.queue_embedding();

-- ---------------------------------------------------------------------------------------------
-- The vectors, one per file, apart from the file row: Realtime streams whole file rows to every
-- subscriber, and a 768-float vector on each status change would multiply that traffic.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE public.receipt_embeddings (
  file_id          uuid PRIMARY KEY REFERENCES public.batch_upload_files (id) ON DELETE CASCADE,
  batch_session_id uuid NOT NULL REFERENCES public.batch_upload_sessions (id) ON DELETE CASCADE,
  model            text NOT NULL
    CONSTRAINT receipt_embeddings_model_check CHECK (model ~ '^[a-z0-9][a-z0-9.-]*$'),
  task_type        text NOT NULL,
  dimensions       integer NOT NULL
    CONSTRAINT receipt_embeddings_dimensions_check CHECK (dimensions > 0),
  -- The text that was embedded (io.batchpilot.embeddings.ReceiptText), shown beside a search hit.
  content          text NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE public.receipt_embeddings IS
  'One embedding per extracted file, for similarity search (public.match_receipts).';

CREATE INDEX receipt_embeddings_session_idx ON public.receipt_embeddings (batch_session_id);

ALTER TABLE public.receipt_embeddings ENABLE ROW LEVEL SECURITY;

-- Embeddings follow their session; only the workers (service_role) write them.
CREATE POLICY receipt_embeddings_select ON public.receipt_embeddings
  FOR SELECT TO authenticated
  USING (batch_session_id IN (SELECT batchpilot_private.my_session_ids()));

REVOKE ALL ON public.receipt_embeddings FROM anon, authenticated;
GRANT SELECT ON public.receipt_embeddings TO authenticated;
GRANT ALL ON public.receipt_embeddings TO service_role;

-- ---------------------------------------------------------------------------------------------
-- The vector column and the search function, decided now: pgvector's vector(N) where the
-- extension is installed (Supabase: `create extension vector with schema extensions` first), else
-- real[] (searchable, without an index). N is 768 unless the setting batchpilot.embedding_dimensions
-- says otherwise (ALTER DATABASE ... SET batchpilot.embedding_dimensions = '1536' before migrating);
-- workers refuse to start when their configured dimensionality differs from N.
-- Moving to pgvector later: create the extension, then
--   ALTER TABLE public.receipt_embeddings ALTER COLUMN embedding TYPE extensions.vector(768)
--     USING embedding::extensions.vector(768);
-- and re-run the vector branch below for the index and match_receipts (see README, "Search").
-- ---------------------------------------------------------------------------------------------
DO $migration$
DECLARE
  vector_schema text := (SELECT n.nspname FROM pg_catalog.pg_extension e
                           JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
                          WHERE e.extname = 'vector');
  dims integer := coalesce(nullif(current_setting('batchpilot.embedding_dimensions', true), '')::integer, 768);
BEGIN
  IF vector_schema IS NULL THEN
    ALTER TABLE public.receipt_embeddings ADD COLUMN embedding real[] NOT NULL;
    EXECUTE format('ALTER TABLE public.receipt_embeddings ADD CONSTRAINT receipt_embeddings_embedding_check'
                   ' CHECK (cardinality(embedding) = dimensions AND dimensions = %s)', dims);
    -- Cosine similarity computed row by row: correct, and fine for thousands of receipts.
    CREATE FUNCTION public.match_receipts(
        query_embedding real[], match_count integer DEFAULT 10, filter_session_id uuid DEFAULT NULL)
      RETURNS TABLE (file_id uuid, batch_session_id uuid, receipt_id uuid, content text, similarity double precision)
      LANGUAGE sql STABLE
      SET search_path = ''
    AS $fn$
      SELECT e.file_id, e.batch_session_id, f.receipt_id, e.content, s.similarity
        FROM public.receipt_embeddings e
        JOIN public.batch_upload_files f ON f.id = e.file_id
       CROSS JOIN LATERAL (
         SELECT sum(a * b) / nullif(sqrt(sum(a * a)) * sqrt(sum(b * b)), 0) AS similarity
           FROM unnest(e.embedding, query_embedding) AS v (a, b)) s
       WHERE filter_session_id IS NULL OR e.batch_session_id = filter_session_id
       ORDER BY s.similarity DESC NULLS LAST
       LIMIT match_count
    $fn$;
  ELSE
    -- Untested on the development machines (no pgvector there); kept to these three statements.
    EXECUTE format('ALTER TABLE public.receipt_embeddings ADD COLUMN embedding %I.vector(%s) NOT NULL',
                   vector_schema, dims);
    IF dims <= 2000 THEN  -- pgvector's HNSW index takes at most 2000 dimensions
      EXECUTE format('CREATE INDEX receipt_embeddings_embedding_idx ON public.receipt_embeddings'
                     ' USING hnsw (embedding %I.vector_cosine_ops)', vector_schema);
    END IF;
    EXECUTE format($fmt$
      CREATE FUNCTION public.match_receipts(
          query_embedding %1$I.vector, match_count integer DEFAULT 10, filter_session_id uuid DEFAULT NULL)
        RETURNS TABLE (file_id uuid, batch_session_id uuid, receipt_id uuid, content text, similarity double precision)
        LANGUAGE sql STABLE
        SET search_path = ''
      AS $fn$
        SELECT e.file_id, e.batch_session_id, f.receipt_id, e.content,
               1 - (e.embedding OPERATOR(%1$I.<=>) query_embedding) AS similarity
          FROM public.receipt_embeddings e
          JOIN public.batch_upload_files f ON f.id = e.file_id
         WHERE filter_session_id IS NULL OR e.batch_session_id = filter_session_id
         ORDER BY e.embedding OPERATOR(%1$I.<=>) query_embedding
         LIMIT match_count
      $fn$ $fmt$, vector_schema);
  END IF;
  -- Workers compare their configured dimensionality with this before they embed anything.
  EXECUTE format('CREATE FUNCTION batchpilot_private.embedding_dimensions() RETURNS integer'
                 ' LANGUAGE sql IMMUTABLE SET search_path = '''' AS %L', 'SELECT ' || dims);
END
$migration$;

-- SECURITY INVOKER (the default): a search sees only the rows the caller's RLS lets it see.
REVOKE ALL ON FUNCTION public.match_receipts FROM PUBLIC, anon;
GRANT EXECUTE ON FUNCTION public.match_receipts TO authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- Claim: up to max_files due embeddings for one worker, or none unless at least min_files are due
-- (a batcher waits for a full batch until its linger has passed). Embeddings whose lease ran out
-- (their worker stopped) are due again; each claim counts an attempt.
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION batchpilot_private.claim_embeddings(
    worker text, max_files integer, min_files integer, lease interval)
  RETURNS TABLE (file_id uuid, batch_session_id uuid, attempts integer, result jsonb)
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  claim_time timestamptz := clock_timestamp();
BEGIN
  RETURN QUERY
  WITH due AS MATERIALIZED (
    SELECT f.id
      FROM public.batch_upload_files f
     WHERE (f.embedding_status = 'pending' AND f.embedding_next_attempt_at <= claim_time)
        OR (f.embedding_status = 'processing' AND f.embedding_lease_expires_at <= claim_time)
     ORDER BY f.embedding_next_attempt_at
     LIMIT max_files
       FOR UPDATE OF f SKIP LOCKED
  ), enough AS (
    SELECT count(*) >= greatest(min_files, 1) AS go FROM due
  )
  UPDATE public.batch_upload_files f
     SET embedding_status = 'processing',
         embedding_claimed_by = worker,
         embedding_lease_expires_at = claim_time + lease,
         embedding_attempts = f.embedding_attempts + 1
    FROM due
   WHERE f.id = due.id AND (SELECT enough.go FROM enough)
  RETURNING f.id, f.batch_session_id, f.embedding_attempts, f.result;
END
$$;

-- Whether any embedding is due now: a batcher starts its linger when one is.
CREATE FUNCTION batchpilot_private.embeddings_due() RETURNS boolean
  LANGUAGE sql STABLE
  SET search_path = ''
AS $$
  SELECT EXISTS (SELECT 1 FROM public.batch_upload_files f
                  WHERE f.embedding_status = 'pending' AND f.embedding_next_attempt_at <= clock_timestamp())
      OR EXISTS (SELECT 1 FROM public.batch_upload_files f
                  WHERE f.embedding_status = 'processing' AND f.embedding_lease_expires_at <= clock_timestamp())
$$;

-- ---------------------------------------------------------------------------------------------
-- Record: a batch of outcomes in one transaction. An outcome applies only while its worker still
-- holds the embedding (claimed_by and attempts as at the claim, status processing).
--
-- outcomes: a JSON array of objects with
--   id, claimed_by, attempts       the claim being finished
--   status                         completed | pending (retry, or a quota wait) | failed
--   counts_attempt                 false for a quota wait: the claim's attempt is undone
--   retry_delay_ms                 for pending: embedding_next_attempt_at = now + this
--   error_type, error_message      for pending after a failure, and failed
--   model, task_type, content,
--   embedding                      for completed: the vector as a JSON array of numbers
-- Returns how many outcomes applied.
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION batchpilot_private.record_embeddings(outcomes jsonb) RETURNS integer
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  done_time timestamptz := clock_timestamp();
  applied_count integer;
BEGIN
  WITH o AS (
    SELECT * FROM jsonb_to_recordset(outcomes) AS o (
      id uuid, claimed_by text, attempts integer, status text, counts_attempt boolean,
      retry_delay_ms bigint, error_type text, error_message text,
      model text, task_type text, content text, embedding jsonb)
  ), applied AS (
    UPDATE public.batch_upload_files f
       SET embedding_status = o.status,
           embedding_attempts = CASE WHEN coalesce(o.counts_attempt, true) THEN f.embedding_attempts
                                     ELSE f.embedding_attempts - 1 END,
           embedding_next_attempt_at = CASE
             WHEN o.status = 'pending'
               THEN done_time + make_interval(secs => coalesce(o.retry_delay_ms, 0) / 1000.0)
             ELSE f.embedding_next_attempt_at END,
           embedding_claimed_by = NULL,
           embedding_lease_expires_at = NULL,
           embedding_error_type = CASE WHEN o.status = 'completed' THEN NULL
                                       ELSE coalesce(o.error_type, f.embedding_error_type) END,
           embedding_error = CASE WHEN o.status = 'completed' THEN NULL
                                  ELSE coalesce(o.error_message, f.embedding_error) END,
           embedded_at = CASE WHEN o.status = 'completed' THEN done_time ELSE f.embedded_at END
      FROM o
     WHERE f.id = o.id
       AND f.embedding_status = 'processing'
       AND f.embedding_claimed_by = o.claimed_by
       AND f.embedding_attempts = o.attempts
    RETURNING f.id, f.batch_session_id
  ), stored AS (
    -- A JSON array's text is a real[] literal once its brackets become braces; real[] is assigned
    -- to a pgvector column by pgvector's own cast.
    INSERT INTO public.receipt_embeddings AS e
      (file_id, batch_session_id, model, task_type, dimensions, content, embedding, created_at)
    SELECT o.id, a.batch_session_id, o.model, o.task_type, jsonb_array_length(o.embedding), o.content,
           translate(o.embedding::text, '[]', '{}')::real[], done_time
      FROM o JOIN applied a ON a.id = o.id
     WHERE o.status = 'completed'
    ON CONFLICT (file_id) DO UPDATE
      SET batch_session_id = excluded.batch_session_id, model = excluded.model,
          task_type = excluded.task_type, dimensions = excluded.dimensions, content = excluded.content,
          embedding = excluded.embedding, created_at = excluded.created_at
    RETURNING e.file_id
  )
  SELECT count(*) INTO applied_count FROM applied;
  RETURN applied_count;
END
$$;

REVOKE ALL ON FUNCTION batchpilot_private.queue_embedding(),
  batchpilot_private.claim_embeddings(text, integer, integer, interval),
  batchpilot_private.embeddings_due(),
  batchpilot_private.record_embeddings(jsonb),
  batchpilot_private.embedding_dimensions() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION batchpilot_private.claim_embeddings(text, integer, integer, interval),
  batchpilot_private.embeddings_due(),
  batchpilot_private.record_embeddings(jsonb),
  batchpilot_private.embedding_dimensions() TO service_role;

-- ==== V6__maintenance.sql ====

-- batchpilot: maintenance. One worker of the fleet, the leader, rescues expired leases, finishes
-- sessions and prunes old rows. The leader is named by a row that expires, not by an advisory lock:
-- a session-level advisory lock needs one connection held open by the leader for its whole term,
-- and through a transaction-mode pooler (Supavisor on 6543, PgBouncer) the lock stays with a server
-- connection that other clients then share, or is freed when the pooler reassigns it. A row with an
-- expiry works through any pooler and any connection of a pool, reads only the database's clock,
-- and a dead leader is replaced as soon as its term runs out (seconds).

CREATE TABLE public.batchpilot_leader (
  -- One row per leadership; maintenance is the only one so far.
  name       text PRIMARY KEY
    CONSTRAINT batchpilot_leader_name_check CHECK (name ~ '^[a-z][a-z_]*$'),
  leader_id  text NOT NULL
    CONSTRAINT batchpilot_leader_leader_id_check CHECK (length(leader_id) BETWEEN 1 AND 200),
  elected_at timestamptz NOT NULL,
  -- The leader renews this well before it passes; once passed, any worker may take over.
  expires_at timestamptz NOT NULL,
  CONSTRAINT batchpilot_leader_term_check CHECK (expires_at > elected_at)
);

COMMENT ON TABLE public.batchpilot_leader IS
  'The worker that runs maintenance, until expires_at (database clock); renewed while it lives.';

-- Workers only: no policy, so the API roles see nothing even if a grant slipped in.
ALTER TABLE public.batchpilot_leader ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON public.batchpilot_leader FROM anon, authenticated;
GRANT ALL ON public.batchpilot_leader TO service_role;

-- ==== V7__quota_gate_hot_path.sql ====

-- batchpilot: the quota gate's hot path, rebuilt for throughput (issue 4). V2's grant summed ~62
-- bucket rows, upserted a bucket row and counted permits in flight on every call. Now the limits
-- row carries the lookback as a ring of per-bucket counts with running totals, and in-flight is a
-- counter (grants on the limits row minus releases on their own row, so a release never waits for
-- the gate's lock). The public functions and the guarantee are unchanged; see acquire below.

-- ---------------------------------------------------------------------------------------------
-- State kept on the limits row
-- ---------------------------------------------------------------------------------------------
ALTER TABLE public.quota_limits
  -- The lookback's buckets as a ring: slot (bucket index mod size) + 1 counts bucket index
  -- (epoch ms / ring_width_ms) for the ring_size newest indexes up to ring_bucket. NULL: empty.
  ADD COLUMN ring_bucket         bigint,
  ADD COLUMN ring_width_ms       integer,
  ADD COLUMN ring_requests       integer[],
  ADD COLUMN ring_input_tokens   bigint[],
  -- When the ring was last laid out: reconcile corrects only grants counted in this layout.
  ADD COLUMN ring_since          timestamptz,
  -- The sums of the ring's slots.
  ADD COLUMN window_requests     bigint NOT NULL DEFAULT 0,
  ADD COLUMN window_input_tokens bigint NOT NULL DEFAULT 0,
  -- Permits granted and not yet forgotten or lapsed; minus quota_permit_releases, the ones in flight.
  ADD COLUMN permits_granted     bigint NOT NULL DEFAULT 0;

-- Releases, per (provider, model): apart from the limits row, so releases and grants do not queue
-- for the same row lock.
CREATE TABLE public.quota_permit_releases (
  provider          text NOT NULL,
  model             text NOT NULL,
  permits_released  bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (provider, model),
  FOREIGN KEY (provider, model) REFERENCES public.quota_limits ON DELETE CASCADE
);

COMMENT ON TABLE public.quota_permit_releases IS
  'How many quota permits were released per (provider, model); quota_limits.permits_granted minus this is in flight.';

-- Carry over what V2 counted: every kept bucket into the newest slot (later than it was granted,
-- so never less safe), and every unreleased permit as granted.
UPDATE public.quota_limits q
   SET ring_bucket = (floor(extract(epoch FROM b.newest) * 1000)::bigint) / (q.window_ms / q.buckets_per_window),
       ring_width_ms = q.window_ms / q.buckets_per_window,
       ring_since = b.newest,
       ring_requests = array_fill(0, ARRAY[1]),
       ring_input_tokens = array_fill(0::bigint, ARRAY[1]),
       window_requests = b.requests,
       window_input_tokens = b.input_tokens
  FROM (SELECT provider, model, max(bucket_start) AS newest, sum(requests) AS requests,
               sum(input_tokens) AS input_tokens
          FROM public.quota_buckets GROUP BY provider, model) b
 WHERE b.provider = q.provider AND b.model = q.model;
UPDATE public.quota_limits q
   SET permits_granted = (SELECT count(*) FROM public.quota_permits p
                           WHERE p.provider = q.provider AND p.model = q.model AND p.released_at IS NULL);

-- Grants no longer touch updated_at: it says when an admin (or a 429 report) last changed the row,
-- and a trigger call per grant was a measurable share of its cost.
DROP TRIGGER quota_limits_touch ON public.quota_limits;
CREATE TRIGGER quota_limits_touch BEFORE UPDATE OF
    requests_per_minute, input_tokens_per_minute, requests_per_day, max_in_flight, window_ms,
    buckets_per_window, safety_margin_ms, permit_lease_ms, adaptive_factor, adaptive_changed_at,
    adaptive_min, adaptive_decrease, adaptive_increase, blocked_until, blocked_quota_id, parked_until
  ON public.quota_limits
  FOR EACH ROW EXECUTE FUNCTION batchpilot_private.touch_updated_at();

-- The ledger's upsert sets updated_at itself; the trigger (a plpgsql call per row, two per grant)
-- now runs only for writers that leave it unchanged.
DROP TRIGGER api_quota_tracking_touch ON public.api_quota_tracking;
CREATE TRIGGER api_quota_tracking_touch BEFORE UPDATE ON public.api_quota_tracking
  FOR EACH ROW WHEN (OLD.updated_at IS NOT DISTINCT FROM NEW.updated_at)
  EXECUTE FUNCTION batchpilot_private.touch_updated_at();

-- Inlined by the planner once it carries no SET clause (it reads only its arguments and
-- pg_catalog, so the caller's search_path cannot change it).
ALTER FUNCTION batchpilot_private.adaptive_factor_at(public.quota_limits, timestamptz) RESET search_path;

DROP TABLE public.quota_buckets;
DROP FUNCTION batchpilot_private.strategy_fraction(public.quota_limits, text, timestamptz);
DROP FUNCTION batchpilot_private.epoch_ms(timestamptz);
DROP FUNCTION batchpilot_private.from_epoch_ms(bigint);

-- ---------------------------------------------------------------------------------------------
-- Acquire. The guarantee: let w = window_ms / buckets_per_window and n = ceil((window_ms +
-- safety_margin_ms) / w). A request granted at t (bucket b = floor(t / w)) is admitted only if the
-- buckets b-n .. b plus its own cost stay within the limit; the ring holds exactly those n + 1
-- buckets once moved to b (the slots of buckets older than b-n are emptied and leave the totals),
-- and window_requests / window_input_tokens are their sums. Take any window of length window_ms at
-- the server, and in it the request r granted last (grant order = lock order = time order, since
-- `now` is read after the row lock). Every other request in that window arrived at most
-- window_ms + spread before r did, so (spread <= safety margin) it was granted within
-- window_ms + margin before r, hence in buckets b_r-n .. b_r, and before r: r's check counted it.
-- So the window holds at most the limit. Tokens likewise, as long as estimates are not below the
-- real counts (reconcile corrects the ring for later grants). When an admin changes the window's
-- layout, the totals move to the newest slot: counted later than granted, so never less safe.
--
-- p_now exists for the property tests only (they step a clock); the public function passes NULL,
-- which means clock_timestamp() read after the lock.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.acquire_quota(
  p_provider text, p_model text, p_input_tokens bigint, p_strategy text, p_now timestamptz)
  RETURNS TABLE (granted boolean, permit_id uuid, wait_ms bigint, reason text, granted_at timestamptz)
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  q               public.quota_limits;
  now_at          timestamptz;
  now_ms          numeric;
  bucket_ms       integer;
  lookback        integer;
  ring_size       integer;
  cur_index       bigint;
  cur             timestamptz;
  k               bigint;
  slot            integer;
  ring_r          integer[];
  ring_t          bigint[];
  total_r         bigint;
  total_t         bigint;
  fraction        double precision;
  request_limit   bigint;
  token_limit     bigint;
  in_flight_limit integer;
  in_flight       bigint;
  lapsed          bigint;
  need_r          bigint;
  need_t          bigint;
  new_permit      uuid;
  today           date;
BEGIN
  IF p_input_tokens IS NULL OR p_input_tokens < 0 THEN
    RAISE EXCEPTION 'batchpilot_acquire_quota: estimated input tokens must be 0 or more, got %', p_input_tokens
      USING ERRCODE = '22023';
  END IF;
  IF p_strategy IS NULL OR p_strategy NOT IN ('conservative', 'balanced', 'aggressive', 'adaptive') THEN
    RAISE EXCEPTION 'batchpilot_acquire_quota: unknown strategy %: use conservative, balanced, aggressive or adaptive',
      p_strategy USING ERRCODE = '22023';
  END IF;

  SELECT * INTO q FROM public.quota_limits l
   WHERE l.provider = p_provider AND l.model = p_model FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'batchpilot_acquire_quota: no quota_limits row for provider % model %: insert one into '
      'public.quota_limits with the project''s limits for this model', p_provider, p_model
      USING ERRCODE = 'P0002';
  END IF;
  IF p_input_tokens > q.input_tokens_per_minute THEN
    RAISE EXCEPTION 'batchpilot_acquire_quota: % input tokens exceed the % per window allowed for % %: shrink '
      'the request (fewer pages, smaller images) or raise quota_limits.input_tokens_per_minute',
      p_input_tokens, q.input_tokens_per_minute, p_provider, p_model
      USING ERRCODE = '22023';
  END IF;

  -- The row lock is held until commit: waiting for a WAL flush there would serialise the fleet on
  -- fsync and widen the gap between grant and send. A crash can lose the last ~200 ms of grants
  -- (wal_writer_delay); recovery takes longer than that, so nothing is admitted twice in practice.
  PERFORM set_config('synchronous_commit', 'off', true);

  -- Read after the lock, and never behind the last grant, so grant order is time order.
  now_at := greatest(coalesce(p_now, clock_timestamp()), q.last_grant_at);

  IF q.blocked_until > now_at THEN
    RETURN QUERY SELECT false, NULL::uuid, ceil(extract(epoch FROM q.blocked_until - now_at) * 1000)::bigint, 'rate_limited', NULL::timestamptz;
    RETURN;
  END IF;
  IF q.parked_until > now_at THEN
    RETURN QUERY SELECT false, NULL::uuid, ceil(extract(epoch FROM q.parked_until - now_at) * 1000)::bigint, 'daily_quota_exhausted', NULL::timestamptz;
    RETURN;
  END IF;
  today := (now_at AT TIME ZONE 'America/Los_Angeles')::date;
  IF q.day IS DISTINCT FROM today THEN
    q.requests_today := 0;
  END IF;
  IF q.requests_per_day IS NOT NULL AND q.requests_today >= q.requests_per_day THEN
    UPDATE public.quota_limits l SET parked_until = batchpilot_private.next_pacific_midnight(now_at)
     WHERE l.provider = p_provider AND l.model = p_model;
    RETURN QUERY SELECT false, NULL::uuid,
      ceil(extract(epoch FROM batchpilot_private.next_pacific_midnight(now_at) - now_at) * 1000)::bigint,
      'daily_quota_exhausted', NULL::timestamptz;
    RETURN;
  END IF;

  -- Conservative leaves half of the project's quota to other apps; balanced a quarter; aggressive
  -- uses all of it, which is safe because the gate is exact; adaptive follows the fleet's factor.
  fraction := CASE p_strategy
    WHEN 'conservative' THEN 0.5
    WHEN 'balanced' THEN 0.75
    WHEN 'aggressive' THEN 1.0
    ELSE batchpilot_private.adaptive_factor_at(q, now_at)
  END;
  request_limit := greatest(1, floor(q.requests_per_minute * fraction));
  -- A request that fits the real limit but not the reduced one may still go, alone.
  token_limit := greatest(p_input_tokens, floor(q.input_tokens_per_minute * fraction));
  in_flight_limit := greatest(1, floor(q.max_in_flight * fraction));

  bucket_ms := q.window_ms / q.buckets_per_window;
  lookback := ceil((q.window_ms + q.safety_margin_ms)::numeric / bucket_ms);
  ring_size := lookback + 1;
  now_ms := extract(epoch FROM now_at) * 1000;
  cur_index := floor(now_ms)::bigint / bucket_ms;

  -- Move the ring to the current bucket: the buckets that leave the lookback stop counting.
  ring_r := q.ring_requests;
  ring_t := q.ring_input_tokens;
  total_r := q.window_requests;
  total_t := q.window_input_tokens;
  IF q.ring_bucket IS NULL OR q.ring_width_ms IS DISTINCT FROM bucket_ms
     OR cardinality(ring_r) IS DISTINCT FROM ring_size OR cur_index < q.ring_bucket THEN
    ring_r := array_fill(0, ARRAY[ring_size]);
    ring_t := array_fill(0::bigint, ARRAY[ring_size]);
    ring_r[cur_index % ring_size + 1] := total_r;
    ring_t[cur_index % ring_size + 1] := total_t;
    q.ring_since := now_at;
    -- Kept even if this call is refused: laid out anew on every call, the totals would never age.
    UPDATE public.quota_limits l
       SET ring_bucket = cur_index, ring_width_ms = bucket_ms, ring_since = now_at,
           ring_requests = ring_r, ring_input_tokens = ring_t
     WHERE l.provider = p_provider AND l.model = p_model;
  ELSIF cur_index - q.ring_bucket >= ring_size THEN
    ring_r := array_fill(0, ARRAY[ring_size]);
    ring_t := array_fill(0::bigint, ARRAY[ring_size]);
    total_r := 0;
    total_t := 0;
  ELSE
    -- Not FOR k IN ..: its variable is an integer, and bucket indexes are not.
    k := q.ring_bucket + 1;
    WHILE k <= cur_index LOOP
      slot := k % ring_size + 1;
      total_r := total_r - ring_r[slot];
      total_t := total_t - ring_t[slot];
      ring_r[slot] := 0;
      ring_t[slot] := 0;
      k := k + 1;
    END LOOP;
  END IF;

  IF total_r + 1 > request_limit OR total_t + p_input_tokens > token_limit THEN
    -- Room comes back when enough of the oldest buckets leave the lookback: the first bucket at
    -- which the running totals cover the excess leaves it lookback + 1 buckets after it started.
    need_r := total_r + 1 - request_limit;
    need_t := total_t + p_input_tokens - token_limit;
    k := cur_index - lookback;
    LOOP
      slot := k % ring_size + 1;
      need_r := need_r - ring_r[slot];
      need_t := need_t - ring_t[slot];
      EXIT WHEN (need_r <= 0 AND need_t <= 0) OR k >= cur_index;
      k := k + 1;
    END LOOP;
    RETURN QUERY SELECT false, NULL::uuid,
      greatest(1, ceil((k + lookback + 1) * bucket_ms - now_ms))::bigint,
      CASE WHEN total_r + 1 > request_limit THEN 'requests' ELSE 'input_tokens' END, NULL::timestamptz;
    RETURN;
  END IF;

  -- Releases may lag (uncommitted, or read a moment ago): in flight is then over-, never under-counted.
  SELECT q.permits_granted - coalesce(max(r.permits_released), 0) INTO in_flight
    FROM public.quota_permit_releases r WHERE r.provider = p_provider AND r.model = p_model;
  IF in_flight >= in_flight_limit THEN
    -- Permits whose lease has passed (their worker died) stop counting: mark them released, which
    -- also turns a late release of one into a no-op, and take them off the count.
    WITH lapse AS (
      UPDATE public.quota_permits p SET released_at = p.expires_at
       WHERE p.provider = p_provider AND p.model = p_model AND p.released_at IS NULL AND p.expires_at <= now_at
      RETURNING 1)
    SELECT count(*) INTO lapsed FROM lapse;
    IF lapsed > 0 THEN
      q.permits_granted := q.permits_granted - lapsed;
      in_flight := in_flight - lapsed;
      UPDATE public.quota_limits l SET permits_granted = q.permits_granted
       WHERE l.provider = p_provider AND l.model = p_model;
    END IF;
    IF in_flight >= in_flight_limit THEN
      -- A release can come at any moment; ask again after one bucket (at most 100 ms).
      RETURN QUERY SELECT false, NULL::uuid, least(100, bucket_ms)::bigint, 'in_flight', NULL::timestamptz;
      RETURN;
    END IF;
  END IF;

  slot := cur_index % ring_size + 1;
  ring_r[slot] := ring_r[slot] + 1;
  ring_t[slot] := ring_t[slot] + p_input_tokens;
  cur := to_timestamp(cur_index * bucket_ms / 1000.0);

  INSERT INTO public.quota_permits (provider, model, bucket_start, input_tokens, granted_at, expires_at)
  VALUES (p_provider, p_model, cur, p_input_tokens, now_at,
          now_at + make_interval(secs => q.permit_lease_ms / 1000.0))
  RETURNING id INTO new_permit;

  -- The ledger: per calendar minute, what was granted against the configured limit.
  INSERT INTO public.api_quota_tracking AS t (api_provider, model, quota_type, time_window, quota_used, quota_limit)
  VALUES (p_provider, p_model, 'requests', date_trunc('minute', now_at), 1, q.requests_per_minute),
         (p_provider, p_model, 'input_tokens', date_trunc('minute', now_at), p_input_tokens, q.input_tokens_per_minute)
  ON CONFLICT (api_provider, model, quota_type, time_window) DO UPDATE
    SET quota_used = t.quota_used + excluded.quota_used, quota_limit = excluded.quota_limit, updated_at = now();

  -- Once per bucket: forget finished permits older than the lookback. A lapsed one (lease passed,
  -- never released) still counted as granted, so it leaves the count too.
  IF q.current_bucket IS DISTINCT FROM cur THEN
    WITH gone AS (
      DELETE FROM public.quota_permits p
       WHERE p.provider = p_provider AND p.model = p_model
         AND p.granted_at < to_timestamp((cur_index - lookback) * bucket_ms / 1000.0)
         AND (p.released_at IS NOT NULL OR p.expires_at <= now_at)
      RETURNING p.released_at IS NULL AS was_counted)
    SELECT count(*) FILTER (WHERE was_counted) INTO lapsed FROM gone;
    q.permits_granted := q.permits_granted - lapsed;
  END IF;

  UPDATE public.quota_limits l
     SET day = today, requests_today = q.requests_today + 1, current_bucket = cur, last_grant_at = now_at,
         ring_bucket = cur_index, ring_width_ms = bucket_ms, ring_since = q.ring_since,
         ring_requests = ring_r, ring_input_tokens = ring_t,
         window_requests = total_r + 1, window_input_tokens = total_t + p_input_tokens,
         permits_granted = q.permits_granted + 1
   WHERE l.provider = p_provider AND l.model = p_model;

  RETURN QUERY SELECT true, new_permit, 0::bigint, NULL::text, now_at;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Reconcile, release, and both in one round trip
-- ---------------------------------------------------------------------------------------------

-- Replaces a grant's estimate with the real prompt token count, in the ring (while its bucket is
-- still in the lookback) and the ledger minute where it was counted. Returns false when the permit
-- is unknown (already forgotten). Locks the limits row before the permit, in acquire's order.
CREATE OR REPLACE FUNCTION public.batchpilot_reconcile_quota(permit_id uuid, actual_input_tokens bigint)
  RETURNS boolean
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
DECLARE
  p     public.quota_permits;
  q     public.quota_limits;
  delta bigint;
  k     bigint;
  slot  integer;
  fixed bigint;
BEGIN
  IF actual_input_tokens IS NULL OR actual_input_tokens < 0 THEN
    RAISE EXCEPTION 'batchpilot_reconcile_quota: actual input tokens must be 0 or more, got %', actual_input_tokens
      USING ERRCODE = '22023';
  END IF;
  SELECT * INTO p FROM public.quota_permits x WHERE x.id = batchpilot_reconcile_quota.permit_id;
  IF NOT FOUND OR p.input_tokens = actual_input_tokens THEN
    RETURN FOUND;
  END IF;
  -- As in acquire: a lost adjustment costs a little accuracy, a flush wait costs every worker.
  PERFORM set_config('synchronous_commit', 'off', true);
  SELECT * INTO q FROM public.quota_limits l WHERE l.provider = p.provider AND l.model = p.model FOR UPDATE;
  SELECT * INTO p FROM public.quota_permits x WHERE x.id = batchpilot_reconcile_quota.permit_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  delta := actual_input_tokens - p.input_tokens;
  UPDATE public.quota_permits x SET input_tokens = actual_input_tokens WHERE x.id = p.id;
  k := floor(extract(epoch FROM p.bucket_start) * 1000)::bigint / q.ring_width_ms;
  IF p.granted_at >= q.ring_since AND k <= q.ring_bucket AND k > q.ring_bucket - cardinality(q.ring_input_tokens) THEN
    slot := k % cardinality(q.ring_input_tokens) + 1;
    fixed := greatest(0, q.ring_input_tokens[slot] + delta);
    UPDATE public.quota_limits l
       SET ring_input_tokens[slot] = fixed,
           window_input_tokens = l.window_input_tokens + fixed - q.ring_input_tokens[slot]
     WHERE l.provider = q.provider AND l.model = q.model;
  END IF;
  UPDATE public.api_quota_tracking t SET quota_used = greatest(0, t.quota_used + delta), updated_at = now()
   WHERE t.api_provider = p.provider AND t.model = p.model AND t.quota_type = 'input_tokens'
     AND t.time_window = date_trunc('minute', p.granted_at);
  RETURN true;
END
$$;

-- Ends a permit's time in flight. Returns false when it had already ended (released, or its lease
-- lapsed). Counts on its own row, so it never waits behind grants. plpgsql rather than sql: a SQL
-- function's statements are planned anew on every call, a quarter of a release's CPU (measured).
CREATE OR REPLACE FUNCTION public.batchpilot_release_quota(permit_id uuid)
  RETURNS boolean
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
DECLARE
  p_provider text;
  p_model    text;
BEGIN
  -- A release lost in a crash is made good by the permit's lease; no flush wait for it.
  PERFORM set_config('synchronous_commit', 'off', true);
  UPDATE public.quota_permits p SET released_at = clock_timestamp()
   WHERE p.id = batchpilot_release_quota.permit_id AND p.released_at IS NULL
  RETURNING p.provider, p.model INTO p_provider, p_model;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  INSERT INTO public.quota_permit_releases AS r (provider, model, permits_released)
  VALUES (p_provider, p_model, 1)
  ON CONFLICT (provider, model) DO UPDATE SET permits_released = r.permits_released + 1;
  RETURN true;
END
$$;

-- After the call: reconcile with the real prompt token count and release, in one round trip.
-- Returns false when the permit had already ended.
CREATE FUNCTION public.batchpilot_finish_quota(permit_id uuid, actual_input_tokens bigint)
  RETURNS boolean
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  PERFORM public.batchpilot_reconcile_quota(permit_id, actual_input_tokens);
  RETURN public.batchpilot_release_quota(permit_id);
END
$$;

COMMENT ON FUNCTION public.batchpilot_finish_quota(uuid, bigint) IS
  'batchpilot_reconcile_quota then batchpilot_release_quota, in one call: what a worker does after each request.';

-- What the gate knows about one (provider, model) right now. The window counts the ring's buckets
-- that started within the last window_ms.
CREATE OR REPLACE FUNCTION public.batchpilot_quota_status(provider text, model text)
  RETURNS TABLE (adaptive_factor double precision, blocked_until timestamptz, parked_until timestamptz,
                 requests_in_window bigint, input_tokens_in_window bigint, in_flight bigint)
  LANGUAGE sql
  SECURITY DEFINER
  SET search_path = ''
AS $$
  SELECT batchpilot_private.adaptive_factor_at(q, clock_timestamp()),
         CASE WHEN q.blocked_until > clock_timestamp() THEN q.blocked_until END,
         CASE WHEN q.parked_until > clock_timestamp() THEN q.parked_until END,
         coalesce(w.requests, 0),
         coalesce(w.input_tokens, 0),
         (SELECT count(*) FROM public.quota_permits p
           WHERE p.provider = q.provider AND p.model = q.model
             AND p.released_at IS NULL AND p.expires_at > clock_timestamp())
    FROM public.quota_limits q
    LEFT JOIN LATERAL (
      SELECT sum(s.requests)::bigint AS requests, sum(s.input_tokens)::bigint AS input_tokens
        FROM unnest(q.ring_requests, q.ring_input_tokens) WITH ORDINALITY AS s(requests, input_tokens, slot)
       -- The bucket index a slot holds: the newest index up to ring_bucket that maps to it.
       WHERE (q.ring_bucket - mod(mod(q.ring_bucket - (s.slot - 1), cardinality(q.ring_requests))
                                  + cardinality(q.ring_requests), cardinality(q.ring_requests)))
             * q.ring_width_ms > extract(epoch FROM clock_timestamp()) * 1000 - q.window_ms) w ON true
   WHERE q.provider = batchpilot_quota_status.provider AND q.model = batchpilot_quota_status.model
$$;

-- ---------------------------------------------------------------------------------------------
-- Privileges, as V2's
-- ---------------------------------------------------------------------------------------------
REVOKE ALL ON FUNCTION public.batchpilot_finish_quota(uuid, bigint) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.batchpilot_finish_quota(uuid, bigint) TO service_role;

ALTER TABLE public.quota_permit_releases ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON public.quota_permit_releases FROM anon, authenticated;
GRANT ALL ON public.quota_permit_releases TO service_role;

-- ==== V8__hardening.sql ====

-- batchpilot V8: hardening.

-- ---------------------------------------------------------------------------------------------
-- Every foreign key has an index leading with its columns: without one, each deleted parent row
-- scans the child table (deleting a 20,000-file session ran for over 11 minutes on duplicate_of).
-- ForeignKeyIndexTest fails when a later migration adds a foreign key without one.
-- ---------------------------------------------------------------------------------------------
-- Most files are no duplicate: the partial index stays small, and the foreign key's lookup
-- (duplicate_of = $1) implies IS NOT NULL, so it is used.
CREATE INDEX batch_upload_files_duplicate_of_idx
  ON public.batch_upload_files (duplicate_of) WHERE duplicate_of IS NOT NULL;

-- ---------------------------------------------------------------------------------------------
-- What a frontend may do to a session's status. The column grant lets a signed-in user write
-- status so that it can pause, resume and cancel; without this check it could also mark its own
-- session completed, failed or processing. Only the API roles are checked: the workers, the
-- service key and the SECURITY DEFINER triggers run as other roles (current_user, not the JWT).
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION batchpilot_private.check_session_status_change() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
BEGIN
  IF current_user NOT IN ('authenticated', 'anon') THEN
    RETURN NEW;
  END IF;
  IF TG_OP = 'INSERT' THEN
    IF NEW.status <> 'pending' THEN
      RAISE EXCEPTION 'a new batch session starts as pending, not %: insert it without a status; a worker starts it at its first claim',
        NEW.status USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
  END IF;
  IF NEW.status = OLD.status
     OR (OLD.status IN ('pending', 'processing') AND NEW.status = 'paused')
     OR (OLD.status = 'paused' AND NEW.status = 'processing')
     OR (OLD.status IN ('pending', 'processing', 'paused') AND NEW.status = 'cancelled') THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'batch session %: a signed-in user may not change its status from % to %; a frontend may pause'
    ' (pending or processing to paused), resume (paused to processing) or cancel (pending, processing or paused'
    ' to cancelled), and the workers start, complete and fail sessions', OLD.id, OLD.status, NEW.status
    USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER batch_upload_sessions_check_status
  BEFORE INSERT OR UPDATE OF status ON public.batch_upload_sessions
  FOR EACH ROW EXECUTE FUNCTION batchpilot_private.check_session_status_change();

-- ---------------------------------------------------------------------------------------------
-- A cancel ends the session whoever sends it (a frontend's update, `batchpilot cancel`): the files
-- not yet started are skipped at once, so the counters and a frontend's progress bar say so, and
-- completed_at marks the end. Files in flight finish. The skip runs AFTER the update: the file
-- counters' trigger writes this same session row.
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION batchpilot_private.stamp_cancelled_session() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
BEGIN
  NEW.completed_at := coalesce(NEW.completed_at, clock_timestamp());
  RETURN NEW;
END
$$;

CREATE TRIGGER batch_upload_sessions_stamp_cancelled
  BEFORE UPDATE OF status ON public.batch_upload_sessions
  FOR EACH ROW WHEN (NEW.status = 'cancelled' AND OLD.status IS DISTINCT FROM 'cancelled')
  EXECUTE FUNCTION batchpilot_private.stamp_cancelled_session();

-- SECURITY DEFINER: a frontend may not write a file's error_message, but its cancel skips the files.
CREATE FUNCTION batchpilot_private.skip_files_of_cancelled_session() RETURNS trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  UPDATE public.batch_upload_files f
     SET status = 'skipped', error_message = 'the session was cancelled before this file was processed'
   WHERE f.batch_session_id = NEW.id AND f.status IN ('uploading', 'pending');
  RETURN NULL;
END
$$;

CREATE TRIGGER batch_upload_sessions_skip_cancelled_files
  AFTER UPDATE OF status ON public.batch_upload_sessions
  FOR EACH ROW WHEN (NEW.status = 'cancelled' AND OLD.status IS DISTINCT FROM 'cancelled')
  EXECUTE FUNCTION batchpilot_private.skip_files_of_cancelled_session();

-- ---------------------------------------------------------------------------------------------
-- Which Storage objects a frontend may name. Workers read storage_path with the service-role key,
-- which bypasses Storage's own policies, so a row could otherwise point them at another user's
-- object and return its extraction to the row's owner. Supabase's convention, and the README's
-- upload policy: each user's objects are under "<auth.uid()>/".
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION batchpilot_private.check_storage_path() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  own_folder text := (SELECT auth.uid())::text;
BEGIN
  IF current_user NOT IN ('authenticated', 'anon') OR NEW.storage_path IS NULL THEN
    RETURN NEW;
  END IF;
  IF TG_OP = 'UPDATE'
     AND (NEW.storage_bucket, NEW.storage_path) IS NOT DISTINCT FROM (OLD.storage_bucket, OLD.storage_path) THEN
    RETURN NEW;
  END IF;
  -- "." and ".." would climb out of the folder once the worker builds the object's URL.
  IF own_folder IS NULL
     OR NOT starts_with(NEW.storage_path, own_folder || '/')
     OR EXISTS (SELECT 1 FROM unnest(string_to_array(NEW.storage_path, '/')) AS s (segment)
                 WHERE s.segment IN ('', '.', '..')) THEN
    RAISE EXCEPTION 'batch_upload_files.storage_path % is refused: a signed-in user may name only objects in their own folder, %/<file> (no empty, "." or ".." segment); upload the file there',
      quote_literal(NEW.storage_path), coalesce(own_folder, '<auth.uid()>')
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER batch_upload_files_check_storage_path
  BEFORE INSERT OR UPDATE OF storage_bucket, storage_path ON public.batch_upload_files
  FOR EACH ROW EXECUTE FUNCTION batchpilot_private.check_storage_path();

-- Trigger functions need no EXECUTE to fire; nobody calls these directly.
REVOKE ALL ON FUNCTION batchpilot_private.check_session_status_change(), batchpilot_private.check_storage_path(),
  batchpilot_private.stamp_cancelled_session(), batchpilot_private.skip_files_of_cancelled_session()
  FROM PUBLIC, anon, authenticated, service_role;

-- ==== V9__fair_share_and_eta.sql ====

-- batchpilot V9: fair shares of the fleet between sessions, and an ETA that knows the share.
-- Replaces two V3 functions (same signatures, so callers and grants stay as they are).

-- ---------------------------------------------------------------------------------------------
-- Claim: as V3, but a session's turns start after the files it already has in flight. V3 ranked
-- each claim on its own, so when a finished file freed one thread the one-file claim always went to
-- the session with the oldest due file: under a binding quota the first-submitted of two equal
-- sessions got about twice the other's throughput. Counting in-flight files first gives every
-- session an equal share of the fleet's threads, and so of the quota the threads wait for.
-- Ties between sessions are broken at random, not by due time.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.claim_files(worker text, max_files integer, lease interval)
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
    SELECT s.id, s.max_concurrent - s.files_processing AS room, s.files_processing AS in_flight
      FROM public.batch_upload_sessions s
     WHERE s.status IN ('pending', 'processing')
       AND s.files_pending > 0
       AND s.files_processing < s.max_concurrent
     ORDER BY s.id
       FOR NO KEY UPDATE OF s
  ), due AS (
    -- A session's due files get turns in_flight + 1, + 2...; taking the lowest turns first fills
    -- the sessions with the fewest files in flight first, so a 10,000-file session cannot starve a
    -- 10-file one and two equal sessions hold equal shares of the fleet.
    SELECT d.id, d.next_attempt_at,
           s.in_flight + row_number() OVER (PARTITION BY d.batch_session_id ORDER BY d.next_attempt_at, d.upload_order, d.id) AS turn
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
    -- Equal turns of different sessions in random order: by due time, the older session would win
    -- every tie and stay one file ahead.
    SELECT due.id FROM due ORDER BY due.turn, random() LIMIT max_files
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
-- ETA: per model, the fleet's pace (the quota gate's when it is using its whole limit, else the files
-- finished over the last `measured` interval, capped by the gate's), shared equally by the model's
-- sessions with files left, as the claim shares it. V3 divided each session's files left by its own
-- recent rate, which lagged behind a start-up and missed that a session speeds up when another ends.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.estimate_completion(measured interval) RETURNS integer
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  now_time timestamptz := clock_timestamp();
  updated integer;
BEGIN
  WITH sharing AS (
    -- The sessions that share a model's capacity now or from their first claim; paused ones wait.
    SELECT s.id, s.provider, s.model, s.status, s.started_at, s.processing_strategy,
           s.files_pending + s.files_processing AS files_left
      FROM public.batch_upload_sessions s
     WHERE s.status IN ('pending', 'processing')
       AND s.files_pending + s.files_processing > 0
  ), output AS (
    -- What the fleet finished per model in the window, sessions that ended meanwhile included.
    -- n files from the first of them to now are n - 1 intervals: the start-up before the first
    -- file finished does not count as slowness.
    SELECT s.provider, s.model,
           count(*) AS files,
           extract(epoch FROM now_time - min(f.processing_completed_at)) AS seconds,
           sum(f.api_calls_made) AS api_calls,
           avg(f.input_tokens) FILTER (WHERE f.api_calls_made > 0) AS tokens_per_call
      FROM public.batch_upload_sessions s
      JOIN public.batch_upload_files f ON f.batch_session_id = s.id
     WHERE (s.status IN ('pending', 'processing') OR s.completed_at > now_time - measured)
       AND f.status IN ('completed', 'failed')
       AND f.processing_completed_at > now_time - measured
     GROUP BY s.provider, s.model
  ), models AS (
    SELECT DISTINCT sh.provider, sh.model FROM sharing sh
  ), gate AS (
    -- Each model's quota as acquire_quota applies it, at the most generous strategy of the model's
    -- sessions: the limits per lookback (window + margin rounded up to buckets, plus the current
    -- bucket), and what the gate granted within the last window.
    SELECT m.provider, m.model,
           floor(q.requests_per_minute * fr.fraction) AS request_limit,
           floor(q.input_tokens_per_minute * fr.fraction) AS token_limit,
           lb.seconds AS lookback_seconds,
           -- The share of the lookback's limit a window at full pace holds.
           q.window_ms / 1000.0 / lb.seconds AS window_share,
           used.requests, used.tokens
      FROM models m
      JOIN public.quota_limits q ON q.provider = m.provider AND q.model = m.model
     CROSS JOIN LATERAL (
       -- The fractions acquire_quota applies (V7).
       SELECT max(CASE sh.processing_strategy
                    WHEN 'conservative' THEN 0.5
                    WHEN 'balanced' THEN 0.75
                    WHEN 'aggressive' THEN 1.0
                    ELSE batchpilot_private.adaptive_factor_at(q, now_time) END) AS fraction
         FROM sharing sh
        WHERE sh.provider = m.provider AND sh.model = m.model) fr
     CROSS JOIN LATERAL (
       SELECT (ceil((q.window_ms + q.safety_margin_ms)::numeric / (q.window_ms / q.buckets_per_window)) + 1)
              * (q.window_ms / q.buckets_per_window) / 1000.0 AS seconds) lb
     CROSS JOIN LATERAL (
       -- What the gate's ring holds for the last window (V7).
       SELECT st.requests_in_window AS requests, st.input_tokens_in_window AS tokens
         FROM public.batchpilot_quota_status(m.provider, m.model) st) used
  ), pace AS (
    SELECT m.provider, m.model,
           CASE WHEN o.files >= 2 AND o.seconds > 0 THEN (o.files - 1) / o.seconds END AS measured,
           -- The gate's pace in files, at the calls per file the window saw (none: duplicates need
           -- no quota; nothing finished yet: one call each).
           least(g.request_limit, g.token_limit / nullif(o.tokens_per_call, 0)) / g.lookback_seconds
             * CASE WHEN o.files IS NULL THEN 1 WHEN o.api_calls > 0 THEN o.files::numeric / o.api_calls END AS quota,
           g.requests >= 0.9 * g.request_limit * g.window_share
             OR g.tokens >= 0.9 * g.token_limit * g.window_share AS saturated
      FROM models m
      LEFT JOIN output o ON o.provider = m.provider AND o.model = m.model
      LEFT JOIN gate g ON g.provider = m.provider AND g.model = m.model
  ), capacity AS (
    -- A gate that is using (nearly) all of its limit sets the pace from now on, whatever the
    -- window measured (a slower start-up); otherwise the measured pace, never above the gate's, so
    -- a start-up burst (a window's worth granted at once) is not taken for the steady rate.
    SELECT p.provider, p.model,
           CASE WHEN p.saturated AND p.quota IS NOT NULL THEN p.quota ELSE least(p.measured, p.quota) END AS files_per_second
      FROM pace p
  ), estimate AS (
    -- Equal shares, and a session that finishes leaves its share to the rest: session i is done
    -- once the model's fleet has finished sum over j of min(left_j, left_i) files.
    SELECT i.id,
           (SELECT sum(least(j.files_left, i.files_left))
              FROM sharing j
             WHERE j.provider = i.provider AND j.model = i.model) / c.files_per_second AS seconds
      FROM sharing i
      JOIN capacity c ON c.provider = i.provider AND c.model = i.model
     WHERE i.status = 'processing' AND i.started_at IS NOT NULL
       AND c.files_per_second > 0
  ), unlocked AS (
    -- An estimate is advice: a session a completer or a claim holds now keeps its estimate until the
    -- next round, rather than waiting for it (two writers locking sessions in different orders
    -- deadlocked here, measured in the fairness benchmark).
    SELECT s.id
      FROM public.batch_upload_sessions s
      JOIN estimate e ON e.id = s.id
     ORDER BY s.id
       FOR UPDATE OF s SKIP LOCKED
  )
  UPDATE public.batch_upload_sessions s
     SET estimated_completion_at = now_time + make_interval(secs => e.seconds::double precision)
    FROM estimate e
    JOIN unlocked u ON u.id = e.id
   WHERE s.id = e.id;
  GET DIAGNOSTICS updated = ROW_COUNT;
  RETURN updated;
END
$$;

-- ==== V10__quota_gate_narrow_row.sql ====

-- batchpilot: the quota gate's hot path, second pass (issue 4). Measured with pgbench on one client
-- (docs/BENCHMARKS.md): V7's grant took 0.40-0.46 ms of server time where a plpgsql lock and
-- update of a narrow row takes 0.19 ms. The limits row carried the ring's two arrays and was
-- rewritten whole on every grant (~0.07 ms, and 6 MB of dead rows after 90,000 grants); a permit
-- was inserted with three index entries, updated on release (new index entries again) and deleted
-- once per bucket. Now:
--   * the newest bucket's counts are two columns of the limits row; the older buckets live in
--     quota_rings, written once per bucket (when the clock enters a new one), not once per grant;
--   * a permit row lives exactly as long as the permit: a release (or a lapse) deletes it;
--   * the ledger (api_quota_tracking) counts a request when its permit ends, with the real token
--     count, in the minute it was granted: no ledger write per grant, and no correction after;
--   * batchpilot_finish_quotas ends many permits in one call (a worker's finisher batches them),
--     correcting each bucket once.
-- The admission rule and its proof are unchanged (see V7's acquire); the public functions keep
-- their signatures.

-- ---------------------------------------------------------------------------------------------
-- The ring, apart from the limits row
-- ---------------------------------------------------------------------------------------------
-- Slot (bucket index mod cardinality) + 1 counts that bucket index for the buckets of the lookback
-- older than quota_limits.ring_bucket; the newest bucket's slot stays 0, its counts are
-- quota_limits.bucket_requests and bucket_input_tokens.
CREATE TABLE public.quota_rings (
  provider      text NOT NULL,
  model         text NOT NULL,
  requests      integer[] NOT NULL,
  input_tokens  bigint[] NOT NULL,
  PRIMARY KEY (provider, model),
  FOREIGN KEY (provider, model) REFERENCES public.quota_limits ON DELETE CASCADE
);

COMMENT ON TABLE public.quota_rings IS
  'The quota gate''s per-bucket counts of the lookback before the newest bucket; rewritten once per bucket.';

ALTER TABLE public.quota_limits
  -- The newest bucket's (ring_bucket's) counts, not yet in quota_rings.
  ADD COLUMN bucket_requests     integer NOT NULL DEFAULT 0,
  ADD COLUMN bucket_input_tokens bigint NOT NULL DEFAULT 0,
  -- How many slots the ring was laid out with (lookback + 1 buckets).
  ADD COLUMN ring_slots          integer;

-- Carry over V7's counts into the newest bucket: counted later than granted, so never less safe.
UPDATE public.quota_limits
   SET bucket_requests = window_requests, bucket_input_tokens = window_input_tokens,
       ring_slots = cardinality(ring_requests)
 WHERE ring_bucket IS NOT NULL;
INSERT INTO public.quota_rings (provider, model, requests, input_tokens)
SELECT provider, model, array_fill(0, ARRAY[ring_slots]), array_fill(0::bigint, ARRAY[ring_slots])
  FROM public.quota_limits
 WHERE ring_bucket IS NOT NULL;

ALTER TABLE public.quota_limits
  DROP COLUMN ring_requests,
  DROP COLUMN ring_input_tokens,
  -- V2 forgot finished permits once per bucket; a release now deletes its permit.
  DROP COLUMN current_bucket;

-- ---------------------------------------------------------------------------------------------
-- Permits: a row per permit in flight
-- ---------------------------------------------------------------------------------------------
DELETE FROM public.quota_permits WHERE released_at IS NOT NULL;
-- The ledger now counts a request when its permit ends (below); the ones in flight were counted
-- when granted, so they leave the ledger until they end.
UPDATE public.api_quota_tracking t
   SET quota_used = greatest(0, t.quota_used - f.used)
  FROM (SELECT p.provider, p.model, date_trunc('minute', p.granted_at) AS minute,
               count(*) AS requests, sum(p.input_tokens) AS input_tokens
          FROM public.quota_permits p GROUP BY 1, 2, 3) x
 CROSS JOIN LATERAL (VALUES ('requests', x.requests), ('input_tokens', x.input_tokens)) AS f(quota_type, used)
 WHERE t.api_provider = x.provider AND t.model = x.model AND t.time_window = x.minute AND t.quota_type = f.quota_type;
DROP INDEX public.quota_permits_in_flight_idx;
DROP INDEX public.quota_permits_granted_idx;
ALTER TABLE public.quota_permits
  DROP COLUMN released_at,
  -- The bucket a grant counted in is its granted_at's.
  DROP COLUMN bucket_start;
CREATE INDEX quota_permits_expires_idx ON public.quota_permits (provider, model, expires_at);

COMMENT ON TABLE public.quota_permits IS
  'Quota permits in flight: granted and neither released nor lapsed (expires_at passed). Release deletes the row.';

-- ---------------------------------------------------------------------------------------------
-- Acquire: V7's rule; per grant it locks and updates the limits row and inserts the permit, and
-- reads or writes quota_rings only when the clock has entered a new bucket or the answer is a wait.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.acquire_quota(
  p_provider text, p_model text, p_input_tokens bigint, p_strategy text, p_now timestamptz)
  RETURNS TABLE (granted boolean, permit_id uuid, wait_ms bigint, reason text, granted_at timestamptz)
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  q               public.quota_limits;
  now_at          timestamptz;
  now_ms          numeric;
  bucket_ms       integer;
  lookback        integer;
  ring_size       integer;
  cur_index       bigint;
  k               bigint;
  slot            integer;
  ring_r          integer[];
  ring_t          bigint[];
  total_r         bigint;
  total_t         bigint;
  fraction        double precision;
  request_limit   bigint;
  token_limit     bigint;
  in_flight_limit integer;
  in_flight       bigint;
  expired         uuid[];
  need_r          bigint;
  need_t          bigint;
  new_permit      uuid;
  today           date;
BEGIN
  IF p_input_tokens IS NULL OR p_input_tokens < 0 THEN
    RAISE EXCEPTION 'batchpilot_acquire_quota: estimated input tokens must be 0 or more, got %', p_input_tokens
      USING ERRCODE = '22023';
  END IF;
  IF p_strategy IS NULL OR p_strategy NOT IN ('conservative', 'balanced', 'aggressive', 'adaptive') THEN
    RAISE EXCEPTION 'batchpilot_acquire_quota: unknown strategy %: use conservative, balanced, aggressive or adaptive',
      p_strategy USING ERRCODE = '22023';
  END IF;

  SELECT * INTO q FROM public.quota_limits l
   WHERE l.provider = p_provider AND l.model = p_model FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'batchpilot_acquire_quota: no quota_limits row for provider % model %: insert one into '
      'public.quota_limits with the project''s limits for this model', p_provider, p_model
      USING ERRCODE = 'P0002';
  END IF;
  IF p_input_tokens > q.input_tokens_per_minute THEN
    RAISE EXCEPTION 'batchpilot_acquire_quota: % input tokens exceed the % per window allowed for % %: shrink '
      'the request (fewer pages, smaller images) or raise quota_limits.input_tokens_per_minute',
      p_input_tokens, q.input_tokens_per_minute, p_provider, p_model
      USING ERRCODE = '22023';
  END IF;

  -- The row lock is held until commit: waiting for a WAL flush there would serialise the fleet on
  -- fsync and widen the gap between grant and send. A crash can lose the last ~200 ms of grants
  -- (wal_writer_delay); recovery takes longer than that, so nothing is admitted twice in practice.
  PERFORM set_config('synchronous_commit', 'off', true);

  -- Read after the lock, and never behind the last grant, so grant order is time order.
  now_at := greatest(coalesce(p_now, clock_timestamp()), q.last_grant_at);

  IF q.blocked_until > now_at THEN
    RETURN QUERY SELECT false, NULL::uuid, ceil(extract(epoch FROM q.blocked_until - now_at) * 1000)::bigint, 'rate_limited', NULL::timestamptz;
    RETURN;
  END IF;
  IF q.parked_until > now_at THEN
    RETURN QUERY SELECT false, NULL::uuid, ceil(extract(epoch FROM q.parked_until - now_at) * 1000)::bigint, 'daily_quota_exhausted', NULL::timestamptz;
    RETURN;
  END IF;
  today := (now_at AT TIME ZONE 'America/Los_Angeles')::date;
  IF q.day IS DISTINCT FROM today THEN
    q.requests_today := 0;
  END IF;
  IF q.requests_per_day IS NOT NULL AND q.requests_today >= q.requests_per_day THEN
    UPDATE public.quota_limits l SET parked_until = batchpilot_private.next_pacific_midnight(now_at)
     WHERE l.provider = p_provider AND l.model = p_model;
    RETURN QUERY SELECT false, NULL::uuid,
      ceil(extract(epoch FROM batchpilot_private.next_pacific_midnight(now_at) - now_at) * 1000)::bigint,
      'daily_quota_exhausted', NULL::timestamptz;
    RETURN;
  END IF;

  -- Conservative leaves half of the project's quota to other apps; balanced a quarter; aggressive
  -- uses all of it, which is safe because the gate is exact; adaptive follows the fleet's factor.
  fraction := CASE p_strategy
    WHEN 'conservative' THEN 0.5
    WHEN 'balanced' THEN 0.75
    WHEN 'aggressive' THEN 1.0
    ELSE batchpilot_private.adaptive_factor_at(q, now_at)
  END;
  request_limit := greatest(1, floor(q.requests_per_minute * fraction));
  -- A request that fits the real limit but not the reduced one may still go, alone.
  token_limit := greatest(p_input_tokens, floor(q.input_tokens_per_minute * fraction));
  in_flight_limit := greatest(1, floor(q.max_in_flight * fraction));

  bucket_ms := q.window_ms / q.buckets_per_window;
  lookback := ceil((q.window_ms + q.safety_margin_ms)::numeric / bucket_ms);
  ring_size := lookback + 1;
  now_ms := extract(epoch FROM now_at) * 1000;
  cur_index := floor(now_ms)::bigint / bucket_ms;
  IF q.ring_width_ms = bucket_ms AND q.ring_slots = ring_size AND cur_index < q.ring_bucket THEN
    -- The clock went back behind a refused call's bucket: count in the newest bucket, later than
    -- now, so never less safe.
    cur_index := q.ring_bucket;
  END IF;

  IF q.ring_bucket IS DISTINCT FROM cur_index OR q.ring_width_ms IS DISTINCT FROM bucket_ms
     OR q.ring_slots IS DISTINCT FROM ring_size THEN
    -- A new bucket (or a new layout): fold the newest bucket into the ring and move the ring to
    -- the current bucket; the buckets that leave the lookback stop counting. Kept even if this
    -- call is refused, so the work is done once per bucket.
    SELECT r.requests, r.input_tokens INTO ring_r, ring_t
      FROM public.quota_rings r WHERE r.provider = p_provider AND r.model = p_model;
    total_r := q.window_requests;
    total_t := q.window_input_tokens;
    IF q.ring_bucket IS NULL OR q.ring_width_ms IS DISTINCT FROM bucket_ms OR q.ring_slots IS DISTINCT FROM ring_size
       OR ring_r IS NULL THEN
      -- Everything counted so far goes to the newest bucket: later than granted, never less safe.
      ring_r := array_fill(0, ARRAY[ring_size]);
      ring_t := array_fill(0::bigint, ARRAY[ring_size]);
      q.bucket_requests := total_r;
      q.bucket_input_tokens := total_t;
      q.ring_since := now_at;
    ELSIF cur_index - q.ring_bucket >= ring_size THEN
      ring_r := array_fill(0, ARRAY[ring_size]);
      ring_t := array_fill(0::bigint, ARRAY[ring_size]);
      total_r := 0;
      total_t := 0;
      q.bucket_requests := 0;
      q.bucket_input_tokens := 0;
    ELSE
      slot := q.ring_bucket % ring_size + 1;
      ring_r[slot] := q.bucket_requests;
      ring_t[slot] := q.bucket_input_tokens;
      -- Not FOR k IN ..: its variable is an integer, and bucket indexes are not.
      k := q.ring_bucket + 1;
      WHILE k <= cur_index LOOP
        slot := k % ring_size + 1;
        total_r := total_r - ring_r[slot];
        total_t := total_t - ring_t[slot];
        ring_r[slot] := 0;
        ring_t[slot] := 0;
        k := k + 1;
      END LOOP;
      q.bucket_requests := 0;
      q.bucket_input_tokens := 0;
    END IF;
    INSERT INTO public.quota_rings AS r (provider, model, requests, input_tokens)
    VALUES (p_provider, p_model, ring_r, ring_t)
    ON CONFLICT (provider, model) DO UPDATE SET requests = excluded.requests, input_tokens = excluded.input_tokens;
    q.ring_bucket := cur_index;
    q.ring_width_ms := bucket_ms;
    q.ring_slots := ring_size;
    q.window_requests := total_r;
    q.window_input_tokens := total_t;
    UPDATE public.quota_limits l
       SET ring_bucket = cur_index, ring_width_ms = bucket_ms, ring_slots = ring_size, ring_since = q.ring_since,
           bucket_requests = q.bucket_requests, bucket_input_tokens = q.bucket_input_tokens,
           window_requests = total_r, window_input_tokens = total_t
     WHERE l.provider = p_provider AND l.model = p_model;
  END IF;
  total_r := q.window_requests;
  total_t := q.window_input_tokens;

  IF total_r + 1 > request_limit OR total_t + p_input_tokens > token_limit THEN
    -- Room comes back when enough of the oldest buckets leave the lookback: the first bucket at
    -- which the running totals cover the excess leaves it lookback + 1 buckets after it started.
    IF ring_r IS NULL THEN
      SELECT r.requests, r.input_tokens INTO ring_r, ring_t
        FROM public.quota_rings r WHERE r.provider = p_provider AND r.model = p_model;
    END IF;
    need_r := total_r + 1 - request_limit;
    need_t := total_t + p_input_tokens - token_limit;
    k := cur_index - lookback;
    LOOP
      IF k = cur_index THEN
        need_r := need_r - q.bucket_requests;
        need_t := need_t - q.bucket_input_tokens;
      ELSE
        slot := k % ring_size + 1;
        need_r := need_r - ring_r[slot];
        need_t := need_t - ring_t[slot];
      END IF;
      EXIT WHEN (need_r <= 0 AND need_t <= 0) OR k >= cur_index;
      k := k + 1;
    END LOOP;
    RETURN QUERY SELECT false, NULL::uuid,
      greatest(1, ceil((k + lookback + 1) * bucket_ms - now_ms))::bigint,
      CASE WHEN total_r + 1 > request_limit THEN 'requests' ELSE 'input_tokens' END, NULL::timestamptz;
    RETURN;
  END IF;

  -- Releases may lag (uncommitted, or read a moment ago): in flight is then over-, never under-counted.
  SELECT q.permits_granted - coalesce(max(r.permits_released), 0) INTO in_flight
    FROM public.quota_permit_releases r WHERE r.provider = p_provider AND r.model = p_model;
  IF in_flight >= in_flight_limit THEN
    -- Permits whose lease has passed (their worker died) end as a release without a count would
    -- end them (the ledger takes their estimates), which also turns a late release of one into a
    -- no-op. One being released right now is skipped, not waited for.
    expired := ARRAY(SELECT x.id FROM public.quota_permits x
                      WHERE x.provider = p_provider AND x.model = p_model AND x.expires_at <= now_at
                        FOR UPDATE SKIP LOCKED);
    IF cardinality(expired) > 0 THEN
      in_flight := in_flight - public.batchpilot_finish_quotas(
        expired, array_fill(NULL::bigint, ARRAY[cardinality(expired)]));
    END IF;
    IF in_flight >= in_flight_limit THEN
      -- A release can come at any moment; ask again after one bucket (at most 100 ms).
      RETURN QUERY SELECT false, NULL::uuid, least(100, bucket_ms)::bigint, 'in_flight', NULL::timestamptz;
      RETURN;
    END IF;
  END IF;

  INSERT INTO public.quota_permits (provider, model, input_tokens, granted_at, expires_at)
  VALUES (p_provider, p_model, p_input_tokens, now_at, now_at + make_interval(secs => q.permit_lease_ms / 1000.0))
  RETURNING id INTO new_permit;

  UPDATE public.quota_limits l
     SET day = today, requests_today = q.requests_today + 1, last_grant_at = now_at,
         bucket_requests = q.bucket_requests + 1, bucket_input_tokens = q.bucket_input_tokens + p_input_tokens,
         window_requests = total_r + 1, window_input_tokens = total_t + p_input_tokens,
         permits_granted = q.permits_granted + 1
   WHERE l.provider = p_provider AND l.model = p_model;

  RETURN QUERY SELECT true, new_permit, 0::bigint, NULL::text, now_at;
END
$$;

-- The public entry, as V2's, in plpgsql: a SQL function that cannot be inlined (it is security
-- definer) plans its query on every call, 7% of a grant measured with pgbench.
CREATE OR REPLACE FUNCTION public.batchpilot_acquire_quota(
  provider text, model text, estimated_input_tokens bigint, strategy text DEFAULT 'adaptive')
  RETURNS TABLE (granted boolean, permit_id uuid, wait_ms bigint, reason text, granted_at timestamptz)
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  RETURN QUERY SELECT * FROM batchpilot_private.acquire_quota(
    batchpilot_acquire_quota.provider, batchpilot_acquire_quota.model,
    batchpilot_acquire_quota.estimated_input_tokens, batchpilot_acquire_quota.strategy, NULL);
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Reconcile, release, finish
-- ---------------------------------------------------------------------------------------------

-- Moves the input tokens counted in bucket k by delta, while k is in the lookback: on the limits
-- row for the newest bucket, else in quota_rings. The caller holds the limits row's lock (taken
-- before the permits', as acquire takes them); q gives the ring's layout, which only acquire
-- changes. Counts are read from the rows, not q: a batch corrects a bucket after another.
CREATE FUNCTION batchpilot_private.correct_quota_window(q public.quota_limits, k bigint, delta bigint)
  RETURNS void
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  slot  integer;
  old   bigint;
  fixed bigint;
BEGIN
  IF k = q.ring_bucket THEN
    UPDATE public.quota_limits l
       SET bucket_input_tokens = greatest(0, l.bucket_input_tokens + delta),
           window_input_tokens = l.window_input_tokens + greatest(0, l.bucket_input_tokens + delta) - l.bucket_input_tokens
     WHERE l.provider = q.provider AND l.model = q.model;
  ELSIF k < q.ring_bucket AND k > q.ring_bucket - q.ring_slots THEN
    slot := k % q.ring_slots + 1;
    SELECT r.input_tokens[slot] INTO old FROM public.quota_rings r
     WHERE r.provider = q.provider AND r.model = q.model FOR UPDATE;
    fixed := greatest(0, old + delta);
    UPDATE public.quota_rings r SET input_tokens[slot] = fixed
     WHERE r.provider = q.provider AND r.model = q.model;
    UPDATE public.quota_limits l SET window_input_tokens = l.window_input_tokens + fixed - old
     WHERE l.provider = q.provider AND l.model = q.model;
  END IF;
END
$$;

-- The bucket a grant was counted in, or NULL when it was counted under an earlier layout (the
-- layout change moved it to the newest bucket then, and it is no longer told apart).
CREATE FUNCTION batchpilot_private.counted_bucket(q public.quota_limits, granted_at timestamptz)
  RETURNS bigint
  LANGUAGE sql
  IMMUTABLE
AS $$
  SELECT CASE WHEN granted_at >= q.ring_since
              THEN floor(extract(epoch FROM granted_at) * 1000)::bigint / q.ring_width_ms END
$$;

-- Replaces a grant's estimate with the real prompt token count, for the admission of later
-- requests (the ledger takes the count when the permit ends). Returns false when the permit is
-- unknown (released, or its lease lapsed).
CREATE OR REPLACE FUNCTION public.batchpilot_reconcile_quota(permit_id uuid, actual_input_tokens bigint)
  RETURNS boolean
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
DECLARE
  p public.quota_permits;
  q public.quota_limits;
BEGIN
  IF actual_input_tokens IS NULL OR actual_input_tokens < 0 THEN
    RAISE EXCEPTION 'batchpilot_reconcile_quota: actual input tokens must be 0 or more, got %', actual_input_tokens
      USING ERRCODE = '22023';
  END IF;
  SELECT * INTO p FROM public.quota_permits x WHERE x.id = batchpilot_reconcile_quota.permit_id;
  IF NOT FOUND OR p.input_tokens = actual_input_tokens THEN
    RETURN FOUND;
  END IF;
  -- As in acquire: a lost adjustment costs a little accuracy, a flush wait costs every worker.
  PERFORM set_config('synchronous_commit', 'off', true);
  SELECT * INTO q FROM public.quota_limits l WHERE l.provider = p.provider AND l.model = p.model FOR UPDATE;
  SELECT * INTO p FROM public.quota_permits x WHERE x.id = p.id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  UPDATE public.quota_permits x SET input_tokens = actual_input_tokens WHERE x.id = p.id;
  PERFORM batchpilot_private.correct_quota_window(q, batchpilot_private.counted_bucket(q, p.granted_at),
    actual_input_tokens - p.input_tokens);
  RETURN true;
END
$$;

-- Ends permits' time in flight, each with its real prompt token count (NULL: keep the count it
-- has), in one transaction: what workers do after their requests, batched. The ledger counts a
-- request when its permit ends, in the minute it was granted. Returns how many had not already
-- ended (released, or their lease lapsed); an ended permit's count stays as it was.
CREATE FUNCTION public.batchpilot_finish_quotas(permit_ids uuid[], actual_input_tokens bigint[])
  RETURNS integer
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
DECLARE
  ended     integer;
  providers text[];
  models    text[];
  buckets   bigint[];
  deltas    bigint[];
  q         public.quota_limits;
BEGIN
  IF cardinality(permit_ids) IS DISTINCT FROM cardinality(actual_input_tokens) THEN
    RAISE EXCEPTION 'batchpilot_finish_quotas: % permit ids but % token counts: give one count (or NULL) per permit',
      cardinality(permit_ids), cardinality(actual_input_tokens) USING ERRCODE = '22023';
  END IF;
  IF EXISTS (SELECT FROM unnest(actual_input_tokens) a WHERE a < 0) THEN
    RAISE EXCEPTION 'batchpilot_finish_quotas: actual input tokens must be 0 or more, got %', actual_input_tokens
      USING ERRCODE = '22023';
  END IF;
  -- A release lost in a crash is made good by the permit's lease; no flush wait for it.
  PERFORM set_config('synchronous_commit', 'off', true);
  -- The limits rows whose counts change, locked in key order before the permits, as reconcile
  -- takes them (acquire skips permits locked here).
  PERFORM FROM public.quota_limits l
   WHERE (l.provider, l.model) IN (
     SELECT p.provider, p.model
       FROM public.quota_permits p
       JOIN unnest(permit_ids, actual_input_tokens) AS a(id, actual) ON a.id = p.id
      WHERE a.actual <> p.input_tokens)
   ORDER BY l.provider, l.model
     FOR UPDATE;
  WITH gone AS (
    DELETE FROM public.quota_permits p USING unnest(permit_ids, actual_input_tokens) AS a(id, actual)
     WHERE p.id = a.id
    RETURNING p.provider, p.model, p.granted_at, p.input_tokens AS counted,
              coalesce(a.actual, p.input_tokens) AS actual
  ), released AS (
    -- On their own rows, so releases never wait behind grants.
    INSERT INTO public.quota_permit_releases AS r (provider, model, permits_released)
    SELECT g.provider, g.model, count(*) FROM gone g GROUP BY g.provider, g.model
    ON CONFLICT (provider, model) DO UPDATE SET permits_released = r.permits_released + excluded.permits_released
  ), ledger AS (
    INSERT INTO public.api_quota_tracking AS t (api_provider, model, quota_type, time_window, quota_used, quota_limit)
    SELECT g.provider, g.model, u.quota_type, date_trunc('minute', g.granted_at), sum(u.used), min(u.quota_limit)
      FROM gone g
      JOIN public.quota_limits l ON l.provider = g.provider AND l.model = g.model
     CROSS JOIN LATERAL (VALUES ('requests', 1::bigint, l.requests_per_minute::bigint),
                                ('input_tokens', g.actual, l.input_tokens_per_minute)) AS u(quota_type, used, quota_limit)
     GROUP BY g.provider, g.model, u.quota_type, date_trunc('minute', g.granted_at)
    ON CONFLICT (api_provider, model, quota_type, time_window) DO UPDATE
      SET quota_used = t.quota_used + excluded.quota_used, quota_limit = excluded.quota_limit, updated_at = now()
  ), corrections AS (
    -- Per bucket: one correction for all the batch's permits counted in it.
    SELECT g.provider, g.model, batchpilot_private.counted_bucket(l, g.granted_at) AS bucket,
           sum(g.actual - g.counted) AS delta, count(*) AS permits
      FROM gone g
      JOIN public.quota_limits l ON l.provider = g.provider AND l.model = g.model
     GROUP BY 1, 2, 3
  )
  SELECT coalesce(sum(c.permits), 0),
         array_agg(c.provider) FILTER (WHERE c.delta <> 0 AND c.bucket IS NOT NULL),
         array_agg(c.model) FILTER (WHERE c.delta <> 0 AND c.bucket IS NOT NULL),
         array_agg(c.bucket) FILTER (WHERE c.delta <> 0 AND c.bucket IS NOT NULL),
         array_agg(c.delta) FILTER (WHERE c.delta <> 0 AND c.bucket IS NOT NULL)
    INTO ended, providers, models, buckets, deltas
    FROM corrections c;
  FOR i IN 1 .. coalesce(cardinality(providers), 0) LOOP
    IF q.provider IS DISTINCT FROM providers[i] OR q.model IS DISTINCT FROM models[i] THEN
      SELECT * INTO q FROM public.quota_limits l WHERE l.provider = providers[i] AND l.model = models[i] FOR UPDATE;
    END IF;
    PERFORM batchpilot_private.correct_quota_window(q, buckets[i], deltas[i]);
  END LOOP;
  RETURN ended;
END
$$;

COMMENT ON FUNCTION public.batchpilot_finish_quotas(uuid[], bigint[]) IS
  'Reconcile (unless the count is NULL) and release many permits in one call; returns how many were still in flight.';

-- One permit: release, or reconcile and release (V7's finish). plpgsql, whose plans are cached
-- (a SQL function's are made anew on every call).
CREATE OR REPLACE FUNCTION public.batchpilot_release_quota(permit_id uuid)
  RETURNS boolean
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  RETURN public.batchpilot_finish_quotas(ARRAY[permit_id], ARRAY[NULL::bigint]) = 1;
END
$$;

CREATE OR REPLACE FUNCTION public.batchpilot_finish_quota(permit_id uuid, actual_input_tokens bigint)
  RETURNS boolean
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  IF actual_input_tokens IS NULL THEN
    RAISE EXCEPTION 'batchpilot_finish_quota: actual input tokens must be 0 or more, got NULL (to end a permit '
      'without a count, call batchpilot_release_quota)' USING ERRCODE = '22023';
  END IF;
  RETURN public.batchpilot_finish_quotas(ARRAY[permit_id], ARRAY[actual_input_tokens]) = 1;
END
$$;

-- What the gate knows about one (provider, model) right now. The window counts the buckets that
-- started within the last window_ms: the ring's and the newest.
CREATE OR REPLACE FUNCTION public.batchpilot_quota_status(provider text, model text)
  RETURNS TABLE (adaptive_factor double precision, blocked_until timestamptz, parked_until timestamptz,
                 requests_in_window bigint, input_tokens_in_window bigint, in_flight bigint)
  LANGUAGE sql
  SECURITY DEFINER
  SET search_path = ''
AS $$
  SELECT batchpilot_private.adaptive_factor_at(q, clock_timestamp()),
         CASE WHEN q.blocked_until > clock_timestamp() THEN q.blocked_until END,
         CASE WHEN q.parked_until > clock_timestamp() THEN q.parked_until END,
         coalesce(w.requests, 0) + CASE WHEN newest.recent THEN q.bucket_requests ELSE 0 END,
         coalesce(w.input_tokens, 0) + CASE WHEN newest.recent THEN q.bucket_input_tokens ELSE 0 END,
         (SELECT count(*) FROM public.quota_permits p
           WHERE p.provider = q.provider AND p.model = q.model AND p.expires_at > clock_timestamp())
    FROM public.quota_limits q
    LEFT JOIN public.quota_rings r ON r.provider = q.provider AND r.model = q.model
    CROSS JOIN LATERAL (
      SELECT q.ring_bucket * q.ring_width_ms > extract(epoch FROM clock_timestamp()) * 1000 - q.window_ms AS recent) newest
    LEFT JOIN LATERAL (
      SELECT sum(s.requests)::bigint AS requests, sum(s.input_tokens)::bigint AS input_tokens
        FROM unnest(r.requests, r.input_tokens) WITH ORDINALITY AS s(requests, input_tokens, slot)
       -- The bucket index a slot holds: the newest index up to ring_bucket that maps to it.
       WHERE (q.ring_bucket - mod(mod(q.ring_bucket - (s.slot - 1), q.ring_slots) + q.ring_slots, q.ring_slots))
             * q.ring_width_ms > extract(epoch FROM clock_timestamp()) * 1000 - q.window_ms) w ON true
   WHERE q.provider = batchpilot_quota_status.provider AND q.model = batchpilot_quota_status.model
$$;

-- ---------------------------------------------------------------------------------------------
-- Privileges, as the gate's other tables
-- ---------------------------------------------------------------------------------------------
ALTER TABLE public.quota_rings ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON public.quota_rings FROM anon, authenticated;
GRANT ALL ON public.quota_rings TO service_role;
REVOKE ALL ON FUNCTION batchpilot_private.correct_quota_window(public.quota_limits, bigint, bigint),
  batchpilot_private.counted_bucket(public.quota_limits, timestamptz) FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION public.batchpilot_finish_quotas(uuid[], bigint[]) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.batchpilot_finish_quotas(uuid[], bigint[]) TO service_role;
