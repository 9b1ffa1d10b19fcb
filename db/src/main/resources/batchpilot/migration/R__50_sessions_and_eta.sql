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

-- ---------------------------------------------------------------------------------------------
-- An upload that failed. A frontend may set a file skipped, but error_type and error_message are
-- the workers' columns; this records why, for a file the caller may read that is still uploading,
-- so the session's counters move on and the file says what happened.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.batchpilot_skip_failed_upload(file_id uuid, reason text)
  RETURNS boolean
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  -- Storage's error texts are short; a longer one is cut, never refused: the skip must happen.
  UPDATE public.batch_upload_files f
     SET status = 'skipped', error_type = 'upload_failed',
         error_message = 'the upload to Storage failed, so this file was skipped: '
           || left(coalesce(nullif(btrim(reason), ''), 'no reason given'), 500)
   WHERE f.id = batchpilot_skip_failed_upload.file_id
     AND f.status = 'uploading'
     AND f.batch_session_id IN (SELECT batchpilot_private.my_session_ids());
  RETURN FOUND;
END
$$;

COMMENT ON FUNCTION public.batchpilot_skip_failed_upload(uuid, text) IS
  'Marks one of the caller''s files still uploading as skipped (upload_failed) with the reason; false if it is not uploading or not theirs.';

REVOKE ALL ON FUNCTION public.batchpilot_skip_failed_upload(uuid, text) FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION public.batchpilot_skip_failed_upload(uuid, text) TO authenticated;
