// batchpilot's frontend kit for supabase-js v2: submit a batch, follow it over Realtime, pause,
// resume, cancel, and read the quota it waits on (or, for batch delivery, its Gemini batch jobs). Copy this folder's src/ into your app; replace
// database.types.ts with your project's own generated types (they include batchpilot's tables
// once the migration is in). Everything here runs as the signed-in user, through RLS.
import type { RealtimeChannel, SupabaseClient } from '@supabase/supabase-js'
import type { Database } from './database.types'

export type BatchClient = SupabaseClient<Database>
type Tables = Database['public']['Tables']
export type SessionRow = Tables['batch_upload_sessions']['Row']
export type FileRow = Tables['batch_upload_files']['Row']

// The schema's CHECK constraints (db/README.md, "Statuses"), as types.
export type SessionStatus = 'pending' | 'processing' | 'paused' | 'completed' | 'failed' | 'cancelled'
export type FileStatus = 'uploading' | 'pending' | 'processing' | 'completed' | 'failed' | 'skipped'
export type ProcessingStrategy = 'conservative' | 'balanced' | 'aggressive' | 'adaptive'
/** interactive: one call per file, minutes, full price. batch: Gemini Batch Mode, half price, within 24 h. */
export type Delivery = 'interactive' | 'batch'
/** batchpilot_private.batch_job_state: creating (not at Google yet), pending and running (at Google), then final. */
export type BatchJobState = 'creating' | 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'expired' | 'abandoned'
const DELIVERIES: readonly Delivery[] = ['interactive', 'batch']

/** A database or Storage error, with what was being done. */
export class BatchpilotError extends Error {
  constructor(what: string, readonly cause: { message: string; code?: string } | null) {
    super(cause ? `${what}: ${cause.message}` : what)
    this.name = 'BatchpilotError'
  }
}

export interface SubmitOptions {
  /** The Storage bucket; its insert policy must let users write under `<auth.uid()>/` (docs/supabase.md). */
  bucket?: string
  /** null or absent: a personal session, visible to its owner only. */
  teamId?: string | null
  sessionName?: string
  strategy?: ProcessingStrategy
  /** A model with a quota_limits row; the database's default (gemini-2.5-flash) when absent. */
  model?: string
  /**
   * batch: Gemini Batch Mode at half the price, done within 24 hours (usually much less); the model
   * needs a batch_quota_limits row. interactive (the default): minutes, at the full price.
   */
  delivery?: Delivery
  /** For batch delivery only: when a batch job expires or fails, its files go interactive (full price, now) instead of into a new job. */
  interactiveFallback?: boolean
  /** Uploads to Storage at once (not the workers' concurrency). */
  uploadConcurrency?: number
  /** Called once the session exists, before any upload, so a UI can follow it at once. */
  onSession?: (session: SessionRow) => void
}

export interface SubmittedFile {
  fileId: string
  name: string
  /** pending: uploaded, the workers take it; skipped: the upload failed (error says why). */
  status: 'pending' | 'skipped'
  error: string | null
}

export interface SubmittedBatch {
  session: SessionRow
  files: SubmittedFile[]
}

/**
 * The Storage object of a file: under the user's own folder, as the storage_path trigger requires
 * (`<auth.uid()>/…`, no empty, "." or ".." segment). The order prefix keeps names unique.
 */
export function storagePath(userId: string, sessionId: string, order: number, fileName: string): string {
  const safe = fileName.replace(/[^A-Za-z0-9._-]+/g, '_').slice(-100) || 'file'
  return `${userId}/${sessionId}/${order}-${safe}`
}

/**
 * Creates the session, registers every file as `uploading` in one statement, uploads each to
 * Storage, then sets it `pending` (the workers are woken by the database). A file whose upload
 * fails is skipped with its reason (batchpilot_skip_failed_upload) and the batch goes on; one the
 * page never finishes is skipped by the workers' upload timeout. Either way the session finishes.
 */
