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
