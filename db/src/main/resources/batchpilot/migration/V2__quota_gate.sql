-- batchpilot: the global quota gate. One row per (provider, model) holds the limits an admin edits
-- and the fleet's shared state; fine-grained buckets count what was granted; permits track what is
-- in flight. Every worker, Edge Function or service that calls batchpilot_acquire_quota shares the
-- same quota. See the README, "The quota gate", for the proof and an Edge Function example.

-- ---------------------------------------------------------------------------------------------
-- Limits (admin-edited) and the gate's shared state, per (provider, model)
-- ---------------------------------------------------------------------------------------------
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

  -- Maintained by the gate.
  day                     date,
  requests_today          integer NOT NULL DEFAULT 0,
  current_bucket          timestamptz,
  last_grant_at           timestamptz,

  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (provider, model),
  CONSTRAINT quota_limits_margin_check CHECK (safety_margin_ms < window_ms),
  CONSTRAINT quota_limits_bucket_width_check CHECK (window_ms % buckets_per_window = 0)
);

COMMENT ON TABLE public.quota_limits IS
  'Per (provider, model): the limits an admin edits, and the quota gate''s fleet-wide state.';
COMMENT ON COLUMN public.quota_limits.parked_until IS
  'Set when the daily quota is exhausted: nothing is granted before this instant (next midnight America/Los_Angeles).';

CREATE TRIGGER quota_limits_touch BEFORE UPDATE ON public.quota_limits
  FOR EACH ROW EXECUTE FUNCTION batchpilot_private.touch_updated_at();

-- Gemini's free-tier limits (November 2026): a project on a paid tier raises them here.
INSERT INTO public.quota_limits
  (provider, model, requests_per_minute, input_tokens_per_minute, requests_per_day, max_in_flight)
VALUES
  ('gemini', 'gemini-2.5-flash',      10, 250000,  250, 10),
  ('gemini', 'gemini-2.5-flash-lite', 15, 250000, 1000, 15),
  ('gemini', 'gemini-2.5-pro',         5, 250000,  100,  5),
  ('gemini', 'gemini-embedding-001', 100,  30000, 1000, 20);

-- What was granted, per bucket of window_ms / buckets_per_window.
CREATE TABLE public.quota_buckets (
  provider      text NOT NULL,
  model         text NOT NULL,
  bucket_start  timestamptz NOT NULL,
  requests      integer NOT NULL DEFAULT 0,
  input_tokens  bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (provider, model, bucket_start),
  FOREIGN KEY (provider, model) REFERENCES public.quota_limits ON DELETE CASCADE
);

COMMENT ON TABLE public.quota_buckets IS
  'Granted requests and input tokens per (provider, model) and bucket; kept for one window and a margin.';

-- One row per grant: in flight until released or its lease ends; reconciled with the real tokens.
CREATE TABLE public.quota_permits (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  provider      text NOT NULL,
  model         text NOT NULL,
  bucket_start  timestamptz NOT NULL,
  input_tokens  bigint NOT NULL,
  granted_at    timestamptz NOT NULL,
  expires_at    timestamptz NOT NULL,
  released_at   timestamptz,
  FOREIGN KEY (provider, model) REFERENCES public.quota_limits ON DELETE CASCADE
);

COMMENT ON TABLE public.quota_permits IS
  'Quota grants: in flight until released_at is set or expires_at passes.';

CREATE INDEX quota_permits_in_flight_idx
  ON public.quota_permits (provider, model, expires_at) WHERE released_at IS NULL;
CREATE INDEX quota_permits_granted_idx
  ON public.quota_permits (provider, model, granted_at);

-- ---------------------------------------------------------------------------------------------
-- Arithmetic
-- ---------------------------------------------------------------------------------------------

-- The adaptive factor in effect at an instant: the stored one plus adaptive_increase for every
-- whole window since it last changed, capped at 1.
CREATE FUNCTION batchpilot_private.adaptive_factor_at(q public.quota_limits, at timestamptz)
  RETURNS double precision
  LANGUAGE sql IMMUTABLE
  SET search_path = ''
