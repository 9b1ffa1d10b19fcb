-- batchpilot, repeatable: what every other part uses. updated_at stamping, and the row-level
-- security helpers the policies call. Flyway re-applies this file whenever its text changes, after
-- the versioned migrations and before R__20...; every statement may run again on an installed
-- database and changes nothing.

-- ---------------------------------------------------------------------------------------------
-- updated_at, set on every update. The gate's limits row and the quota ledger skip it where it
-- would cost: grants do not touch quota_limits.updated_at (it says when an admin, or a 429 report,
-- last changed the row; a trigger call per grant was a measurable share of its cost), and the
-- ledger's upserts set updated_at themselves, so its trigger runs only for writers that leave it
-- unchanged.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.touch_updated_at() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS batch_upload_sessions_touch ON public.batch_upload_sessions;
CREATE TRIGGER batch_upload_sessions_touch BEFORE UPDATE ON public.batch_upload_sessions
  FOR EACH ROW EXECUTE FUNCTION batchpilot_private.touch_updated_at();
DROP TRIGGER IF EXISTS batch_upload_files_touch ON public.batch_upload_files;
CREATE TRIGGER batch_upload_files_touch BEFORE UPDATE ON public.batch_upload_files
  FOR EACH ROW EXECUTE FUNCTION batchpilot_private.touch_updated_at();
DROP TRIGGER IF EXISTS api_quota_tracking_touch ON public.api_quota_tracking;
CREATE TRIGGER api_quota_tracking_touch BEFORE UPDATE ON public.api_quota_tracking
  FOR EACH ROW WHEN (OLD.updated_at IS NOT DISTINCT FROM NEW.updated_at)
  EXECUTE FUNCTION batchpilot_private.touch_updated_at();
DROP TRIGGER IF EXISTS quota_limits_touch ON public.quota_limits;
CREATE TRIGGER quota_limits_touch BEFORE UPDATE OF
    requests_per_minute, input_tokens_per_minute, requests_per_day, max_in_flight, window_ms,
    buckets_per_window, safety_margin_ms, permit_lease_ms, adaptive_factor, adaptive_changed_at,
    adaptive_min, adaptive_decrease, adaptive_increase, blocked_until, blocked_quota_id, parked_until
  ON public.quota_limits
  FOR EACH ROW EXECUTE FUNCTION batchpilot_private.touch_updated_at();
DROP TRIGGER IF EXISTS batchpilot_model_prices_touch ON public.batchpilot_model_prices;
CREATE TRIGGER batchpilot_model_prices_touch BEFORE UPDATE ON public.batchpilot_model_prices
  FOR EACH ROW EXECUTE FUNCTION batchpilot_private.touch_updated_at();

-- ---------------------------------------------------------------------------------------------
-- Row-level security helpers. SECURITY DEFINER with an empty search_path, so policies do not
-- recurse into team_members' own policies and `authenticated` never needs to read auth.users;
-- `(SELECT auth.uid())` runs once per statement, not once per row.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.my_team_ids() RETURNS SETOF uuid
  LANGUAGE sql STABLE
  SECURITY DEFINER
  SET search_path = ''
AS $$
  SELECT m.team_id FROM public.team_members m WHERE m.user_id = (SELECT auth.uid())
$$;

-- The sessions the caller may see: personal ones they own, and their teams'.
CREATE OR REPLACE FUNCTION batchpilot_private.my_session_ids() RETURNS SETOF uuid
  LANGUAGE sql STABLE
  SECURITY DEFINER
  SET search_path = ''
AS $$
  SELECT s.id
    FROM public.batch_upload_sessions s
   WHERE (s.team_id IS NULL AND s.user_id = (SELECT auth.uid()))
      OR s.team_id IN (SELECT batchpilot_private.my_team_ids())
$$;

-- An admin's app_metadata.role is 'admin', in the JWT or in auth.users. Only the service key can
-- set app_metadata; a user can change their own user_metadata (updateUser()), so it is never
-- trusted here.
CREATE OR REPLACE FUNCTION batchpilot_private.is_admin() RETURNS boolean
  LANGUAGE sql STABLE
  SECURITY DEFINER
  SET search_path = ''
AS $$
  SELECT coalesce((SELECT auth.jwt()) -> 'app_metadata' ->> 'role' = 'admin', false)
      OR EXISTS (SELECT 1 FROM auth.users u
                  WHERE u.id = (SELECT auth.uid())
                    AND u.raw_app_meta_data ->> 'role' = 'admin')
$$;

-- ---------------------------------------------------------------------------------------------
-- The installed release, for workers: one cheap call tells a worker whether the schema is older
-- than it needs.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.installed_release()
  RETURNS TABLE (release text, schema_version integer, installed_at timestamptz)
  LANGUAGE sql STABLE
  SET search_path = ''
AS $$
  SELECT i.release, i.schema_version, i.installed_at FROM batchpilot_private.installation i
$$;

-- Supabase's default privileges may grant functions to the API roles directly, not only to PUBLIC.
REVOKE ALL ON FUNCTION batchpilot_private.touch_updated_at(), batchpilot_private.my_team_ids(),
  batchpilot_private.my_session_ids(), batchpilot_private.is_admin(), batchpilot_private.installed_release()
  FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION batchpilot_private.installed_release() TO service_role;
GRANT EXECUTE ON FUNCTION batchpilot_private.my_team_ids(), batchpilot_private.my_session_ids(),
  batchpilot_private.is_admin() TO authenticated, service_role;
