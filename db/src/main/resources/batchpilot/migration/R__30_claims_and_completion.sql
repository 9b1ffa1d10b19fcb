-- batchpilot, repeatable: a file's way through the fleet. Session counters and wake-ups (kept by
-- triggers on the file table), the claim, the completion, what a frontend may name as a file's
-- Storage object, and who may see and change files. Every statement may run again on an installed
-- database and changes nothing.

-- ---------------------------------------------------------------------------------------------
-- Session counters: statement-level triggers sum the status changes of every row a statement
-- touched and update each session's private progress row once (batchpilot_private.session_progress,
-- exact: the claim reads it). They run as the owner, so a frontend that may not write the counters
-- still keeps them true. Progress rows are locked in id order, so two statements touching the same
-- sessions never deadlock, whatever order their rows come in.
--
-- The session row, which Realtime sends to every subscriber, gets the copy (publish_progress): at
-- once for any other statement's change and for a session not running; the claim and the
-- completion (they set the transaction setting batchpilot.progress = 'held' while they write)
-- publish at their end only a session last published a second ago or more, and the maintenance
-- leader's round publishes the rest, so a running session's row changes about once a second. Lock order: a
-- session row before its progress row; whoever holds a progress row never waits for a session row
-- (publishing skips a session row held elsewhere: it stays unpublished for the next round).
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.publish_progress(session_ids uuid[], min_interval interval)
  RETURNS integer
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  now_time timestamptz := clock_timestamp();
  published_ids uuid[];
BEGIN
  WITH due AS (
    SELECT p.session_id
      FROM batchpilot_private.session_progress p
     WHERE p.unpublished
       AND (publish_progress.session_ids IS NULL OR p.session_id = ANY (publish_progress.session_ids))
     ORDER BY p.session_id
       FOR NO KEY UPDATE OF p SKIP LOCKED
  ), unlocked AS (
    SELECT s.id
      FROM public.batch_upload_sessions s
      JOIN batchpilot_private.session_progress p ON p.session_id = s.id
     WHERE s.id IN (SELECT due.session_id FROM due)
       AND (s.status NOT IN ('pending', 'processing') OR p.published_at IS NULL
            OR p.published_at <= now_time - min_interval)
     ORDER BY s.id
       FOR NO KEY UPDATE OF s SKIP LOCKED
  ), published AS (
    UPDATE public.batch_upload_sessions s
       SET files_uploading = p.files_uploading,
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
           -- Every attempt's time, over the files that are done: what a finished file cost on average.
           avg_file_processing_time_ms = round(p.total_processing_time_ms::numeric
               / nullif(p.files_completed + p.files_failed, 0), 2),
           -- The first claim starts a pending session.
           status = CASE WHEN s.status = 'pending' AND p.started_at IS NOT NULL THEN 'processing' ELSE s.status END,
           started_at = coalesce(s.started_at, p.started_at)
      FROM batchpilot_private.session_progress p
     WHERE p.session_id = s.id
       AND s.id IN (SELECT unlocked.id FROM unlocked)
    RETURNING s.id
  )
  SELECT coalesce(array_agg(published.id), '{}') INTO published_ids FROM published;

  UPDATE batchpilot_private.session_progress p
     SET unpublished = false, published_at = now_time
   WHERE p.session_id = ANY (published_ids);
  RETURN cardinality(published_ids);
END
$$;

CREATE OR REPLACE FUNCTION batchpilot_private.apply_file_status_changes(
  session_ids uuid[], statuses text[], deltas integer[]) RETURNS void
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  changed_ids uuid[];
BEGIN
  -- Lock the progress rows in one order, so two statements that touch the same sessions cannot deadlock.
  PERFORM 1 FROM batchpilot_private.session_progress
   WHERE session_id = ANY (session_ids) ORDER BY session_id FOR NO KEY UPDATE;

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
  ), changed AS (
    UPDATE batchpilot_private.session_progress p
       SET files_uploading  = p.files_uploading  + c.uploading,
           files_pending    = p.files_pending    + c.pending,
           files_processing = p.files_processing + c.processing,
           files_completed  = p.files_completed  + c.completed,
           files_failed     = p.files_failed     + c.failed,
           files_skipped    = p.files_skipped    + c.skipped,
           unpublished = true
      FROM per_session c
     WHERE p.session_id = c.batch_session_id
       AND (c.uploading, c.pending, c.processing, c.completed, c.failed, c.skipped)
           IS DISTINCT FROM (0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint)
    RETURNING p.session_id
  )
  SELECT array_agg(changed.session_id) INTO changed_ids FROM changed;

  -- The claim and the completion publish for themselves when they are done ('held').
  IF changed_ids IS NOT NULL AND current_setting('batchpilot.progress', true) IS DISTINCT FROM 'held' THEN
    PERFORM batchpilot_private.publish_progress(changed_ids, interval '0');
  END IF;
END
$$;

-- Every session has its progress row from its insert on.
CREATE OR REPLACE FUNCTION batchpilot_private.create_session_progress() RETURNS trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  INSERT INTO batchpilot_private.session_progress (session_id) SELECT n.id FROM new_sessions n;
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS batch_upload_sessions_create_progress ON public.batch_upload_sessions;
CREATE TRIGGER batch_upload_sessions_create_progress
  AFTER INSERT ON public.batch_upload_sessions
  REFERENCING NEW TABLE AS new_sessions
  FOR EACH STATEMENT EXECUTE FUNCTION batchpilot_private.create_session_progress();

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
BEGIN
  -- array_agg over no rows is NULL, not empty: a statement that made nothing claimable sends nothing.
  IF coalesce(cardinality(session_ids), 0) > 0 THEN
    PERFORM pg_notify('batchpilot_work', '');
  END IF;
END
$$;

