-- batchpilot: remove everything the migration added, and nothing of the project's own.
-- Nothing here cascades: if the project built on batchpilot's objects (a view over a table, a
-- policy calling a helper), PostgreSQL refuses and names the dependant, so nothing of yours is
-- dropped silently. Dropping a table also drops its triggers, policies and publication membership.
-- Run: psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f rollback.sql (one transaction: all or nothing).
BEGIN;

-- R__70_metrics: Grafana's views first (they depend on the tables below).
DROP VIEW IF EXISTS batchpilot_reporting.worker_heartbeats;
DROP VIEW IF EXISTS batchpilot_reporting.metric_snapshots;
DROP VIEW IF EXISTS batchpilot_reporting.usage_per_minute;
DROP VIEW IF EXISTS batchpilot_reporting.active_sessions;
DROP VIEW IF EXISTS batchpilot_reporting.quota_usage_per_minute;
DROP VIEW IF EXISTS batchpilot_reporting.model_prices;
DROP VIEW IF EXISTS batchpilot_reporting.quota_limits;
DROP VIEW IF EXISTS batchpilot_reporting.adaptive_factor_changes;
DROP FUNCTION IF EXISTS batchpilot_reporting.adaptive_factor(double precision, double precision, integer, timestamptz, timestamptz);

-- R__50_sessions_and_eta
DROP FUNCTION IF EXISTS public.batchpilot_skip_failed_upload(uuid, text);
DROP TRIGGER IF EXISTS batch_upload_sessions_check_status ON public.batch_upload_sessions;
DROP TRIGGER IF EXISTS batch_upload_sessions_stamp_cancelled ON public.batch_upload_sessions;
DROP TRIGGER IF EXISTS batch_upload_sessions_skip_cancelled_files ON public.batch_upload_sessions;
DROP FUNCTION IF EXISTS batchpilot_private.stamp_cancelled_session();
DROP FUNCTION IF EXISTS batchpilot_private.skip_files_of_cancelled_session();
DROP FUNCTION IF EXISTS batchpilot_private.check_session_status_change();
DROP FUNCTION IF EXISTS batchpilot_private.estimate_completion(interval, timestamptz);
DROP FUNCTION IF EXISTS batchpilot_private.run_progress_round(interval);

-- R__40_embeddings
DROP FUNCTION IF EXISTS public.match_receipts;
DROP FUNCTION IF EXISTS batchpilot_private.claim_embeddings(text, integer, integer, interval);
DROP FUNCTION IF EXISTS batchpilot_private.embeddings_due();
DROP FUNCTION IF EXISTS batchpilot_private.record_embeddings(jsonb);
DROP FUNCTION IF EXISTS batchpilot_private.use_pgvector();

-- R__30_claims_and_completion
DROP TRIGGER IF EXISTS batch_upload_files_check_storage_path ON public.batch_upload_files;
DROP FUNCTION IF EXISTS batchpilot_private.check_storage_path();
DROP FUNCTION IF EXISTS batchpilot_private.claim_files(text, integer, interval, text, text, text);
DROP FUNCTION IF EXISTS batchpilot_private.complete_files(jsonb);
DROP FUNCTION IF EXISTS batchpilot_private.rescue_jobs(integer);
DROP TABLE IF EXISTS public.receipt_extractions;
DROP TRIGGER IF EXISTS batch_upload_files_check_receipt_tenant ON public.batch_upload_files;
DROP FUNCTION IF EXISTS batchpilot_private.check_receipt_tenant();
DROP FUNCTION IF EXISTS batchpilot_private.store_extraction(uuid, jsonb, timestamptz);
DROP FUNCTION IF EXISTS batchpilot_private.receipt_in_tenant(uuid, uuid, uuid);
DROP FUNCTION IF EXISTS batchpilot_private.use_receipt_mapping(regprocedure);
DROP FUNCTION IF EXISTS batchpilot_private.map_receipts();
DROP TABLE IF EXISTS batchpilot_private.receipt_mapping;

-- R__35_batch_jobs
DROP FUNCTION IF EXISTS public.batchpilot_session_batch_jobs(uuid);
DROP FUNCTION IF EXISTS batchpilot_private.batch_job_unwanted(uuid);
DROP FUNCTION IF EXISTS batchpilot_private.claim_batch_polls(text, integer, interval);
DROP FUNCTION IF EXISTS batchpilot_private.admit_batch_job(uuid, bigint[]);
DROP FUNCTION IF EXISTS batchpilot_private.batch_job_room(text, text);
DROP FUNCTION IF EXISTS batchpilot_private.batch_models_due();

