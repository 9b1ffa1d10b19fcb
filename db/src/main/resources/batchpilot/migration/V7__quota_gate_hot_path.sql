-- batchpilot: the quota gate's hot path, rebuilt for throughput (issue 4). V2's grant summed ~62
-- bucket rows, upserted a bucket row and counted permits in flight on every call. Now the limits
-- row carries the lookback as a ring of per-bucket counts with running totals, and in-flight is a
-- counter (grants on the limits row minus releases on their own row, so a release never waits for
-- the gate's lock). The public functions and the guarantee are unchanged; see acquire below.

-- ---------------------------------------------------------------------------------------------
-- State kept on the limits row
-- ---------------------------------------------------------------------------------------------
ALTER TABLE public.quota_limits
  -- The lookback's buckets as a ring: slot (bucket index mod size) + 1 counts bucket index
  -- (epoch ms / ring_width_ms) for the ring_size newest indexes up to ring_bucket. NULL: empty.
  ADD COLUMN ring_bucket         bigint,
  ADD COLUMN ring_width_ms       integer,
  ADD COLUMN ring_requests       integer[],
  ADD COLUMN ring_input_tokens   bigint[],
  -- When the ring was last laid out: reconcile corrects only grants counted in this layout.
  ADD COLUMN ring_since          timestamptz,
  -- The sums of the ring's slots.
  ADD COLUMN window_requests     bigint NOT NULL DEFAULT 0,
  ADD COLUMN window_input_tokens bigint NOT NULL DEFAULT 0,
  -- Permits granted and not yet forgotten or lapsed; minus quota_permit_releases, the ones in flight.
  ADD COLUMN permits_granted     bigint NOT NULL DEFAULT 0;

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

-- Carry over what V2 counted: every kept bucket into the newest slot (later than it was granted,
-- so never less safe), and every unreleased permit as granted.
UPDATE public.quota_limits q
   SET ring_bucket = (floor(extract(epoch FROM b.newest) * 1000)::bigint) / (q.window_ms / q.buckets_per_window),
       ring_width_ms = q.window_ms / q.buckets_per_window,
       ring_since = b.newest,
       ring_requests = array_fill(0, ARRAY[1]),
       ring_input_tokens = array_fill(0::bigint, ARRAY[1]),
       window_requests = b.requests,
       window_input_tokens = b.input_tokens
  FROM (SELECT provider, model, max(bucket_start) AS newest, sum(requests) AS requests,
               sum(input_tokens) AS input_tokens
          FROM public.quota_buckets GROUP BY provider, model) b
 WHERE b.provider = q.provider AND b.model = q.model;
UPDATE public.quota_limits q
   SET permits_granted = (SELECT count(*) FROM public.quota_permits p
                           WHERE p.provider = q.provider AND p.model = q.model AND p.released_at IS NULL);

-- Grants no longer touch updated_at: it says when an admin (or a 429 report) last changed the row,
-- and a trigger call per grant was a measurable share of its cost.
DROP TRIGGER quota_limits_touch ON public.quota_limits;
CREATE TRIGGER quota_limits_touch BEFORE UPDATE OF
    requests_per_minute, input_tokens_per_minute, requests_per_day, max_in_flight, window_ms,
    buckets_per_window, safety_margin_ms, permit_lease_ms, adaptive_factor, adaptive_changed_at,
    adaptive_min, adaptive_decrease, adaptive_increase, blocked_until, blocked_quota_id, parked_until
  ON public.quota_limits
  FOR EACH ROW EXECUTE FUNCTION batchpilot_private.touch_updated_at();

-- The ledger's upsert sets updated_at itself; the trigger (a plpgsql call per row, two per grant)
-- now runs only for writers that leave it unchanged.
DROP TRIGGER api_quota_tracking_touch ON public.api_quota_tracking;
CREATE TRIGGER api_quota_tracking_touch BEFORE UPDATE ON public.api_quota_tracking
  FOR EACH ROW WHEN (OLD.updated_at IS NOT DISTINCT FROM NEW.updated_at)
  EXECUTE FUNCTION batchpilot_private.touch_updated_at();

-- Inlined by the planner once it carries no SET clause (it reads only its arguments and
-- pg_catalog, so the caller's search_path cannot change it).
ALTER FUNCTION batchpilot_private.adaptive_factor_at(public.quota_limits, timestamptz) RESET search_path;

DROP TABLE public.quota_buckets;
DROP FUNCTION batchpilot_private.strategy_fraction(public.quota_limits, text, timestamptz);
DROP FUNCTION batchpilot_private.epoch_ms(timestamptz);
DROP FUNCTION batchpilot_private.from_epoch_ms(bigint);

-- ---------------------------------------------------------------------------------------------
-- Acquire. The guarantee: let w = window_ms / buckets_per_window and n = ceil((window_ms +
-- safety_margin_ms) / w). A request granted at t (bucket b = floor(t / w)) is admitted only if the
-- buckets b-n .. b plus its own cost stay within the limit; the ring holds exactly those n + 1
-- buckets once moved to b (the slots of buckets older than b-n are emptied and leave the totals),
-- and window_requests / window_input_tokens are their sums. Take any window of length window_ms at
-- the server, and in it the request r granted last (grant order = lock order = time order, since
-- `now` is read after the row lock). Every other request in that window arrived at most
-- window_ms + spread before r did, so (spread <= safety margin) it was granted within
-- window_ms + margin before r, hence in buckets b_r-n .. b_r, and before r: r's check counted it.
-- So the window holds at most the limit. Tokens likewise, as long as estimates are not below the
-- real counts (reconcile corrects the ring for later grants). When an admin changes the window's
-- layout, the totals move to the newest slot: counted later than granted, so never less safe.
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
  cur             timestamptz;
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
  lapsed          bigint;
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

  -- Move the ring to the current bucket: the buckets that leave the lookback stop counting.
  ring_r := q.ring_requests;
  ring_t := q.ring_input_tokens;
  total_r := q.window_requests;
  total_t := q.window_input_tokens;
  IF q.ring_bucket IS NULL OR q.ring_width_ms IS DISTINCT FROM bucket_ms
     OR cardinality(ring_r) IS DISTINCT FROM ring_size OR cur_index < q.ring_bucket THEN
    ring_r := array_fill(0, ARRAY[ring_size]);
    ring_t := array_fill(0::bigint, ARRAY[ring_size]);
    ring_r[cur_index % ring_size + 1] := total_r;
    ring_t[cur_index % ring_size + 1] := total_t;
    q.ring_since := now_at;
    -- Kept even if this call is refused: laid out anew on every call, the totals would never age.
    UPDATE public.quota_limits l
       SET ring_bucket = cur_index, ring_width_ms = bucket_ms, ring_since = now_at,
           ring_requests = ring_r, ring_input_tokens = ring_t
     WHERE l.provider = p_provider AND l.model = p_model;
  ELSIF cur_index - q.ring_bucket >= ring_size THEN
    ring_r := array_fill(0, ARRAY[ring_size]);
    ring_t := array_fill(0::bigint, ARRAY[ring_size]);
    total_r := 0;
    total_t := 0;
  ELSE
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
  END IF;

  IF total_r + 1 > request_limit OR total_t + p_input_tokens > token_limit THEN
    -- Room comes back when enough of the oldest buckets leave the lookback: the first bucket at
    -- which the running totals cover the excess leaves it lookback + 1 buckets after it started.
    need_r := total_r + 1 - request_limit;
    need_t := total_t + p_input_tokens - token_limit;
    k := cur_index - lookback;
    LOOP
      slot := k % ring_size + 1;
      need_r := need_r - ring_r[slot];
      need_t := need_t - ring_t[slot];
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
    -- Permits whose lease has passed (their worker died) stop counting: mark them released, which
    -- also turns a late release of one into a no-op, and take them off the count.
    WITH lapse AS (
      UPDATE public.quota_permits p SET released_at = p.expires_at
       WHERE p.provider = p_provider AND p.model = p_model AND p.released_at IS NULL AND p.expires_at <= now_at
      RETURNING 1)
    SELECT count(*) INTO lapsed FROM lapse;
    IF lapsed > 0 THEN
      q.permits_granted := q.permits_granted - lapsed;
      in_flight := in_flight - lapsed;
      UPDATE public.quota_limits l SET permits_granted = q.permits_granted
       WHERE l.provider = p_provider AND l.model = p_model;
    END IF;
    IF in_flight >= in_flight_limit THEN
      -- A release can come at any moment; ask again after one bucket (at most 100 ms).
      RETURN QUERY SELECT false, NULL::uuid, least(100, bucket_ms)::bigint, 'in_flight', NULL::timestamptz;
      RETURN;
    END IF;
  END IF;

  slot := cur_index % ring_size + 1;
  ring_r[slot] := ring_r[slot] + 1;
  ring_t[slot] := ring_t[slot] + p_input_tokens;
  cur := to_timestamp(cur_index * bucket_ms / 1000.0);

  INSERT INTO public.quota_permits (provider, model, bucket_start, input_tokens, granted_at, expires_at)
  VALUES (p_provider, p_model, cur, p_input_tokens, now_at,
          now_at + make_interval(secs => q.permit_lease_ms / 1000.0))
  RETURNING id INTO new_permit;

  -- The ledger: per calendar minute, what was granted against the configured limit.
  INSERT INTO public.api_quota_tracking AS t (api_provider, model, quota_type, time_window, quota_used, quota_limit)
  VALUES (p_provider, p_model, 'requests', date_trunc('minute', now_at), 1, q.requests_per_minute),
         (p_provider, p_model, 'input_tokens', date_trunc('minute', now_at), p_input_tokens, q.input_tokens_per_minute)
  ON CONFLICT (api_provider, model, quota_type, time_window) DO UPDATE
    SET quota_used = t.quota_used + excluded.quota_used, quota_limit = excluded.quota_limit, updated_at = now();

  -- Once per bucket: forget finished permits older than the lookback. A lapsed one (lease passed,
  -- never released) still counted as granted, so it leaves the count too.
  IF q.current_bucket IS DISTINCT FROM cur THEN
    WITH gone AS (
      DELETE FROM public.quota_permits p
       WHERE p.provider = p_provider AND p.model = p_model
         AND p.granted_at < to_timestamp((cur_index - lookback) * bucket_ms / 1000.0)
         AND (p.released_at IS NOT NULL OR p.expires_at <= now_at)
      RETURNING p.released_at IS NULL AS was_counted)
    SELECT count(*) FILTER (WHERE was_counted) INTO lapsed FROM gone;
    q.permits_granted := q.permits_granted - lapsed;
  END IF;

  UPDATE public.quota_limits l
     SET day = today, requests_today = q.requests_today + 1, current_bucket = cur, last_grant_at = now_at,
         ring_bucket = cur_index, ring_width_ms = bucket_ms, ring_since = q.ring_since,
         ring_requests = ring_r, ring_input_tokens = ring_t,
         window_requests = total_r + 1, window_input_tokens = total_t + p_input_tokens,
         permits_granted = q.permits_granted + 1
   WHERE l.provider = p_provider AND l.model = p_model;

  RETURN QUERY SELECT true, new_permit, 0::bigint, NULL::text, now_at;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Reconcile, release, and both in one round trip
-- ---------------------------------------------------------------------------------------------

-- Replaces a grant's estimate with the real prompt token count, in the ring (while its bucket is
-- still in the lookback) and the ledger minute where it was counted. Returns false when the permit
-- is unknown (already forgotten). Locks the limits row before the permit, in acquire's order.
CREATE OR REPLACE FUNCTION public.batchpilot_reconcile_quota(permit_id uuid, actual_input_tokens bigint)
  RETURNS boolean
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
DECLARE
  p     public.quota_permits;
  q     public.quota_limits;
  delta bigint;
  k     bigint;
  slot  integer;
  fixed bigint;
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
  SELECT * INTO p FROM public.quota_permits x WHERE x.id = batchpilot_reconcile_quota.permit_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  delta := actual_input_tokens - p.input_tokens;
  UPDATE public.quota_permits x SET input_tokens = actual_input_tokens WHERE x.id = p.id;
  k := floor(extract(epoch FROM p.bucket_start) * 1000)::bigint / q.ring_width_ms;
  IF p.granted_at >= q.ring_since AND k <= q.ring_bucket AND k > q.ring_bucket - cardinality(q.ring_input_tokens) THEN
    slot := k % cardinality(q.ring_input_tokens) + 1;
    fixed := greatest(0, q.ring_input_tokens[slot] + delta);
    UPDATE public.quota_limits l
       SET ring_input_tokens[slot] = fixed,
           window_input_tokens = l.window_input_tokens + fixed - q.ring_input_tokens[slot]
     WHERE l.provider = q.provider AND l.model = q.model;
  END IF;
  UPDATE public.api_quota_tracking t SET quota_used = greatest(0, t.quota_used + delta), updated_at = now()
   WHERE t.api_provider = p.provider AND t.model = p.model AND t.quota_type = 'input_tokens'
     AND t.time_window = date_trunc('minute', p.granted_at);
  RETURN true;
END
$$;

-- Ends a permit's time in flight. Returns false when it had already ended (released, or its lease
-- lapsed). Counts on its own row, so it never waits behind grants. plpgsql rather than sql: a SQL
-- function's statements are planned anew on every call, a quarter of a release's CPU (measured).
CREATE OR REPLACE FUNCTION public.batchpilot_release_quota(permit_id uuid)
  RETURNS boolean
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
DECLARE
  p_provider text;
  p_model    text;