-- A file that becomes pending (uploaded, or a person's retry of a failed or skipped file) gets
-- its extraction job, due now; one that a person takes out of pending again (back to uploading,
-- skipped, or a cancelled session) has its waiting job cancelled. The workers' own functions move
-- the jobs they hold. SECURITY DEFINER: a frontend's statement writes the private queue.
CREATE OR REPLACE FUNCTION batchpilot_private.queue_extractions() RETURNS trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO batchpilot_private.jobs (file_id, kind, batch_session_id, max_attempts, scheduled_at)
    SELECT n.id, 'extraction', n.batch_session_id, n.max_attempts, clock_timestamp()
      FROM new_files n
     WHERE n.status = 'pending';
    RETURN NULL;
  END IF;
  INSERT INTO batchpilot_private.jobs AS j (file_id, kind, batch_session_id, max_attempts, scheduled_at)
  SELECT n.id, 'extraction', n.batch_session_id, n.max_attempts, clock_timestamp()
    FROM new_files n JOIN old_files o USING (id)
   WHERE n.status = 'pending' AND o.status <> 'pending'
  ON CONFLICT (file_id, kind) DO UPDATE
     SET state = 'available', scheduled_at = excluded.scheduled_at, finished_at = NULL
   WHERE j.state IN ('completed', 'failed', 'cancelled');
  -- max_attempts is the file's setting (the workers' to change); its job counts against it.
  UPDATE batchpilot_private.jobs j
     SET max_attempts = n.max_attempts
    FROM new_files n JOIN old_files o USING (id)
   WHERE j.file_id = n.id AND j.kind = 'extraction' AND n.max_attempts <> o.max_attempts;
  UPDATE batchpilot_private.jobs j
     SET state = 'cancelled', finished_at = clock_timestamp()
    FROM new_files n JOIN old_files o USING (id)
   WHERE j.file_id = n.id AND j.kind = 'extraction' AND j.state = 'available'
     AND n.status IN ('uploading', 'skipped', 'failed', 'completed') AND o.status IS DISTINCT FROM n.status;
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS batch_upload_files_queue_inserted ON public.batch_upload_files;
CREATE TRIGGER batch_upload_files_queue_inserted
  AFTER INSERT ON public.batch_upload_files
  REFERENCING NEW TABLE AS new_files
  FOR EACH STATEMENT EXECUTE FUNCTION batchpilot_private.queue_extractions();
DROP TRIGGER IF EXISTS batch_upload_files_queue_updated ON public.batch_upload_files;
CREATE TRIGGER batch_upload_files_queue_updated
  AFTER UPDATE ON public.batch_upload_files
  REFERENCING OLD TABLE AS old_files NEW TABLE AS new_files
  FOR EACH STATEMENT EXECUTE FUNCTION batchpilot_private.queue_extractions();

-- Extraction jobs that became due: a new one, a retry or release due now, a rescued one. A
-- worker's own writes (claims, a retry due later) stay silent.
CREATE OR REPLACE FUNCTION batchpilot_private.notify_due_jobs() RETURNS trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM batchpilot_private.notify_sessions(array_agg(DISTINCT batch_session_id))
       FROM new_jobs
      WHERE kind = 'extraction' AND state = 'available' AND scheduled_at <= clock_timestamp();
  ELSE
    PERFORM batchpilot_private.notify_sessions(array_agg(DISTINCT n.batch_session_id))
       FROM new_jobs n JOIN old_jobs o USING (file_id, kind)
      WHERE n.kind = 'extraction' AND n.state = 'available' AND n.scheduled_at <= clock_timestamp()
        AND (o.state <> 'available' OR o.scheduled_at > clock_timestamp());
  END IF;
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS jobs_notify_inserted ON batchpilot_private.jobs;
CREATE TRIGGER jobs_notify_inserted
  AFTER INSERT ON batchpilot_private.jobs
  REFERENCING NEW TABLE AS new_jobs
  FOR EACH STATEMENT EXECUTE FUNCTION batchpilot_private.notify_due_jobs();