-- R__20_quota_gate
DROP FUNCTION IF EXISTS public.batchpilot_session_quota_status(uuid);
DROP FUNCTION IF EXISTS public.batchpilot_acquire_quota(text, text, bigint, text, bigint, uuid);
DROP FUNCTION IF EXISTS public.batchpilot_extend_quota_permits(uuid[], bigint);
DROP FUNCTION IF EXISTS public.batchpilot_reconcile_quota(uuid, bigint);
DROP FUNCTION IF EXISTS public.batchpilot_release_quota(uuid);
DROP FUNCTION IF EXISTS public.batchpilot_finish_quota(uuid, bigint);
DROP FUNCTION IF EXISTS public.batchpilot_finish_quotas(uuid[], bigint[]);
DROP FUNCTION IF EXISTS public.batchpilot_report_rate_limit(text, text, bigint, text);
DROP FUNCTION IF EXISTS public.batchpilot_report_daily_quota_exhausted(text, text);
DROP FUNCTION IF EXISTS public.batchpilot_quota_status(text, text);
DROP FUNCTION IF EXISTS batchpilot_private.quota_status_at(text, text, timestamptz);
DROP FUNCTION IF EXISTS batchpilot_private.acquire_quota(text, text, bigint, text, timestamptz, bigint, uuid);
DROP FUNCTION IF EXISTS batchpilot_private.end_permits_of_files(uuid[]);
DROP FUNCTION IF EXISTS batchpilot_private.end_abandoned_permits(uuid[]);
DROP FUNCTION IF EXISTS batchpilot_private.correct_quota_window(public.quota_limits, bigint, bigint);
DROP FUNCTION IF EXISTS batchpilot_private.counted_bucket(public.quota_limits, timestamptz);
DROP FUNCTION IF EXISTS batchpilot_private.mark_ledger_limited(public.quota_limits, timestamptz, timestamptz);
DROP FUNCTION IF EXISTS batchpilot_private.adaptive_factor_at(public.quota_limits, timestamptz);
DROP FUNCTION IF EXISTS batchpilot_private.next_pacific_midnight(timestamptz);

-- V3__jobs
DROP TABLE IF EXISTS batchpilot_private.jobs;
DROP TYPE IF EXISTS batchpilot_private.job_state;
DROP TYPE IF EXISTS batchpilot_private.job_kind;
DROP FUNCTION IF EXISTS batchpilot_private.notify_due_jobs();

-- V2__session_progress
DROP TABLE IF EXISTS batchpilot_private.session_progress;

-- V1__baseline: the tables (with them their triggers, policies and publication membership), then
-- the functions their triggers called and the schemas.
DROP TABLE IF EXISTS batchpilot_private.batch_job_files;
DROP TABLE IF EXISTS batchpilot_private.batch_jobs;
DROP TYPE IF EXISTS batchpilot_private.batch_job_state;
DROP TABLE IF EXISTS public.batch_quota_limits;
DROP TABLE IF EXISTS public.receipt_embeddings;
DROP TABLE IF EXISTS public.batchpilot_leader;
DROP TABLE IF EXISTS public.batchpilot_worker_heartbeats;
DROP TABLE IF EXISTS public.batchpilot_metric_snapshots;
DROP TABLE IF EXISTS public.batchpilot_usage_per_minute;
DROP TABLE IF EXISTS public.batchpilot_model_prices;
DROP TABLE IF EXISTS public.batchpilot_adaptive_factor_changes;
DROP TABLE IF EXISTS public.quota_rings;
DROP TABLE IF EXISTS public.quota_permit_releases;
DROP TABLE IF EXISTS public.quota_permits;
DROP TABLE IF EXISTS public.quota_limits;
DROP TABLE IF EXISTS public.batch_upload_files;
DROP TABLE IF EXISTS public.batch_upload_sessions;
DROP TABLE IF EXISTS public.api_quota_tracking;
DROP SCHEMA IF EXISTS batchpilot_reporting;

DROP FUNCTION IF EXISTS batchpilot_private.embedding_dimensions();
DROP FUNCTION IF EXISTS batchpilot_private.roll_up_file_usage();
DROP FUNCTION IF EXISTS batchpilot_private.record_adaptive_factor();
DROP FUNCTION IF EXISTS batchpilot_private.touch_updated_at();
DROP FUNCTION IF EXISTS batchpilot_private.queue_embedding();
DROP FUNCTION IF EXISTS batchpilot_private.count_file_statuses();
DROP FUNCTION IF EXISTS batchpilot_private.apply_file_status_changes(uuid[], text[], integer[]);
DROP FUNCTION IF EXISTS batchpilot_private.publish_progress(uuid[], interval);
DROP FUNCTION IF EXISTS batchpilot_private.create_session_progress();
DROP FUNCTION IF EXISTS batchpilot_private.queue_extractions();
DROP FUNCTION IF EXISTS batchpilot_private.notify_resumed_sessions();
DROP FUNCTION IF EXISTS batchpilot_private.notify_sessions(uuid[]);
DROP FUNCTION IF EXISTS batchpilot_private.my_session_ids();
DROP FUNCTION IF EXISTS batchpilot_private.my_team_ids();
DROP FUNCTION IF EXISTS batchpilot_private.is_admin();
DROP FUNCTION IF EXISTS batchpilot_private.installed_release();
DROP TABLE IF EXISTS batchpilot_private.installation;
DROP SCHEMA IF EXISTS batchpilot_private;

DROP TABLE IF EXISTS public.batchpilot_schema_history;

-- The Grafana role is cluster-wide: another database migrated by batchpilot may still grant it
-- something, and then it stays (PostgreSQL refuses to drop a role that is still referenced).
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'batchpilot_grafana') THEN
    BEGIN
      DROP ROLE batchpilot_grafana;
    EXCEPTION WHEN dependent_objects_still_exist THEN
      RAISE NOTICE 'role batchpilot_grafana kept: other databases still use it (%)', SQLERRM;
    END;
  END IF;
END
$$;

COMMIT;
