-- batchpilot V5: every extracted receipt becomes searchable. When a file's extraction completes, its
-- embedding becomes due (embedding_status pending, set by a trigger in the same transaction, so a
-- crash loses nothing); workers claim due files in batches (FOR UPDATE SKIP LOCKED, with a lease),
-- embed up to 100 texts per batchEmbedContents call and store the vectors in receipt_embeddings.
-- The extraction is never undone by an embedding failure: only the embedding_* columns change.

-- ---------------------------------------------------------------------------------------------
-- The embedding's progress, on the file row, so frontends see it through the files' RLS and Realtime
-- ---------------------------------------------------------------------------------------------
ALTER TABLE public.batch_upload_files
  ADD COLUMN embedding_status           text
    CONSTRAINT batch_upload_files_embedding_status_check
      CHECK (embedding_status IN ('pending', 'processing', 'completed', 'failed')),
  ADD COLUMN embedding_attempts         integer NOT NULL DEFAULT 0
    CONSTRAINT batch_upload_files_embedding_attempts_check CHECK (embedding_attempts >= 0),
  ADD COLUMN embedding_next_attempt_at  timestamptz,
  ADD COLUMN embedding_claimed_by       text,
  ADD COLUMN embedding_lease_expires_at timestamptz,
  ADD COLUMN embedding_error_type       text
    CONSTRAINT batch_upload_files_embedding_error_type_check CHECK (embedding_error_type IN (
      'rate_limited', 'quota_exhausted', 'overloaded', 'server_error', 'timeout', 'invalid_request',
      'permission_denied', 'not_found', 'blocked_output', 'malformed_response', 'lease_expired',
      'invalid_result')),
  ADD COLUMN embedding_error            text,
  ADD COLUMN embedded_at                timestamptz;

COMMENT ON COLUMN public.batch_upload_files.embedding_status IS
  'NULL until the extraction completes; then pending, processing (a worker holds it), completed or failed. Never changes status or result.';
COMMENT ON COLUMN public.batch_upload_files.embedding_error IS
  'Why the last embedding attempt failed (kept while it is retried; cleared when it succeeds).';

-- The embedding claim: due embeddings oldest first, and embeddings whose worker stopped.
CREATE INDEX batch_upload_files_embedding_due_idx
  ON public.batch_upload_files (embedding_next_attempt_at) WHERE embedding_status = 'pending';
CREATE INDEX batch_upload_files_embedding_lease_idx
  ON public.batch_upload_files (embedding_lease_expires_at) WHERE embedding_status = 'processing';

-- A file whose extraction completes (or is replaced by a new one) needs an embedding.
CREATE FUNCTION batchpilot_private.queue_embedding() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
BEGIN
  NEW.embedding_status := 'pending';
  NEW.embedding_attempts := 0;
  NEW.embedding_next_attempt_at := clock_timestamp();
  NEW.embedding_claimed_by := NULL;
  NEW.embedding_lease_expires_at := NULL;
  NEW.embedding_error_type := NULL;
  NEW.embedding_error := NULL;
  RETURN NEW;
END
$$;

CREATE TRIGGER batch_upload_files_queue_embedding_inserted
  BEFORE INSERT ON public.batch_upload_files
  FOR EACH ROW WHEN (NEW.status = 'completed' AND NEW.result IS NOT NULL)
  EXECUTE FUNCTION batchpilot_private.queue_embedding();
CREATE TRIGGER batch_upload_files_queue_embedding_updated
  BEFORE UPDATE OF status, result ON public.batch_upload_files
  FOR EACH ROW WHEN (NEW.status = 'completed' AND NEW.result IS NOT NULL
                     AND (OLD.status IS DISTINCT FROM 'completed' OR OLD.result IS DISTINCT FROM NEW.result))
  EXECUTE FUNCTION batchpilot_private.queue_embedding();