DROP TRIGGER IF EXISTS jobs_notify_updated ON batchpilot_private.jobs;
CREATE TRIGGER jobs_notify_updated
  AFTER UPDATE ON batchpilot_private.jobs
  REFERENCING OLD TABLE AS old_jobs NEW TABLE AS new_jobs
  FOR EACH STATEMENT EXECUTE FUNCTION batchpilot_private.notify_due_jobs();

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
-- Fair shares, at two levels. fair_share 'session': a session's turns start after the files it
-- already has in flight, and equal turns of different sessions go in random order. fair_share
-- 'team' (the default): the same between tenants first (a session's team, else its owner, else the
-- session itself), so a team with ten sessions gets one share beside a team with one session, and
-- between the sessions of a tenant within its share. Ranking each claim on its own (turns from 1, ties by
-- due time) gave the one-file claim that follows a finished file to the session with the oldest
-- due file, every time: under a binding quota the first-submitted of two equal sessions got about
-- twice the other's throughput (docs/BENCHMARKS.md, fairness). Counting in-flight files first
-- gives every session an equal share of the fleet's threads, and so of the quota they wait for.
-- ---------------------------------------------------------------------------------------------
DROP FUNCTION IF EXISTS batchpilot_private.claim_files(text, integer, interval);
-- delivery: 'interactive' claims for calls (within each session's max_concurrent); 'batch' claims
-- a batch job's files (claimed_by 'batch:<job id>'), of batch sessions and of one model only, and
-- max_concurrent does not apply: they wait at Google, not on a worker's thread.
DROP FUNCTION IF EXISTS batchpilot_private.claim_files(text, integer, interval, text);
CREATE OR REPLACE FUNCTION batchpilot_private.claim_files(worker text, max_files integer, lease interval,
                                                          fair_share text DEFAULT 'team',
                                                          delivery text DEFAULT 'interactive',
                                                          only_model text DEFAULT NULL)
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
  open_ids uuid[];
  claimed_ids uuid[];
  started_ids uuid[];
BEGIN
  IF fair_share IS NULL OR fair_share NOT IN ('session', 'team') THEN
    RAISE EXCEPTION 'claim_files: fair_share must be session or team, got %', fair_share USING ERRCODE = '22023';
  END IF;
  IF claim_files.delivery IS NULL OR claim_files.delivery NOT IN ('interactive', 'batch') THEN
    RAISE EXCEPTION 'claim_files: delivery must be interactive or batch, got %', claim_files.delivery USING ERRCODE = '22023';
  END IF;
  IF max_files < 1 THEN
    RETURN;
  END IF;

  -- The counters change below; the session rows get them at the end.
  PERFORM set_config('batchpilot.progress', 'held', true);

  -- Statement 1: the sessions with due jobs, their progress rows locked in id order (as the
  -- counter trigger locks them): claimers of one session take turns, and the next statement, with
  -- a snapshot taken after the locks, sees the jobs the previous claimer committed, so
  -- max_concurrent holds fleet-wide.
  open_ids := ARRAY(
    SELECT s.id
      FROM public.batch_upload_sessions s
      JOIN batchpilot_private.session_progress p ON p.session_id = s.id
     WHERE s.status IN ('pending', 'processing')
       AND s.delivery = claim_files.delivery
       AND EXISTS (SELECT 1 FROM batchpilot_private.jobs j
                    WHERE j.batch_session_id = s.id AND j.kind = 'extraction' AND j.state = 'available'
                      AND j.scheduled_at <= claim_time)
     ORDER BY s.id
       FOR NO KEY UPDATE OF p);

  -- Statement 2: the claim.
  WITH running AS (
    -- Extractions in flight per session (a job waiting for its retry or for quota is not).
    SELECT j.batch_session_id, count(*) AS in_flight
      FROM batchpilot_private.jobs j
     WHERE j.kind = 'extraction' AND j.state = 'running'
     GROUP BY j.batch_session_id
  ), open_sessions AS MATERIALIZED (
    SELECT s.id, s.model,
           CASE WHEN claim_files.delivery = 'batch' THEN max_files
                ELSE s.max_concurrent - coalesce(r.in_flight, 0) END AS room,
           coalesce(r.in_flight, 0) AS in_flight,
           CASE WHEN fair_share = 'team' THEN coalesce(s.team_id, s.user_id, s.id) ELSE s.id END AS tenant
      FROM public.batch_upload_sessions s
      LEFT JOIN running r ON r.batch_session_id = s.id
     WHERE s.id = ANY (open_ids)
  ), tenant_load AS (
    -- Each tenant's files in flight, over all of its running sessions (one at max_concurrent, or
    -- with nothing left to claim, still holds its share).
    SELECT CASE WHEN fair_share = 'team' THEN coalesce(s.team_id, s.user_id, s.id) ELSE s.id END AS tenant,
           sum(r.in_flight) AS in_flight
      FROM running r
      JOIN public.batch_upload_sessions s ON s.id = r.batch_session_id
     WHERE s.status IN ('pending', 'processing')
     GROUP BY 1
  ), session_turns AS (
    -- A session's due files get turns in_flight + 1, + 2...; taking the lowest turns first fills
    -- the sessions with the fewest files in flight first, so a 10,000-file session cannot starve a
    -- 10-file one and two equal sessions hold equal shares of the fleet.
    SELECT d.file_id AS id, s.tenant,
           s.in_flight + row_number() OVER (PARTITION BY s.id ORDER BY d.scheduled_at, d.upload_order, d.file_id) AS session_turn
      FROM open_sessions s
      CROSS JOIN LATERAL (
        SELECT j.file_id, j.scheduled_at, f.upload_order
          FROM batchpilot_private.jobs j
          JOIN public.batch_upload_files f ON f.id = j.file_id
         WHERE j.batch_session_id = s.id
           AND j.kind = 'extraction'
           AND j.state = 'available'
           AND j.scheduled_at <= claim_time
           AND (only_model IS NULL OR coalesce(f.model, s.model) = only_model)
         ORDER BY j.scheduled_at
         LIMIT greatest(least(s.room, max_files), 0)) d
  ), due AS (
    -- The same one level up: a tenant's turns start after its files in flight, its sessions' files
    -- taking them in their own turns' order (at the session level each session is its own tenant).
    SELECT st.id,
           coalesce(tl.in_flight, 0) + row_number() OVER (PARTITION BY st.tenant ORDER BY st.session_turn, random()) AS turn
      FROM session_turns st
      LEFT JOIN tenant_load tl ON tl.tenant = st.tenant
  ), chosen AS (
    -- Equal turns of different tenants in random order: by due time, the older one would win every
    -- tie and stay one file ahead.
    SELECT due.id FROM due ORDER BY due.turn, random() LIMIT max_files
  ), locked AS (
    -- The session locks keep other claimers out; SKIP LOCKED steps over a job that a frontend's
    -- retry or the rescuer is changing at this moment instead of waiting for it.
    SELECT j.file_id
      FROM batchpilot_private.jobs j
     WHERE j.kind = 'extraction' AND j.file_id IN (SELECT chosen.id FROM chosen) AND j.state = 'available'
       FOR UPDATE OF j SKIP LOCKED
  ), claimed AS (
    UPDATE batchpilot_private.jobs j
       SET state = 'running',
           claimed_by = worker,
           lease_expires_at = claim_time + lease,
           attempts = j.attempts + 1
      FROM locked
     WHERE j.file_id = locked.file_id AND j.kind = 'extraction'
    RETURNING j.file_id
  )
  SELECT coalesce(array_agg(claimed.file_id), '{}') INTO claimed_ids FROM claimed;

  -- Statement 3: a file's first attempt starts it (the published row's one change until it ends).
  UPDATE public.batch_upload_files f
     SET status = 'processing', processing_started_at = claim_time
   WHERE f.id = ANY (claimed_ids) AND f.status = 'pending';

  -- A session's first claim starts it, and a start is published at once.
  WITH started AS (
    UPDATE batchpilot_private.session_progress p
       SET started_at = claim_time, unpublished = true
     WHERE p.session_id IN (SELECT f.batch_session_id FROM public.batch_upload_files f WHERE f.id = ANY (claimed_ids))
       AND p.started_at IS NULL
    RETURNING p.session_id
  )
  SELECT coalesce(array_agg(started.session_id), '{}') INTO started_ids FROM started;
  PERFORM batchpilot_private.publish_progress(started_ids, interval '0');
  -- The others now if quiet for a second; otherwise by the next claim or the leader.
  PERFORM batchpilot_private.publish_progress(
    ARRAY(SELECT DISTINCT f.batch_session_id FROM public.batch_upload_files f
           WHERE f.id = ANY (claimed_ids) AND f.batch_session_id <> ALL (started_ids)),
    interval '1 second');
  PERFORM set_config('batchpilot.progress', '', true);

  RETURN QUERY
  SELECT f.id, f.batch_session_id, f.receipt_id, f.original_filename, f.file_type, f.file_size_bytes,
         f.storage_bucket, f.storage_path, f.source_url, coalesce(j.content_sha256, f.content_sha256),
         j.attempts, j.max_attempts, s.provider, coalesce(f.model, s.model), s.processing_strategy,
         s.team_id, s.user_id
    FROM batchpilot_private.jobs j
    JOIN public.batch_upload_files f ON f.id = j.file_id
    JOIN public.batch_upload_sessions s ON s.id = f.batch_session_id
   WHERE j.kind = 'extraction' AND j.file_id = ANY (claimed_ids);
