
-- A test fixture of a next release (0.4.0-test): a function added in place to a repeatable file.
CREATE OR REPLACE FUNCTION batchpilot_private.fixture_release() RETURNS text
  LANGUAGE sql IMMUTABLE
  SET search_path = ''
AS $$
  SELECT '0.4.0-test'::text
$$;
