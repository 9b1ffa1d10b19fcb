-- batchpilot 0.1.0, the baseline: schemas, tables, indexes, constraints, row-level security switches,
-- table privileges and seed rows. Functions, triggers and policies are not here: each lives, in its
-- current text only, in the repeatable migration of its role (R__NN_<role>.sql, applied after this
-- file, in the order of their numbers). db/README.md documents every table and why it is so.
--
-- Until the first tagged release this file may still be amended. After it, it is frozen: a table
-- change is a new V<n>__<topic>.sql, and a function changes in place in its R__ file.
--
-- Every column added to the seed's tables (phase 3, section 3.2) is nullable or has a default, so
-- inserts shaped like the seed's frontend hook keep working. Columns are listed in the order the
-- tables have had them since they were first installed (jOOQ's generated classes follow it).

-- =============================================================================================
-- What the host project must have: Supabase's auth and roles, and the app's own teams,
-- team_members (team_id, user_id) and receipts (id). Checked before anything is created, so a
-- project without them learns exactly what is missing instead of meeting a half-applied migration.
-- public.receipts may have any other columns: the copy of an extraction fills the ones it finds.
-- =============================================================================================
DO $$
DECLARE
  missing text[] := '{}';
BEGIN
  IF to_regprocedure('auth.uid()') IS NULL THEN
    missing := missing || 'auth.uid() (a Supabase project has it)'::text;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'authenticated')
     OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'service_role') THEN
    missing := missing || 'the roles authenticated and service_role (a Supabase project has them)'::text;
  END IF;
  IF to_regclass('public.teams') IS NULL THEN
    missing := missing || 'table public.teams (id uuid primary key)'::text;
  END IF;
  IF to_regclass('public.team_members') IS NULL
     OR (SELECT count(*) FROM pg_catalog.pg_attribute a
          WHERE a.attrelid = to_regclass('public.team_members') AND a.attname IN ('team_id', 'user_id')
            AND NOT a.attisdropped) < 2 THEN
    missing := missing || 'table public.team_members (team_id uuid, user_id uuid)'::text;
  END IF;
  IF to_regclass('public.receipts') IS NULL THEN
    missing := missing || 'table public.receipts (id uuid primary key; user_id and team_id say whose it is)'::text;
  END IF;
  IF cardinality(missing) > 0 THEN
    RAISE EXCEPTION 'batchpilot cannot be installed here: missing %', array_to_string(missing, '; ')
      USING HINT = 'create them first (README, "Adopting batchpilot"), then run the migration again';
  END IF;
END
$$;

-- =============================================================================================
-- Schemas
-- =============================================================================================
-- Helpers for row-level security and the workers' functions, in a schema the Data API does not expose.
CREATE SCHEMA batchpilot_private;
REVOKE ALL ON SCHEMA batchpilot_private FROM PUBLIC;
GRANT USAGE ON SCHEMA batchpilot_private TO authenticated, service_role;

-- What Grafana reads (R__70_metrics.sql): views that run with the owner's rights.
CREATE SCHEMA batchpilot_reporting;
REVOKE ALL ON SCHEMA batchpilot_reporting FROM PUBLIC;

-- The Grafana role: cluster-wide, so created only if missing; NOLOGIN until an admin gives it a
-- password (README: Grafana). It may read the reporting views and nothing else.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'batchpilot_grafana') THEN
    CREATE ROLE batchpilot_grafana NOLOGIN;
  END IF;
EXCEPTION WHEN duplicate_object THEN
  NULL; -- another database's migration created it at the same moment
END
$$;

GRANT USAGE ON SCHEMA batchpilot_reporting TO batchpilot_grafana;

