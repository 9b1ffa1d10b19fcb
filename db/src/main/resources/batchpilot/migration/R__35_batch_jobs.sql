-- batchpilot, repeatable: Gemini Batch Mode. A worker opens a job (a row, then its files claimed
-- by it, in one transaction), builds its requests, passes the batch gate, asks Google, and records
-- Google's name; any worker polls it and completes its files through complete_files. Every
-- statement may run again on an installed database and changes nothing.

-- ---------------------------------------------------------------------------------------------
-- The models that have due files in batch sessions, about how many (the sessions' pending
-- counters: some may not be due yet, and the claim takes only those that are), and since when the
-- oldest has been due: a submitter opens a job for a model once it has a job's worth or has
-- gathered long enough. Every worker asks every few seconds, so it reads counters and one index
-- entry per session, never the files of a million-file import; files naming their own model (rare,
-- partly indexed) are counted under it.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.batch_models_due()
  RETURNS TABLE (provider text, model text, files bigint, oldest_due_at timestamptz)
  LANGUAGE sql
  STABLE
  SET search_path = ''
AS $$
  WITH open_sessions AS (
    SELECT s.id, s.provider, s.model, p.files_pending
      FROM public.batch_upload_sessions s
      JOIN batchpilot_private.session_progress p ON p.session_id = s.id
     WHERE s.delivery = 'batch' AND s.status IN ('pending', 'processing')
  ), by_session AS (
    -- A session whose due jobs are all retries has no file pending: it counts one.
    SELECT o.provider, o.model, greatest(o.files_pending, 1) AS files, d.due_at
      FROM open_sessions o
     CROSS JOIN LATERAL (
       SELECT j.scheduled_at AS due_at FROM batchpilot_private.jobs j
        WHERE j.batch_session_id = o.id AND j.kind = 'extraction' AND j.state = 'available'
          AND j.scheduled_at <= clock_timestamp()
        ORDER BY j.scheduled_at LIMIT 1) d
  ), own_models AS (
    SELECT o.provider, f.model, count(*) AS files, min(j.scheduled_at) AS due_at
      FROM open_sessions o
      JOIN public.batch_upload_files f ON f.batch_session_id = o.id
      JOIN batchpilot_private.jobs j ON j.file_id = f.id AND j.kind = 'extraction'
     WHERE f.status IN ('pending', 'processing') AND f.model IS NOT NULL AND f.model <> o.model
       AND j.state = 'available' AND j.scheduled_at <= clock_timestamp()
     GROUP BY o.provider, f.model
  )
  SELECT u.provider, u.model, sum(u.files)::bigint, min(u.due_at)
    FROM (SELECT * FROM by_session UNION ALL SELECT * FROM own_models) u
   GROUP BY u.provider, u.model
$$;

-- ---------------------------------------------------------------------------------------------
-- The batch gate: Google's Batch Mode limits are jobs pending or running (per project, so counted
-- over all models) and the input tokens of a model's pending and running jobs. room() reads them
-- without a lock (may a submitter bother?); admit() decides, under the limits row's lock, how many
-- of a job's requests (in order, with their estimated tokens) fit, and gives the job those tokens.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.batch_job_room(p_provider text, p_model text)
  RETURNS TABLE (jobs_free integer, tokens_free bigint)
  LANGUAGE sql
  STABLE
  SET search_path = ''
AS $$
  SELECT greatest(0, l.max_concurrent_jobs
                     - (SELECT count(*) FROM batchpilot_private.batch_jobs j
                         WHERE j.provider = p_provider AND j.state IN ('creating', 'pending', 'running')))::integer,
         greatest(0, l.max_enqueued_tokens
                     - (SELECT coalesce(sum(j.input_tokens), 0) FROM batchpilot_private.batch_jobs j
                         WHERE j.provider = p_provider AND j.model = p_model
                           AND j.state IN ('creating', 'pending', 'running')))::bigint
    FROM public.batch_quota_limits l
   WHERE l.provider = p_provider AND l.model = p_model
