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
-- which means clock_timestamp() read after the lock. p_lease_ms is how long the permit counts as in
-- flight unless extended (NULL: quota_limits.permit_lease_ms); p_file_id the file whose call it is.
-- ---------------------------------------------------------------------------------------------
-- The arguments changed (lease, file): the old signatures go, or they would stay as overloads.
DROP FUNCTION IF EXISTS public.batchpilot_acquire_quota(text, text, bigint, text);
DROP FUNCTION IF EXISTS batchpilot_private.acquire_quota(text, text, bigint, text, timestamptz);

CREATE OR REPLACE FUNCTION batchpilot_private.acquire_quota(
  p_provider text, p_model text, p_input_tokens bigint, p_strategy text, p_now timestamptz,
  p_lease_ms bigint DEFAULT NULL, p_file_id uuid DEFAULT NULL)
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
  IF p_lease_ms <= 0 THEN
    RAISE EXCEPTION 'batchpilot_acquire_quota: a permit lease must be over 0 ms, got % (NULL: the model''s '
      'quota_limits.permit_lease_ms)', p_lease_ms USING ERRCODE = '22023';
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
    -- Permits whose lease has passed (their worker died, or stopped heartbeating) end as a release
    -- without a count would end them (the ledger takes their estimates), which also turns a late
    -- release of one into a no-op; their calls count in their files' sessions. One being released
    -- right now is skipped, not waited for.
    expired := ARRAY(SELECT x.id FROM public.quota_permits x
                      WHERE x.provider = p_provider AND x.model = p_model AND x.expires_at <= now_at
                        FOR UPDATE SKIP LOCKED);
    IF cardinality(expired) > 0 THEN
      in_flight := in_flight - batchpilot_private.end_abandoned_permits(expired);
    END IF;
    IF in_flight >= in_flight_limit THEN
      -- A release can come at any moment; ask again after one bucket (at most 100 ms).
      RETURN QUERY SELECT false, NULL::uuid, least(100, bucket_ms)::bigint, 'in_flight', NULL::timestamptz;
      RETURN;
    END IF;
  END IF;

  INSERT INTO public.quota_permits (provider, model, input_tokens, granted_at, expires_at, file_id)
  VALUES (p_provider, p_model, p_input_tokens, now_at,
          now_at + make_interval(secs => coalesce(p_lease_ms, q.permit_lease_ms) / 1000.0), p_file_id)
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
-- lease_ms: a caller that keeps its permits alive (batchpilot_extend_quota_permits on a heartbeat)
-- gives its heartbeat's lease, so its permits stop counting within one lease of its death.
CREATE OR REPLACE FUNCTION public.batchpilot_acquire_quota(
  provider text, model text, estimated_input_tokens bigint, strategy text DEFAULT 'adaptive',
  lease_ms bigint DEFAULT NULL, file_id uuid DEFAULT NULL)
  RETURNS TABLE (granted boolean, permit_id uuid, wait_ms bigint, reason text, granted_at timestamptz)
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  RETURN QUERY SELECT * FROM batchpilot_private.acquire_quota(
    batchpilot_acquire_quota.provider, batchpilot_acquire_quota.model,
    batchpilot_acquire_quota.estimated_input_tokens, batchpilot_acquire_quota.strategy, NULL,
    batchpilot_acquire_quota.lease_ms, batchpilot_acquire_quota.file_id);
END
$$;

COMMENT ON FUNCTION public.batchpilot_acquire_quota(text, text, bigint, text, bigint, uuid) IS
  'Grant one request of the given estimated input tokens (granted, permit_id, granted_at), or say how long to wait (wait_ms, reason); the permit counts as in flight for lease_ms (default quota_limits.permit_lease_ms) unless extended.';

-- ---------------------------------------------------------------------------------------------
-- Permits live as long as their holder: a worker's heartbeat extends the permits it holds, in one
-- statement; a permit it no longer extends lapses one lease later and stops counting as in flight.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.batchpilot_extend_quota_permits(permit_ids uuid[], lease_ms bigint)
  RETURNS integer
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
DECLARE
  extended integer;