export async function submitBatch(client: BatchClient, files: readonly File[], options: SubmitOptions = {}): Promise<SubmittedBatch> {
  if (files.length === 0) {
    throw new BatchpilotError('submitBatch: no files given; pick at least one file', null)
  }
  const bucket = options.bucket ?? 'receipts'
  const { data: auth, error: authError } = await client.auth.getUser()
  if (authError || !auth.user) {
    throw new BatchpilotError('submitBatch: no signed-in user; sign in before submitting a batch', authError)
  }
  const userId = auth.user.id

  const { data: session, error: sessionError } = await client
    .from('batch_upload_sessions')
    .insert(sessionInsert(userId, files.length, options))
    .select()
    .single()
  if (sessionError) {
    throw new BatchpilotError('submitBatch: the batch session could not be created', sessionError)
  }
  options.onSession?.(session)

  const rows = files.map((file, order) => ({
    batch_session_id: session.id,
    original_filename: file.name || `file-${order}`,
    file_size_bytes: file.size,
    file_type: file.type || null,
    upload_order: order,
    status: 'uploading' as const,
    storage_bucket: bucket,
    storage_path: storagePath(userId, session.id, order, file.name),
  }))
  const { data: registered, error: registerError } = await client
    .from('batch_upload_files')
    .insert(rows)
    .select('id, upload_order')
  if (registerError) {
    // Nothing was registered: cancel the empty session rather than leave it open.
    await client.from('batch_upload_sessions').update({ status: 'cancelled' }).eq('id', session.id)
    throw new BatchpilotError(`submitBatch: the files of session ${session.id} could not be registered (the session was cancelled)`, registerError)
  }
  const idByOrder = new Map(registered.map((r) => [r.upload_order, r.id]))

  const submitted = await mapLimited(files, Math.max(1, options.uploadConcurrency ?? 4), async (file, order) => {
    const fileId = idByOrder.get(order)
    const row = rows[order]
    if (!fileId || !row) {
      throw new BatchpilotError(`submitBatch: file ${order} of session ${session.id} was not registered`, null)
    }
    const upload = await client.storage.from(bucket).upload(row.storage_path, file, {
      contentType: file.type || undefined,
      upsert: false,
    })
    if (upload.error) {
      return skipFailedUpload(client, fileId, row.original_filename, upload.error.message)
    }
    const { error } = await client
      .from('batch_upload_files')
      .update({ status: 'pending' })
      .eq('id', fileId)
      .eq('status', 'uploading')
    if (error) {
      return skipFailedUpload(client, fileId, row.original_filename, `uploaded, but could not be marked pending: ${error.message}`)
    }
    return { fileId, name: row.original_filename, status: 'pending' as const, error: null }
  })
  return { session, files: submitted }
}

type SessionInsert = Tables['batch_upload_sessions']['Insert']

/** The session row submitBatch inserts: what the signed-in user may set (the column grant), from the options. */
export function sessionInsert(userId: string, fileCount: number, options: SubmitOptions = {}): SessionInsert {
  const delivery = options.delivery ?? 'interactive'
  if (!DELIVERIES.includes(delivery)) {
    throw new BatchpilotError(`submitBatch: delivery must be ${DELIVERIES.join(' or ')}, got ${String(delivery)}`, null)
  }
  if (options.interactiveFallback && delivery !== 'batch') {
    throw new BatchpilotError("submitBatch: interactiveFallback applies to delivery 'batch' only; set delivery: 'batch' or drop it", null)
  }
  return {
    user_id: userId,
    team_id: options.teamId ?? null,
    total_files: fileCount,
    session_name: options.sessionName ?? `Upload of ${fileCount} file${fileCount === 1 ? '' : 's'}`,
    processing_strategy: options.strategy ?? 'adaptive',
    delivery,
    interactive_fallback: options.interactiveFallback ?? false,
    ...(options.model ? { model: options.model } : {}),
  }
}

async function skipFailedUpload(client: BatchClient, fileId: string, name: string, reason: string): Promise<SubmittedFile> {
  const { error } = await client.rpc('batchpilot_skip_failed_upload', { file_id: fileId, reason })
  // If even this fails (the network is gone), the workers' upload timeout skips the file later.
  const note = error ? ` (not yet recorded: ${error.message}; the upload timeout will skip it)` : ''
  return { fileId, name, status: 'skipped', error: reason + note }
}

async function mapLimited<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    for (let i = next++; i < items.length; i = next++) {
      results[i] = await work(items[i] as T, i)
    }
  })
  await Promise.all(lanes)
  return results
}