$$;

CREATE OR REPLACE FUNCTION batchpilot_private.admit_batch_job(job uuid, request_tokens bigint[])
  RETURNS integer
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  j batchpilot_private.batch_jobs;
  l public.batch_quota_limits;
  live_jobs bigint;
  enqueued bigint;
  admitted integer := 0;
  tokens bigint := 0;
BEGIN
  SELECT * INTO j FROM batchpilot_private.batch_jobs WHERE id = job;
  IF NOT FOUND OR j.state <> 'creating' THEN
    RAISE EXCEPTION 'admit_batch_job: batch job % is not being created', job USING ERRCODE = '22023';
  END IF;
  SELECT * INTO l FROM public.batch_quota_limits
   WHERE provider = j.provider AND model = j.model FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'Batch Mode has no limits for %/%: add a row to public.batch_quota_limits (max_concurrent_jobs, max_enqueued_tokens from https://ai.google.dev/gemini-api/docs/rate-limits), or send the session interactive',
      j.provider, j.model USING ERRCODE = '22023';
  END IF;
  SELECT count(*) INTO live_jobs FROM batchpilot_private.batch_jobs
   WHERE provider = j.provider AND state IN ('creating', 'pending', 'running') AND id <> job AND requests > 0;
  IF live_jobs >= l.max_concurrent_jobs THEN
    RETURN 0;
  END IF;
  SELECT coalesce(sum(input_tokens), 0) INTO enqueued FROM batchpilot_private.batch_jobs
   WHERE provider = j.provider AND model = j.model AND state IN ('creating', 'pending', 'running') AND id <> job;
  WHILE admitted < coalesce(cardinality(request_tokens), 0)
        AND enqueued + tokens + request_tokens[admitted + 1] <= l.max_enqueued_tokens LOOP
    tokens := tokens + request_tokens[admitted + 1];
    admitted := admitted + 1;
  END LOOP;
  UPDATE batchpilot_private.batch_jobs SET input_tokens = tokens, requests = admitted WHERE id = job;
  RETURN admitted;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Polls: jobs due a look (pending or running and next_poll_at passed), and jobs whose creator's
-- lease ran out while creating (it may have asked Google: the poller looks for the display name).
-- Leased to the poller, so two workers never poll one job at once.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.claim_batch_polls(worker text, max_jobs integer, lease interval)
  RETURNS SETOF batchpilot_private.batch_jobs
  LANGUAGE sql
  SET search_path = ''
AS $$
  UPDATE batchpilot_private.batch_jobs j
     SET owner = worker, lease_expires_at = clock_timestamp() + lease, polls = j.polls + 1
   WHERE j.id IN (SELECT c.id FROM batchpilot_private.batch_jobs c
                   WHERE c.state IN ('creating', 'pending', 'running')
                     AND (c.lease_expires_at IS NULL OR c.lease_expires_at <= clock_timestamp())
                     AND (c.state = 'creating' OR c.next_poll_at <= clock_timestamp())
                   ORDER BY c.next_poll_at
                   LIMIT max_jobs
                     FOR UPDATE SKIP LOCKED)
  RETURNING j.*
$$;

-- Whether every session with files in the job has been cancelled (or has failed): nothing in it
-- is wanted any more, so the job is cancelled at Google.
CREATE OR REPLACE FUNCTION batchpilot_private.batch_job_unwanted(job uuid)
  RETURNS boolean
  LANGUAGE sql
  STABLE
  SET search_path = ''
AS $$
  SELECT NOT EXISTS (
    SELECT 1 FROM batchpilot_private.batch_job_files jf
      JOIN batchpilot_private.jobs fj ON fj.file_id = jf.file_id AND fj.kind = 'extraction'
      JOIN public.batch_upload_sessions s ON s.id = fj.batch_session_id
     WHERE jf.job_id = job
       AND fj.state = 'running' AND fj.claimed_by = 'batch:' || job::text AND fj.attempts = jf.attempts
       AND s.status NOT IN ('cancelled', 'failed'))