END
$$;

-- ---------------------------------------------------------------------------------------------
-- The host's receipts, as they are. batchpilot_private.receipt_mapping (baseline) says which of
-- the receipt fields public.receipts has columns for and whose receipt it is (user_id, team_id):
-- map_receipts() decides it from the catalog, at the end of this file and whenever the host has
-- altered receipts. A project with its own idea of a receipt registers a function
-- (receipt_id uuid, extraction public.receipt_extractions) RETURNS void with use_receipt_mapping();
-- use_receipt_mapping(NULL) goes back to the default.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.map_receipts() RETURNS text
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  wanted constant text[] := ARRAY['merchant', 'date', 'currency', 'subtotal', 'tax', 'total', 'line_items'];
  filled text[];
  assignments text;
  has_owner boolean;
  has_team boolean;
BEGIN
  SELECT array_agg(a.attname::text ORDER BY array_position(wanted, a.attname::text)),
         string_agg(format('%1$I = ($2).%1$I::%2$s', a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)),
                    ', ' ORDER BY array_position(wanted, a.attname::text))
    INTO filled, assignments
    FROM pg_catalog.pg_attribute a
   WHERE a.attrelid = 'public.receipts'::regclass AND a.attnum > 0 AND NOT a.attisdropped
     AND a.attname = ANY (wanted);
  SELECT bool_or(a.attname = 'user_id'), bool_or(a.attname = 'team_id')
    INTO has_owner, has_team
    FROM pg_catalog.pg_attribute a
   WHERE a.attrelid = 'public.receipts'::regclass AND a.attnum > 0 AND NOT a.attisdropped;
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
              WHERE a.attrelid = 'public.receipts'::regclass AND a.attname = 'updated_at' AND NOT a.attisdropped) THEN
    assignments := concat_ws(', ', assignments, 'updated_at = now()');
  END IF;
  INSERT INTO batchpilot_private.receipt_mapping AS m (filled_columns, update_sql, owner_column, team_column, checked_at)
  VALUES (coalesce(filled, '{}'),
          CASE WHEN assignments IS NULL THEN NULL
               ELSE 'UPDATE public.receipts SET ' || assignments || ' WHERE id = $1' END,
          coalesce(has_owner, false), coalesce(has_team, false), clock_timestamp())
  ON CONFLICT (singleton) DO UPDATE
    SET filled_columns = excluded.filled_columns, update_sql = excluded.update_sql,
        owner_column = excluded.owner_column, team_column = excluded.team_column, checked_at = excluded.checked_at;
  RETURN format('public.receipts: fills %s; has no %s; receipt ownership by %s',
                coalesce(array_to_string(filled, ', '), 'nothing'),
                coalesce(nullif(array_to_string(ARRAY(SELECT w FROM unnest(wanted) w
                                                       WHERE w <> ALL (coalesce(filled, '{}'))), ', '), ''), 'column it lacks'),
                concat_ws(' and ', CASE WHEN has_owner THEN 'user_id' END, CASE WHEN has_team THEN 'team_id' END,
                          CASE WHEN NOT (coalesce(has_owner, false) OR coalesce(has_team, false))
                               THEN 'nothing (files cannot name a receipt)' END));
END
$$;

CREATE OR REPLACE FUNCTION batchpilot_private.use_receipt_mapping(mapping regprocedure) RETURNS text
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
BEGIN
  IF mapping IS NOT NULL AND NOT EXISTS (
      SELECT 1 FROM pg_catalog.pg_proc p
       WHERE p.oid = mapping
         AND p.proargtypes = ARRAY['uuid'::regtype, 'public.receipt_extractions'::regtype]::oidvector) THEN
    RAISE EXCEPTION 'receipt mapping % must take (receipt_id uuid, extraction public.receipt_extractions)', mapping
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  UPDATE batchpilot_private.receipt_mapping SET custom_function = mapping;
  RETURN CASE WHEN mapping IS NULL THEN 'receipts are filled by the default mapping'
              ELSE format('receipts are filled by %s', mapping) END;
END
$$;

-- Whether a receipt belongs to a session's tenant: its team for a team session, its owner (and no
-- team) for a personal one. A receipts table without the column that says so belongs to no one.
CREATE OR REPLACE FUNCTION batchpilot_private.receipt_in_tenant(receipt uuid, owner uuid, team uuid) RETURNS boolean
  LANGUAGE plpgsql STABLE
  SECURITY DEFINER
  SET search_path = ''
AS $$
DECLARE
  m batchpilot_private.receipt_mapping;
  found boolean;
BEGIN
  SELECT * INTO m FROM batchpilot_private.receipt_mapping;
  IF team IS NOT NULL THEN
    IF NOT m.team_column THEN RETURN false; END IF;
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM public.receipts WHERE id = $1 AND team_id = $2)' INTO found USING receipt, team;
  ELSE
    IF NOT m.owner_column THEN RETURN false; END IF;
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM public.receipts WHERE id = $1 AND user_id IS NOT DISTINCT FROM $2'
            || CASE WHEN m.team_column THEN ' AND team_id IS NULL' ELSE '' END || ')'
       INTO found USING receipt, owner;
  END IF;
  RETURN found;
END
$$;