AS $$
  SELECT least(1.0, q.adaptive_factor + q.adaptive_increase * greatest(0, floor(
    extract(epoch FROM at - q.adaptive_changed_at) * 1000 / q.window_ms)))
$$;

-- The fraction of the limits (and of the in-flight cap) a strategy may use. Conservative leaves
-- half of the project's quota to other apps; balanced a quarter; aggressive uses all of it, which
-- is safe because the gate is exact; adaptive follows the fleet's shared factor.
CREATE FUNCTION batchpilot_private.strategy_fraction(q public.quota_limits, strategy text, at timestamptz)
  RETURNS double precision
  LANGUAGE plpgsql IMMUTABLE
  SET search_path = ''
AS $$
BEGIN
  RETURN CASE strategy
    WHEN 'conservative' THEN 0.5
    WHEN 'balanced' THEN 0.75
    WHEN 'aggressive' THEN 1.0
    WHEN 'adaptive' THEN batchpilot_private.adaptive_factor_at(q, at)
  END;
END
$$;

-- Whole milliseconds since the epoch, and back: bucket boundaries are computed in integers only.
CREATE FUNCTION batchpilot_private.epoch_ms(at timestamptz) RETURNS bigint
  LANGUAGE sql IMMUTABLE
  SET search_path = ''
AS $$
  SELECT floor(extract(epoch FROM at) * 1000)::bigint
$$;

CREATE FUNCTION batchpilot_private.from_epoch_ms(ms bigint) RETURNS timestamptz
  LANGUAGE sql IMMUTABLE
  SET search_path = ''
AS $$
  SELECT 'epoch'::timestamptz + ms * interval '1 millisecond'
$$;

-- The next midnight America/Los_Angeles after an instant: when Google resets daily quotas.
CREATE FUNCTION batchpilot_private.next_pacific_midnight(at timestamptz) RETURNS timestamptz
  LANGUAGE sql IMMUTABLE
  SET search_path = ''
AS $$
  SELECT (date_trunc('day', at AT TIME ZONE 'America/Los_Angeles') + interval '1 day')
         AT TIME ZONE 'America/Los_Angeles'
$$;

