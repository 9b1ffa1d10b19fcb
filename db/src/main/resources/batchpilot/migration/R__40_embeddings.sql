-- batchpilot, repeatable: every extracted receipt becomes searchable. When a file's extraction
-- completes, its embedding job becomes due (batchpilot_private.jobs, kind embedding, written by a
-- trigger in the same transaction, so a crash loses nothing); workers claim due jobs in batches
-- (FOR UPDATE SKIP LOCKED, with a lease; the shared rescue takes back lapsed ones), embed up to 100
-- texts per batchEmbedContents call and store the vectors in receipt_embeddings. The extraction is
-- never undone by an embedding failure, and the published file row never changes for it. Every
-- statement may run again on an installed database and changes nothing.

-- ---------------------------------------------------------------------------------------------
-- A file whose extraction completes (or is replaced by a new one) needs an embedding.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.queue_embedding() RETURNS trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  INSERT INTO batchpilot_private.jobs AS j (file_id, kind, batch_session_id, scheduled_at)
  VALUES (NEW.id, 'embedding', NEW.batch_session_id, clock_timestamp())
  ON CONFLICT (file_id, kind) DO UPDATE
     SET state = 'available', attempts = 0, scheduled_at = excluded.scheduled_at, claimed_by = NULL,
         lease_expires_at = NULL, error_type = NULL, error_message = NULL, finished_at = NULL;
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS batch_upload_files_queue_embedding_inserted ON public.batch_upload_files;
CREATE TRIGGER batch_upload_files_queue_embedding_inserted
  AFTER INSERT ON public.batch_upload_files
  FOR EACH ROW WHEN (NEW.status = 'completed' AND NEW.result IS NOT NULL)
  EXECUTE FUNCTION batchpilot_private.queue_embedding();
DROP TRIGGER IF EXISTS batch_upload_files_queue_embedding_updated ON public.batch_upload_files;
CREATE TRIGGER batch_upload_files_queue_embedding_updated
  AFTER UPDATE OF status, result ON public.batch_upload_files
  FOR EACH ROW WHEN (NEW.status = 'completed' AND NEW.result IS NOT NULL
                     AND (OLD.status IS DISTINCT FROM 'completed' OR OLD.result IS DISTINCT FROM NEW.result))
  EXECUTE FUNCTION batchpilot_private.queue_embedding();

-- ---------------------------------------------------------------------------------------------
-- pgvector, now or later, and the search over the column's type. use_pgvector() owns the
-- embedding column's type, its HNSW index and public.match_receipts: where the extension is
-- installed it converts a real[] column (a project that enabled pgvector after migrating) to
-- vector(N) in place, keeping every stored embedding, adds the index (HNSW takes at most 2000
-- dimensions) and defines the search over vector; elsewhere it defines the search over real[]
-- (cosine computed row by row: correct, and fine for thousands of receipts). A definition over the
-- other type is dropped. It runs at the end of this file; after
-- `create extension vector with schema extensions`, run `select batchpilot_private.use_pgvector();`.
-- match_receipts is SECURITY INVOKER (the default): a search sees only the rows the caller's RLS
-- lets it see.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.use_pgvector() RETURNS text
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  vector_schema text := (SELECT n.nspname FROM pg_catalog.pg_extension e
                           JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
                          WHERE e.extname = 'vector');
  dims integer := batchpilot_private.embedding_dimensions();
  column_type oid;
  converted boolean := false;
  other regprocedure;
