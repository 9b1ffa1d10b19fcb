-- batchpilot: maintenance. One worker of the fleet, the leader, rescues expired leases, finishes
-- sessions and prunes old rows. The leader is named by a row that expires, not by an advisory lock:
-- a session-level advisory lock needs one connection held open by the leader for its whole term,
-- and through a transaction-mode pooler (Supavisor on 6543, PgBouncer) the lock stays with a server
-- connection that other clients then share, or is freed when the pooler reassigns it. A row with an
-- expiry works through any pooler and any connection of a pool, reads only the database's clock,
-- and a dead leader is replaced as soon as its term runs out (seconds).

CREATE TABLE public.batchpilot_leader (
  -- One row per leadership; maintenance is the only one so far.
  name       text PRIMARY KEY
    CONSTRAINT batchpilot_leader_name_check CHECK (name ~ '^[a-z][a-z_]*$'),
  leader_id  text NOT NULL
    CONSTRAINT batchpilot_leader_leader_id_check CHECK (length(leader_id) BETWEEN 1 AND 200),
  elected_at timestamptz NOT NULL,
  -- The leader renews this well before it passes; once passed, any worker may take over.
  expires_at timestamptz NOT NULL,
  CONSTRAINT batchpilot_leader_term_check CHECK (expires_at > elected_at)
);

COMMENT ON TABLE public.batchpilot_leader IS
  'The worker that runs maintenance, until expires_at (database clock); renewed while it lives.';

-- Workers only: no policy, so the API roles see nothing even if a grant slipped in.
ALTER TABLE public.batchpilot_leader ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON public.batchpilot_leader FROM anon, authenticated;
GRANT ALL ON public.batchpilot_leader TO service_role;
