// useBatchUpload: the design document's useBatchFileUpload, on batchpilot's tables. Submit files,
// then follow the session (Realtime, with a fetch when subscribed), its quota, ETA and controls.
import { useCallback, useEffect, useRef, useState } from 'react'
import {
  type BatchClient, BatchpilotError, type FileRow, type Progress, type ProcessingStrategy, type QuotaStatus,
  type SessionRow, type SubmitOptions, type SubmittedBatch, allowedControls, cancelBatch, followBatch,
  getQuotaStatus, pauseBatch, progressOf, resumeBatch, submitBatch,
} from './batch'

export interface UseBatchUploadOptions extends Omit<SubmitOptions, 'onSession' | 'strategy'> {
  strategy?: ProcessingStrategy
  /** Follow an existing session (e.g. after a reload). */
  sessionId?: string | null
  /** How often the quota status is read while the session is open; 0: never. */
  quotaPollMs?: number
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

  useEffect(() => {
    if (!sessionId || !open || quotaPollMs <= 0) return
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
  }, [client, sessionId, open, quotaPollMs])

  const submit = useCallback(async (picked: readonly File[]) => {
    setSubmitting(true)
    setError(null)
    try {
      const { sessionId: _ignored, quotaPollMs: _poll, followFiles: _files, ...submitOptions } = optionsRef.current
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
    setError(null)
  }, [])

  const allowed = progress ? allowedControls(progress.status) : { pause: false, resume: false, cancel: false }
  return {
    submit, reset, sessionId, session, files, progress,
    eta: progress?.estimatedCompletionAt ?? null,
    quota, submitting, error,
    pause: control(pauseBatch), resume: control(resumeBatch), cancel: control(cancelBatch),
    canPause: allowed.pause, canResume: allowed.resume, canCancel: allowed.cancel,
  }
}

function message(e: unknown): string {
  return e instanceof BatchpilotError || e instanceof Error ? e.message : String(e)
}
