// useBatchUpload: the design document's useBatchFileUpload, on batchpilot's tables. Submit files,
// then follow the session (Realtime, with a fetch when subscribed), its quota, ETA and controls;
// for batch delivery, its Gemini batch jobs (state, files at Google, Google's 24-hour target).
import { useCallback, useEffect, useRef, useState } from 'react'
import {
  type BatchClient, type BatchDelivery, type BatchJob, BatchpilotError, type Delivery, type FileRow, type Progress,
  type ProcessingStrategy, type QuotaStatus, type SessionRow, type SubmitOptions, type SubmittedBatch, allowedControls,
  batchDeliveryOf, batchDueText, cancelBatch, followBatch, getBatchJobs, getQuotaStatus, pauseBatch, progressOf,
  resumeBatch, submitBatch,
} from './batch'

export interface UseBatchUploadOptions extends Omit<SubmitOptions, 'onSession' | 'strategy'> {
  strategy?: ProcessingStrategy
  /** Follow an existing session (e.g. after a reload). */
  sessionId?: string | null
  /** How often the quota status is read while an interactive session is open; 0: never. */
  quotaPollMs?: number
  /** How often a batch session's jobs are read while it is open (also on each change of its counters); 0: never. */
  batchJobsPollMs?: number
  /** Stream the file rows too (per-file errors); the progress needs only the session row. */
  followFiles?: boolean
}

export interface BatchUpload {
  submit: (files: readonly File[]) => Promise<SubmittedBatch | null>
  /** Stop following (the batch goes on). */
  reset: () => void
  sessionId: string | null
  session: SessionRow | null
  files: FileRow[]
  progress: Progress | null
  /** The workers' estimate; null until measured, and once finished. */
  eta: Date | null
  /** The session's delivery; null before there is a session. */
  delivery: Delivery | null
  /** A batch session's jobs, newest first; empty for an interactive one. */
  batchJobs: BatchJob[]
  /** A batch session's live jobs, files at Google and due time; null for an interactive one. */
  batch: BatchDelivery | null
  /** What a progress line shows for the ETA: "within 24 h (by 14:05)" for batch, null for interactive. */
  batchDue: string | null
  quota: QuotaStatus | null
  submitting: boolean
  error: string | null
  pause: () => Promise<void>
  resume: () => Promise<void>
  cancel: () => Promise<void>
  canPause: boolean
  canResume: boolean
  canCancel: boolean
}

export function useBatchUpload(client: BatchClient, options: UseBatchUploadOptions = {}): BatchUpload {
  const [sessionId, setSessionId] = useState<string | null>(options.sessionId ?? null)
  const [session, setSession] = useState<SessionRow | null>(null)
  const [files, setFiles] = useState<FileRow[]>([])
  const [quota, setQuota] = useState<QuotaStatus | null>(null)
  const [batchJobs, setBatchJobs] = useState<BatchJob[]>([])
  const [submitting, setSubmitting] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const optionsRef = useRef(options)
  optionsRef.current = options
  const followFiles = options.followFiles ?? true

  useEffect(() => {
    if (!sessionId) return
    return followBatch(client, sessionId, (state) => {
      setSession(state.session)
      setFiles([...state.files.values()].sort((a, b) => (a.upload_order ?? 0) - (b.upload_order ?? 0)))
    }, { files: followFiles, onError: (e) => setError(e.message) })
  }, [client, sessionId, followFiles])

  const progress = session ? progressOf(session) : null
  const open = progress !== null && !progress.finished
  const quotaPollMs = options.quotaPollMs ?? 5000
  const batchJobsPollMs = options.batchJobsPollMs ?? 30000
  const isBatch = progress?.delivery === 'batch'
  // A batch session waits on its jobs, not on the interactive quota, unless its files may fall back to it.
  const waitsOnQuota = progress !== null && (!isBatch || progress.interactiveFallback)
  // Files move into a job (pending to processing) and out of it (to done): read the jobs again then.
  const countersKey = session ? `${session.status}/${session.files_pending}/${session.files_processing}` : ''

  useEffect(() => {
    if (!sessionId || !isBatch || batchJobsPollMs <= 0) return
    let stopped = false
    const read = () => getBatchJobs(client, sessionId)
      .then((jobs) => { if (!stopped) setBatchJobs(jobs) })
      .catch((e: unknown) => { if (!stopped) setError(message(e)) })
    void read()
    const timer = open ? setInterval(read, batchJobsPollMs) : undefined
    return () => {
      stopped = true
      clearInterval(timer)
    }
  }, [client, sessionId, isBatch, open, batchJobsPollMs, countersKey])

  useEffect(() => {
    if (!sessionId || !open || !waitsOnQuota || quotaPollMs <= 0) return
    let stopped = false
    const read = () => getQuotaStatus(client, sessionId)
      .then((q) => { if (!stopped) setQuota(q) })
      .catch((e: unknown) => { if (!stopped) setError(message(e)) })
    void read()
    const timer = setInterval(read, quotaPollMs)
    return () => {
      stopped = true
      clearInterval(timer)
    }
  }, [client, sessionId, open, waitsOnQuota, quotaPollMs])

  const submit = useCallback(async (picked: readonly File[]) => {
    setSubmitting(true)
    setError(null)
    try {
      const { sessionId: _ignored, quotaPollMs: _poll, batchJobsPollMs: _jobs, followFiles: _files, ...submitOptions } = optionsRef.current
      return await submitBatch(client, picked, { ...submitOptions, onSession: (s) => setSessionId(s.id) })
    } catch (e) {
      setError(message(e))
      return null
    } finally {
      setSubmitting(false)
    }
  }, [client])

  const control = useCallback((run: (c: BatchClient, id: string) => Promise<SessionRow>) => async () => {
    if (!sessionId) return
    try {
      setSession(await run(client, sessionId))
    } catch (e) {
      setError(message(e))
    }
  }, [client, sessionId])

  const reset = useCallback(() => {
    setSessionId(null)
    setSession(null)
    setFiles([])
    setQuota(null)
    setBatchJobs([])
    setError(null)
  }, [])

  const allowed = progress ? allowedControls(progress.status) : { pause: false, resume: false, cancel: false }
  const batch = progress && isBatch ? batchDeliveryOf(batchJobs, progress) : null
  return {
    submit, reset, sessionId, session, files, progress,
    eta: progress?.estimatedCompletionAt ?? null,
    delivery: progress?.delivery ?? null,
    batchJobs: isBatch ? batchJobs : [],
    batch,
    batchDue: batch ? batchDueText(batch.dueBy) : null,
    quota: waitsOnQuota ? quota : null,
    submitting, error,
    pause: control(pauseBatch), resume: control(resumeBatch), cancel: control(cancelBatch),
    canPause: allowed.pause, canResume: allowed.resume, canCancel: allowed.cancel,
  }
}

function message(e: unknown): string {
  return e instanceof BatchpilotError || e instanceof Error ? e.message : String(e)
}