// ---------------------------------------------------------------------------------------------
// Following a session
// ---------------------------------------------------------------------------------------------

export interface BatchState {
  session: SessionRow | null
  /** By id; only the first `fileLimit` files of a large session are fetched initially. */
  files: ReadonlyMap<string, FileRow>
}

export interface FollowOptions {
  /** Also stream the file rows (per-file status and errors). Each changed file is one Realtime message. */
  files?: boolean
  fileLimit?: number
  onError?: (error: BatchpilotError) => void
}

const newer = (a: { updated_at: string } | undefined, b: { updated_at: string }) =>
  !a || Date.parse(b.updated_at) >= Date.parse(a.updated_at)

/**
 * Streams the session's row (and its files') with postgres_changes filtered by the session id;
 * Realtime applies RLS per subscriber. Once subscribed, and again whenever the channel reports an
 * error, the current rows are fetched, so nothing sent before the subscription is missed; a row
 * older than the one held is ignored. Returns the unsubscribe function.
 */
export function followBatch(client: BatchClient, sessionId: string, onChange: (state: BatchState) => void,
  options: FollowOptions = {}): () => void {
  const followFiles = options.files ?? true
  let session: SessionRow | null = null
  const files = new Map<string, FileRow>()
  let closed = false
  const emit = () => {
    if (!closed) onChange({ session, files: new Map(files) })
  }
  const fail = (what: string, cause: { message: string } | null) => options.onError?.(new BatchpilotError(what, cause))

  const fetchNow = async () => {
    const s = await client.from('batch_upload_sessions').select('*').eq('id', sessionId).maybeSingle()
    if (s.error) return fail(`followBatch: session ${sessionId} could not be read`, s.error)
    if (!s.data) return fail(`followBatch: session ${sessionId} is not one you can read (deleted, or not yours)`, null)
    if (newer(session ?? undefined, s.data)) session = s.data
    if (followFiles) {
      const f = await client.from('batch_upload_files').select('*').eq('batch_session_id', sessionId)
        .order('upload_order', { ascending: true }).limit(options.fileLimit ?? 1000)
      if (f.error) return fail(`followBatch: the files of session ${sessionId} could not be read`, f.error)
      for (const row of f.data) {
        if (newer(files.get(row.id), row)) files.set(row.id, row)
      }
    }
    emit()
  }

  let channel: RealtimeChannel = client
    .channel(`batchpilot-session-${sessionId}`)
    .on<SessionRow>('postgres_changes',
      { event: '*', schema: 'public', table: 'batch_upload_sessions', filter: `id=eq.${sessionId}` },
      (payload) => {
        if (payload.eventType === 'DELETE') {
          session = null
        } else if (newer(session ?? undefined, payload.new)) {
          session = payload.new
        }
        emit()
      })
  if (followFiles) {
    channel = channel.on<FileRow>('postgres_changes',
      { event: '*', schema: 'public', table: 'batch_upload_files', filter: `batch_session_id=eq.${sessionId}` },
      (payload) => {
        if (payload.eventType === 'DELETE') {
          if (payload.old.id) files.delete(payload.old.id)
        } else if (newer(files.get(payload.new.id), payload.new)) {
          files.set(payload.new.id, payload.new)
        }
        emit()
      })
  }
  channel.subscribe((status, err) => {
    if (status === 'SUBSCRIBED') {
      void fetchNow()
    } else if (status === 'CHANNEL_ERROR' || status === 'TIMED_OUT') {
      fail(`followBatch: Realtime ${status} for session ${sessionId}; showing the last fetched state`, err ?? null)
      void fetchNow()
    }
  })
  return () => {
    closed = true
    void client.removeChannel(channel)
  }
}

// ---------------------------------------------------------------------------------------------
// Progress, controls, quota
// ---------------------------------------------------------------------------------------------

export interface Progress {
  status: SessionStatus
  total: number
  uploading: number
  pending: number
  processing: number
  completed: number
  failed: number
  skipped: number
  /** completed + failed + skipped */
  done: number
  /** done / total, 0 to 1 */
  fraction: number
  /**
   * interactive: from measured throughput and the session's quota share (the workers' ETA). batch:
   * Google's 24-hour target for the files in jobs (24 hours from now for those not yet in one).
   * null when unknown.
   */
  estimatedCompletionAt: Date | null
  delivery: Delivery
  /** Batch delivery: an expired or failed job's files go interactive. */
  interactiveFallback: boolean
  /** The last session-wide problem, e.g. waiting for the daily quota. */
  message: string | null
  /** completed, failed or cancelled: nothing more will happen. */
  finished: boolean
}