-- ---------------------------------------------------------------------------------------------
-- Acquire. The guarantee: let w = window_ms / buckets_per_window and n = ceil((window_ms +
-- safety_margin_ms) / w). A request granted at t (bucket b = floor(t / w)) is admitted only if the
-- buckets b-n .. b plus its own cost stay within the limit. Take any window of length window_ms at
-- the server, and in it the request r granted last (grant order = lock order = time order, since
-- `now` is read after the row lock). Every other request in that window arrived at most
-- window_ms + spread before r did, so (spread <= safety margin) it was granted within
-- window_ms + margin before r, hence in buckets b_r-n .. b_r, and before r: r's check counted it.
-- So the window holds at most the limit. Tokens likewise, as long as estimates are not below the
-- real counts (reconcile corrects the buckets for later grants).
--
-- p_now exists for the property tests only (they step a clock); the public function passes NULL,
-- which means clock_timestamp() read after the lock.
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION batchpilot_private.acquire_quota(
  p_provider text, p_model text, p_input_tokens bigint, p_strategy text, p_now timestamptz)
  RETURNS TABLE (granted boolean, permit_id uuid, wait_ms bigint, reason text, granted_at timestamptz)
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  q               public.quota_limits;
  now_at          timestamptz;
  bucket_ms       bigint;
  lookback        bigint;
  cur_index       bigint;
  cur             timestamptz;
  oldest          timestamptz;
  fraction        double precision;
  request_limit   bigint;
  token_limit     bigint;
  in_flight_limit integer;
  used_requests   bigint;
  used_tokens     bigint;
  in_flight       bigint;
  free_at         timestamptz;
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

  fraction := batchpilot_private.strategy_fraction(q, p_strategy, now_at);
  request_limit := greatest(1, floor(q.requests_per_minute * fraction));
  -- A request that fits the real limit but not the reduced one may still go, alone.
  token_limit := greatest(p_input_tokens, floor(q.input_tokens_per_minute * fraction));
  in_flight_limit := greatest(1, floor(q.max_in_flight * fraction));

  bucket_ms := q.window_ms / q.buckets_per_window;
  lookback := ceil((q.window_ms + q.safety_margin_ms)::numeric / bucket_ms);
  cur_index := batchpilot_private.epoch_ms(now_at) / bucket_ms;
  cur := batchpilot_private.from_epoch_ms(cur_index * bucket_ms);
  oldest := batchpilot_private.from_epoch_ms((cur_index - lookback) * bucket_ms);

  SELECT coalesce(sum(b.requests), 0), coalesce(sum(b.input_tokens), 0)
    INTO used_requests, used_tokens
    FROM public.quota_buckets b
   WHERE b.provider = p_provider AND b.model = p_model AND b.bucket_start >= oldest;

  IF used_requests + 1 > request_limit OR used_tokens + p_input_tokens > token_limit THEN
    -- Room comes back when enough of the oldest buckets leave the lookback: the first bucket at
    -- which the running totals cover the excess leaves it lookback + 1 buckets after it started.
    SELECT min(r.bucket_start) INTO free_at
      FROM (SELECT b.bucket_start,
                   sum(b.requests) OVER w AS requests_through,
                   sum(b.input_tokens) OVER w AS tokens_through
              FROM public.quota_buckets b
             WHERE b.provider = p_provider AND b.model = p_model AND b.bucket_start >= oldest
            WINDOW w AS (ORDER BY b.bucket_start)) r
     WHERE r.requests_through >= used_requests + 1 - request_limit
       AND r.tokens_through >= used_tokens + p_input_tokens - token_limit;
    free_at := batchpilot_private.from_epoch_ms(
      (batchpilot_private.epoch_ms(free_at) / bucket_ms + lookback + 1) * bucket_ms);
    RETURN QUERY SELECT false, NULL::uuid,
      greatest(1, ceil(extract(epoch FROM free_at - now_at) * 1000))::bigint,
      CASE WHEN used_requests + 1 > request_limit THEN 'requests' ELSE 'input_tokens' END, NULL::timestamptz;
    RETURN;
  END IF;

  -- Counting stops at the cap: the cost stays bounded however many permits a crash left behind.
  SELECT count(*) INTO in_flight FROM (
    SELECT 1 FROM public.quota_permits p
     WHERE p.provider = p_provider AND p.model = p_model AND p.released_at IS NULL AND p.expires_at > now_at
     LIMIT in_flight_limit) f;
  IF in_flight >= in_flight_limit THEN
    -- A release can come at any moment; ask again after one bucket (at most 100 ms).
    RETURN QUERY SELECT false, NULL::uuid, least(100, bucket_ms), 'in_flight', NULL::timestamptz;
    RETURN;
  END IF;

  INSERT INTO public.quota_buckets AS b (provider, model, bucket_start, requests, input_tokens)
  VALUES (p_provider, p_model, cur, 1, p_input_tokens)
  ON CONFLICT (provider, model, bucket_start) DO UPDATE
    SET requests = b.requests + 1, input_tokens = b.input_tokens + excluded.input_tokens;

  INSERT INTO public.quota_permits (provider, model, bucket_start, input_tokens, granted_at, expires_at)
  VALUES (p_provider, p_model, cur, p_input_tokens, now_at,
          now_at + make_interval(secs => q.permit_lease_ms / 1000.0))
  RETURNING id INTO new_permit;

  -- The ledger: per calendar minute, what was granted against the configured limit.
  INSERT INTO public.api_quota_tracking AS t (api_provider, model, quota_type, time_window, quota_used, quota_limit)
  VALUES (p_provider, p_model, 'requests', date_trunc('minute', now_at), 1, q.requests_per_minute),
         (p_provider, p_model, 'input_tokens', date_trunc('minute', now_at), p_input_tokens, q.input_tokens_per_minute)
  ON CONFLICT (api_provider, model, quota_type, time_window) DO UPDATE
    SET quota_used = t.quota_used + excluded.quota_used, quota_limit = excluded.quota_limit;

  -- Once per bucket: forget buckets and finished permits that no longer matter.
  IF q.current_bucket IS DISTINCT FROM cur THEN
    DELETE FROM public.quota_buckets b
     WHERE b.provider = p_provider AND b.model = p_model AND b.bucket_start < oldest;
    DELETE FROM public.quota_permits p
     WHERE p.provider = p_provider AND p.model = p_model AND p.granted_at < oldest
       AND (p.released_at IS NOT NULL OR p.expires_at <= now_at);
  END IF;

  UPDATE public.quota_limits l
     SET day = today, requests_today = q.requests_today + 1, current_bucket = cur, last_grant_at = now_at
   WHERE l.provider = p_provider AND l.model = p_model;

  RETURN QUERY SELECT true, new_permit, 0::bigint, NULL::text, now_at;