-- ---------------------------------------------------------------------------------------------
-- The vectors, one per file, apart from the file row: Realtime streams whole file rows to every
-- subscriber, and a 768-float vector on each status change would multiply that traffic.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE public.receipt_embeddings (
  file_id          uuid PRIMARY KEY REFERENCES public.batch_upload_files (id) ON DELETE CASCADE,
  batch_session_id uuid NOT NULL REFERENCES public.batch_upload_sessions (id) ON DELETE CASCADE,
  model            text NOT NULL
    CONSTRAINT receipt_embeddings_model_check CHECK (model ~ '^[a-z0-9][a-z0-9.-]*$'),
  task_type        text NOT NULL,
  dimensions       integer NOT NULL
    CONSTRAINT receipt_embeddings_dimensions_check CHECK (dimensions > 0),
  -- The text that was embedded (io.batchpilot.embeddings.ReceiptText), shown beside a search hit.
  content          text NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE public.receipt_embeddings IS
  'One embedding per extracted file, for similarity search (public.match_receipts).';

CREATE INDEX receipt_embeddings_session_idx ON public.receipt_embeddings (batch_session_id);

ALTER TABLE public.receipt_embeddings ENABLE ROW LEVEL SECURITY;

-- Embeddings follow their session; only the workers (service_role) write them.
CREATE POLICY receipt_embeddings_select ON public.receipt_embeddings
  FOR SELECT TO authenticated
  USING (batch_session_id IN (SELECT batchpilot_private.my_session_ids()));

REVOKE ALL ON public.receipt_embeddings FROM anon, authenticated;
GRANT SELECT ON public.receipt_embeddings TO authenticated;
GRANT ALL ON public.receipt_embeddings TO service_role;

-- ---------------------------------------------------------------------------------------------
-- The vector column and the search function, decided now: pgvector's vector(N) where the
-- extension is installed (Supabase: `create extension vector with schema extensions` first), else
-- real[] (searchable, without an index). N is 768 unless the setting batchpilot.embedding_dimensions
-- says otherwise (ALTER DATABASE ... SET batchpilot.embedding_dimensions = '1536' before migrating);
-- workers refuse to start when their configured dimensionality differs from N.
-- Moving to pgvector later: create the extension, then
--   ALTER TABLE public.receipt_embeddings ALTER COLUMN embedding TYPE extensions.vector(768)
--     USING embedding::extensions.vector(768);
-- and re-run the vector branch below for the index and match_receipts (see README, "Search").
-- ---------------------------------------------------------------------------------------------
DO $migration$
DECLARE
  vector_schema text := (SELECT n.nspname FROM pg_catalog.pg_extension e
                           JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
                          WHERE e.extname = 'vector');
  dims integer := coalesce(nullif(current_setting('batchpilot.embedding_dimensions', true), '')::integer, 768);
BEGIN
  IF vector_schema IS NULL THEN
    ALTER TABLE public.receipt_embeddings ADD COLUMN embedding real[] NOT NULL;
    EXECUTE format('ALTER TABLE public.receipt_embeddings ADD CONSTRAINT receipt_embeddings_embedding_check'
                   ' CHECK (cardinality(embedding) = dimensions AND dimensions = %s)', dims);
    -- Cosine similarity computed row by row: correct, and fine for thousands of receipts.
    CREATE FUNCTION public.match_receipts(
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
    -- Untested on the development machines (no pgvector there); kept to these three statements.
    EXECUTE format('ALTER TABLE public.receipt_embeddings ADD COLUMN embedding %I.vector(%s) NOT NULL',
                   vector_schema, dims);
    IF dims <= 2000 THEN  -- pgvector's HNSW index takes at most 2000 dimensions
      EXECUTE format('CREATE INDEX receipt_embeddings_embedding_idx ON public.receipt_embeddings'
                     ' USING hnsw (embedding %I.vector_cosine_ops)', vector_schema);
    END IF;
    EXECUTE format($fmt$
      CREATE FUNCTION public.match_receipts(
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
  -- Workers compare their configured dimensionality with this before they embed anything.
  EXECUTE format('CREATE FUNCTION batchpilot_private.embedding_dimensions() RETURNS integer'
                 ' LANGUAGE sql IMMUTABLE SET search_path = '''' AS %L', 'SELECT ' || dims);
END
$migration$;

-- SECURITY INVOKER (the default): a search sees only the rows the caller's RLS lets it see.
REVOKE ALL ON FUNCTION public.match_receipts FROM PUBLIC, anon;
GRANT EXECUTE ON FUNCTION public.match_receipts TO authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- Claim: up to max_files due embeddings for one worker, or none unless at least min_files are due
-- (a batcher waits for a full batch until its linger has passed). Embeddings whose lease ran out
-- (their worker stopped) are due again; each claim counts an attempt.
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION batchpilot_private.claim_embeddings(
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
    SELECT f.id
      FROM public.batch_upload_files f
     WHERE (f.embedding_status = 'pending' AND f.embedding_next_attempt_at <= claim_time)
        OR (f.embedding_status = 'processing' AND f.embedding_lease_expires_at <= claim_time)
     ORDER BY f.embedding_next_attempt_at
     LIMIT max_files
       FOR UPDATE OF f SKIP LOCKED
  ), enough AS (
    SELECT count(*) >= greatest(min_files, 1) AS go FROM due
  )
  UPDATE public.batch_upload_files f
     SET embedding_status = 'processing',
         embedding_claimed_by = worker,
         embedding_lease_expires_at = claim_time + lease,
         embedding_attempts = f.embedding_attempts + 1
    FROM due
   WHERE f.id = due.id AND (SELECT enough.go FROM enough)
  RETURNING f.id, f.batch_session_id, f.embedding_attempts, f.result;
END
$$;

-- Whether any embedding is due now: a batcher starts its linger when one is.
CREATE FUNCTION batchpilot_private.embeddings_due() RETURNS boolean
  LANGUAGE sql STABLE
  SET search_path = ''
AS $$
  SELECT EXISTS (SELECT 1 FROM public.batch_upload_files f
                  WHERE f.embedding_status = 'pending' AND f.embedding_next_attempt_at <= clock_timestamp())
      OR EXISTS (SELECT 1 FROM public.batch_upload_files f
                  WHERE f.embedding_status = 'processing' AND f.embedding_lease_expires_at <= clock_timestamp())
$$;

-- ---------------------------------------------------------------------------------------------
-- Record: a batch of outcomes in one transaction. An outcome applies only while its worker still
-- holds the embedding (claimed_by and attempts as at the claim, status processing).
--
-- outcomes: a JSON array of objects with
--   id, claimed_by, attempts       the claim being finished
--   status                         completed | pending (retry, or a quota wait) | failed
--   counts_attempt                 false for a quota wait: the claim's attempt is undone
--   retry_delay_ms                 for pending: embedding_next_attempt_at = now + this
--   error_type, error_message      for pending after a failure, and failed
--   model, task_type, content,
--   embedding                      for completed: the vector as a JSON array of numbers
-- Returns how many outcomes applied.
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION batchpilot_private.record_embeddings(outcomes jsonb) RETURNS integer
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
    UPDATE public.batch_upload_files f
       SET embedding_status = o.status,
           embedding_attempts = CASE WHEN coalesce(o.counts_attempt, true) THEN f.embedding_attempts
                                     ELSE f.embedding_attempts - 1 END,
           embedding_next_attempt_at = CASE
             WHEN o.status = 'pending'
               THEN done_time + make_interval(secs => coalesce(o.retry_delay_ms, 0) / 1000.0)
             ELSE f.embedding_next_attempt_at END,
           embedding_claimed_by = NULL,
           embedding_lease_expires_at = NULL,
           embedding_error_type = CASE WHEN o.status = 'completed' THEN NULL
                                       ELSE coalesce(o.error_type, f.embedding_error_type) END,
           embedding_error = CASE WHEN o.status = 'completed' THEN NULL
                                  ELSE coalesce(o.error_message, f.embedding_error) END,
           embedded_at = CASE WHEN o.status = 'completed' THEN done_time ELSE f.embedded_at END
      FROM o
     WHERE f.id = o.id
       AND f.embedding_status = 'processing'
       AND f.embedding_claimed_by = o.claimed_by
       AND f.embedding_attempts = o.attempts
    RETURNING f.id, f.batch_session_id
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
  batchpilot_private.record_embeddings(jsonb),
  batchpilot_private.embedding_dimensions() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION batchpilot_private.claim_embeddings(text, integer, integer, interval),
  batchpilot_private.embeddings_due(),
  batchpilot_private.record_embeddings(jsonb),
  batchpilot_private.embedding_dimensions() TO service_role;
