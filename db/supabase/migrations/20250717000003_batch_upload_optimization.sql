-- batchpilot: generated from db/src/main/resources/batchpilot/migration by
-- io.batchpilot.db.SupabaseMigrationFile. Do not edit; edit the Flyway migrations and regenerate.
-- Apply with the Supabase CLI (supabase db push) or with `batchpilot migrate`, not both.

-- ==== V1__baseline.sql ====

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
-- Sessions: one batch of files
-- =============================================================================================
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

-- Gemini's free-tier limits (November 2026): a project on a paid tier raises them here.
INSERT INTO public.quota_limits
  (provider, model, requests_per_minute, input_tokens_per_minute, requests_per_day, max_in_flight)
VALUES
  ('gemini', 'gemini-2.5-flash',      10, 250000,  250, 10),
  ('gemini', 'gemini-2.5-flash-lite', 15, 250000, 1000, 15),
  ('gemini', 'gemini-2.5-pro',         5, 250000,  100,  5),
  ('gemini', 'gemini-embedding-001', 100,  30000, 1000, 20);

-- One row per permit in flight: granted and neither released nor lapsed (expires_at passed).
-- A release (or a lapse) deletes it; the bucket a grant counted in is its granted_at's.
CREATE TABLE public.quota_permits (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  provider      text NOT NULL,
  model         text NOT NULL,
  input_tokens  bigint NOT NULL,
  granted_at    timestamptz NOT NULL,
  expires_at    timestamptz NOT NULL,
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

-- Prices, for the cost dashboard. Admins edit them (SQL editor, or the Data API with an admin JWT).
-- Standard (paid tier) list prices in USD per million tokens, from Google's pricing page
-- https://ai.google.dev/gemini-api/docs/pricing as transcribed on 2026-09-20 and March 2026
-- (gemini-2.5-pro: prompts up to 200k tokens; output prices include thinking tokens). Check them
-- against that page before trusting the spend panels: a new price is one UPDATE.
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

INSERT INTO public.batchpilot_model_prices (model, input_usd_per_million, output_usd_per_million, source) VALUES
  ('gemini-2.5-pro',        1.25, 10.00, 'https://ai.google.dev/gemini-api/docs/pricing (prompts <= 200k tokens)'),
  ('gemini-2.5-flash',      0.30,  2.50, 'https://ai.google.dev/gemini-api/docs/pricing (text/image/video input)'),
  ('gemini-2.5-flash-lite', 0.10,  0.40, 'https://ai.google.dev/gemini-api/docs/pricing'),
  ('gemini-2.0-flash',      0.10,  0.40, 'https://ai.google.dev/gemini-api/docs/pricing'),
  ('gemini-embedding-001',  0.15,  0.00, 'https://ai.google.dev/gemini-api/docs/pricing');

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
-- Moving to pgvector later: create the extension, then
--   ALTER TABLE public.receipt_embeddings ALTER COLUMN embedding TYPE extensions.vector(768)
--     USING embedding::extensions.vector(768);
-- create the HNSW index below, and run R__40_embeddings.sql again (see README, "Search").
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

-- The limits are readable by admins (policy); the gate's internals by the workers only.
REVOKE ALL ON public.quota_limits, public.quota_permits, public.quota_permit_releases, public.quota_rings
  FROM anon, authenticated;
GRANT SELECT ON public.quota_limits TO authenticated;
GRANT ALL ON public.quota_limits, public.quota_permits, public.quota_permit_releases, public.quota_rings
  TO service_role;

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

-- ==== R__10_common.sql ====

-- batchpilot, repeatable: what every other part uses. updated_at stamping, and the row-level
-- security helpers the policies call. Flyway re-applies this file whenever its text changes, after
-- the versioned migrations and before R__20...; every statement may run again on an installed
-- database and changes nothing.

-- ---------------------------------------------------------------------------------------------
-- updated_at, set on every update. The gate's limits row and the quota ledger skip it where it
-- would cost: grants do not touch quota_limits.updated_at (it says when an admin, or a 429 report,
-- last changed the row; a trigger call per grant was a measurable share of its cost), and the
-- ledger's upserts set updated_at themselves, so its trigger runs only for writers that leave it
-- unchanged.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.touch_updated_at() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS batch_upload_sessions_touch ON public.batch_upload_sessions;
CREATE TRIGGER batch_upload_sessions_touch BEFORE UPDATE ON public.batch_upload_sessions
  FOR EACH ROW EXECUTE FUNCTION batchpilot_private.touch_updated_at();
DROP TRIGGER IF EXISTS batch_upload_files_touch ON public.batch_upload_files;
CREATE TRIGGER batch_upload_files_touch BEFORE UPDATE ON public.batch_upload_files
  FOR EACH ROW EXECUTE FUNCTION batchpilot_private.touch_updated_at();
DROP TRIGGER IF EXISTS api_quota_tracking_touch ON public.api_quota_tracking;
CREATE TRIGGER api_quota_tracking_touch BEFORE UPDATE ON public.api_quota_tracking
  FOR EACH ROW WHEN (OLD.updated_at IS NOT DISTINCT FROM NEW.updated_at)
  EXECUTE FUNCTION batchpilot_private.touch_updated_at();
DROP TRIGGER IF EXISTS quota_limits_touch ON public.quota_limits;
CREATE TRIGGER quota_limits_touch BEFORE UPDATE OF
    requests_per_minute, input_tokens_per_minute, requests_per_day, max_in_flight, window_ms,
    buckets_per_window, safety_margin_ms, permit_lease_ms, adaptive_factor, adaptive_changed_at,
    adaptive_min, adaptive_decrease, adaptive_increase, blocked_until, blocked_quota_id, parked_until
  ON public.quota_limits
  FOR EACH ROW EXECUTE FUNCTION batchpilot_private.touch_updated_at();
DROP TRIGGER IF EXISTS batchpilot_model_prices_touch ON public.batchpilot_model_prices;
CREATE TRIGGER batchpilot_model_prices_touch BEFORE UPDATE ON public.batchpilot_model_prices
  FOR EACH ROW EXECUTE FUNCTION batchpilot_private.touch_updated_at();

-- ---------------------------------------------------------------------------------------------
-- Row-level security helpers. SECURITY DEFINER with an empty search_path, so policies do not
-- recurse into team_members' own policies and `authenticated` never needs to read auth.users;
-- `(SELECT auth.uid())` runs once per statement, not once per row.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.my_team_ids() RETURNS SETOF uuid
  LANGUAGE sql STABLE
  SECURITY DEFINER
  SET search_path = ''
AS $$
  SELECT m.team_id FROM public.team_members m WHERE m.user_id = (SELECT auth.uid())
$$;

-- The sessions the caller may see: personal ones they own, and their teams'.
CREATE OR REPLACE FUNCTION batchpilot_private.my_session_ids() RETURNS SETOF uuid
  LANGUAGE sql STABLE
  SECURITY DEFINER
  SET search_path = ''
AS $$
  SELECT s.id
    FROM public.batch_upload_sessions s
   WHERE (s.team_id IS NULL AND s.user_id = (SELECT auth.uid()))
      OR s.team_id IN (SELECT batchpilot_private.my_team_ids())
$$;

-- An admin's app_metadata.role is 'admin', in the JWT or in auth.users. Only the service key can
-- set app_metadata; a user can change their own user_metadata (updateUser()), so it is never
-- trusted here.
CREATE OR REPLACE FUNCTION batchpilot_private.is_admin() RETURNS boolean
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
REVOKE ALL ON FUNCTION batchpilot_private.touch_updated_at(), batchpilot_private.my_team_ids(),
  batchpilot_private.my_session_ids(), batchpilot_private.is_admin()
  FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION batchpilot_private.my_team_ids(), batchpilot_private.my_session_ids(),
  batchpilot_private.is_admin() TO authenticated, service_role;

-- ==== R__20_quota_gate.sql ====

-- batchpilot, repeatable: the global quota gate. One row of public.quota_limits per (provider,
-- model) holds the limits an admin edits and the fleet's shared state; the lookback's per-bucket
-- counts are a ring (the newest bucket on the limits row, the older ones in quota_rings); a permit
-- row lives exactly as long as its request is in flight. Every worker, Edge Function or service
-- that calls batchpilot_acquire_quota shares the same quota. See the README, "The quota gate".
--
-- What one grant costs (docs/BENCHMARKS.md): it locks and updates the narrow limits row and
-- inserts the permit; it reads or writes quota_rings only when the clock has entered a new bucket
-- or the answer is a wait. The ledger (api_quota_tracking) counts a request when its permit ends,
-- with the real token count, in the minute it was granted: no ledger write per grant and no
-- correction after. A release deletes its permit and counts on its own row
-- (quota_permit_releases), so it never waits for the gate's lock.

-- ---------------------------------------------------------------------------------------------
-- Arithmetic
-- ---------------------------------------------------------------------------------------------

-- The adaptive factor in effect at an instant: the stored one plus adaptive_increase for every
-- whole window since it last changed, capped at 1. No SET clause, so the planner inlines it (it
-- reads only its arguments and pg_catalog: the caller's search_path cannot change it).
CREATE OR REPLACE FUNCTION batchpilot_private.adaptive_factor_at(q public.quota_limits, at timestamptz)
  RETURNS double precision
  LANGUAGE sql IMMUTABLE
AS $$
  SELECT least(1.0, q.adaptive_factor + q.adaptive_increase * greatest(0, floor(
    extract(epoch FROM at - q.adaptive_changed_at) * 1000 / q.window_ms)))
$$;

-- The next midnight America/Los_Angeles after an instant: when Google resets daily quotas.
CREATE OR REPLACE FUNCTION batchpilot_private.next_pacific_midnight(at timestamptz) RETURNS timestamptz
  LANGUAGE sql IMMUTABLE
  SET search_path = ''
AS $$
  SELECT (date_trunc('day', at AT TIME ZONE 'America/Los_Angeles') + interval '1 day')
         AT TIME ZONE 'America/Los_Angeles'
$$;

-- ---------------------------------------------------------------------------------------------
-- Acquire. The guarantee: let w = window_ms / buckets_per_window and n = ceil((window_ms +
-- safety_margin_ms) / w). A request granted at t (bucket b = floor(t / w)) is admitted only if the
-- buckets b-n .. b plus its own cost stay within the limit. The ring holds exactly those n + 1
-- buckets once moved to b (the slots of buckets older than b-n are emptied and leave the totals),
-- and window_requests / window_input_tokens are their sums. Take any window of length window_ms at
-- the server, and in it the request r granted last (grant order = lock order = time order, since
-- `now` is read after the row lock and never behind the last grant). Every other request in that
-- window arrived at most window_ms + spread before r did, so (spread <= safety margin) it was
-- granted within window_ms + margin before r, hence in buckets b_r-n .. b_r, and before r: r's
-- check counted it. So the window holds at most the limit. Tokens likewise, as long as estimates
-- are not below the real counts (reconcile corrects the ring for later grants). When an admin
-- changes the window's layout, or the clock steps back, the totals move to the newest bucket:
-- counted later than granted, so never less safe.
--
-- The strategies' fractions of the limits (and of the in-flight cap): conservative leaves half of
-- the project's quota to other apps; balanced a quarter; aggressive uses all of it, which is safe
-- because the gate is exact; adaptive follows the fleet's shared factor.
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

-- The public entry. plpgsql: a SQL function that cannot be inlined (it is security definer) plans
-- its query on every call, 7% of a grant measured with pgbench.
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

COMMENT ON FUNCTION public.batchpilot_acquire_quota(text, text, bigint, text) IS
  'Grant one request of the given estimated input tokens (granted, permit_id, granted_at), or say how long to wait (wait_ms, reason).';

-- ---------------------------------------------------------------------------------------------
-- Reconcile, release, finish
-- ---------------------------------------------------------------------------------------------

-- Moves the input tokens counted in bucket k by delta, while k is in the lookback: on the limits
-- row for the newest bucket, else in quota_rings. The caller holds the limits row's lock (taken
-- before the permits', as acquire takes them); q gives the ring's layout, which only acquire
-- changes. Counts are read from the rows, not q: a batch corrects a bucket after another.
CREATE OR REPLACE FUNCTION batchpilot_private.correct_quota_window(q public.quota_limits, k bigint, delta bigint)
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
CREATE OR REPLACE FUNCTION batchpilot_private.counted_bucket(q public.quota_limits, granted_at timestamptz)
  RETURNS bigint
  LANGUAGE sql
  IMMUTABLE
AS $$
  SELECT CASE WHEN granted_at >= q.ring_since
              THEN floor(extract(epoch FROM granted_at) * 1000)::bigint / q.ring_width_ms END
$$;

-- Replaces a grant's estimate with the real prompt token count, for the admission of later
-- requests (the ledger takes the count when the permit ends). Returns false when the permit is
-- unknown (released, or its lease lapsed). Locks the limits row before the permit, in acquire's order.
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
-- has), in one transaction: what workers do after their requests, batched (a worker's finisher
-- collects them), correcting each bucket once. The ledger counts a request when its permit ends,
-- in the minute it was granted. Returns how many had not already ended (released, or their lease
-- lapsed); an ended permit's count stays as it was. Acquire ends lapsed permits through it too.
CREATE OR REPLACE FUNCTION public.batchpilot_finish_quotas(permit_ids uuid[], actual_input_tokens bigint[])
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

-- One permit: release, or reconcile and release. plpgsql, whose plans are cached (a SQL
-- function's are made anew on every call, a quarter of a release's CPU, measured).
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

COMMENT ON FUNCTION public.batchpilot_finish_quota(uuid, bigint) IS
  'batchpilot_reconcile_quota then batchpilot_release_quota, in one call: what a worker does after each request.';

-- ---------------------------------------------------------------------------------------------
-- What the servers say: 429s
-- ---------------------------------------------------------------------------------------------

-- A 429 for a per-minute quota: the whole fleet waits retry_delay_ms for this (provider, model),
-- and the adaptive factor is cut once per blocked period, however many workers report it.
-- Returns the instant the block ends.
CREATE OR REPLACE FUNCTION public.batchpilot_report_rate_limit(
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
CREATE OR REPLACE FUNCTION public.batchpilot_report_daily_quota_exhausted(provider text, model text)
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

-- The ledger's minute says it was rate limited, and until when.
CREATE OR REPLACE FUNCTION batchpilot_private.mark_ledger_limited(q public.quota_limits, at timestamptz, block_end timestamptz)
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

-- What the gate knows about one (provider, model) right now: for sessions ("parked until"), the
-- ETA and dashboards. The window counts the buckets that started within the last window_ms: the
-- ring's and the newest.
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
-- Privileges: the gate's functions belong to the workers and the project's own services
-- (service_role); the limits and the ledger are readable by admins.
-- ---------------------------------------------------------------------------------------------
REVOKE ALL ON FUNCTION batchpilot_private.adaptive_factor_at(public.quota_limits, timestamptz),
  batchpilot_private.next_pacific_midnight(timestamptz),
  batchpilot_private.acquire_quota(text, text, bigint, text, timestamptz),
  batchpilot_private.mark_ledger_limited(public.quota_limits, timestamptz, timestamptz)
  FROM PUBLIC;
REVOKE ALL ON FUNCTION batchpilot_private.correct_quota_window(public.quota_limits, bigint, bigint),
  batchpilot_private.counted_bucket(public.quota_limits, timestamptz) FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION public.batchpilot_acquire_quota(text, text, bigint, text),
  public.batchpilot_reconcile_quota(uuid, bigint),
  public.batchpilot_release_quota(uuid),
  public.batchpilot_finish_quota(uuid, bigint),
  public.batchpilot_finish_quotas(uuid[], bigint[]),
  public.batchpilot_report_rate_limit(text, text, bigint, text),
  public.batchpilot_report_daily_quota_exhausted(text, text),
  public.batchpilot_quota_status(text, text)
  FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.batchpilot_acquire_quota(text, text, bigint, text),
  public.batchpilot_reconcile_quota(uuid, bigint),
  public.batchpilot_release_quota(uuid),
  public.batchpilot_finish_quota(uuid, bigint),
  public.batchpilot_finish_quotas(uuid[], bigint[]),
  public.batchpilot_report_rate_limit(text, text, bigint, text),
  public.batchpilot_report_daily_quota_exhausted(text, text),
  public.batchpilot_quota_status(text, text)
  TO service_role;

DROP POLICY IF EXISTS quota_limits_admin_select ON public.quota_limits;
CREATE POLICY quota_limits_admin_select ON public.quota_limits
  FOR SELECT TO authenticated
  USING ((SELECT batchpilot_private.is_admin()));

-- The quota ledger: admins read it; only the workers write it.
DROP POLICY IF EXISTS api_quota_admin_select ON public.api_quota_tracking;
CREATE POLICY api_quota_admin_select ON public.api_quota_tracking
  FOR SELECT TO authenticated
  USING ((SELECT batchpilot_private.is_admin()));

-- ==== R__30_claims_and_completion.sql ====

-- batchpilot, repeatable: a file's way through the fleet. Session counters and wake-ups (kept by
-- triggers on the file table), the claim, the completion, what a frontend may name as a file's
-- Storage object, and who may see and change files. Every statement may run again on an installed
-- database and changes nothing.

-- ---------------------------------------------------------------------------------------------
-- Session counters: statement-level triggers sum the status changes of every row a statement
-- touched and update each session once. They run as the owner, so a frontend that may not write
-- the counters still keeps them true. Sessions are locked in id order, so two statements touching
-- the same sessions never deadlock, whatever order their rows come in.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.apply_file_status_changes(
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
CREATE OR REPLACE FUNCTION batchpilot_private.count_file_statuses() RETURNS trigger
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

DROP TRIGGER IF EXISTS batch_upload_files_count_inserted ON public.batch_upload_files;
CREATE TRIGGER batch_upload_files_count_inserted
  AFTER INSERT ON public.batch_upload_files
  REFERENCING NEW TABLE AS new_files
  FOR EACH STATEMENT EXECUTE FUNCTION batchpilot_private.count_file_statuses();
DROP TRIGGER IF EXISTS batch_upload_files_count_updated ON public.batch_upload_files;
CREATE TRIGGER batch_upload_files_count_updated
  AFTER UPDATE ON public.batch_upload_files
  REFERENCING OLD TABLE AS old_files NEW TABLE AS new_files
  FOR EACH STATEMENT EXECUTE FUNCTION batchpilot_private.count_file_statuses();
DROP TRIGGER IF EXISTS batch_upload_files_count_deleted ON public.batch_upload_files;
CREATE TRIGGER batch_upload_files_count_deleted
  AFTER DELETE ON public.batch_upload_files
  REFERENCING OLD TABLE AS old_files
  FOR EACH STATEMENT EXECUTE FUNCTION batchpilot_private.count_file_statuses();

-- ---------------------------------------------------------------------------------------------
-- Wake-ups: one NOTIFY per statement, carrying session ids only (never file contents), when files
-- become claimable or a session starts or resumes. NOTIFY takes a database-wide lock at commit, so
-- never once per row. Workers also poll, so a lost one costs latency, not files.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.notify_sessions(session_ids uuid[]) RETURNS void
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

CREATE OR REPLACE FUNCTION batchpilot_private.notify_claimable_files() RETURNS trigger
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

DROP TRIGGER IF EXISTS batch_upload_files_notify_inserted ON public.batch_upload_files;
CREATE TRIGGER batch_upload_files_notify_inserted
  AFTER INSERT ON public.batch_upload_files
  REFERENCING NEW TABLE AS new_files
  FOR EACH STATEMENT EXECUTE FUNCTION batchpilot_private.notify_claimable_files();
DROP TRIGGER IF EXISTS batch_upload_files_notify_updated ON public.batch_upload_files;
CREATE TRIGGER batch_upload_files_notify_updated
  AFTER UPDATE ON public.batch_upload_files
  REFERENCING OLD TABLE AS old_files NEW TABLE AS new_files
  FOR EACH STATEMENT EXECUTE FUNCTION batchpilot_private.notify_claimable_files();

CREATE OR REPLACE FUNCTION batchpilot_private.notify_resumed_sessions() RETURNS trigger
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

DROP TRIGGER IF EXISTS batch_upload_sessions_notify_resumed ON public.batch_upload_sessions;
CREATE TRIGGER batch_upload_sessions_notify_resumed
  AFTER UPDATE ON public.batch_upload_sessions
  REFERENCING OLD TABLE AS old_sessions NEW TABLE AS new_sessions
  FOR EACH STATEMENT EXECUTE FUNCTION batchpilot_private.notify_resumed_sessions();

-- ---------------------------------------------------------------------------------------------
-- Claim: up to max_files due files, fair across sessions, within each session's max_concurrent
-- across the whole fleet; one statement, one round trip. Sessions in 'pending' start on their
-- first claim (status processing, started_at set), so a frontend that only inserts rows still gets
-- its files processed; 'paused', 'cancelled', 'completed' and 'failed' sessions are never claimed
-- from.
--
-- Fair shares: a session's turns start after the files it already has in flight, and equal turns
-- of different sessions go in random order. Ranking each claim on its own (turns from 1, ties by
-- due time) gave the one-file claim that follows a finished file to the session with the oldest
-- due file, every time: under a binding quota the first-submitted of two equal sessions got about
-- twice the other's throughput (docs/BENCHMARKS.md, fairness). Counting in-flight files first
-- gives every session an equal share of the fleet's threads, and so of the quota they wait for.
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
CREATE OR REPLACE FUNCTION batchpilot_private.complete_files(outcomes jsonb)
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

-- ---------------------------------------------------------------------------------------------
-- Which Storage objects a frontend may name. Workers read storage_path with the service-role key,
-- which bypasses Storage's own policies, so a row could otherwise point them at another user's
-- object and return its extraction to the row's owner. Supabase's convention, and the README's
-- upload policy: each user's objects are under "<auth.uid()>/". Only the API roles are checked:
-- the workers, the service key and the SECURITY DEFINER triggers run as other roles.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.check_storage_path() RETURNS trigger
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

DROP TRIGGER IF EXISTS batch_upload_files_check_storage_path ON public.batch_upload_files;
CREATE TRIGGER batch_upload_files_check_storage_path
  BEFORE INSERT OR UPDATE OF storage_bucket, storage_path ON public.batch_upload_files
  FOR EACH ROW EXECUTE FUNCTION batchpilot_private.check_storage_path();

-- ---------------------------------------------------------------------------------------------
-- Privileges. Trigger functions need no EXECUTE to fire; nobody calls them directly.
-- ---------------------------------------------------------------------------------------------
REVOKE ALL ON FUNCTION batchpilot_private.apply_file_status_changes(uuid[], text[], integer[]),
  batchpilot_private.count_file_statuses(), batchpilot_private.notify_sessions(uuid[]),
  batchpilot_private.notify_claimable_files(), batchpilot_private.notify_resumed_sessions(),
  batchpilot_private.check_storage_path()
  FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON FUNCTION batchpilot_private.claim_files(text, integer, interval),
  batchpilot_private.complete_files(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION batchpilot_private.claim_files(text, integer, interval),
  batchpilot_private.complete_files(jsonb) TO service_role;

-- ---------------------------------------------------------------------------------------------
-- Files follow their session. A frontend registers files as uploading or pending and may retry or
-- skip them; only the workers (service_role, which bypasses RLS) complete or fail them, and a file
-- a worker holds (processing) or has completed is not the frontend's to change.
-- ---------------------------------------------------------------------------------------------
DROP POLICY IF EXISTS batch_files_select ON public.batch_upload_files;
CREATE POLICY batch_files_select ON public.batch_upload_files
  FOR SELECT TO authenticated
  USING (batch_session_id IN (SELECT batchpilot_private.my_session_ids()));

DROP POLICY IF EXISTS batch_files_insert ON public.batch_upload_files;
CREATE POLICY batch_files_insert ON public.batch_upload_files
  FOR INSERT TO authenticated
  WITH CHECK (batch_session_id IN (SELECT batchpilot_private.my_session_ids())
              AND status IN ('uploading', 'pending'));

DROP POLICY IF EXISTS batch_files_update ON public.batch_upload_files;
CREATE POLICY batch_files_update ON public.batch_upload_files
  FOR UPDATE TO authenticated
  USING (batch_session_id IN (SELECT batchpilot_private.my_session_ids())
         AND status IN ('uploading', 'pending', 'failed', 'skipped'))
  WITH CHECK (batch_session_id IN (SELECT batchpilot_private.my_session_ids())
              AND status IN ('uploading', 'pending', 'skipped'));

DROP POLICY IF EXISTS batch_files_delete ON public.batch_upload_files;
CREATE POLICY batch_files_delete ON public.batch_upload_files
  FOR DELETE TO authenticated
  USING (batch_session_id IN (SELECT batchpilot_private.my_session_ids()));

-- ==== R__40_embeddings.sql ====

-- batchpilot, repeatable: every extracted receipt becomes searchable. When a file's extraction
-- completes, its embedding becomes due (embedding_status pending, set by a trigger in the same
-- transaction, so a crash loses nothing); workers claim due files in batches (FOR UPDATE SKIP
-- LOCKED, with a lease), embed up to 100 texts per batchEmbedContents call and store the vectors
-- in receipt_embeddings. The extraction is never undone by an embedding failure: only the
-- embedding_* columns change. Every statement may run again on an installed database and changes
-- nothing; run this file again (psql -f) after converting the embedding column to pgvector.

-- ---------------------------------------------------------------------------------------------
-- A file whose extraction completes (or is replaced by a new one) needs an embedding.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.queue_embedding() RETURNS trigger
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

DROP TRIGGER IF EXISTS batch_upload_files_queue_embedding_inserted ON public.batch_upload_files;
CREATE TRIGGER batch_upload_files_queue_embedding_inserted
  BEFORE INSERT ON public.batch_upload_files
  FOR EACH ROW WHEN (NEW.status = 'completed' AND NEW.result IS NOT NULL)
  EXECUTE FUNCTION batchpilot_private.queue_embedding();
DROP TRIGGER IF EXISTS batch_upload_files_queue_embedding_updated ON public.batch_upload_files;
CREATE TRIGGER batch_upload_files_queue_embedding_updated
  BEFORE UPDATE OF status, result ON public.batch_upload_files
  FOR EACH ROW WHEN (NEW.status = 'completed' AND NEW.result IS NOT NULL
                     AND (OLD.status IS DISTINCT FROM 'completed' OR OLD.result IS DISTINCT FROM NEW.result))
  EXECUTE FUNCTION batchpilot_private.queue_embedding();

-- ---------------------------------------------------------------------------------------------
-- Search: public.match_receipts over the column's type, as the baseline chose it (vector(N) with
-- pgvector, else real[]). SECURITY INVOKER (the default): a search sees only the rows the caller's
-- RLS lets it see. A definition over the other type (left by a conversion to pgvector) is dropped.
-- ---------------------------------------------------------------------------------------------
DO $migration$
DECLARE
  column_type   oid;
  vector_schema text;
  other         regprocedure;
BEGIN
  SELECT a.atttypid, CASE WHEN t.typname = 'vector' THEN n.nspname END INTO column_type, vector_schema
    FROM pg_catalog.pg_attribute a
    JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
    JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
   WHERE a.attrelid = 'public.receipt_embeddings'::regclass AND a.attname = 'embedding' AND NOT a.attisdropped;
  IF vector_schema IS NULL THEN
    -- Cosine similarity computed row by row: correct, and fine for thousands of receipts.
    CREATE OR REPLACE FUNCTION public.match_receipts(
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
    EXECUTE format($fmt$
      CREATE OR REPLACE FUNCTION public.match_receipts(
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
  FOR other IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
                WHERE p.pronamespace = 'public'::regnamespace AND p.proname = 'match_receipts'
                  AND p.proargtypes[0] <> column_type LOOP
    EXECUTE format('DROP FUNCTION %s', other);
  END LOOP;
END
$migration$;

REVOKE ALL ON FUNCTION public.match_receipts FROM PUBLIC, anon;
GRANT EXECUTE ON FUNCTION public.match_receipts TO authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- Claim: up to max_files due embeddings for one worker, or none unless at least min_files are due
-- (a batcher waits for a full batch until its linger has passed). Embeddings whose lease ran out
-- (their worker stopped) are due again; each claim counts an attempt.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.claim_embeddings(
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
CREATE OR REPLACE FUNCTION batchpilot_private.embeddings_due() RETURNS boolean
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
CREATE OR REPLACE FUNCTION batchpilot_private.record_embeddings(outcomes jsonb) RETURNS integer
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
  batchpilot_private.record_embeddings(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION batchpilot_private.claim_embeddings(text, integer, integer, interval),
  batchpilot_private.embeddings_due(),
  batchpilot_private.record_embeddings(jsonb) TO service_role;

-- Embeddings follow their session; only the workers (service_role) write them.
DROP POLICY IF EXISTS receipt_embeddings_select ON public.receipt_embeddings;
CREATE POLICY receipt_embeddings_select ON public.receipt_embeddings
  FOR SELECT TO authenticated
  USING (batch_session_id IN (SELECT batchpilot_private.my_session_ids()));

-- ==== R__50_sessions_and_eta.sql ====

-- batchpilot, repeatable: sessions. Who may see and change them, what a frontend may do to a
-- session's status, what a cancel does, and the ETA. Every statement may run again on an installed
-- database and changes nothing.

-- ---------------------------------------------------------------------------------------------
-- Sessions: personal ones to their owner, team ones to the team's members. A new session belongs
-- to its creator; no session can be moved into a team its writer is not a member of. Every policy
-- has USING and WITH CHECK.
-- ---------------------------------------------------------------------------------------------
DROP POLICY IF EXISTS batch_sessions_select ON public.batch_upload_sessions;
CREATE POLICY batch_sessions_select ON public.batch_upload_sessions
  FOR SELECT TO authenticated
  USING ((team_id IS NULL AND user_id = (SELECT auth.uid()))
         OR team_id IN (SELECT batchpilot_private.my_team_ids()));

DROP POLICY IF EXISTS batch_sessions_insert ON public.batch_upload_sessions;
CREATE POLICY batch_sessions_insert ON public.batch_upload_sessions
  FOR INSERT TO authenticated
  WITH CHECK (user_id = (SELECT auth.uid())
              AND (team_id IS NULL OR team_id IN (SELECT batchpilot_private.my_team_ids())));

DROP POLICY IF EXISTS batch_sessions_update ON public.batch_upload_sessions;
CREATE POLICY batch_sessions_update ON public.batch_upload_sessions
  FOR UPDATE TO authenticated
  USING ((team_id IS NULL AND user_id = (SELECT auth.uid()))
         OR team_id IN (SELECT batchpilot_private.my_team_ids()))
  WITH CHECK ((team_id IS NULL AND user_id = (SELECT auth.uid()))
              OR team_id IN (SELECT batchpilot_private.my_team_ids()));

DROP POLICY IF EXISTS batch_sessions_delete ON public.batch_upload_sessions;
CREATE POLICY batch_sessions_delete ON public.batch_upload_sessions
  FOR DELETE TO authenticated
  USING ((team_id IS NULL AND user_id = (SELECT auth.uid()))
         OR team_id IN (SELECT batchpilot_private.my_team_ids()));

-- ---------------------------------------------------------------------------------------------
-- What a frontend may do to a session's status. The column grant lets a signed-in user write
-- status so that it can pause, resume and cancel; without this check it could also mark its own
-- session completed, failed or processing. Only the API roles are checked: the workers, the
-- service key and the SECURITY DEFINER triggers run as other roles (current_user, not the JWT).
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.check_session_status_change() RETURNS trigger
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

DROP TRIGGER IF EXISTS batch_upload_sessions_check_status ON public.batch_upload_sessions;
CREATE TRIGGER batch_upload_sessions_check_status
  BEFORE INSERT OR UPDATE OF status ON public.batch_upload_sessions
  FOR EACH ROW EXECUTE FUNCTION batchpilot_private.check_session_status_change();

-- ---------------------------------------------------------------------------------------------
-- A cancel ends the session whoever sends it (a frontend's update, `batchpilot cancel`): the files
-- not yet started are skipped at once, so the counters and a frontend's progress bar say so, and
-- completed_at marks the end. Files in flight finish. The skip runs AFTER the update: the file
-- counters' trigger writes this same session row.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.stamp_cancelled_session() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
BEGIN
  NEW.completed_at := coalesce(NEW.completed_at, clock_timestamp());
  RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS batch_upload_sessions_stamp_cancelled ON public.batch_upload_sessions;
CREATE TRIGGER batch_upload_sessions_stamp_cancelled
  BEFORE UPDATE OF status ON public.batch_upload_sessions
  FOR EACH ROW WHEN (NEW.status = 'cancelled' AND OLD.status IS DISTINCT FROM 'cancelled')
  EXECUTE FUNCTION batchpilot_private.stamp_cancelled_session();

-- SECURITY DEFINER: a frontend may not write a file's error_message, but its cancel skips the files.
CREATE OR REPLACE FUNCTION batchpilot_private.skip_files_of_cancelled_session() RETURNS trigger
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

DROP TRIGGER IF EXISTS batch_upload_sessions_skip_cancelled_files ON public.batch_upload_sessions;
CREATE TRIGGER batch_upload_sessions_skip_cancelled_files
  AFTER UPDATE OF status ON public.batch_upload_sessions
  FOR EACH ROW WHEN (NEW.status = 'cancelled' AND OLD.status IS DISTINCT FROM 'cancelled')
  EXECUTE FUNCTION batchpilot_private.skip_files_of_cancelled_session();

-- ---------------------------------------------------------------------------------------------
-- ETA: per model, the fleet's pace (the quota gate's when it is using its whole limit, else the
-- files finished over the last `measured` interval, capped by the gate's), shared equally by the
-- model's sessions with files left, as the claim shares it. Dividing each session's files left by
-- its own recent rate lagged behind a start-up and missed that a session speeds up when another
-- ends (docs/BENCHMARKS.md, ETA accuracy).
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
       -- The fractions acquire_quota applies.
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
       -- What the gate's ring holds for the last window.
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

-- Trigger functions need no EXECUTE to fire; nobody calls them directly.
REVOKE ALL ON FUNCTION batchpilot_private.check_session_status_change(),
  batchpilot_private.stamp_cancelled_session(), batchpilot_private.skip_files_of_cancelled_session()
  FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON FUNCTION batchpilot_private.estimate_completion(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION batchpilot_private.estimate_completion(interval) TO service_role;

-- ==== R__70_metrics.sql ====

-- batchpilot, repeatable: metrics for the Grafana dashboards. Workers write metric snapshots and
-- heartbeats; triggers roll file outcomes and tokens up per minute (so no dashboard ever scans
-- batch_upload_files) and record each cut of the gate's adaptive factor. Grafana reads only the
-- views in batchpilot_reporting, as the role batchpilot_grafana, which can read nothing else.
-- Every statement may run again on an installed database and changes nothing.

-- ---------------------------------------------------------------------------------------------
-- Usage per minute. Files change status and tokens by UPDATE only (inserts are pending or
-- uploading, with no tokens).
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.roll_up_file_usage() RETURNS trigger
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

DROP TRIGGER IF EXISTS batch_upload_files_roll_up_usage ON public.batch_upload_files;
CREATE TRIGGER batch_upload_files_roll_up_usage
  AFTER UPDATE ON public.batch_upload_files
  REFERENCING OLD TABLE AS old_files NEW TABLE AS new_files
  FOR EACH STATEMENT EXECUTE FUNCTION batchpilot_private.roll_up_file_usage();

-- ---------------------------------------------------------------------------------------------
-- The adaptive factor's history. Cuts are rare (once per blocked period), and the trigger fires
-- only when these columns are written, never on a grant.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.record_adaptive_factor() RETURNS trigger
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

DROP TRIGGER IF EXISTS quota_limits_record_adaptive_factor ON public.quota_limits;
CREATE TRIGGER quota_limits_record_adaptive_factor
  AFTER INSERT OR UPDATE OF adaptive_factor, adaptive_changed_at, adaptive_increase, window_ms
  ON public.quota_limits
  FOR EACH ROW EXECUTE FUNCTION batchpilot_private.record_adaptive_factor();

REVOKE ALL ON FUNCTION batchpilot_private.roll_up_file_usage(), batchpilot_private.record_adaptive_factor()
  FROM PUBLIC;

-- Prices: admins manage them (SQL editor, or the Data API with an admin JWT).
DROP POLICY IF EXISTS batchpilot_model_prices_admin ON public.batchpilot_model_prices;
CREATE POLICY batchpilot_model_prices_admin ON public.batchpilot_model_prices
  FOR ALL TO authenticated
  USING ((SELECT batchpilot_private.is_admin()))
  WITH CHECK ((SELECT batchpilot_private.is_admin()));

-- ---------------------------------------------------------------------------------------------
-- What Grafana reads: views in a schema the Data API does not expose. They run with the owner's
-- rights (the migration's user), so Grafana needs no grant on the tables and RLS stays as it is.
-- ---------------------------------------------------------------------------------------------

-- The factor in effect at an instant, from a recorded value: the same arithmetic as
-- batchpilot_private.adaptive_factor_at (QuotaPanelsTest checks they agree), over plain values so
-- the history table can use it.
CREATE OR REPLACE FUNCTION batchpilot_reporting.adaptive_factor(
  factor double precision, increase double precision, window_ms integer, changed_at timestamptz, at timestamptz)
  RETURNS double precision
  LANGUAGE sql IMMUTABLE
  SET search_path = ''
AS $$
  SELECT least(1.0, factor + increase * greatest(0, floor(extract(epoch FROM at - changed_at) * 1000 / window_ms)))
$$;

CREATE OR REPLACE VIEW batchpilot_reporting.worker_heartbeats AS
  SELECT worker_id, host, version, started_at, last_seen_at, in_flight, stopped_at
    FROM public.batchpilot_worker_heartbeats;

CREATE OR REPLACE VIEW batchpilot_reporting.metric_snapshots AS
  SELECT taken_at, worker_id, name, tags, kind, count, delta, value, rate_1m, mean, p50, p95, p99, max
    FROM public.batchpilot_metric_snapshots;

CREATE OR REPLACE VIEW batchpilot_reporting.usage_per_minute AS
  SELECT u.minute, u.team_id, u.user_id,
         coalesce(t.name, CASE WHEN u.team_id IS NULL THEN 'personal' ELSE u.team_id::text END) AS team,
         u.model, u.files_completed, u.files_failed, u.files_skipped, u.files_retried,
         u.api_calls, u.input_tokens, u.output_tokens, u.processing_ms
    FROM public.batchpilot_usage_per_minute u
    LEFT JOIN public.teams t ON t.id = u.team_id;

-- Sessions still running; their counters are kept true by the file table's counter triggers.
CREATE OR REPLACE VIEW batchpilot_reporting.active_sessions AS
  SELECT s.id, s.session_name,
         coalesce(t.name, CASE WHEN s.team_id IS NULL THEN 'personal' ELSE s.team_id::text END) AS team,
         s.model, s.processing_strategy, s.status, s.total_files,
         s.files_pending + s.files_uploading AS files_waiting, s.files_processing, s.files_completed,
         s.files_failed, s.files_skipped, s.rate_limit_hits, s.total_tokens_used,
         s.started_at, s.estimated_completion_at, s.error_message, s.last_error_at, s.created_at
    FROM public.batch_upload_sessions s
    LEFT JOIN public.teams t ON t.id = s.team_id
   WHERE s.status IN ('pending', 'processing', 'paused');

CREATE OR REPLACE VIEW batchpilot_reporting.quota_usage_per_minute AS
  SELECT api_provider, model, quota_type, time_window, quota_used, quota_limit, is_rate_limited,
         rate_limit_reset_at
    FROM public.api_quota_tracking;

-- Each model's limits and the gate's state now.
CREATE OR REPLACE VIEW batchpilot_reporting.quota_limits AS
  SELECT provider, model, requests_per_minute, input_tokens_per_minute, requests_per_day, max_in_flight,
         CASE WHEN day = (now() AT TIME ZONE 'America/Los_Angeles')::date THEN requests_today ELSE 0 END
           AS requests_today,
         batchpilot_reporting.adaptive_factor(adaptive_factor, adaptive_increase, window_ms, adaptive_changed_at, now())
           AS adaptive_factor,
         CASE WHEN blocked_until > now() THEN blocked_until END AS blocked_until,
         CASE WHEN blocked_until > now() THEN blocked_quota_id END AS blocked_quota_id,
         CASE WHEN parked_until > now() THEN parked_until END AS parked_until
    FROM public.quota_limits;

CREATE OR REPLACE VIEW batchpilot_reporting.adaptive_factor_changes AS
  SELECT provider, model, changed_at, adaptive_factor, adaptive_increase, window_ms
    FROM public.batchpilot_adaptive_factor_changes;

CREATE OR REPLACE VIEW batchpilot_reporting.model_prices AS
  SELECT model, input_usd_per_million, output_usd_per_million, updated_at
    FROM public.batchpilot_model_prices;

REVOKE ALL ON FUNCTION batchpilot_reporting.adaptive_factor(double precision, double precision, integer,
  timestamptz, timestamptz) FROM PUBLIC;

GRANT SELECT ON batchpilot_reporting.worker_heartbeats, batchpilot_reporting.metric_snapshots,
  batchpilot_reporting.usage_per_minute, batchpilot_reporting.active_sessions,
  batchpilot_reporting.quota_usage_per_minute, batchpilot_reporting.quota_limits,
  batchpilot_reporting.adaptive_factor_changes, batchpilot_reporting.model_prices
  TO batchpilot_grafana;
GRANT EXECUTE ON FUNCTION batchpilot_reporting.adaptive_factor(double precision, double precision, integer,
  timestamptz, timestamptz) TO batchpilot_grafana;