BEGIN
  IF lease_ms IS NULL OR lease_ms <= 0 THEN
    RAISE EXCEPTION 'batchpilot_extend_quota_permits: a permit lease must be over 0 ms, got %', lease_ms
      USING ERRCODE = '22023';
  END IF;
  -- A lost extension only lets permits lapse early: no flush wait for it.
  PERFORM set_config('synchronous_commit', 'off', true);
  -- A lapsed permit stays lapsed (acquire or the rescuer may be ending it); its holder's release
  -- of it is then a no-op.
  UPDATE public.quota_permits p
     SET expires_at = clock_timestamp() + make_interval(secs => batchpilot_extend_quota_permits.lease_ms / 1000.0)
   WHERE p.id = ANY (permit_ids) AND p.expires_at > clock_timestamp();
  GET DIAGNOSTICS extended = ROW_COUNT;
  RETURN extended;
END
$$;

COMMENT ON FUNCTION public.batchpilot_extend_quota_permits(uuid[], bigint) IS
  'Keeps permits in flight for lease_ms more (a heartbeat); returns how many were still in flight.';

-- Ends permits whose holder is gone (lapsed, or their file rescued): as a release without a count
-- (the ledger takes their estimates), and each call of a file counts in its session's
-- total_api_calls, since no outcome will. The caller holds the permits' locks (FOR UPDATE), so
-- each is counted by the one transaction that deletes it. Returns how many were in flight.
CREATE OR REPLACE FUNCTION batchpilot_private.end_abandoned_permits(permit_ids uuid[])
  RETURNS integer
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
BEGIN
  -- Published by the maintenance leader's next round.
  UPDATE batchpilot_private.session_progress s
     SET total_api_calls = s.total_api_calls + c.calls, unpublished = true
    FROM (SELECT f.batch_session_id, count(*) AS calls
            FROM public.quota_permits p
            JOIN public.batch_upload_files f ON f.id = p.file_id
           WHERE p.id = ANY (permit_ids)
           GROUP BY f.batch_session_id) c
   WHERE s.session_id = c.batch_session_id;
  RETURN public.batchpilot_finish_quotas(permit_ids, array_fill(NULL::bigint, ARRAY[cardinality(permit_ids)]));
END
$$;

-- For the lease rescuer: ends the permits of files it just took back (their worker stopped
-- renewing the files' leases, and so its permits'), counting their calls. The permit table holds
-- only permits in flight, so it is scanned, not indexed by file (an index would cost every grant).
CREATE OR REPLACE FUNCTION batchpilot_private.end_permits_of_files(file_ids uuid[])
  RETURNS integer
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  held uuid[];
BEGIN
  -- One that acquire is ending right now is skipped: acquire counts it.
  held := ARRAY(SELECT p.id FROM public.quota_permits p WHERE p.file_id = ANY (file_ids)
                 ORDER BY p.id FOR UPDATE SKIP LOCKED);
  IF cardinality(held) = 0 THEN
    RETURN 0;
  END IF;
  RETURN batchpilot_private.end_abandoned_permits(held);
END
$$;

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
     -- In key order, as mark_ledger_limited writes them: two writers of a minute's two rows in
     -- opposite orders deadlocked (a 429 reported while permits were finished).
     ORDER BY g.provider, g.model, u.quota_type, date_trunc('minute', g.granted_at)
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
  -- In key order (input_tokens before requests), as batchpilot_finish_quotas writes them.
  VALUES (q.provider, q.model, 'input_tokens', date_trunc('minute', at), 0, q.input_tokens_per_minute, true, block_end),
         (q.provider, q.model, 'requests', date_trunc('minute', at), 0, q.requests_per_minute, true, block_end)
  ON CONFLICT (api_provider, model, quota_type, time_window) DO UPDATE
    SET is_rate_limited = true,
        rate_limit_reset_at = greatest(t.rate_limit_reset_at, excluded.rate_limit_reset_at)
$$;