BEGIN
  -- A release lost in a crash is made good by the permit's lease; no flush wait for it.
  PERFORM set_config('synchronous_commit', 'off', true);
  UPDATE public.quota_permits p SET released_at = clock_timestamp()
   WHERE p.id = batchpilot_release_quota.permit_id AND p.released_at IS NULL
  RETURNING p.provider, p.model INTO p_provider, p_model;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  INSERT INTO public.quota_permit_releases AS r (provider, model, permits_released)
  VALUES (p_provider, p_model, 1)
  ON CONFLICT (provider, model) DO UPDATE SET permits_released = r.permits_released + 1;
  RETURN true;
END
$$;

-- After the call: reconcile with the real prompt token count and release, in one round trip.
-- Returns false when the permit had already ended.
CREATE FUNCTION public.batchpilot_finish_quota(permit_id uuid, actual_input_tokens bigint)
  RETURNS boolean
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  PERFORM public.batchpilot_reconcile_quota(permit_id, actual_input_tokens);
  RETURN public.batchpilot_release_quota(permit_id);
END
$$;

COMMENT ON FUNCTION public.batchpilot_finish_quota(uuid, bigint) IS
  'batchpilot_reconcile_quota then batchpilot_release_quota, in one call: what a worker does after each request.';

-- What the gate knows about one (provider, model) right now. The window counts the ring's buckets
-- that started within the last window_ms.
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
         coalesce(w.requests, 0),
         coalesce(w.input_tokens, 0),
         (SELECT count(*) FROM public.quota_permits p
           WHERE p.provider = q.provider AND p.model = q.model
             AND p.released_at IS NULL AND p.expires_at > clock_timestamp())
    FROM public.quota_limits q
    LEFT JOIN LATERAL (
      SELECT sum(s.requests)::bigint AS requests, sum(s.input_tokens)::bigint AS input_tokens
        FROM unnest(q.ring_requests, q.ring_input_tokens) WITH ORDINALITY AS s(requests, input_tokens, slot)
       -- The bucket index a slot holds: the newest index up to ring_bucket that maps to it.
       WHERE (q.ring_bucket - mod(mod(q.ring_bucket - (s.slot - 1), cardinality(q.ring_requests))
                                  + cardinality(q.ring_requests), cardinality(q.ring_requests)))
             * q.ring_width_ms > extract(epoch FROM clock_timestamp()) * 1000 - q.window_ms) w ON true
   WHERE q.provider = batchpilot_quota_status.provider AND q.model = batchpilot_quota_status.model
$$;

-- ---------------------------------------------------------------------------------------------
-- Privileges, as V2's
-- ---------------------------------------------------------------------------------------------
REVOKE ALL ON FUNCTION public.batchpilot_finish_quota(uuid, bigint) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.batchpilot_finish_quota(uuid, bigint) TO service_role;

ALTER TABLE public.quota_permit_releases ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON public.quota_permit_releases FROM anon, authenticated;
GRANT ALL ON public.quota_permit_releases TO service_role;
