-- A test fixture of a next release (0.4.0-test): a table change, as every table change after a
-- release is a new versioned migration.
ALTER TABLE public.batchpilot_leader ADD COLUMN fixture_note text;
