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