CREATE OR REPLACE FUNCTION batchpilot_private.check_receipt_tenant() RETURNS trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
DECLARE
  s public.batch_upload_sessions;
BEGIN
  SELECT * INTO s FROM public.batch_upload_sessions WHERE id = NEW.batch_session_id;
  IF NOT batchpilot_private.receipt_in_tenant(NEW.receipt_id, s.user_id, s.team_id) THEN
    RAISE EXCEPTION 'batch_upload_files.receipt_id % is not a receipt of this session''s %', NEW.receipt_id,
        CASE WHEN s.team_id IS NULL THEN 'owner' ELSE 'team' END
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'a file may only fill a receipt of its own session''s team (or, for a personal session, of its owner)';
  END IF;
  RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS batch_upload_files_check_receipt_tenant ON public.batch_upload_files;
CREATE TRIGGER batch_upload_files_check_receipt_tenant
  BEFORE INSERT OR UPDATE OF receipt_id, batch_session_id ON public.batch_upload_files
  FOR EACH ROW WHEN (NEW.receipt_id IS NOT NULL)
  EXECUTE FUNCTION batchpilot_private.check_receipt_tenant();

-- Stores a completed file's extraction and copies it into its receipt, if it names one, through the
-- mapping. A copy that fails (a receipt outside the tenant, a column the host changed, a value its
-- type refuses) loses nothing: the extraction stays here with the reason, the session says what is
-- wrong at once, and nothing is retried.
CREATE OR REPLACE FUNCTION batchpilot_private.store_extraction(file_id uuid, receipt jsonb, done_time timestamptz)
  RETURNS void
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  f public.batch_upload_files;
  s public.batch_upload_sessions;
  e public.receipt_extractions;
  m batchpilot_private.receipt_mapping;
  problem text;
BEGIN
  SELECT * INTO f FROM public.batch_upload_files WHERE id = file_id;
  BEGIN
    INSERT INTO public.receipt_extractions AS x
      (file_id, batch_session_id, merchant, date, currency, subtotal, tax, total, line_items, receipt_id, created_at)
    VALUES (f.id, f.batch_session_id, receipt ->> 'merchant', (receipt ->> 'date')::date, receipt ->> 'currency',
            (receipt ->> 'subtotal')::numeric, (receipt ->> 'tax')::numeric, (receipt ->> 'total')::numeric,
            coalesce(receipt -> 'line_items', '[]'::jsonb), f.receipt_id, done_time)
    ON CONFLICT ON CONSTRAINT receipt_extractions_pkey DO UPDATE
      SET merchant = excluded.merchant, date = excluded.date, currency = excluded.currency,
          subtotal = excluded.subtotal, tax = excluded.tax, total = excluded.total,
          line_items = excluded.line_items, receipt_id = excluded.receipt_id, created_at = excluded.created_at,
          copied_to_receipt_at = NULL, copy_error = NULL
    RETURNING x.* INTO e;
  EXCEPTION WHEN data_exception THEN
    problem := format('its extraction has a value the receipt fields refuse (%s); the whole answer is in the file''s result', SQLERRM);
  END;
  IF problem IS NULL AND f.receipt_id IS NOT NULL THEN
    SELECT * INTO s FROM public.batch_upload_sessions WHERE id = f.batch_session_id;
    SELECT * INTO m FROM batchpilot_private.receipt_mapping;
    IF NOT batchpilot_private.receipt_in_tenant(f.receipt_id, s.user_id, s.team_id) THEN
      problem := format('receipt %s is not a receipt of this session''s %s: not copied', f.receipt_id,
                        CASE WHEN s.team_id IS NULL THEN 'owner' ELSE 'team' END);
    ELSE
      BEGIN
        IF m.custom_function IS NOT NULL THEN
          EXECUTE format('SELECT %s($1, $2)', m.custom_function::regproc) USING f.receipt_id, e;
        ELSIF m.update_sql IS NOT NULL THEN
          EXECUTE m.update_sql USING f.receipt_id, e;
        END IF;
        UPDATE public.receipt_extractions SET copied_to_receipt_at = done_time WHERE receipt_extractions.file_id = f.id;
      EXCEPTION WHEN OTHERS THEN
        problem := format('copying it into public.receipts failed (%s); if receipts changed, run select '
                          'batchpilot_private.map_receipts(), or fix the mapping registered with use_receipt_mapping()', SQLERRM);
      END;
    END IF;
    IF problem IS NOT NULL THEN
      UPDATE public.receipt_extractions SET copy_error = problem WHERE receipt_extractions.file_id = f.id;
    END IF;
  END IF;
  IF problem IS NOT NULL THEN
    UPDATE public.batch_upload_sessions
       SET error_message = format('%s: %s', f.original_filename, problem), last_error_at = done_time
     WHERE id = f.batch_session_id;
  END IF;
END
$$;