-- What the gate knows about one (provider, model) right now: for sessions ("parked until"), the
-- ETA and dashboards. The window counts the buckets that started within the last window_ms: the
-- ring's and the newest.
CREATE OR REPLACE FUNCTION batchpilot_private.quota_status_at(provider text, model text, at timestamptz)
  RETURNS TABLE (adaptive_factor double precision, blocked_until timestamptz, parked_until timestamptz,
                 requests_in_window bigint, input_tokens_in_window bigint, in_flight bigint)
  LANGUAGE sql STABLE
  SET search_path = ''
AS $$
  SELECT batchpilot_private.adaptive_factor_at(q, at),
         CASE WHEN q.blocked_until > at THEN q.blocked_until END,
         CASE WHEN q.parked_until > at THEN q.parked_until END,
         coalesce(w.requests, 0) + CASE WHEN newest.recent THEN q.bucket_requests ELSE 0 END,
         coalesce(w.input_tokens, 0) + CASE WHEN newest.recent THEN q.bucket_input_tokens ELSE 0 END,
         (SELECT count(*) FROM public.quota_permits p
           WHERE p.provider = q.provider AND p.model = q.model AND p.expires_at > at)
    FROM public.quota_limits q
    LEFT JOIN public.quota_rings r ON r.provider = q.provider AND r.model = q.model
    CROSS JOIN LATERAL (
      SELECT q.ring_bucket * q.ring_width_ms > extract(epoch FROM at) * 1000 - q.window_ms AS recent) newest
    LEFT JOIN LATERAL (
      SELECT sum(s.requests)::bigint AS requests, sum(s.input_tokens)::bigint AS input_tokens
        FROM unnest(r.requests, r.input_tokens) WITH ORDINALITY AS s(requests, input_tokens, slot)
       -- The bucket index a slot holds: the newest index up to ring_bucket that maps to it.
       WHERE (q.ring_bucket - mod(mod(q.ring_bucket - (s.slot - 1), q.ring_slots) + q.ring_slots, q.ring_slots))
             * q.ring_width_ms > extract(epoch FROM at) * 1000 - q.window_ms) w ON true
   WHERE q.provider = quota_status_at.provider AND q.model = quota_status_at.model
$$;

CREATE OR REPLACE FUNCTION public.batchpilot_quota_status(provider text, model text)
  RETURNS TABLE (adaptive_factor double precision, blocked_until timestamptz, parked_until timestamptz,
                 requests_in_window bigint, input_tokens_in_window bigint, in_flight bigint)
  LANGUAGE sql
  SECURITY DEFINER
  SET search_path = ''
AS $$
  SELECT * FROM batchpilot_private.quota_status_at(batchpilot_quota_status.provider, batchpilot_quota_status.model,
                                                   clock_timestamp())
$$;

-- ---------------------------------------------------------------------------------------------
-- Privileges: the gate's functions belong to the workers and the project's own services
-- (service_role); the limits and the ledger are readable by admins.
-- ---------------------------------------------------------------------------------------------
REVOKE ALL ON FUNCTION batchpilot_private.adaptive_factor_at(public.quota_limits, timestamptz),
  batchpilot_private.quota_status_at(text, text, timestamptz),
  batchpilot_private.next_pacific_midnight(timestamptz),
  batchpilot_private.acquire_quota(text, text, bigint, text, timestamptz, bigint, uuid),
  batchpilot_private.end_abandoned_permits(uuid[]),
  batchpilot_private.mark_ledger_limited(public.quota_limits, timestamptz, timestamptz)
  FROM PUBLIC;
