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