REVOKE ALL ON FUNCTION batchpilot_private.map_receipts(), batchpilot_private.use_receipt_mapping(regprocedure),
  batchpilot_private.receipt_in_tenant(uuid, uuid, uuid), batchpilot_private.check_receipt_tenant(),
  batchpilot_private.store_extraction(uuid, jsonb, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION batchpilot_private.store_extraction(uuid, jsonb, timestamptz) TO service_role;


-- ---------------------------------------------------------------------------------------------
-- Complete: a batch of outcomes in one transaction. An outcome applies only while its worker still
-- holds the file's extraction job (claimed_by and attempts as they were at the claim, running): a
-- worker whose lease expired and whose file was claimed again changes nothing. Returns the outcomes
-- that applied, with the status each file went to (pending: its job is due again; the published
-- row stays processing).
--
-- outcomes: a JSON array of objects with
--   id, claimed_by, attempts      the claim being completed
--   status                        completed | failed | pending (retry or release)
--   counts_attempt                false for a release or a quota wait: the claim's attempt is undone
--   retry_delay_ms                for pending: the job is due again this long from now
--   result, duplicate_of, receipt for completed (receipt: merchant, date, currency, subtotal, tax,
--                                 total, line_items: stored in receipt_extractions and copied into
--                                 the file's receipt through the mapping, by store_extraction)
--   error_type, error_message     for failed and retried
--   duration_ms, api_calls, rate_limited
--   input_tokens, output_tokens,  the call's promptTokenCount, candidatesTokenCount, thoughtsTokenCount
--   thinking_tokens, tokens_used  and totalTokenCount, for a call Google billed (a completion, or a
--                                 200 whose answer was unusable); added to the file's and the
--                                 session's, so they sum every billed call
--   session_error, session_failed a message for the session (a refused key, a spent daily quota);
--                                 session_failed stops the session
--   content_sha256                hex SHA-256 of the validated bytes, kept for duplicate detection
--   permit_id                     the quota permit of the attempt's Gemini call, not yet ended: the
--                                 outcome counts the call in total_api_calls and takes it off the
--                                 permit, so a permit its worker never ends (killed just after this
--                                 write) does not count it again when it lapses; a permit already
--                                 gone lapsed and counted the call then, and the outcome does not
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.complete_files(outcomes jsonb)
  RETURNS TABLE (file_id uuid, batch_session_id uuid, status text)
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  done_time timestamptz := clock_timestamp();
  applied_ids uuid[];
  held_permits uuid[];
BEGIN
  -- The outcomes' permits, locked before the files and sessions, as acquire and the rescuer lock
  -- permits before sessions. One that acquire or the rescuer is ending right now is skipped: it counts.
  held_permits := ARRAY(SELECT p.id FROM public.quota_permits p
                         WHERE p.id IN (SELECT (e ->> 'permit_id')::uuid FROM jsonb_array_elements(outcomes) e)
                         ORDER BY p.id FOR UPDATE SKIP LOCKED);

  -- The counters change below; the session rows get them, with the totals, at the end.
  PERFORM set_config('batchpilot.progress', 'held', true);
  -- The sessions, in id order, before their progress rows (the counter trigger's): a session's
  -- error and a receipt's copy error are written on the session row while the progress rows are
  -- held, and a cancel holds the session row while its trigger skips files.
  PERFORM 1 FROM public.batch_upload_sessions s
   WHERE s.id IN (SELECT f.batch_session_id FROM public.batch_upload_files f
                   WHERE f.id IN (SELECT (e ->> 'id')::uuid FROM jsonb_array_elements(outcomes) e))
   ORDER BY s.id FOR NO KEY UPDATE OF s;

  -- Statement 1: the jobs, and the files that ended or were billed (a retry or a wait for quota
  -- leaves the published row alone). The files' counter trigger locks the progress rows in id
  -- order, so the update below never takes locks in an order that could deadlock with another worker.
  WITH o AS (
    SELECT * FROM jsonb_to_recordset(outcomes) AS o (
      id uuid, claimed_by text, attempts integer, status text, counts_attempt boolean,
      retry_delay_ms bigint, result jsonb, duplicate_of uuid, error_type text, error_message text,
      duration_ms integer, input_tokens integer, output_tokens integer, thinking_tokens integer,
      tokens_used integer, api_calls integer, rate_limited boolean, content_sha256 text, session_failed boolean)
  ), decided AS (
    -- Only while the worker still holds the job (claimed_by and attempts as at its claim).
    -- A retry past max_attempts fails instead; a release or a quota wait never counts as an attempt.
    -- A file going back to a session cancelled meanwhile is skipped: nothing would claim it again.
    SELECT o.*, j.claimed_by AS holder,
           -- A file going back to a session that stopped (failed, paused), or given back unworked (its
           -- worker stopping: no attempt, no delay, no error), is pending again on the published row.
           (coalesce(o.session_failed, false) OR s.status NOT IN ('pending', 'processing')
            OR (NOT coalesce(o.counts_attempt, true) AND o.error_type IS NULL AND o.error_message IS NULL
                AND coalesce(o.retry_delay_ms, 0) = 0)) AS stopped,
           CASE WHEN o.status = 'pending' AND s.status = 'cancelled' THEN 'skipped'
                WHEN o.status = 'pending' AND coalesce(o.counts_attempt, true) AND j.attempts >= j.max_attempts
                THEN 'failed' ELSE o.status END AS final_status,
           CASE WHEN o.status = 'pending' AND s.status = 'cancelled'
                THEN 'the session was cancelled before this file was processed'
                WHEN o.status = 'pending' AND coalesce(o.counts_attempt, true) AND j.attempts >= j.max_attempts
                THEN 'gave up after ' || j.attempts || ' attempts; the last: ' || o.error_message
                ELSE o.error_message END AS final_message
      FROM o JOIN batchpilot_private.jobs j ON j.file_id = o.id AND j.kind = 'extraction'
             JOIN public.batch_upload_sessions s ON s.id = j.batch_session_id
     WHERE j.state = 'running' AND j.claimed_by = o.claimed_by AND j.attempts = o.attempts
  ), applied AS (
    UPDATE batchpilot_private.jobs j
       SET state = CASE o.final_status WHEN 'pending' THEN 'available' WHEN 'completed' THEN 'completed'
                                        WHEN 'failed' THEN 'failed' ELSE 'cancelled' END::batchpilot_private.job_state,
           attempts = CASE WHEN coalesce(o.counts_attempt, true) THEN j.attempts ELSE j.attempts - 1 END,
           scheduled_at = CASE
             WHEN o.final_status = 'pending' THEN done_time + make_interval(secs => coalesce(o.retry_delay_ms, 0) / 1000.0)
             ELSE j.scheduled_at END,
           claimed_by = NULL,
           lease_expires_at = NULL,
           error_type = CASE WHEN o.final_status IN ('completed', 'skipped') THEN NULL
                             ELSE coalesce(o.error_type, j.error_type) END,
           error_message = CASE WHEN o.final_status IN ('completed', 'skipped') THEN NULL
                                ELSE coalesce(o.final_message, j.error_message) END,
           content_sha256 = coalesce(decode(o.content_sha256, 'hex'), j.content_sha256),
           finished_at = CASE WHEN o.final_status = 'pending' THEN NULL ELSE done_time END
      FROM decided o
     WHERE j.file_id = o.id AND j.kind = 'extraction'
    RETURNING j.file_id AS id
  ), published AS (
    UPDATE public.batch_upload_files f
       SET status = CASE WHEN o.final_status = 'pending' AND o.stopped THEN 'pending'
                         WHEN o.final_status = 'pending' THEN f.status ELSE o.final_status END,
           error_message = CASE WHEN o.final_status = 'pending' THEN f.error_message
                                WHEN o.final_status = 'completed' THEN NULL ELSE o.final_message END,
           error_type = CASE WHEN o.final_status = 'pending' THEN f.error_type
                             WHEN o.final_status IN ('completed', 'skipped') THEN NULL ELSE o.error_type END,
           processing_completed_at = CASE WHEN o.final_status = 'pending' THEN NULL ELSE done_time END,
           processing_duration_ms = coalesce(o.duration_ms, f.processing_duration_ms),
           result = CASE WHEN o.final_status = 'completed' THEN o.result ELSE f.result END,
           duplicate_of = CASE WHEN o.final_status = 'completed' THEN o.duplicate_of ELSE f.duplicate_of END,
           -- NULL until a billed call: a duplicate or a call that never answered costs nothing.
           input_tokens = CASE WHEN o.input_tokens IS NULL THEN f.input_tokens
                               ELSE coalesce(f.input_tokens, 0) + o.input_tokens END,
           output_tokens = CASE WHEN o.output_tokens IS NULL THEN f.output_tokens
                                ELSE coalesce(f.output_tokens, 0) + o.output_tokens END,
           thinking_tokens = CASE WHEN o.thinking_tokens IS NULL THEN f.thinking_tokens
                                  ELSE coalesce(f.thinking_tokens, 0) + o.thinking_tokens END,
           tokens_used = f.tokens_used + coalesce(o.tokens_used, 0),
           api_calls_made = f.api_calls_made + coalesce(o.api_calls, 0),
           rate_limited = f.rate_limited OR coalesce(o.rate_limited, false),
           -- A batch job's claim (claimed_by 'batch:<job id>') is billed at the batch price.
           delivery = CASE WHEN o.input_tokens IS NULL THEN f.delivery
                           WHEN starts_with(o.holder, 'batch:') THEN 'batch' ELSE 'interactive' END,
           content_sha256 = CASE WHEN o.final_status = 'pending' THEN f.content_sha256
                                 ELSE coalesce(decode(o.content_sha256, 'hex'), f.content_sha256) END
      FROM decided o
     WHERE f.id = o.id
       AND (o.final_status <> 'pending' OR o.stopped OR o.input_tokens IS NOT NULL OR coalesce(o.api_calls, 0) > 0)
  )
  SELECT coalesce(array_agg(applied.id), '{}') INTO applied_ids FROM applied;

  -- The applied outcomes count their calls: their permits no longer do, should they lapse.
  IF cardinality(held_permits) > 0 THEN
    UPDATE public.quota_permits p SET file_id = NULL
      FROM jsonb_to_recordset(outcomes) AS o (id uuid, permit_id uuid)
     WHERE p.id = o.permit_id AND p.id = ANY (held_permits) AND o.id = ANY (applied_ids);
  END IF;

  -- Statement 2: the sessions' totals, from the outcomes that applied.
  WITH o AS (
    SELECT o.id, o.duration_ms, o.tokens_used, o.thinking_tokens, o.rate_limited, o.session_error, o.session_failed,
           -- A call whose permit is gone was counted when the permit lapsed.
           CASE WHEN o.permit_id IS NULL OR o.permit_id = ANY (held_permits) THEN o.api_calls
                ELSE greatest(coalesce(o.api_calls, 0) - 1, 0) END AS api_calls
      FROM jsonb_to_recordset(outcomes) AS o (
      id uuid, duration_ms integer, tokens_used integer, thinking_tokens integer, api_calls integer,
      rate_limited boolean, session_error text, session_failed boolean, permit_id uuid)
     WHERE o.id = ANY (applied_ids)
  ), per_session AS (
    SELECT f.batch_session_id AS id,
           sum(coalesce(o.api_calls, 0)) AS api_calls,
           sum(coalesce(o.tokens_used, 0)) AS tokens_used,
           sum(coalesce(o.thinking_tokens, 0)) AS thinking_tokens,
           count(*) FILTER (WHERE o.rate_limited) AS rate_limit_hits,
           sum(coalesce(o.duration_ms, 0)) AS duration_ms,
           (array_agg(o.session_error) FILTER (WHERE o.session_error IS NOT NULL))[1] AS session_error,
           bool_or(coalesce(o.session_failed, false)) AS session_failed
      FROM o JOIN public.batch_upload_files f ON f.id = o.id
     GROUP BY f.batch_session_id
  ), totals AS (
    -- Runs whether or not the statement below reads it, as every data-modifying WITH does.
    UPDATE batchpilot_private.session_progress sp
       SET total_api_calls = sp.total_api_calls + p.api_calls,
           total_tokens_used = sp.total_tokens_used + p.tokens_used,
           total_thinking_tokens = sp.total_thinking_tokens + p.thinking_tokens,
           rate_limit_hits = sp.rate_limit_hits + p.rate_limit_hits,
           total_processing_time_ms = sp.total_processing_time_ms + p.duration_ms,
           unpublished = true
      FROM per_session p
     WHERE sp.session_id = p.id
  )
  -- A session's error, and a stop, are published at once.
  UPDATE public.batch_upload_sessions s
     SET error_message = coalesce(p.session_error, s.error_message),
         last_error_at = CASE WHEN p.session_error IS NULL THEN s.last_error_at ELSE done_time END,
         status = CASE WHEN p.session_failed AND s.status IN ('pending', 'processing') THEN 'failed' ELSE s.status END,
         completed_at = CASE WHEN p.session_failed AND s.status IN ('pending', 'processing') THEN done_time
                        ELSE s.completed_at END
    FROM per_session p
   WHERE s.id = p.id
     AND (p.session_error IS NOT NULL OR p.session_failed);

  -- Statement 3: the extraction, typed, and its copy into the receipt the file names (if any).
  PERFORM batchpilot_private.store_extraction(o.id, o.receipt, done_time)
     FROM jsonb_to_recordset(outcomes) AS o (id uuid, status text, receipt jsonb)
    WHERE o.id = ANY (applied_ids)
      AND o.status = 'completed'
      AND o.receipt IS NOT NULL;

  -- Published now if quiet for a second or stopped; otherwise by the next completion or the leader.
  PERFORM batchpilot_private.publish_progress(
    ARRAY(SELECT DISTINCT f.batch_session_id FROM public.batch_upload_files f WHERE f.id = ANY (applied_ids)),
    interval '1 second');
  PERFORM set_config('batchpilot.progress', '', true);

  RETURN QUERY
  SELECT j.file_id, j.batch_session_id,
         CASE j.state WHEN 'available' THEN 'pending' WHEN 'cancelled' THEN 'skipped' ELSE j.state::text END
    FROM batchpilot_private.jobs j
   WHERE j.kind = 'extraction' AND j.file_id = ANY (applied_ids);
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Rescue: jobs of either kind whose worker stopped renewing their lease (it crashed, hung or lost
-- the database), up to max_jobs, oldest lease first. Each is due again at once, or failed with
-- lease_expired when that was its last allowed attempt (the claim counted it), or, for an
-- extraction whose session was cancelled meanwhile, cancelled and its file skipped. A failed
-- extraction fails its file. The quota permits of the calls those files had in flight end, and
-- the calls count in their sessions' total_api_calls (their worker never reported them).
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.rescue_jobs(max_jobs integer)
  RETURNS TABLE (file_id uuid, kind batchpilot_private.job_kind, state batchpilot_private.job_state)
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  now_time timestamptz := clock_timestamp();
  rescued_ids uuid[];
  rescued_kinds batchpilot_private.job_kind[];
  rescued_states batchpilot_private.job_state[];
BEGIN
  WITH lapsed AS (
    SELECT j.file_id, j.kind
      FROM batchpilot_private.jobs j
     WHERE j.state = 'running' AND j.lease_expires_at < now_time
     ORDER BY j.lease_expires_at
     LIMIT max_jobs
       FOR UPDATE OF j SKIP LOCKED
  ), decided AS (
    SELECT j.file_id, j.kind,
           CASE WHEN j.kind = 'extraction' AND s.status = 'cancelled' THEN 'cancelled'
                WHEN j.attempts >= j.max_attempts THEN 'failed'
                ELSE 'available' END::batchpilot_private.job_state AS state,
           format('the worker %s this file stopped before finishing it (its lease expired) on attempt %s of %s%s',
                  CASE j.kind WHEN 'extraction' THEN 'processing' ELSE 'embedding' END, j.attempts, j.max_attempts,
                  CASE j.kind WHEN 'extraction' THEN ': set it back to pending to try again' ELSE '' END) AS message
      FROM lapsed l
      JOIN batchpilot_private.jobs j ON j.file_id = l.file_id AND j.kind = l.kind
      JOIN public.batch_upload_sessions s ON s.id = j.batch_session_id
  ), rescued AS (
    UPDATE batchpilot_private.jobs j
       SET state = d.state,
           claimed_by = NULL,
           lease_expires_at = NULL,
           scheduled_at = CASE WHEN d.state = 'available' THEN now_time ELSE j.scheduled_at END,
           error_type = CASE WHEN d.state = 'failed' THEN 'lease_expired' ELSE j.error_type END,
           error_message = CASE WHEN d.state = 'failed' THEN d.message ELSE j.error_message END,
           finished_at = CASE WHEN d.state = 'available' THEN NULL ELSE now_time END
      FROM decided d
     WHERE j.file_id = d.file_id AND j.kind = d.kind
    RETURNING j.file_id, j.kind, j.state
  ), ended_files AS (
    UPDATE public.batch_upload_files f
       SET status = CASE WHEN d.state = 'cancelled' THEN 'skipped' ELSE 'failed' END,
           processing_completed_at = now_time,
           error_type = CASE WHEN d.state = 'failed' THEN 'lease_expired' ELSE f.error_type END,
           error_message = CASE WHEN d.state = 'failed' THEN d.message ELSE f.error_message END
      FROM decided d
     WHERE f.id = d.file_id AND d.kind = 'extraction' AND d.state IN ('failed', 'cancelled')
  )
  SELECT coalesce(array_agg(r.file_id), '{}'), coalesce(array_agg(r.kind), '{}'), coalesce(array_agg(r.state), '{}')
    INTO rescued_ids, rescued_kinds, rescued_states
    FROM rescued r;

  IF cardinality(rescued_ids) > 0 THEN
    PERFORM batchpilot_private.end_permits_of_files(rescued_ids);
    -- The calls just counted, published now: the published file rows may not have changed.
    PERFORM batchpilot_private.publish_progress(
      ARRAY(SELECT DISTINCT j.batch_session_id FROM batchpilot_private.jobs j
             WHERE j.file_id = ANY (rescued_ids)), interval '0');
  END IF;
  RETURN QUERY SELECT * FROM unnest(rescued_ids, rescued_kinds, rescued_states);
END
$$;

REVOKE ALL ON FUNCTION batchpilot_private.rescue_jobs(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION batchpilot_private.rescue_jobs(integer) TO service_role;

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
  batchpilot_private.queue_extractions(), batchpilot_private.notify_due_jobs(),
  batchpilot_private.notify_resumed_sessions(),
  batchpilot_private.check_storage_path(), batchpilot_private.create_session_progress()
  FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON FUNCTION batchpilot_private.claim_files(text, integer, interval, text, text, text),
  batchpilot_private.complete_files(jsonb), batchpilot_private.publish_progress(uuid[], interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION batchpilot_private.claim_files(text, integer, interval, text, text, text),
  batchpilot_private.complete_files(jsonb), batchpilot_private.publish_progress(uuid[], interval) TO service_role;

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

DROP POLICY IF EXISTS receipt_extractions_select ON public.receipt_extractions;
CREATE POLICY receipt_extractions_select ON public.receipt_extractions
  FOR SELECT TO authenticated
  USING (batch_session_id IN (SELECT batchpilot_private.my_session_ids()));

-- The default mapping, from the columns public.receipts has now.
SELECT batchpilot_private.map_receipts();