/** The session row's counters (kept equal to its files' statuses by the database) as progress. */
export function progressOf(session: SessionRow): Progress {
  const done = session.files_completed + session.files_failed + session.files_skipped
  const total = Math.max(session.total_files, done + session.files_uploading + session.files_pending + session.files_processing)
  const status = session.status as SessionStatus
  return {
    status,
    total,
    uploading: session.files_uploading,
    pending: session.files_pending,
    processing: session.files_processing,
    completed: session.files_completed,
    failed: session.files_failed,
    skipped: session.files_skipped,
    done,
    fraction: total > 0 ? done / total : 0,
    estimatedCompletionAt: session.estimated_completion_at ? new Date(session.estimated_completion_at) : null,
    delivery: session.delivery as Delivery,
    interactiveFallback: session.interactive_fallback,
    message: session.error_message,
    finished: status === 'completed' || status === 'failed' || status === 'cancelled',
  }
}

/**
 * What a member may do to a session's status (the status-transition trigger): pause from pending
 * or processing, resume from paused, cancel from pending, processing or paused. Completing,
 * failing and starting are the workers'.
 */
export const allowedControls = (status: SessionStatus) => ({
  pause: status === 'pending' || status === 'processing',
  resume: status === 'paused',
  cancel: status === 'pending' || status === 'processing' || status === 'paused',
})

async function setStatus(client: BatchClient, sessionId: string, status: 'paused' | 'processing' | 'cancelled', verb: string): Promise<SessionRow> {
  const { data, error } = await client.from('batch_upload_sessions').update({ status }).eq('id', sessionId).select().maybeSingle()
  if (error) throw new BatchpilotError(`${verb} session ${sessionId}`, error)
  if (!data) throw new BatchpilotError(`${verb} session ${sessionId}: it is not one you can change (deleted, or not yours)`, null)
  return data
}

/** No new claims; files in flight finish. */
export const pauseBatch = (client: BatchClient, sessionId: string) => setStatus(client, sessionId, 'paused', 'pause')
/** Claims again; the database wakes every worker at once. */
export const resumeBatch = (client: BatchClient, sessionId: string) => setStatus(client, sessionId, 'processing', 'resume')
/** Ends it: the files not started are skipped by the database; files in flight finish. */
export const cancelBatch = (client: BatchClient, sessionId: string) => setStatus(client, sessionId, 'cancelled', 'cancel')

export interface QuotaStatus {
  provider: string
  model: string
  /** Granted to the whole fleet in the last window, of the limit (null: no limits row for the model). */
  requestsUsed: number
  requestsLimit: number | null
  inputTokensUsed: number
  inputTokensLimit: number | null
  windowMs: number | null
  /** A 429 blocks the fleet until then. */
  blockedUntil: Date | null
  /** The daily quota is spent: nothing is sent before then (midnight America/Los_Angeles). */
  parkedUntil: Date | null
}

type Nullable<T> = { [K in keyof T]: T[K] | null }
const instant = (value: string | null) => (value ? new Date(value) : null)

/** The session's model's quota, fleet-wide aggregates only: "API quota: x/y requests/min". */
export async function getQuotaStatus(client: BatchClient, sessionId: string): Promise<QuotaStatus> {
  const { data, error } = await client.rpc('batchpilot_session_quota_status', { session_id: sessionId })
  if (error) throw new BatchpilotError(`the quota status of session ${sessionId}`, error)
  // A function's result columns are typed NOT NULL by the generator; the limits and instants may be null.
  const row = data[0] as Nullable<(typeof data)[number]> | undefined
  if (!row || row.provider === null || row.model === null) {
    throw new BatchpilotError(`the quota status of session ${sessionId}: no answer`, null)
  }
  return {
    provider: row.provider,
    model: row.model,
    requestsUsed: row.requests_used ?? 0,
    requestsLimit: row.requests_limit,
    inputTokensUsed: row.input_tokens_used ?? 0,
    inputTokensLimit: row.input_tokens_limit,
    windowMs: row.window_ms,
    blockedUntil: instant(row.blocked_until),
    parkedUntil: instant(row.parked_until),
  }
}

