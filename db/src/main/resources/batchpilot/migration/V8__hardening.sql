-- batchpilot V8: hardening.

-- ---------------------------------------------------------------------------------------------
-- Every foreign key has an index leading with its columns: without one, each deleted parent row
-- scans the child table (deleting a 20,000-file session ran for over 11 minutes on duplicate_of).
-- ForeignKeyIndexTest fails when a later migration adds a foreign key without one.
-- ---------------------------------------------------------------------------------------------
-- Most files are no duplicate: the partial index stays small, and the foreign key's lookup
-- (duplicate_of = $1) implies IS NOT NULL, so it is used.
CREATE INDEX batch_upload_files_duplicate_of_idx
  ON public.batch_upload_files (duplicate_of) WHERE duplicate_of IS NOT NULL;