REVOKE ALL ON FUNCTION batchpilot_private.correct_quota_window(public.quota_limits, bigint, bigint),
  batchpilot_private.counted_bucket(public.quota_limits, timestamptz) FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION batchpilot_private.end_permits_of_files(uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION batchpilot_private.end_permits_of_files(uuid[]) TO service_role;
-- The ETA (run by the workers) reads the gate's state through it.
GRANT EXECUTE ON FUNCTION batchpilot_private.quota_status_at(text, text, timestamptz) TO service_role;
REVOKE ALL ON FUNCTION public.batchpilot_acquire_quota(text, text, bigint, text, bigint, uuid),
  public.batchpilot_extend_quota_permits(uuid[], bigint),
  public.batchpilot_reconcile_quota(uuid, bigint),
  public.batchpilot_release_quota(uuid),
  public.batchpilot_finish_quota(uuid, bigint),
  public.batchpilot_finish_quotas(uuid[], bigint[]),
  public.batchpilot_report_rate_limit(text, text, bigint, text),
  public.batchpilot_report_daily_quota_exhausted(text, text),
  public.batchpilot_quota_status(text, text)
  FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.batchpilot_acquire_quota(text, text, bigint, text, bigint, uuid),
  public.batchpilot_extend_quota_permits(uuid[], bigint),
  public.batchpilot_reconcile_quota(uuid, bigint),
  public.batchpilot_release_quota(uuid),
  public.batchpilot_finish_quota(uuid, bigint),
  public.batchpilot_finish_quotas(uuid[], bigint[]),
  public.batchpilot_report_rate_limit(text, text, bigint, text),
  public.batchpilot_report_daily_quota_exhausted(text, text),
  public.batchpilot_quota_status(text, text)
  TO service_role;

-- ---------------------------------------------------------------------------------------------
-- Quota status for a session's members: "API quota: x/y requests/min". The gate's own
-- batchpilot_quota_status is the service role's; this one answers only for the model of a session
-- the caller may read, and only with fleet-wide aggregates (used and limit in the last window,
-- blocked or parked until): no permit, session or other tenant's row.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.batchpilot_session_quota_status(session_id uuid)
  RETURNS TABLE (provider text, model text,
                 requests_used bigint, requests_limit integer,
                 input_tokens_used bigint, input_tokens_limit bigint,
                 window_ms integer, blocked_until timestamptz, parked_until timestamptz)
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
DECLARE
  s public.batch_upload_sessions;
BEGIN
  SELECT * INTO s FROM public.batch_upload_sessions x
   WHERE x.id = batchpilot_session_quota_status.session_id
     AND x.id IN (SELECT batchpilot_private.my_session_ids());
  IF NOT FOUND THEN
    -- The same answer for a session that does not exist and one of another tenant.
    RAISE EXCEPTION 'batchpilot_session_quota_status: batch session % is not one of the signed-in user''s'
      ' sessions (their own or their teams''): pass the id of a session you can read', session_id
      USING ERRCODE = 'P0002';
  END IF;
  -- No quota_limits row for the model: the limits are NULL (an admin adds the row).
  RETURN QUERY
  SELECT s.provider, s.model,
         coalesce(st.requests_in_window, 0), q.requests_per_minute,
         coalesce(st.input_tokens_in_window, 0), q.input_tokens_per_minute,
         q.window_ms, st.blocked_until, st.parked_until
    FROM (SELECT 1) one
    LEFT JOIN public.quota_limits q ON q.provider = s.provider AND q.model = s.model
    LEFT JOIN LATERAL public.batchpilot_quota_status(s.provider, s.model) st ON true;
END
$$;

COMMENT ON FUNCTION public.batchpilot_session_quota_status(uuid) IS
  'For a session''s members: its model''s quota used and limit in the last window (fleet-wide aggregates), blocked or parked until.';

REVOKE ALL ON FUNCTION public.batchpilot_session_quota_status(uuid) FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION public.batchpilot_session_quota_status(uuid) TO authenticated;

DROP POLICY IF EXISTS quota_limits_admin_select ON public.quota_limits;
CREATE POLICY quota_limits_admin_select ON public.quota_limits
  FOR SELECT TO authenticated
  USING ((SELECT batchpilot_private.is_admin()));

-- The quota ledger: admins read it; only the workers write it.
DROP POLICY IF EXISTS api_quota_admin_select ON public.api_quota_tracking;
CREATE POLICY api_quota_admin_select ON public.api_quota_tracking
  FOR SELECT TO authenticated
  USING ((SELECT batchpilot_private.is_admin()));