END
$$;

CREATE FUNCTION public.batchpilot_acquire_quota(
  provider text, model text, estimated_input_tokens bigint, strategy text DEFAULT 'adaptive')
  RETURNS TABLE (granted boolean, permit_id uuid, wait_ms bigint, reason text, granted_at timestamptz)
  LANGUAGE sql
  SECURITY DEFINER
  SET search_path = ''
AS $$
  SELECT * FROM batchpilot_private.acquire_quota(provider, model, estimated_input_tokens, strategy, NULL)
$$;

COMMENT ON FUNCTION public.batchpilot_acquire_quota(text, text, bigint, text) IS
  'Grant one request of the given estimated input tokens (granted, permit_id, granted_at), or say how long to wait (wait_ms, reason).';

-- ---------------------------------------------------------------------------------------------
-- Reconcile, release, report
-- ---------------------------------------------------------------------------------------------

-- Replaces a grant's estimate with the real prompt token count, in the bucket and ledger minute
-- where it was counted. Returns false when the permit is unknown (already forgotten).
CREATE FUNCTION public.batchpilot_reconcile_quota(permit_id uuid, actual_input_tokens bigint)
  RETURNS boolean
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
DECLARE
  p     public.quota_permits;
  delta bigint;
BEGIN
  IF actual_input_tokens IS NULL OR actual_input_tokens < 0 THEN
    RAISE EXCEPTION 'batchpilot_reconcile_quota: actual input tokens must be 0 or more, got %', actual_input_tokens
      USING ERRCODE = '22023';
  END IF;
  SELECT * INTO p FROM public.quota_permits x WHERE x.id = batchpilot_reconcile_quota.permit_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  delta := actual_input_tokens - p.input_tokens;
  IF delta = 0 THEN
    RETURN true;
  END IF;
  -- As in acquire: a lost adjustment costs a little accuracy, a flush wait costs every worker.
  PERFORM set_config('synchronous_commit', 'off', true);
  UPDATE public.quota_permits x SET input_tokens = actual_input_tokens WHERE x.id = p.id;
  UPDATE public.quota_buckets b SET input_tokens = greatest(0, b.input_tokens + delta)
   WHERE b.provider = p.provider AND b.model = p.model AND b.bucket_start = p.bucket_start;
  UPDATE public.api_quota_tracking t SET quota_used = greatest(0, t.quota_used + delta)
   WHERE t.api_provider = p.provider AND t.model = p.model AND t.quota_type = 'input_tokens'
     AND t.time_window = date_trunc('minute', p.granted_at);
  RETURN true;
END
$$;

-- Ends a permit's time in flight. Returns false when it had already ended.
CREATE FUNCTION public.batchpilot_release_quota(permit_id uuid)
  RETURNS boolean
  LANGUAGE sql
  SECURITY DEFINER
  SET search_path = ''
AS $$
  -- A release lost in a crash is made good by the permit's lease; no flush wait for it.
  SELECT set_config('synchronous_commit', 'off', true);
  WITH released AS (
    UPDATE public.quota_permits p SET released_at = clock_timestamp()
     WHERE p.id = batchpilot_release_quota.permit_id AND p.released_at IS NULL
    RETURNING 1)
  SELECT EXISTS (SELECT 1 FROM released)
$$;