-- =============================================================================================
-- The installed release: one row, written by both install paths (`batchpilot migrate`, and the
-- last statement of every Supabase CLI file), from batchpilot/release.properties and the highest
-- versioned migration. Workers read it with batchpilot_private.installed_release().
-- =============================================================================================
CREATE TABLE batchpilot_private.installation (
  singleton      boolean PRIMARY KEY DEFAULT true
    CONSTRAINT installation_singleton_check CHECK (singleton),
  release        text NOT NULL
    CONSTRAINT installation_release_check CHECK (release ~ '^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$'),
  schema_version integer NOT NULL
    CONSTRAINT installation_schema_version_check CHECK (schema_version >= 1),
  installed_at   timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE batchpilot_private.installation IS
  'The batchpilot release this database has (release.properties) and its schema version (the highest V<n> migration).';

REVOKE ALL ON batchpilot_private.installation FROM PUBLIC;
GRANT SELECT ON batchpilot_private.installation TO service_role;

-- =============================================================================================
-- Sessions: one batch of files
-- =============================================================================================
CREATE TABLE public.batch_upload_sessions (
  id                          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id                     uuid DEFAULT auth.uid() REFERENCES auth.users (id) ON DELETE CASCADE,
  team_id                     uuid REFERENCES public.teams (id) ON DELETE CASCADE,

  session_name                text
    CONSTRAINT batch_upload_sessions_session_name_length CHECK (length(session_name) <= 200),
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
    CONSTRAINT batch_upload_sessions_rate_limit_config_check CHECK (jsonb_typeof(rate_limit_config) = 'object')
    CONSTRAINT batch_upload_sessions_rate_limit_config_size CHECK (octet_length(rate_limit_config::text) <= 4096),
  processing_strategy         text NOT NULL DEFAULT 'adaptive'
    CONSTRAINT batch_upload_sessions_processing_strategy_check
      CHECK (processing_strategy IN ('conservative', 'balanced', 'aggressive', 'adaptive')),
  -- interactive: one generateContent call per file, minutes. batch: Gemini Batch Mode, at half the
  -- price, within 24 hours (usually much less).
  delivery                    text NOT NULL DEFAULT 'interactive'
    CONSTRAINT batch_upload_sessions_delivery_check CHECK (delivery IN ('interactive', 'batch')),
  -- When a batch job of this session expires or fails, its files go interactive (full price, now)
  -- instead of into a new batch job.
  interactive_fallback        boolean NOT NULL DEFAULT false,

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
  -- Of total_tokens_used, the model's thinking (thoughtsTokenCount): billed at the output price.
  total_thinking_tokens       bigint NOT NULL DEFAULT 0
    CONSTRAINT batch_upload_sessions_total_thinking_tokens_check CHECK (total_thinking_tokens >= 0),
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

-- =============================================================================================
-- Files: one uploaded file, its claim, its cost, its extraction and its embedding's progress
-- =============================================================================================
CREATE TABLE public.batch_upload_files (
  id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  batch_session_id        uuid NOT NULL REFERENCES public.batch_upload_sessions (id) ON DELETE CASCADE,
  receipt_id              uuid REFERENCES public.receipts (id) ON DELETE CASCADE,

  original_filename       text NOT NULL
    CONSTRAINT batch_upload_files_original_filename_check CHECK (length(original_filename) BETWEEN 1 AND 1024),
  file_size_bytes         bigint
    CONSTRAINT batch_upload_files_file_size_bytes_check CHECK (file_size_bytes >= 0),
  file_type               text
    CONSTRAINT batch_upload_files_file_type_length CHECK (length(file_type) <= 255),
  upload_order            integer
    CONSTRAINT batch_upload_files_upload_order_check CHECK (upload_order >= 0),

  -- Where the bytes are: a Supabase Storage object, or a URL.
  storage_bucket          text,
  storage_path            text
    CONSTRAINT batch_upload_files_storage_path_length CHECK (length(storage_path) <= 1024),
  source_url              text
    CONSTRAINT batch_upload_files_source_url_length CHECK (length(source_url) <= 2048),
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
  thinking_tokens         integer
    CONSTRAINT batch_upload_files_thinking_tokens_check CHECK (thinking_tokens >= 0),
  tokens_used             integer NOT NULL DEFAULT 0
    CONSTRAINT batch_upload_files_tokens_used_check CHECK (tokens_used >= 0),
  rate_limited            boolean NOT NULL DEFAULT false,
  -- How the billed calls went: interactive or batch (Batch Mode, billed at the batch price).
  delivery                text
    CONSTRAINT batch_upload_files_delivery_check CHECK (delivery IN ('interactive', 'batch')),
  -- The seed's column, derived so that it can never disagree with attempts.
  retry_count             integer GENERATED ALWAYS AS (greatest(attempts - 1, 0)) STORED,

  result                  jsonb,
  error_type              text
    CONSTRAINT batch_upload_files_error_type_check CHECK (error_type IN (
      'upload_failed', 'processing_failed', 'invalid_file', 'file_unavailable',
      'rate_limited', 'quota_exhausted', 'overloaded', 'server_error', 'timeout',
      'invalid_request', 'permission_denied', 'not_found', 'blocked_output',
      'malformed_response', 'lease_expired', 'batch_job_expired', 'batch_job_failed')),
  error_message           text,

  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now(),

  -- A file completed from an earlier file's result (same bytes, same team and model) says which.
  duplicate_of            uuid REFERENCES public.batch_upload_files (id) ON DELETE SET NULL,

  -- The embedding's progress, on the file row, so frontends see it through the files' RLS and
  -- Realtime. The extraction is never undone by an embedding failure: only these columns change.
  embedding_status           text
    CONSTRAINT batch_upload_files_embedding_status_check
      CHECK (embedding_status IN ('pending', 'processing', 'completed', 'failed')),
  embedding_attempts         integer NOT NULL DEFAULT 0
    CONSTRAINT batch_upload_files_embedding_attempts_check CHECK (embedding_attempts >= 0),
  embedding_next_attempt_at  timestamptz,
  embedding_claimed_by       text,
  embedding_lease_expires_at timestamptz,
  embedding_error_type       text
    CONSTRAINT batch_upload_files_embedding_error_type_check CHECK (embedding_error_type IN (
      'rate_limited', 'quota_exhausted', 'overloaded', 'server_error', 'timeout', 'invalid_request',
      'permission_denied', 'not_found', 'blocked_output', 'malformed_response', 'lease_expired',
      'invalid_result')),
  embedding_error            text,
  embedded_at                timestamptz
);

COMMENT ON COLUMN public.batch_upload_files.file_type IS 'The declared MIME type, checked against the bytes before any API call.';
COMMENT ON COLUMN public.batch_upload_files.claimed_by IS 'The worker holding the file while its lease runs.';
COMMENT ON COLUMN public.batch_upload_files.retry_count IS 'attempts - 1: derived, read-only.';
COMMENT ON COLUMN public.batch_upload_files.input_tokens IS
  'promptTokenCount summed over the calls Google billed for this file (a 200 whose answer was unusable is billed too).';
COMMENT ON COLUMN public.batch_upload_files.output_tokens IS
  'candidatesTokenCount (the answer) summed over the billed calls; thinking is apart, in thinking_tokens.';
COMMENT ON COLUMN public.batch_upload_files.thinking_tokens IS
  'thoughtsTokenCount summed over the billed calls: the model''s thinking, billed at the output price on 2.5 models.';
COMMENT ON COLUMN public.batch_upload_files.duplicate_of IS
  'The earlier file whose result this one reused without calling the API (same content, team and model).';
COMMENT ON COLUMN public.batch_upload_files.embedding_status IS
  'NULL until the extraction completes; then pending, processing (a worker holds it), completed or failed. Never changes status or result.';
COMMENT ON COLUMN public.batch_upload_files.embedding_error IS
  'Why the last embedding attempt failed (kept while it is retried; cleared when it succeeds).';

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
-- Files naming a model of their own (rare): Batch Mode groups due files by model.
CREATE INDEX batch_upload_files_own_model_idx
  ON public.batch_upload_files (batch_session_id) WHERE status = 'pending' AND model IS NOT NULL;
-- Duplicate content: an earlier completed result for the same bytes and model.
CREATE INDEX batch_upload_files_content_idx
  ON public.batch_upload_files (content_sha256, model) WHERE status = 'completed';
-- Every foreign key has an index leading with its columns: without one, each deleted parent row
-- scans the child table (deleting a 20,000-file session ran for over 11 minutes on duplicate_of).
-- ForeignKeyIndexTest fails when a later migration adds a foreign key without one. Most files are
-- no duplicate: the partial index stays small, and the foreign key's lookup (duplicate_of = $1)
-- implies IS NOT NULL, so it is used.
CREATE INDEX batch_upload_files_duplicate_of_idx
  ON public.batch_upload_files (duplicate_of) WHERE duplicate_of IS NOT NULL;
-- The embedding claim: due embeddings oldest first, and embeddings whose worker stopped.
CREATE INDEX batch_upload_files_embedding_due_idx
  ON public.batch_upload_files (embedding_next_attempt_at) WHERE embedding_status = 'pending';
CREATE INDEX batch_upload_files_embedding_lease_idx
  ON public.batch_upload_files (embedding_lease_expires_at) WHERE embedding_status = 'processing';

-- =============================================================================================
-- The API quota ledger: one row per (provider, model, quota type, minute)
-- =============================================================================================
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

-- =============================================================================================
-- The quota gate (R__20_quota_gate.sql): per (provider, model) the limits an admin edits and the
-- fleet's shared state; the lookback's per-bucket counts; the permits in flight and their releases.
-- =============================================================================================
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
  -- A permit not released within this lease no longer counts as in flight (its worker died); for
  -- callers that give no lease of their own (a worker gives its BATCHPILOT_LEASE and extends it).
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

  -- Maintained by the gate: the daily count, and the last grant (grant order is time order).
  day                     date,
  requests_today          integer NOT NULL DEFAULT 0,
  last_grant_at           timestamptz,

  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now(),

  -- The lookback's buckets as a ring, maintained by the gate. The ring's layout: the newest bucket
  -- index (epoch ms / ring_width_ms) and how many slots (lookback + 1 buckets) it was laid out with;
  -- the older buckets' counts are in quota_rings, the newest one's in bucket_requests and
  -- bucket_input_tokens below.
  ring_bucket             bigint,
  ring_width_ms           integer,
  -- When the ring was last laid out: reconcile corrects only grants counted in this layout.
  ring_since              timestamptz,
  -- The sums over the whole lookback (quota_rings' slots plus the newest bucket).
  window_requests         bigint NOT NULL DEFAULT 0,
  window_input_tokens     bigint NOT NULL DEFAULT 0,
  -- Permits granted and not yet ended by a lapse; minus quota_permit_releases, the ones in flight.
  permits_granted         bigint NOT NULL DEFAULT 0,
  -- The newest bucket's (ring_bucket's) counts, not yet in quota_rings.
  bucket_requests         integer NOT NULL DEFAULT 0,
  bucket_input_tokens     bigint NOT NULL DEFAULT 0,
  ring_slots              integer,

  PRIMARY KEY (provider, model),
  CONSTRAINT quota_limits_margin_check CHECK (safety_margin_ms < window_ms),
  CONSTRAINT quota_limits_bucket_width_check CHECK (window_ms % buckets_per_window = 0)
);

COMMENT ON TABLE public.quota_limits IS
  'Per (provider, model): the limits an admin edits, and the quota gate''s fleet-wide state.';
COMMENT ON COLUMN public.quota_limits.parked_until IS
  'Set when the daily quota is exhausted: nothing is granted before this instant (next midnight America/Los_Angeles).';

-- Gemini's free-tier limits, read 2026-12-03: a project on a paid tier raises them here (its
-- limits are on https://aistudio.google.com/usage). Google's rate-limits page
-- (https://ai.google.dev/gemini-api/docs/rate-limits) no longer prints per-model numbers, only
-- that RPM, input TPM and RPD are per project and RPD resets at midnight Pacific; the numbers are
-- the ones Google's own 429 bodies name (gemini-2.5-flash: "limit: 5" requests a minute and 20 a
-- day, see gemini-fixtures/) and the free tier as cut on 2025-12-07 (2.5 Flash 250 -> 20 a day;
-- 2.5 Pro left the free tier: a free-tier project gets 429s for it whatever this row says).
INSERT INTO public.quota_limits
  (provider, model, requests_per_minute, input_tokens_per_minute, requests_per_day, max_in_flight)
VALUES
  ('gemini', 'gemini-2.5-flash',       5, 250000,   20,  5),
  ('gemini', 'gemini-2.5-flash-lite', 10, 250000,   20, 10),
  ('gemini', 'gemini-2.5-pro',         5, 250000,  100,  5),
  ('gemini', 'gemini-embedding-001', 100,  30000, 1000, 20);

-- One row per permit in flight: granted and neither released nor lapsed (expires_at passed).
-- A release (or a lapse) deletes it; the bucket a grant counted in is its granted_at's. A worker
-- grants its permits its own lease and its heartbeat extends them, so a dead worker's permits lapse
-- within one lease.
CREATE TABLE public.quota_permits (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  provider      text NOT NULL,
  model         text NOT NULL,
  input_tokens  bigint NOT NULL,
  granted_at    timestamptz NOT NULL,
  expires_at    timestamptz NOT NULL,
  -- The file whose call it is, if any: a permit that lapses or is ended by the lease rescuer adds
  -- its call to the file's session (total_api_calls), since its worker never reported it. No
  -- foreign key: a grant must not wait on the file's row, and retention may delete the file.
  file_id       uuid,
  FOREIGN KEY (provider, model) REFERENCES public.quota_limits ON DELETE CASCADE
);

COMMENT ON TABLE public.quota_permits IS
  'Quota permits in flight: granted and neither released nor lapsed (expires_at passed). Release deletes the row.';

CREATE INDEX quota_permits_expires_idx ON public.quota_permits (provider, model, expires_at);

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

-- Slot (bucket index mod cardinality) + 1 counts that bucket index for the buckets of the lookback
-- older than quota_limits.ring_bucket; the newest bucket's slot stays 0, its counts are
-- quota_limits.bucket_requests and bucket_input_tokens. Apart from the limits row, so a grant
-- rewrites only a narrow row; this one is written once per bucket.
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

-- =============================================================================================
-- Metrics for the Grafana dashboards (R__70_metrics.sql). Retention (maintenance) prunes the
-- snapshots, heartbeats, rollup and factor history by their time column.
-- =============================================================================================
-- Worker heartbeats: one row per worker process, refreshed with every metrics report.
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

-- Metric snapshots: every few seconds each worker writes one row per metric of its registry.
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

-- Usage per minute: file outcomes, calls and tokens by team and model, kept by a trigger on the
-- file table in the same transaction as the change, so it always agrees with the files and no
-- dashboard ever scans batch_upload_files.
CREATE TABLE public.batchpilot_usage_per_minute (
  minute          timestamptz NOT NULL
    CONSTRAINT batchpilot_usage_per_minute_minute_check CHECK (minute = date_trunc('minute', minute)),
  team_id         uuid,
  -- The owner of a personal session (team_id NULL); NULL for team sessions.
  user_id         uuid,
  model           text NOT NULL,
  -- interactive or batch: the price the tokens are billed at.
  delivery        text NOT NULL DEFAULT 'interactive'
    CONSTRAINT batchpilot_usage_per_minute_delivery_check CHECK (delivery IN ('interactive', 'batch')),
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
  -- Thinking tokens, billed at the output price: a spend is input x input price + (output + thinking) x output price.
  thinking_tokens bigint NOT NULL DEFAULT 0,
  processing_ms   bigint NOT NULL DEFAULT 0,
  CONSTRAINT batchpilot_usage_per_minute_key UNIQUE NULLS NOT DISTINCT (minute, team_id, user_id, model, delivery, shard)
);

COMMENT ON TABLE public.batchpilot_usage_per_minute IS
  'Files by outcome, API calls and tokens per minute, team and model; sums of changes to batch_upload_files.';

-- The quota gate's adaptive factor over time. quota_limits keeps only the last cut and when it
-- happened; the factor then grows back by adaptive_increase per window. A trigger records each cut
-- here, so the quota dashboard can draw the factor at any past minute.
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

-- The seeded limits' starting factors (the trigger that records later ones is not installed yet).
INSERT INTO public.batchpilot_adaptive_factor_changes
       (provider, model, changed_at, adaptive_factor, adaptive_increase, window_ms)
SELECT provider, model, adaptive_changed_at, adaptive_factor, adaptive_increase, window_ms
  FROM public.quota_limits;

-- Prices, for the cost dashboard: one row per model, the interactive (standard, paid tier) price
-- beside the Batch Mode one, in USD per million tokens, and the day they were read from the source.
-- Output prices include thinking tokens (thoughtsTokenCount is billed as output). Admins edit them
-- (SQL editor, or the Data API with an admin JWT): a new price is one UPDATE, with its date.
CREATE TABLE public.batchpilot_model_prices (
  model                        text PRIMARY KEY
    CONSTRAINT batchpilot_model_prices_model_check CHECK (model ~ '^[a-z0-9][a-z0-9.-]*$'),
  input_usd_per_million        numeric(12, 6) NOT NULL
    CONSTRAINT batchpilot_model_prices_input_usd_per_million_check CHECK (input_usd_per_million >= 0),
  output_usd_per_million       numeric(12, 6) NOT NULL
    CONSTRAINT batchpilot_model_prices_output_usd_per_million_check CHECK (output_usd_per_million >= 0),
  -- Batch Mode (batchGenerateContent, batch embeddings): half the interactive price today.
  batch_input_usd_per_million  numeric(12, 6) NOT NULL
    CONSTRAINT batchpilot_model_prices_batch_input_usd_per_million_check CHECK (batch_input_usd_per_million >= 0),
  batch_output_usd_per_million numeric(12, 6) NOT NULL
    CONSTRAINT batchpilot_model_prices_batch_output_usd_per_million_check CHECK (batch_output_usd_per_million >= 0),
  -- When a person last read these prices from the source (not when the row was written).
  prices_read_on               date NOT NULL,
  source                       text,
  updated_at                   timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE public.batchpilot_model_prices IS
  'USD per million tokens per model, interactive and Batch Mode; output prices include thinking tokens.';

-- Read 2026-12-03 from https://ai.google.dev/gemini-api/docs/pricing (paid tier; 2.5 Pro for
-- prompts up to 200k tokens; 2.5 Flash for text, image and video input) and its Batch column,
-- 50% of the standard price.
INSERT INTO public.batchpilot_model_prices
  (model, input_usd_per_million, output_usd_per_million, batch_input_usd_per_million,
   batch_output_usd_per_million, prices_read_on, source) VALUES
  ('gemini-2.5-pro',        1.25, 10.00, 0.625, 5.00, '2026-12-03', 'https://ai.google.dev/gemini-api/docs/pricing (prompts <= 200k tokens)'),
  ('gemini-2.5-flash',      0.30,  2.50, 0.15,  1.25, '2026-12-03', 'https://ai.google.dev/gemini-api/docs/pricing (text/image/video input)'),
  ('gemini-2.5-flash-lite', 0.10,  0.40, 0.05,  0.20, '2026-12-03', 'https://ai.google.dev/gemini-api/docs/pricing (text/image/video input)'),
  ('gemini-embedding-001',  0.15,  0.00, 0.075, 0.00, '2026-12-03', 'https://ai.google.dev/gemini-api/docs/pricing');

-- =============================================================================================
-- Maintenance: the leader. One worker of the fleet, the leader, rescues expired leases, finishes
-- sessions and prunes old rows. It is named by a row that expires, not by an advisory lock: a
-- session-level advisory lock needs one connection held open by the leader for its whole term, and
-- through a transaction-mode pooler (Supavisor on 6543, PgBouncer) the lock stays with a server
-- connection that other clients then share, or is freed when the pooler reassigns it. A row with an
-- expiry works through any pooler and any connection of a pool, reads only the database's clock,
-- and a dead leader is replaced as soon as its term runs out (seconds).
-- =============================================================================================
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

-- =============================================================================================
-- Embeddings (R__40_embeddings.sql): one vector per extracted file, apart from the file row:
-- Realtime streams whole file rows to every subscriber, and a 768-float vector on each status
-- change would multiply that traffic.
-- =============================================================================================
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

-- The vector column, decided now: pgvector's vector(N) where the extension is installed (Supabase:
-- `create extension vector with schema extensions` first), else real[] (searchable, without an
-- index). N is 768 unless the setting batchpilot.embedding_dimensions says otherwise (ALTER
-- DATABASE ... SET batchpilot.embedding_dimensions = '1536' before migrating); workers compare
-- their configured dimensionality with batchpilot_private.embedding_dimensions() and refuse to
-- start when it differs. public.match_receipts (R__40_embeddings.sql) follows the column's type.
-- Moving to pgvector later: create the extension, then select batchpilot_private.use_pgvector()
-- (R__40_embeddings.sql), which converts the column in place and adds the index.
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
  ELSE
    EXECUTE format('ALTER TABLE public.receipt_embeddings ADD COLUMN embedding %I.vector(%s) NOT NULL',
                   vector_schema, dims);
    IF dims <= 2000 THEN  -- pgvector's HNSW index takes at most 2000 dimensions
      EXECUTE format('CREATE INDEX receipt_embeddings_embedding_idx ON public.receipt_embeddings'
                     ' USING hnsw (embedding %I.vector_cosine_ops)', vector_schema);
    END IF;
  END IF;
  -- The dimensionality is part of the table's shape, fixed here once.
  EXECUTE format('CREATE FUNCTION batchpilot_private.embedding_dimensions() RETURNS integer'
                 ' LANGUAGE sql IMMUTABLE SET search_path = '''' AS %L', 'SELECT ' || dims);
END
$migration$;

REVOKE ALL ON FUNCTION batchpilot_private.embedding_dimensions() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION batchpilot_private.embedding_dimensions() TO service_role;

-- =============================================================================================
-- Extractions (R__30_claims_and_completion.sql)
-- =============================================================================================
-- The extraction, typed, in batchpilot's own table: it never depends on the host's columns. The
-- file's `result` keeps the whole answer; this row keeps the receipt fields, and whether (and why
-- not) they were copied into the host's public.receipts.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE public.receipt_extractions (
  file_id              uuid PRIMARY KEY REFERENCES public.batch_upload_files (id) ON DELETE CASCADE,
  batch_session_id     uuid NOT NULL REFERENCES public.batch_upload_sessions (id) ON DELETE CASCADE,
  merchant             text,
  date                 date,
  currency             text,
  subtotal             numeric,
  tax                  numeric,
  total                numeric,
  line_items           jsonb NOT NULL DEFAULT '[]'::jsonb,
  receipt_id           uuid,
  copied_to_receipt_at timestamptz,
  copy_error           text,
  created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX receipt_extractions_session_idx ON public.receipt_extractions (batch_session_id);
COMMENT ON TABLE public.receipt_extractions IS
  'What each completed file extracted, typed; copied into public.receipts through batchpilot_private.receipt_mapping.';

REVOKE ALL ON public.receipt_extractions FROM anon, authenticated;
GRANT SELECT ON public.receipt_extractions TO authenticated;
GRANT ALL ON public.receipt_extractions TO service_role;

-- ---------------------------------------------------------------------------------------------
-- The mapping into public.receipts (R__30_claims_and_completion.sql), decided from the columns the host has: one row, written by
-- map_receipts() when the migration runs and whenever the host has altered receipts. A project
-- that wants its own mapping registers a function (receipt_id uuid, extraction
-- public.receipt_extractions) RETURNS void with use_receipt_mapping().
-- ---------------------------------------------------------------------------------------------
CREATE TABLE batchpilot_private.receipt_mapping (
  singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  filled_columns  text[] NOT NULL,
  update_sql      text,
  owner_column    boolean NOT NULL,
  team_column     boolean NOT NULL,
  custom_function regprocedure,
  checked_at      timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON batchpilot_private.receipt_mapping FROM PUBLIC;

-- =============================================================================================
-- Batch Mode: Gemini batch jobs, their limits and their files
-- =============================================================================================
-- Google's Batch Mode limits, apart from the interactive ones: pending and running jobs (100 per
-- project: each row is checked against the jobs of all models) and the input tokens of a model's
-- pending and running jobs ("batch enqueued tokens"). Tier 1, read 2026-12-03 from
-- https://ai.google.dev/gemini-api/docs/rate-limits; a project on another tier edits them here.
CREATE TABLE public.batch_quota_limits (
  provider             text NOT NULL
    CONSTRAINT batch_quota_limits_provider_check CHECK (provider IN ('gemini')),
  model                text NOT NULL
    CONSTRAINT batch_quota_limits_model_check CHECK (model ~ '^[a-z0-9][a-z0-9.-]*$'),
  max_concurrent_jobs  integer NOT NULL DEFAULT 100
    CONSTRAINT batch_quota_limits_max_concurrent_jobs_check CHECK (max_concurrent_jobs > 0),
  max_enqueued_tokens  bigint NOT NULL
    CONSTRAINT batch_quota_limits_max_enqueued_tokens_check CHECK (max_enqueued_tokens > 0),
  limits_read_on       date NOT NULL,
  updated_at           timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (provider, model)
);

COMMENT ON TABLE public.batch_quota_limits IS
  'Batch Mode limits per model: jobs pending or running (over all models) and their enqueued input tokens.';

INSERT INTO public.batch_quota_limits (provider, model, max_concurrent_jobs, max_enqueued_tokens, limits_read_on) VALUES
  ('gemini', 'gemini-2.5-flash',       100,  3000000, '2026-12-03'),
  ('gemini', 'gemini-2.5-flash-lite',  100, 10000000, '2026-12-03'),
  ('gemini', 'gemini-2.5-pro',         100,  5000000, '2026-12-03'),
  ('gemini', 'gemini-2.0-flash',       100, 10000000, '2026-12-03');

-- creating: the job's files are claimed and its requests built; Google has not been asked yet (or
-- its answer was not recorded: a job with this display name may exist there). pending and running:
-- at Google, polled. The rest are final.
CREATE TYPE batchpilot_private.batch_job_state AS ENUM (
  'creating', 'pending', 'running', 'succeeded', 'failed', 'cancelled', 'expired', 'abandoned');

-- One Gemini batch job. Written before Google is asked (its id is the job's display name), so a
-- worker killed at any moment leaves a row another worker finishes: it finds the job by display
-- name, polls it, completes its files.
CREATE TABLE batchpilot_private.batch_jobs (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  provider       text NOT NULL,
  model          text NOT NULL,
  -- Google's batches/{id}; NULL while creating.
  name           text UNIQUE,
  state          batchpilot_private.batch_job_state NOT NULL DEFAULT 'creating',
  -- The requests' estimated input tokens: what the job holds of the model's enqueued tokens.
  input_tokens   bigint NOT NULL DEFAULT 0
    CONSTRAINT batch_jobs_input_tokens_check CHECK (input_tokens >= 0),
  requests       integer NOT NULL DEFAULT 0,
  -- Who works on it now (creating it, or polling it) and until when; a lapsed lease lets another worker.
  owner          text,
  lease_expires_at timestamptz,
  next_poll_at   timestamptz NOT NULL DEFAULT now(),
  polls          integer NOT NULL DEFAULT 0,
  created_at     timestamptz NOT NULL DEFAULT now(),
  submitted_at   timestamptz,
  ended_at       timestamptz,
  error_message  text,
  updated_at     timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE batchpilot_private.batch_jobs IS
  'Gemini batch jobs: written before Google is asked, so any worker can resume one a killed worker left.';

CREATE INDEX batch_jobs_live_idx ON batchpilot_private.batch_jobs (next_poll_at)
  WHERE state IN ('creating', 'pending', 'running');
CREATE INDEX batch_jobs_model_live_idx ON batchpilot_private.batch_jobs (provider, model)
  WHERE state IN ('creating', 'pending', 'running');

-- A job's files: each is claimed by the job (claimed_by 'batch:<job id>') while it is at Google.
CREATE TABLE batchpilot_private.batch_job_files (
  job_id    uuid NOT NULL REFERENCES batchpilot_private.batch_jobs (id) ON DELETE CASCADE,
  file_id   uuid NOT NULL REFERENCES public.batch_upload_files (id) ON DELETE CASCADE,
  -- The claim's attempts: the job's outcome for the file applies only to this claim.
  attempts  integer NOT NULL,
  -- The validated content's hash, written on the file with its result (duplicates find it).
  content_sha256 bytea,
  PRIMARY KEY (job_id, file_id)
);

CREATE INDEX batch_job_files_file_idx ON batchpilot_private.batch_job_files (file_id);

REVOKE ALL ON batchpilot_private.batch_jobs, batchpilot_private.batch_job_files FROM PUBLIC;
GRANT ALL ON batchpilot_private.batch_jobs, batchpilot_private.batch_job_files TO service_role;

-- =============================================================================================
-- Row-level security: on for every table. The policies are in the repeatable migrations; a table
-- without one (the gate's internals, the metrics, the leader) is the workers' alone, so the API
-- roles see nothing even if a grant slipped in.
-- =============================================================================================
ALTER TABLE public.batch_upload_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.batch_upload_files ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.api_quota_tracking ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.quota_limits ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.quota_permits ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.quota_permit_releases ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.quota_rings ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.batchpilot_worker_heartbeats ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.batchpilot_metric_snapshots ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.batchpilot_usage_per_minute ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.batchpilot_model_prices ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.batchpilot_adaptive_factor_changes ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.batchpilot_leader ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.receipt_embeddings ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.receipt_extractions ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.batch_quota_limits ENABLE ROW LEVEL SECURITY;

-- =============================================================================================
-- Privileges on the tables. Supabase grants the API roles everything in public by default; these
-- take back what RLS alone would leave open: anon gets nothing; authenticated reads what its
-- policies show and writes only the columns a frontend owns (counters, leases, attempts, tokens,
-- results and errors are the workers'; team_id, user_id and batch_session_id cannot be updated,
-- so nothing is moved between owners); the workers (service_role) have everything.
-- =============================================================================================
REVOKE ALL ON public.batch_upload_sessions, public.batch_upload_files, public.api_quota_tracking
  FROM anon, authenticated;
GRANT SELECT, DELETE ON public.batch_upload_sessions, public.batch_upload_files TO authenticated;
GRANT INSERT (id, user_id, team_id, session_name, total_files, provider, model, max_concurrent,
              rate_limit_config, processing_strategy, delivery, interactive_fallback, status)
  ON public.batch_upload_sessions TO authenticated;
GRANT UPDATE (session_name, total_files, max_concurrent, rate_limit_config, processing_strategy, delivery,
              interactive_fallback, status)
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

-- The limits are readable by admins (policy); the gate's internals by the workers only.
REVOKE ALL ON public.quota_limits, public.quota_permits, public.quota_permit_releases, public.quota_rings
  FROM anon, authenticated;
GRANT SELECT ON public.quota_limits TO authenticated;
GRANT ALL ON public.quota_limits, public.quota_permits, public.quota_permit_releases, public.quota_rings
  TO service_role;
REVOKE ALL ON public.batch_quota_limits FROM anon, authenticated;
GRANT SELECT ON public.batch_quota_limits TO authenticated;
GRANT ALL ON public.batch_quota_limits TO service_role;

-- Metrics: the workers write; admins manage prices (policy).
REVOKE ALL ON public.batchpilot_worker_heartbeats, public.batchpilot_metric_snapshots,
  public.batchpilot_usage_per_minute, public.batchpilot_model_prices,
  public.batchpilot_adaptive_factor_changes FROM anon, authenticated;
GRANT ALL ON public.batchpilot_worker_heartbeats, public.batchpilot_metric_snapshots,
  public.batchpilot_usage_per_minute, public.batchpilot_model_prices,
  public.batchpilot_adaptive_factor_changes TO service_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON public.batchpilot_model_prices TO authenticated;

REVOKE ALL ON public.batchpilot_leader FROM anon, authenticated;
GRANT ALL ON public.batchpilot_leader TO service_role;

-- Embeddings follow their session (policy); only the workers write them.
REVOKE ALL ON public.receipt_embeddings FROM anon, authenticated;
GRANT SELECT ON public.receipt_embeddings TO authenticated;
GRANT ALL ON public.receipt_embeddings TO service_role;

-- =============================================================================================
-- Realtime: frontends subscribe to their sessions' and files' row changes; Realtime applies RLS
-- per subscriber. The quota ledger stays out: it changes on every API call and only admins may
-- read it. A publication FOR ALL TABLES already streams them and refuses ADD TABLE.
-- =============================================================================================
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'supabase_realtime' AND NOT puballtables) THEN
    ALTER PUBLICATION supabase_realtime ADD TABLE public.batch_upload_sessions, public.batch_upload_files;
  END IF;
END
$$;
