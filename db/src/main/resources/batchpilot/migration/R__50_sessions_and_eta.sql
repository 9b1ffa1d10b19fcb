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
  -- Files not started, and started ones waiting for a retry or for quota (their job is due
  -- later, not running); the file table's trigger cancels their jobs. A job running finishes, and
  -- its file is skipped if it would be retried.
  UPDATE public.batch_upload_files f
     SET status = 'skipped', error_message = 'the session was cancelled before this file was processed'
   WHERE f.batch_session_id = NEW.id
     AND (f.status IN ('uploading', 'pending')
          OR (f.status = 'processing'
              AND EXISTS (SELECT 1 FROM batchpilot_private.jobs j
                           WHERE j.file_id = f.id AND j.kind = 'extraction' AND j.state = 'available')));
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS batch_upload_sessions_skip_cancelled_files ON public.batch_upload_sessions;
CREATE TRIGGER batch_upload_sessions_skip_cancelled_files
  AFTER UPDATE OF status ON public.batch_upload_sessions
  FOR EACH ROW WHEN (NEW.status = 'cancelled' AND OLD.status IS DISTINCT FROM 'cancelled')
  EXECUTE FUNCTION batchpilot_private.skip_files_of_cancelled_session();

-- ---------------------------------------------------------------------------------------------
-- ETA: when the fleet will have made the calls a session still needs, by the quota gate's own
-- schedule. Per model, the gate grants at most L calls per lookback P (the limits at the most
-- generous strategy of the model's sessions; tokens turned into calls at the measured tokens per
-- call). The grants still in its ring leave it at known times, and each leaving grant lets one new
-- one in, P after which it leaves in turn: the n-th call from now is granted at G(r) + q * P, with
-- (n - 1) = q * L + (r - 1), where G(r) is now for the L - used free places and then the used
-- grants' leaving times, oldest first. A daily limit that the calls outrun moves the rest to the
-- next midnight in Pacific time (the gate's reset), a day's limit a day, each day starting with an
-- empty window. Sessions share the model equally, as the claim does, and one that finishes leaves
-- its share to the rest: session i is done once the model's fleet has finished sum over j of
-- min(left_j, left_i) files. Calls already granted and in flight need no more quota.
--
-- The schedule is a lower bound: a fleet slower than the quota (few threads, slow calls) is
-- measured instead, by the files finished over the last `measured` interval; a gate using
-- (nearly) its whole limit sets the pace whatever a slower start measured (docs/BENCHMARKS.md,
-- ETA accuracy).
-- ---------------------------------------------------------------------------------------------
-- `at`: the moment to estimate at (NULL: now), for a benchmark that replays days of a daily quota
-- through the gate with its own clock.
DROP FUNCTION IF EXISTS batchpilot_private.estimate_completion(interval);
CREATE OR REPLACE FUNCTION batchpilot_private.estimate_completion(measured interval, at timestamptz DEFAULT NULL)
  RETURNS integer
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  now_time timestamptz := coalesce(at, clock_timestamp());
  updated integer;
  batch_updated integer;
BEGIN
  WITH sharing AS (
    -- The sessions that share a model's capacity now or from their first claim; paused ones wait.
    SELECT s.id, s.provider, s.model, s.status, s.started_at, s.processing_strategy,
           p.files_pending + p.files_processing AS files_left
      FROM public.batch_upload_sessions s
      JOIN batchpilot_private.session_progress p ON p.session_id = s.id
     WHERE s.status IN ('pending', 'processing')
       AND s.delivery = 'interactive'
       AND p.files_pending + p.files_processing > 0
  ), output AS (
    -- What the fleet finished per model in the window, sessions that ended meanwhile included.
    -- n files from the first of them to now are n - 1 intervals: the start-up before the first
    -- file finished does not count as slowness. A call's own time is the quickest such file's
    -- (the others include their wait for the gate).
    SELECT s.provider, s.model,
           count(*) AS files,
           extract(epoch FROM now_time - min(f.processing_completed_at)) AS seconds,
           sum(f.api_calls_made) AS api_calls,
           avg(f.input_tokens) FILTER (WHERE f.api_calls_made > 0) AS tokens_per_call,
           min(f.processing_duration_ms) FILTER (WHERE f.api_calls_made > 0 AND f.status = 'completed') / 1000.0 AS call_seconds
      FROM public.batch_upload_sessions s
      JOIN public.batch_upload_files f ON f.batch_session_id = s.id
     WHERE (s.status IN ('pending', 'processing') OR s.completed_at > now_time - measured)
       AND s.delivery = 'interactive'
       AND f.status IN ('completed', 'failed')
       AND f.processing_completed_at > now_time - measured
     GROUP BY s.provider, s.model
  ), models AS (
    SELECT sh.provider, sh.model, sum(sh.files_left) AS files_left
      FROM sharing sh GROUP BY sh.provider, sh.model
  ), gate AS (
    -- Each model's quota as acquire_quota applies it, at the most generous strategy of the model's
    -- sessions, in calls per lookback; what it granted within the last window (saturation) and
    -- holds in flight; when it may grant again (a 429's block); what is left of the day.
    SELECT m.provider, m.model, q AS limits,
           greatest(1, least(floor(q.requests_per_minute * fr.fraction),
                             floor(q.input_tokens_per_minute * fr.fraction / nullif(o.tokens_per_call, 0))))::bigint AS calls_per_lookback,
           o.tokens_per_call,
           lb.seconds AS lookback_seconds,
           st.requests_in_window >= 0.9 * floor(q.requests_per_minute * fr.fraction) * q.window_ms / 1000.0 / lb.seconds
             OR st.input_tokens_in_window >= 0.9 * floor(q.input_tokens_per_minute * fr.fraction) * q.window_ms / 1000.0 / lb.seconds
             AS saturated,
           st.in_flight,
           greatest(now_time, st.blocked_until) AS first_grant,
           CASE WHEN st.parked_until IS NOT NULL THEN 0
                WHEN q.requests_per_day IS NULL THEN NULL
                WHEN q.day = (now_time AT TIME ZONE 'America/Los_Angeles')::date
                  THEN greatest(0, q.requests_per_day - q.requests_today)
                ELSE q.requests_per_day END AS calls_left_today,
           coalesce(st.parked_until, batchpilot_private.next_pacific_midnight(now_time)) AS next_day
      FROM models m
      JOIN public.quota_limits q ON q.provider = m.provider AND q.model = m.model
      LEFT JOIN output o ON o.provider = m.provider AND o.model = m.model
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
     CROSS JOIN LATERAL batchpilot_private.quota_status_at(m.provider, m.model, now_time) st
  ), buckets AS (
    -- The ring's buckets still in the gate's lookback, newest included, with the time each leaves
    -- it (bucket k counts until bucket k + ring_slots begins), in calls.
    SELECT g.provider, g.model, to_timestamp((b.k + (g.limits).ring_slots) * (g.limits).ring_width_ms / 1000.0) AS leaves_at,
           greatest(b.requests, ceil(b.input_tokens / nullif(g.tokens_per_call, 0)))::bigint AS calls
      FROM gate g
     CROSS JOIN LATERAL (
       SELECT (g.limits).ring_bucket
                - mod(mod((g.limits).ring_bucket - (s.slot - 1), (g.limits).ring_slots) + (g.limits).ring_slots,
                      (g.limits).ring_slots) AS k,
              s.requests::bigint AS requests, s.input_tokens
         FROM public.quota_rings r, unnest(r.requests, r.input_tokens) WITH ORDINALITY AS s(requests, input_tokens, slot)
        WHERE r.provider = g.provider AND r.model = g.model
       UNION ALL
       SELECT (g.limits).ring_bucket, (g.limits).bucket_requests, (g.limits).bucket_input_tokens) b
     WHERE b.requests > 0
       AND (b.k + (g.limits).ring_slots) * (g.limits).ring_width_ms > extract(epoch FROM now_time) * 1000
  ), ring AS (
    SELECT b.provider, b.model, b.leaves_at,
           sum(b.calls) OVER (PARTITION BY b.provider, b.model ORDER BY b.leaves_at) AS calls_until
      FROM buckets b
  ), used AS (
    SELECT g.provider, g.model, coalesce(sum(b.calls), 0) AS calls
      FROM gate g LEFT JOIN buckets b ON b.provider = g.provider AND b.model = g.model
     GROUP BY g.provider, g.model
  ), ahead AS (
    -- sum over j of min(left_j, left_i), for every session at once: in order of files left, the
    -- sessions before i add their own files left, i and those after it i's (a self-join per session
    -- cost 1 s a round at 1,000 sessions, docs/BENCHMARKS.md, scale).
    SELECT sh.id,
           coalesce(sum(sh.files_left) OVER (PARTITION BY sh.provider, sh.model ORDER BY sh.files_left, sh.id
                                             ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
             + sh.files_left * (count(*) OVER (PARTITION BY sh.provider, sh.model)
                                - row_number() OVER (PARTITION BY sh.provider, sh.model ORDER BY sh.files_left, sh.id) + 1)
             AS files
      FROM sharing sh
  ), need AS (
    -- Per session: the files the fleet finishes before it is done, and the calls they still need.
    SELECT i.id, i.provider, i.model, n.files,
           CASE WHEN g.model IS NULL THEN NULL
                ELSE greatest(0, ceil(n.files * coalesce(o.api_calls::numeric / o.files, 1)
                                      - coalesce(g.in_flight, 0) * n.files / m.files_left))::bigint END AS calls
      FROM sharing i
      JOIN models m ON m.provider = i.provider AND m.model = i.model
      LEFT JOIN output o ON o.provider = i.provider AND o.model = i.model
      LEFT JOIN gate g ON g.provider = i.provider AND g.model = i.model
      JOIN ahead n ON n.id = i.id
     WHERE i.status = 'processing' AND i.started_at IS NOT NULL
  ), scheduled AS (
    -- When the gate grants the session's last call: today within the window's schedule, or on the
    -- day the daily limit reaches it.
    SELECT nd.id,
           CASE WHEN nd.calls = 0 THEN g.first_grant
                WHEN g.calls_left_today IS NULL OR nd.calls <= g.calls_left_today THEN
                  greatest(g.first_grant,
                           CASE WHEN w.place <= 0 THEN now_time
                                ELSE (SELECT r.leaves_at FROM ring r
                                       WHERE r.provider = nd.provider AND r.model = nd.model AND r.calls_until >= w.place
                                       ORDER BY r.calls_until LIMIT 1) END)
                  + make_interval(secs => (w.rounds * g.lookback_seconds)::double precision)
                ELSE ((g.next_day AT TIME ZONE 'America/Los_Angeles')
                      + make_interval(days => ((nd.calls - g.calls_left_today - 1) / d.per_day)::integer))
                     AT TIME ZONE 'America/Los_Angeles'
                     + make_interval(secs => (((nd.calls - g.calls_left_today - 1) % d.per_day)
                                              / g.calls_per_lookback * g.lookback_seconds)::double precision)
           END AS last_grant_at
      FROM need nd
      JOIN gate g ON g.provider = nd.provider AND g.model = nd.model
      JOIN used u ON u.provider = nd.provider AND u.model = nd.model
     CROSS JOIN LATERAL (
       -- The n-th call: (n - 1) = rounds * L + (r - 1); place r - L + used among the ring's grants.
       SELECT (nd.calls - 1) / g.calls_per_lookback AS rounds,
              (nd.calls - 1) % g.calls_per_lookback + 1 - g.calls_per_lookback + u.calls AS place) w
     CROSS JOIN LATERAL (
       -- Parked by Google's per-day 429 without a daily limit of ours: the rest goes the next day.
       SELECT coalesce((g.limits).requests_per_day, nd.calls) AS per_day) d
  ), estimate AS (
    -- The gate binds while its last window is (nearly) full, or its lookback is: just after a burst
    -- leaves the window, its grants still hold the lookback, and the minute's measured pace (the
    -- burst, then the wait) would say a minute where the next grants are a second away.
    SELECT nd.id,
           CASE WHEN sc.last_grant_at IS NULL THEN nd.files / p.measured
                WHEN p.measured IS NULL OR g.saturated OR u.calls >= 0.9 * g.calls_per_lookback
                     OR nd.calls > g.calls_left_today THEN sc.seconds
                ELSE greatest(sc.seconds, nd.files / p.measured) END AS seconds
      FROM need nd
      LEFT JOIN scheduled s0 ON s0.id = nd.id
      LEFT JOIN gate g ON g.provider = nd.provider AND g.model = nd.model
      LEFT JOIN used u ON u.provider = nd.provider AND u.model = nd.model
      LEFT JOIN output o ON o.provider = nd.provider AND o.model = nd.model
     CROSS JOIN LATERAL (
       SELECT CASE WHEN o.files >= 2 AND o.seconds > 0 THEN (o.files - 1) / o.seconds END AS measured) p
     CROSS JOIN LATERAL (
       SELECT s0.last_grant_at,
              extract(epoch FROM s0.last_grant_at - now_time) + coalesce(o.call_seconds, 0) AS seconds) sc
  ), unlocked AS (
    -- An estimate is advice: a session a completer or a claim holds now keeps its estimate until the
    -- next round, rather than waiting for it (two writers locking sessions in different orders
    -- deadlocked here, measured in the fairness benchmark).
    SELECT s.id
      FROM public.batch_upload_sessions s
      JOIN estimate e ON e.id = s.id
     WHERE e.seconds IS NOT NULL
     ORDER BY s.id
       FOR UPDATE OF s SKIP LOCKED
  )
  -- An estimate that moved less than a second or 2% of the time left stays as it is: the session
  -- row is what Realtime sends every subscriber, and the bar counts down by itself.
  UPDATE public.batch_upload_sessions s
     SET estimated_completion_at = now_time + make_interval(secs => greatest(0, e.seconds)::double precision)
    FROM estimate e
    JOIN unlocked u ON u.id = e.id
   WHERE s.id = e.id
     AND (s.estimated_completion_at IS NULL
          OR abs(extract(epoch FROM s.estimated_completion_at - now_time) - greatest(0, e.seconds))
             > greatest(1, 0.02 * greatest(0, e.seconds)));
  GET DIAGNOSTICS updated = ROW_COUNT;

  -- Batch sessions: Google's target, 24 hours from each job's creation (usually much sooner); files
  -- not yet in a job go in the next one, so 24 hours from now. An upper bound, as Google gives no other.
  WITH batch_estimate AS (
    SELECT s.id,
           greatest(CASE WHEN p.files_pending > 0 THEN now_time END,
                    (SELECT max(j.created_at) FROM batchpilot_private.batch_jobs j
                      WHERE j.state IN ('creating', 'pending', 'running')
                        AND EXISTS (SELECT 1 FROM batchpilot_private.batch_job_files jf
                                     JOIN batchpilot_private.jobs fj ON fj.file_id = jf.file_id AND fj.kind = 'extraction'
                                    WHERE jf.job_id = j.id AND fj.batch_session_id = s.id AND fj.state = 'running')))
             + interval '24 hours' AS due_by
      FROM public.batch_upload_sessions s
      JOIN batchpilot_private.session_progress p ON p.session_id = s.id
     WHERE s.status IN ('pending', 'processing')
       AND s.delivery = 'batch'
       AND p.files_pending + p.files_processing > 0
  ), unlocked AS (
    SELECT s.id FROM public.batch_upload_sessions s JOIN batch_estimate e ON e.id = s.id
     WHERE e.due_by IS NOT NULL AND s.estimated_completion_at IS DISTINCT FROM e.due_by
     ORDER BY s.id FOR UPDATE OF s SKIP LOCKED
  )
  UPDATE public.batch_upload_sessions s
     SET estimated_completion_at = e.due_by
    FROM batch_estimate e JOIN unlocked u ON u.id = e.id
   WHERE s.id = e.id
     AND (s.estimated_completion_at IS NULL
          OR abs(extract(epoch FROM s.estimated_completion_at - e.due_by)) > 60);
  GET DIAGNOSTICS batch_updated = ROW_COUNT;
  RETURN updated + batch_updated;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- The maintenance leader's progress round, about once a second: ends the sessions that have
-- nothing left to do, then publishes the running sessions' counters and totals that changed since
-- their rows last got them (publish_progress). A session ends when no file is uploading, pending or
-- processing and at least total_files files finished (completed, failed or skipped), so a session
-- whose frontend is still registering files is not ended early; it completes, unless nothing could
-- be done (every finished file failed, none completed): then it fails, saying so. Its row gets the
-- exact counters in the same update. Paused sessions wait for their resume; a pending session
-- never claimed ends only with a finished file (every file skipped before a worker saw it).
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.run_progress_round(min_interval interval DEFAULT interval '1 second')
  RETURNS TABLE (completed integer, failed integer, published integer)
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  now_time timestamptz := clock_timestamp();
  ended text[];
BEGIN
  WITH finished AS (
    SELECT p.session_id
      FROM batchpilot_private.session_progress p
      JOIN public.batch_upload_sessions s ON s.id = p.session_id
     WHERE (s.status = 'processing'
            OR (s.status = 'pending' AND p.files_completed + p.files_failed + p.files_skipped > 0))
       AND p.files_uploading + p.files_pending + p.files_processing = 0
       AND p.files_completed + p.files_failed + p.files_skipped >= s.total_files
     ORDER BY p.session_id
       FOR NO KEY UPDATE OF p SKIP LOCKED
  ), unlocked AS (
    SELECT s.id FROM public.batch_upload_sessions s
     WHERE s.id IN (SELECT finished.session_id FROM finished)
     ORDER BY s.id
       FOR NO KEY UPDATE OF s SKIP LOCKED
  ), ended_sessions AS (
    UPDATE public.batch_upload_sessions s
       SET status = CASE WHEN p.files_completed = 0 AND p.files_failed > 0 THEN 'failed' ELSE 'completed' END,
           completed_at = now_time,
           started_at = coalesce(s.started_at, p.started_at, now_time),
           estimated_completion_at = NULL,
           error_message = CASE WHEN p.files_completed = 0 AND p.files_failed > 0
             THEN 'every file failed (' || p.files_failed
                  || ' of them), so nothing was extracted: each file''s error_message says why'
             ELSE s.error_message END,
           last_error_at = CASE WHEN p.files_completed = 0 AND p.files_failed > 0 THEN now_time ELSE s.last_error_at END,
           files_uploading = p.files_uploading,
           files_pending = p.files_pending,
           files_processing = p.files_processing,
           files_completed = p.files_completed,
           files_failed = p.files_failed,
           files_skipped = p.files_skipped,
           total_processing_time_ms = p.total_processing_time_ms,
           total_api_calls = p.total_api_calls,
           total_tokens_used = p.total_tokens_used,
           total_thinking_tokens = p.total_thinking_tokens,
           rate_limit_hits = p.rate_limit_hits,
           avg_file_processing_time_ms = round(p.total_processing_time_ms::numeric
               / nullif(p.files_completed + p.files_failed, 0), 2)
      FROM batchpilot_private.session_progress p
     WHERE p.session_id = s.id
       AND s.id IN (SELECT unlocked.id FROM unlocked)
    RETURNING s.id, s.status
  ), marked AS (
    UPDATE batchpilot_private.session_progress p
       SET unpublished = false, published_at = now_time
     WHERE p.session_id IN (SELECT ended_sessions.id FROM ended_sessions)
  )
  SELECT coalesce(array_agg(ended_sessions.status), '{}') INTO ended FROM ended_sessions;

  completed := cardinality(array_positions(ended, 'completed'));
  failed := cardinality(array_positions(ended, 'failed'));
  published := batchpilot_private.publish_progress(NULL, min_interval);
  RETURN NEXT;
END
$$;

REVOKE ALL ON FUNCTION batchpilot_private.run_progress_round(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION batchpilot_private.run_progress_round(interval) TO service_role;

-- Trigger functions need no EXECUTE to fire; nobody calls them directly.
REVOKE ALL ON FUNCTION batchpilot_private.check_session_status_change(),
  batchpilot_private.stamp_cancelled_session(), batchpilot_private.skip_files_of_cancelled_session()
  FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON FUNCTION batchpilot_private.estimate_completion(interval, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION batchpilot_private.estimate_completion(interval, timestamptz) TO service_role;

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