$$;

-- ---------------------------------------------------------------------------------------------
-- What a session's members see of its batch jobs: Google's state, how many of their files each
-- holds, and when Google aims to be done (24 hours from creation).
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.batchpilot_session_batch_jobs(session_id uuid)
  RETURNS TABLE (job_id uuid, name text, model text, state text, files integer, files_at_google integer,
                 created_at timestamptz, submitted_at timestamptz, ended_at timestamptz, due_by timestamptz,
                 error_message text)
  LANGUAGE sql
  STABLE
  SECURITY DEFINER
  SET search_path = ''
AS $$
  SELECT j.id, j.name, j.model, j.state::text,
         count(*)::integer,
         (count(*) FILTER (WHERE fj.state = 'running' AND fj.claimed_by = 'batch:' || j.id::text))::integer,
         j.created_at, j.submitted_at, j.ended_at, j.created_at + interval '24 hours', j.error_message
    FROM batchpilot_private.batch_jobs j
    JOIN batchpilot_private.batch_job_files jf ON jf.job_id = j.id
    JOIN batchpilot_private.jobs fj ON fj.file_id = jf.file_id AND fj.kind = 'extraction'
   WHERE fj.batch_session_id = batchpilot_session_batch_jobs.session_id
     -- SECURITY DEFINER: current_user is the owner here; the caller's API role is the role setting.
     AND (current_setting('role') NOT IN ('authenticated', 'anon')
          OR batchpilot_session_batch_jobs.session_id IN (SELECT batchpilot_private.my_session_ids()))
   GROUP BY j.id
   ORDER BY j.created_at DESC
$$;

COMMENT ON FUNCTION public.batchpilot_session_batch_jobs(uuid) IS
  'For a session''s members: its files'' Gemini batch jobs, their state and Google''s 24-hour target.';

REVOKE ALL ON FUNCTION batchpilot_private.batch_models_due(), batchpilot_private.batch_job_room(text, text),
  batchpilot_private.admit_batch_job(uuid, bigint[]), batchpilot_private.claim_batch_polls(text, integer, interval),
  batchpilot_private.batch_job_unwanted(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION batchpilot_private.batch_models_due(), batchpilot_private.batch_job_room(text, text),
  batchpilot_private.admit_batch_job(uuid, bigint[]), batchpilot_private.claim_batch_polls(text, integer, interval),
  batchpilot_private.batch_job_unwanted(uuid) TO service_role;
REVOKE ALL ON FUNCTION public.batchpilot_session_batch_jobs(uuid) FROM PUBLIC, anon;
GRANT EXECUTE ON FUNCTION public.batchpilot_session_batch_jobs(uuid) TO authenticated, service_role;

-- Admins read the batch limits (policy), as they read quota_limits.
DROP POLICY IF EXISTS batch_quota_limits_admin_select ON public.batch_quota_limits;
CREATE POLICY batch_quota_limits_admin_select ON public.batch_quota_limits
  FOR SELECT TO authenticated
  USING ((SELECT batchpilot_private.is_admin()));

DROP TRIGGER IF EXISTS batch_jobs_touch ON batchpilot_private.batch_jobs;
CREATE TRIGGER batch_jobs_touch BEFORE UPDATE ON batchpilot_private.batch_jobs
  FOR EACH ROW EXECUTE FUNCTION batchpilot_private.touch_updated_at();
DROP TRIGGER IF EXISTS batch_quota_limits_touch ON public.batch_quota_limits;
CREATE TRIGGER batch_quota_limits_touch BEFORE UPDATE ON public.batch_quota_limits
  FOR EACH ROW EXECUTE FUNCTION batchpilot_private.touch_updated_at();
