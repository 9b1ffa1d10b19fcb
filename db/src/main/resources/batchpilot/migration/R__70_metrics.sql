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
         (minute, team_id, user_id, model, delivery, shard, files_completed, files_failed, files_skipped,
          files_retried, api_calls, input_tokens, output_tokens, thinking_tokens, processing_ms)
  SELECT date_trunc('minute', clock_timestamp()),
         s.team_id,
         CASE WHEN s.team_id IS NULL THEN s.user_id END,
         coalesce(n.model, s.model),
         coalesce(n.delivery, 'interactive'),
         (pg_backend_pid() % 4)::smallint,
         count(*) FILTER (WHERE n.status = 'completed' AND o.status <> 'completed'),
         count(*) FILTER (WHERE n.status = 'failed' AND o.status <> 'failed'),
         count(*) FILTER (WHERE n.status = 'skipped' AND o.status <> 'skipped'),
         count(*) FILTER (WHERE n.status = 'pending' AND o.status = 'processing' AND n.error_type IS NOT NULL),
         coalesce(sum(n.api_calls_made - o.api_calls_made), 0),
         coalesce(sum(coalesce(n.input_tokens, 0) - coalesce(o.input_tokens, 0)), 0),
         coalesce(sum(coalesce(n.output_tokens, 0) - coalesce(o.output_tokens, 0)), 0),
         coalesce(sum(coalesce(n.thinking_tokens, 0) - coalesce(o.thinking_tokens, 0)), 0),
         coalesce(sum(n.processing_duration_ms)
                    FILTER (WHERE n.status IN ('completed', 'failed') AND o.status <> n.status), 0)
    FROM new_files n
    JOIN old_files o USING (id)
    JOIN public.batch_upload_sessions s ON s.id = n.batch_session_id
   WHERE n.status IS DISTINCT FROM o.status
      OR n.api_calls_made IS DISTINCT FROM o.api_calls_made
      OR n.input_tokens IS DISTINCT FROM o.input_tokens
      OR n.output_tokens IS DISTINCT FROM o.output_tokens
      OR n.thinking_tokens IS DISTINCT FROM o.thinking_tokens
   GROUP BY 1, 2, 3, 4, 5, 6
   -- Rows are locked in key order, so two statements touching the same keys cannot deadlock.
   ORDER BY 1, 2, 3, 4, 5, 6
  ON CONFLICT ON CONSTRAINT batchpilot_usage_per_minute_key DO UPDATE
     SET files_completed = u.files_completed + excluded.files_completed,
         files_failed    = u.files_failed + excluded.files_failed,
         files_skipped   = u.files_skipped + excluded.files_skipped,
         files_retried   = u.files_retried + excluded.files_retried,
         api_calls       = u.api_calls + excluded.api_calls,
         input_tokens    = u.input_tokens + excluded.input_tokens,
         output_tokens   = u.output_tokens + excluded.output_tokens,
         thinking_tokens = u.thinking_tokens + excluded.thinking_tokens,
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
         u.api_calls, u.input_tokens, u.output_tokens, u.processing_ms, u.thinking_tokens, u.delivery,
         -- The spend at the price of how the calls went (batch: the batch price); NULL for an unpriced model.
         round((u.input_tokens * CASE WHEN u.delivery = 'batch' THEN p.batch_input_usd_per_million
                                      ELSE p.input_usd_per_million END
                + (u.output_tokens + u.thinking_tokens) * CASE WHEN u.delivery = 'batch' THEN p.batch_output_usd_per_million
                                                               ELSE p.output_usd_per_million END) / 1000000, 9)
           AS spend_usd
    FROM public.batchpilot_usage_per_minute u
    LEFT JOIN public.teams t ON t.id = u.team_id
    LEFT JOIN public.batchpilot_model_prices p ON p.model = u.model;

-- Sessions still running; their counters are kept true by the file table's counter triggers.
CREATE OR REPLACE VIEW batchpilot_reporting.active_sessions AS
  SELECT s.id, s.session_name,
         coalesce(t.name, CASE WHEN s.team_id IS NULL THEN 'personal' ELSE s.team_id::text END) AS team,
         s.model, s.processing_strategy, s.status, s.total_files,
         s.files_pending + s.files_uploading AS files_waiting, s.files_processing, s.files_completed,
         s.files_failed, s.files_skipped, s.rate_limit_hits, s.total_tokens_used,
         s.started_at, s.estimated_completion_at, s.error_message, s.last_error_at, s.created_at,
         s.total_thinking_tokens, s.delivery
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
  SELECT model, input_usd_per_million, output_usd_per_million, updated_at, batch_input_usd_per_million,
         batch_output_usd_per_million, prices_read_on
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