// ---------------------------------------------------------------------------------------------
// Batch delivery: the session's Gemini batch jobs
// ---------------------------------------------------------------------------------------------

export interface BatchJob {
  jobId: string
  /** Google's batches/{id}; null until Google has accepted the job. */
  name: string | null
  model: string
  state: BatchJobState
  /** The session's files in the job, and those of them still at Google (not completed, failed or sent back). */
  files: number
  filesAtGoogle: number
  createdAt: Date
  submittedAt: Date | null
  endedAt: Date | null
  /** Google's target: 24 hours from the job's creation (usually much sooner). */
  dueBy: Date
  errorMessage: string | null
}

/** A job Google may still be working on. */
export const isLiveBatchJob = (job: BatchJob) => job.state === 'creating' || job.state === 'pending' || job.state === 'running'

/** The session's batch jobs, newest first (none for an interactive session, or one you cannot read). */
export async function getBatchJobs(client: BatchClient, sessionId: string): Promise<BatchJob[]> {
  const { data, error } = await client.rpc('batchpilot_session_batch_jobs', { session_id: sessionId })
  if (error) throw new BatchpilotError(`the batch jobs of session ${sessionId}`, error)
  // As with the quota status, the generator types the result columns NOT NULL; name and the instants may be null.
  return (data as Nullable<(typeof data)[number]>[]).map((row) => {
    if (row.job_id === null || row.model === null || row.state === null || row.created_at === null || row.due_by === null) {
      throw new BatchpilotError(`the batch jobs of session ${sessionId}: a row without its id, model, state or creation time`, null)
    }
    return {
      jobId: row.job_id,
      name: row.name,
      model: row.model,
      state: row.state as BatchJobState,
      files: row.files ?? 0,
      filesAtGoogle: row.files_at_google ?? 0,
      createdAt: new Date(row.created_at),
      submittedAt: instant(row.submitted_at),
      endedAt: instant(row.ended_at),
      dueBy: new Date(row.due_by),
      errorMessage: row.error_message,
    }
  })
}

export interface BatchDelivery {
  /** Jobs Google may still be working on (creating, pending, running), newest first. */
  live: BatchJob[]
  /** The session's files in those jobs, at Google now. */
  filesAtGoogle: number
  /** The session's files in no job yet (pending): the next job takes them. */
  waitingForJob: number
  /**
   * When every file should be back: the live jobs' latest 24-hour target, or, while files wait for
   * a job, the workers' estimate (24 hours from now) if later. null when neither is known.
   */
  dueBy: Date | null
}

const latest = (a: Date | null, b: Date | null) => (!a ? b : !b ? a : a > b ? a : b)

/** What a batch session's progress shows: its live jobs, the files at Google, and when they are due. */
export function batchDeliveryOf(jobs: readonly BatchJob[], progress: Progress): BatchDelivery {
  const live = jobs.filter(isLiveBatchJob)
  const jobsDue = live.reduce<Date | null>((due, j) => latest(due, j.dueBy), null)
  // Files not in a job yet are due 24 hours after the next job is created, which only the workers' estimate knows.
  const dueBy = progress.pending > 0
    ? (progress.estimatedCompletionAt ? latest(jobsDue, progress.estimatedCompletionAt) : null)
    : jobsDue ?? progress.estimatedCompletionAt
  return { live, filesAtGoogle: live.reduce((n, j) => n + j.filesAtGoogle, 0), waitingForJob: progress.pending, dueBy }
}

const hhmm = (at: Date) => `${String(at.getHours()).padStart(2, '0')}:${String(at.getMinutes()).padStart(2, '0')}`

/** "within 24 h (by 14:05)", with "tomorrow" when the target is on the next day (local time); "within 24 h" without one. */
export function batchDueText(dueBy: Date | null, now: Date = new Date()): string {
  if (!dueBy) return 'within 24 h'
  const tomorrow = dueBy > now && dueBy.toDateString() !== now.toDateString() ? ' tomorrow' : ''
  return `within 24 h (by ${hhmm(dueBy)}${tomorrow})`
}
