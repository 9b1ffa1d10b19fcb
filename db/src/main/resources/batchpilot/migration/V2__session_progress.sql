-- batchpilot 0.2.0: a session's progress is counted in a private row and published to the session
-- row at most about once a second.
--
-- Until 0.1.0 every claim and every completion rewrote the session row: its file counters and cost
-- totals. That row is in the supabase_realtime publication, so Realtime sent each change to every
-- subscriber: 12.5 session-row changes a second in a 20-file batch at full speed, each viewer
-- counted against the plan's messages per second. The counters now live here, always exact (the
-- file table's triggers keep them, and the claim reads them); the session row holds the published
-- copy, written when a person could notice: at once for a frontend's own change and for a session
-- that is not running, otherwise at most once a second (the first change after a quiet second at
-- once, the rest by the maintenance leader's round), and exactly when the session ends.

CREATE TABLE batchpilot_private.session_progress (
  session_id                uuid PRIMARY KEY REFERENCES public.batch_upload_sessions (id) ON DELETE CASCADE,
  files_uploading           integer NOT NULL DEFAULT 0 CHECK (files_uploading >= 0),
  files_pending             integer NOT NULL DEFAULT 0 CHECK (files_pending >= 0),
  files_processing          integer NOT NULL DEFAULT 0 CHECK (files_processing >= 0),
  files_completed           integer NOT NULL DEFAULT 0 CHECK (files_completed >= 0),
  files_failed              integer NOT NULL DEFAULT 0 CHECK (files_failed >= 0),
  files_skipped             integer NOT NULL DEFAULT 0 CHECK (files_skipped >= 0),
  total_processing_time_ms  bigint NOT NULL DEFAULT 0,
  total_api_calls           integer NOT NULL DEFAULT 0,
  total_tokens_used         bigint NOT NULL DEFAULT 0,
  total_thinking_tokens     bigint NOT NULL DEFAULT 0,
  rate_limit_hits           integer NOT NULL DEFAULT 0,
  -- The first claim: the published row's started_at, and its status goes pending -> processing.
  started_at                timestamptz,
  -- Changed since published_at: the leader's round publishes it.
  unpublished               boolean NOT NULL DEFAULT false,
  published_at              timestamptz
);

COMMENT ON TABLE batchpilot_private.session_progress IS
  'Each session''s exact file counters and cost totals; public.batch_upload_sessions holds the copy published at most about once a second.';

-- The leader's round looks only at what changed.
CREATE INDEX session_progress_unpublished_idx
  ON batchpilot_private.session_progress (session_id) WHERE unpublished;

REVOKE ALL ON batchpilot_private.session_progress FROM PUBLIC;
GRANT SELECT, UPDATE ON batchpilot_private.session_progress TO service_role;

-- Sessions of an installed 0.1.0, in flight or not: their counters and totals were exact on the row.
INSERT INTO batchpilot_private.session_progress
       (session_id, files_uploading, files_pending, files_processing, files_completed, files_failed,
        files_skipped, total_processing_time_ms, total_api_calls, total_tokens_used, total_thinking_tokens,
        rate_limit_hits, started_at, published_at)
SELECT s.id, s.files_uploading, s.files_pending, s.files_processing, s.files_completed, s.files_failed,
       s.files_skipped, s.total_processing_time_ms, s.total_api_calls, s.total_tokens_used,
       s.total_thinking_tokens, s.rate_limit_hits, s.started_at, now()
  FROM public.batch_upload_sessions s;

COMMENT ON TABLE public.batch_upload_sessions IS
  'A batch of uploaded files processed together; its counters and totals are published from batchpilot_private.session_progress, about a second behind at most while it runs, exact when it ends.';
