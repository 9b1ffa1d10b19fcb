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

-- ---------------------------------------------------------------------------------------------
-- What a frontend may do to a session's status. The column grant lets a signed-in user write
-- status so that it can pause, resume and cancel; without this check it could also mark its own
-- session completed, failed or processing. Only the API roles are checked: the workers, the
-- service key and the SECURITY DEFINER triggers run as other roles (current_user, not the JWT).
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION batchpilot_private.check_session_status_change() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
BEGIN
  IF current_user NOT IN ('authenticated', 'anon') THEN
    RETURN NEW;
  END IF;
  IF TG_OP = 'INSERT' THEN
    IF NEW.status <> 'pending' THEN
      RAISE EXCEPTION 'a new batch session starts as pending, not %: insert it without a status; a worker starts it at its first claim',
        NEW.status USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
  END IF;
  IF NEW.status = OLD.status
     OR (OLD.status IN ('pending', 'processing') AND NEW.status = 'paused')
     OR (OLD.status = 'paused' AND NEW.status = 'processing')
     OR (OLD.status IN ('pending', 'processing', 'paused') AND NEW.status = 'cancelled') THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'batch session %: a signed-in user may not change its status from % to %; a frontend may pause'
    ' (pending or processing to paused), resume (paused to processing) or cancel (pending, processing or paused'
    ' to cancelled), and the workers start, complete and fail sessions', OLD.id, OLD.status, NEW.status
    USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER batch_upload_sessions_check_status
  BEFORE INSERT OR UPDATE OF status ON public.batch_upload_sessions
  FOR EACH ROW EXECUTE FUNCTION batchpilot_private.check_session_status_change();

-- ---------------------------------------------------------------------------------------------
-- A cancel ends the session whoever sends it (a frontend's update, `batchpilot cancel`): the files
-- not yet started are skipped at once, so the counters and a frontend's progress bar say so, and
-- completed_at marks the end. Files in flight finish. The skip runs AFTER the update: the file
-- counters' trigger writes this same session row.
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION batchpilot_private.stamp_cancelled_session() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
BEGIN
  NEW.completed_at := coalesce(NEW.completed_at, clock_timestamp());
  RETURN NEW;
END
$$;

CREATE TRIGGER batch_upload_sessions_stamp_cancelled
  BEFORE UPDATE OF status ON public.batch_upload_sessions
  FOR EACH ROW WHEN (NEW.status = 'cancelled' AND OLD.status IS DISTINCT FROM 'cancelled')
  EXECUTE FUNCTION batchpilot_private.stamp_cancelled_session();

-- SECURITY DEFINER: a frontend may not write a file's error_message, but its cancel skips the files.
CREATE FUNCTION batchpilot_private.skip_files_of_cancelled_session() RETURNS trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  UPDATE public.batch_upload_files f
     SET status = 'skipped', error_message = 'the session was cancelled before this file was processed'
   WHERE f.batch_session_id = NEW.id AND f.status IN ('uploading', 'pending');
  RETURN NULL;
END
$$;

CREATE TRIGGER batch_upload_sessions_skip_cancelled_files
  AFTER UPDATE OF status ON public.batch_upload_sessions
  FOR EACH ROW WHEN (NEW.status = 'cancelled' AND OLD.status IS DISTINCT FROM 'cancelled')
  EXECUTE FUNCTION batchpilot_private.skip_files_of_cancelled_session();

-- ---------------------------------------------------------------------------------------------
-- Which Storage objects a frontend may name. Workers read storage_path with the service-role key,
-- which bypasses Storage's own policies, so a row could otherwise point them at another user's
-- object and return its extraction to the row's owner. Supabase's convention, and the README's
-- upload policy: each user's objects are under "<auth.uid()>/".
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION batchpilot_private.check_storage_path() RETURNS trigger
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

CREATE TRIGGER batch_upload_files_check_storage_path
  BEFORE INSERT OR UPDATE OF storage_bucket, storage_path ON public.batch_upload_files
  FOR EACH ROW EXECUTE FUNCTION batchpilot_private.check_storage_path();

-- Trigger functions need no EXECUTE to fire; nobody calls these directly.
REVOKE ALL ON FUNCTION batchpilot_private.check_session_status_change(), batchpilot_private.check_storage_path(),
  batchpilot_private.stamp_cancelled_session(), batchpilot_private.skip_files_of_cancelled_session()
  FROM PUBLIC, anon, authenticated, service_role;