-- A 429 for a per-minute quota: the whole fleet waits retry_delay_ms for this (provider, model),
-- and the adaptive factor is cut once per blocked period, however many workers report it.
-- Returns the instant the block ends.
CREATE FUNCTION public.batchpilot_report_rate_limit(
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
CREATE FUNCTION public.batchpilot_report_daily_quota_exhausted(provider text, model text)
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

CREATE FUNCTION batchpilot_private.mark_ledger_limited(q public.quota_limits, at timestamptz, block_end timestamptz)
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

-- What the gate knows about one (provider, model) right now: for sessions ("parked until"),
-- the ETA and dashboards.
CREATE FUNCTION public.batchpilot_quota_status(provider text, model text)
  RETURNS TABLE (adaptive_factor double precision, blocked_until timestamptz, parked_until timestamptz,
                 requests_in_window bigint, input_tokens_in_window bigint, in_flight bigint)
  LANGUAGE sql
  SECURITY DEFINER
  SET search_path = ''
AS $$
  SELECT batchpilot_private.adaptive_factor_at(q, clock_timestamp()),
         CASE WHEN q.blocked_until > clock_timestamp() THEN q.blocked_until END,
         CASE WHEN q.parked_until > clock_timestamp() THEN q.parked_until END,
         (SELECT coalesce(sum(b.requests), 0) FROM public.quota_buckets b
           WHERE b.provider = q.provider AND b.model = q.model
             AND b.bucket_start > clock_timestamp() - make_interval(secs => q.window_ms / 1000.0)),
         (SELECT coalesce(sum(b.input_tokens), 0) FROM public.quota_buckets b
           WHERE b.provider = q.provider AND b.model = q.model
             AND b.bucket_start > clock_timestamp() - make_interval(secs => q.window_ms / 1000.0)),
         (SELECT count(*) FROM public.quota_permits p
           WHERE p.provider = q.provider AND p.model = q.model
             AND p.released_at IS NULL AND p.expires_at > clock_timestamp())
    FROM public.quota_limits q
   WHERE q.provider = batchpilot_quota_status.provider AND q.model = batchpilot_quota_status.model
$$;

-- ---------------------------------------------------------------------------------------------
-- Privileges: the gate's functions belong to the workers and the project's own services
-- (service_role); the limits are readable by admins in the dashboard.
-- ---------------------------------------------------------------------------------------------
REVOKE ALL ON FUNCTION batchpilot_private.adaptive_factor_at(public.quota_limits, timestamptz),
  batchpilot_private.strategy_fraction(public.quota_limits, text, timestamptz),
  batchpilot_private.next_pacific_midnight(timestamptz),
  batchpilot_private.epoch_ms(timestamptz),
  batchpilot_private.from_epoch_ms(bigint),
  batchpilot_private.acquire_quota(text, text, bigint, text, timestamptz),
  batchpilot_private.mark_ledger_limited(public.quota_limits, timestamptz, timestamptz)
  FROM PUBLIC;
REVOKE ALL ON FUNCTION public.batchpilot_acquire_quota(text, text, bigint, text),
  public.batchpilot_reconcile_quota(uuid, bigint),
  public.batchpilot_release_quota(uuid),
  public.batchpilot_report_rate_limit(text, text, bigint, text),
  public.batchpilot_report_daily_quota_exhausted(text, text),
  public.batchpilot_quota_status(text, text)
  FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.batchpilot_acquire_quota(text, text, bigint, text),
  public.batchpilot_reconcile_quota(uuid, bigint),
  public.batchpilot_release_quota(uuid),
  public.batchpilot_report_rate_limit(text, text, bigint, text),
  public.batchpilot_report_daily_quota_exhausted(text, text),
  public.batchpilot_quota_status(text, text)
  TO service_role;

ALTER TABLE public.quota_limits ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.quota_buckets ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.quota_permits ENABLE ROW LEVEL SECURITY;

CREATE POLICY quota_limits_admin_select ON public.quota_limits
  FOR SELECT TO authenticated
  USING ((SELECT batchpilot_private.is_admin()));

REVOKE ALL ON public.quota_limits, public.quota_buckets, public.quota_permits FROM anon, authenticated;
GRANT SELECT ON public.quota_limits TO authenticated;
GRANT ALL ON public.quota_limits, public.quota_buckets, public.quota_permits TO service_role;