BEGIN
  SELECT a.atttypid INTO column_type
    FROM pg_catalog.pg_attribute a
   WHERE a.attrelid = 'public.receipt_embeddings'::regclass AND a.attname = 'embedding' AND NOT a.attisdropped;
  IF vector_schema IS NOT NULL AND column_type = 'real[]'::regtype THEN
    -- cardinality() does not apply to a vector; vector(N) itself enforces the size from here on.
    ALTER TABLE public.receipt_embeddings DROP CONSTRAINT IF EXISTS receipt_embeddings_embedding_check;
    EXECUTE format('ALTER TABLE public.receipt_embeddings ALTER COLUMN embedding TYPE %1$I.vector(%2$s)'
                   ' USING embedding::%1$I.vector(%2$s)', vector_schema, dims);
    converted := true;
    SELECT a.atttypid INTO column_type
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = 'public.receipt_embeddings'::regclass AND a.attname = 'embedding' AND NOT a.attisdropped;
  END IF;

  IF column_type = 'real[]'::regtype THEN
    CREATE OR REPLACE FUNCTION public.match_receipts(
        query_embedding real[], match_count integer DEFAULT 10, filter_session_id uuid DEFAULT NULL)
      RETURNS TABLE (file_id uuid, batch_session_id uuid, receipt_id uuid, content text, similarity double precision)
      LANGUAGE sql STABLE
      SET search_path = ''
    AS $fn$
      SELECT e.file_id, e.batch_session_id, f.receipt_id, e.content, s.similarity
        FROM public.receipt_embeddings e
        JOIN public.batch_upload_files f ON f.id = e.file_id
       CROSS JOIN LATERAL (
         SELECT sum(a * b) / nullif(sqrt(sum(a * a)) * sqrt(sum(b * b)), 0) AS similarity
           FROM unnest(e.embedding, query_embedding) AS v (a, b)) s
       WHERE filter_session_id IS NULL OR e.batch_session_id = filter_session_id
       ORDER BY s.similarity DESC NULLS LAST
       LIMIT match_count
    $fn$;
  ELSE
    IF dims <= 2000 THEN
      EXECUTE format('CREATE INDEX IF NOT EXISTS receipt_embeddings_embedding_idx ON public.receipt_embeddings'
                     ' USING hnsw (embedding %I.vector_cosine_ops)', vector_schema);
    END IF;
    EXECUTE format($fmt$
      CREATE OR REPLACE FUNCTION public.match_receipts(
          query_embedding %1$I.vector, match_count integer DEFAULT 10, filter_session_id uuid DEFAULT NULL)
        RETURNS TABLE (file_id uuid, batch_session_id uuid, receipt_id uuid, content text, similarity double precision)
        LANGUAGE sql STABLE
        SET search_path = ''
      AS $fn$
        SELECT e.file_id, e.batch_session_id, f.receipt_id, e.content,
               1 - (e.embedding OPERATOR(%1$I.<=>) query_embedding) AS similarity
          FROM public.receipt_embeddings e
          JOIN public.batch_upload_files f ON f.id = e.file_id
         WHERE filter_session_id IS NULL OR e.batch_session_id = filter_session_id
         ORDER BY e.embedding OPERATOR(%1$I.<=>) query_embedding
         LIMIT match_count
      $fn$ $fmt$, vector_schema);
  END IF;
  FOR other IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
                WHERE p.pronamespace = 'public'::regnamespace AND p.proname = 'match_receipts'
                  AND p.proargtypes[0] <> column_type LOOP
    EXECUTE format('DROP FUNCTION %s', other);
  END LOOP;
  EXECUTE format('REVOKE ALL ON FUNCTION public.match_receipts(%s, integer, uuid) FROM PUBLIC, anon',
                 column_type::regtype);
  EXECUTE format('GRANT EXECUTE ON FUNCTION public.match_receipts(%s, integer, uuid) TO authenticated, service_role',
                 column_type::regtype);

  IF vector_schema IS NULL THEN
    RETURN 'pgvector is not installed: embeddings stay real[] (searchable, unindexed); '
        || 'create extension vector with schema extensions, then select batchpilot_private.use_pgvector()';
  END IF;
  RETURN CASE WHEN converted THEN format('embeddings converted to %I.vector(%s)', vector_schema, dims)
              ELSE format('embeddings are %I.vector(%s)', vector_schema, dims) END
      || CASE WHEN dims <= 2000 THEN ', HNSW cosine index' ELSE ', no index (HNSW takes at most 2000 dimensions)' END;
END
$$;

REVOKE ALL ON FUNCTION batchpilot_private.use_pgvector() FROM PUBLIC;
SELECT batchpilot_private.use_pgvector();

-- ---------------------------------------------------------------------------------------------
-- Claim: up to max_files due embeddings for one worker, or none unless at least min_files are due
-- (a batcher waits for a full batch until its linger has passed). Each claim counts an attempt.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.claim_embeddings(
    worker text, max_files integer, min_files integer, lease interval)
  RETURNS TABLE (file_id uuid, batch_session_id uuid, attempts integer, result jsonb)
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  claim_time timestamptz := clock_timestamp();
BEGIN
  RETURN QUERY
  WITH due AS MATERIALIZED (
    SELECT j.file_id
      FROM batchpilot_private.jobs j
     WHERE j.kind = 'embedding' AND j.state = 'available' AND j.scheduled_at <= claim_time
     ORDER BY j.scheduled_at
     LIMIT max_files
       FOR UPDATE OF j SKIP LOCKED
  ), enough AS (
    SELECT count(*) >= greatest(min_files, 1) AS go FROM due
  ), claimed AS (
    UPDATE batchpilot_private.jobs j
       SET state = 'running',
           claimed_by = worker,
           lease_expires_at = claim_time + lease,
           attempts = j.attempts + 1
      FROM due
     WHERE j.file_id = due.file_id AND j.kind = 'embedding' AND (SELECT enough.go FROM enough)
    RETURNING j.file_id, j.batch_session_id, j.attempts
  )
  SELECT c.file_id, c.batch_session_id, c.attempts, f.result
    FROM claimed c JOIN public.batch_upload_files f ON f.id = c.file_id;
END
$$;

-- Whether any embedding is due now: a batcher starts its linger when one is.
CREATE OR REPLACE FUNCTION batchpilot_private.embeddings_due() RETURNS boolean
  LANGUAGE sql STABLE
  SET search_path = ''
AS $$
  SELECT EXISTS (SELECT 1 FROM batchpilot_private.jobs j
                  WHERE j.kind = 'embedding' AND j.state = 'available' AND j.scheduled_at <= clock_timestamp())
$$;

-- ---------------------------------------------------------------------------------------------
-- Record: a batch of outcomes in one transaction. An outcome applies only while its worker still
-- holds the embedding job (claimed_by and attempts as at the claim, running).
--
-- outcomes: a JSON array of objects with
--   id, claimed_by, attempts       the claim being finished
--   status                         completed | pending (retry, or a quota wait) | failed
--   counts_attempt                 false for a quota wait: the claim's attempt is undone
--   retry_delay_ms                 for pending: due again this long from now
--   error_type, error_message      for pending after a failure, and failed
--   model, task_type, content,
--   embedding                      for completed: the vector as a JSON array of numbers
-- Returns how many outcomes applied.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION batchpilot_private.record_embeddings(outcomes jsonb) RETURNS integer
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  done_time timestamptz := clock_timestamp();
  applied_count integer;
BEGIN
  WITH o AS (
    SELECT * FROM jsonb_to_recordset(outcomes) AS o (
      id uuid, claimed_by text, attempts integer, status text, counts_attempt boolean,
      retry_delay_ms bigint, error_type text, error_message text,
      model text, task_type text, content text, embedding jsonb)
  ), applied AS (
    UPDATE batchpilot_private.jobs j
       SET state = CASE o.status WHEN 'pending' THEN 'available' ELSE o.status END::batchpilot_private.job_state,
           attempts = CASE WHEN coalesce(o.counts_attempt, true) THEN j.attempts ELSE j.attempts - 1 END,
           scheduled_at = CASE
             WHEN o.status = 'pending'
               THEN done_time + make_interval(secs => coalesce(o.retry_delay_ms, 0) / 1000.0)
             ELSE j.scheduled_at END,
           claimed_by = NULL,
           lease_expires_at = NULL,
           error_type = CASE WHEN o.status = 'completed' THEN NULL ELSE coalesce(o.error_type, j.error_type) END,
           error_message = CASE WHEN o.status = 'completed' THEN NULL ELSE coalesce(o.error_message, j.error_message) END,
           finished_at = CASE WHEN o.status = 'pending' THEN NULL ELSE done_time END
      FROM o
     WHERE j.file_id = o.id
       AND j.kind = 'embedding'
       AND j.state = 'running'
       AND j.claimed_by = o.claimed_by
       AND j.attempts = o.attempts
    RETURNING j.file_id AS id, j.batch_session_id
  ), stored AS (
    -- A JSON array's text is a real[] literal once its brackets become braces; real[] is assigned
    -- to a pgvector column by pgvector's own cast.
    INSERT INTO public.receipt_embeddings AS e
      (file_id, batch_session_id, model, task_type, dimensions, content, embedding, created_at)
    SELECT o.id, a.batch_session_id, o.model, o.task_type, jsonb_array_length(o.embedding), o.content,
           translate(o.embedding::text, '[]', '{}')::real[], done_time
      FROM o JOIN applied a ON a.id = o.id
     WHERE o.status = 'completed'
    ON CONFLICT (file_id) DO UPDATE
      SET batch_session_id = excluded.batch_session_id, model = excluded.model,
          task_type = excluded.task_type, dimensions = excluded.dimensions, content = excluded.content,
          embedding = excluded.embedding, created_at = excluded.created_at
    RETURNING e.file_id
  )
  SELECT count(*) INTO applied_count FROM applied;
  RETURN applied_count;
END
$$;

REVOKE ALL ON FUNCTION batchpilot_private.queue_embedding(),
  batchpilot_private.claim_embeddings(text, integer, integer, interval),
  batchpilot_private.embeddings_due(),
  batchpilot_private.record_embeddings(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION batchpilot_private.claim_embeddings(text, integer, integer, interval),
  batchpilot_private.embeddings_due(),
  batchpilot_private.record_embeddings(jsonb) TO service_role;

-- Embeddings follow their session; only the workers (service_role) write them.
DROP POLICY IF EXISTS receipt_embeddings_select ON public.receipt_embeddings;
CREATE POLICY receipt_embeddings_select ON public.receipt_embeddings
  FOR SELECT TO authenticated
  USING (batch_session_id IN (SELECT batchpilot_private.my_session_ids()));
