// BatchUploadZone: the design document's upload zone (strategy and delivery selectors, progress
// with quota status and ETA, or for batch delivery its jobs at Google, pause/resume/cancel) on
// useBatchUpload. Unstyled apart from Tailwind-like class names; restyle freely.
import { useState } from 'react'
import type { BatchClient, Delivery, ProcessingStrategy } from './batch'
import { useBatchUpload } from './useBatchUpload'

const STRATEGIES: { value: ProcessingStrategy; label: string }[] = [
  { value: 'conservative', label: 'Conservative (half the quota, leaves room for other apps)' },
  { value: 'balanced', label: 'Balanced (three quarters of the quota)' },
  { value: 'aggressive', label: 'Aggressive (the whole quota; the gate keeps it exact)' },
  { value: 'adaptive', label: 'Adaptive (backs off on a 429, recovers after)' },
]

const DELIVERIES: { value: Delivery; label: string }[] = [
  { value: 'interactive', label: 'Now (minutes, full price)' },
  { value: 'batch', label: 'Batch (half price, within 24 h, usually much less)' },
]

export function BatchUploadZone({ client, teamId = null }: { client: BatchClient; teamId?: string | null }) {
  const [strategy, setStrategy] = useState<ProcessingStrategy>('adaptive')
  const [delivery, setDelivery] = useState<Delivery>('interactive')
  const [interactiveFallback, setInteractiveFallback] = useState(false)
  const batch = useBatchUpload(client, { teamId, strategy, delivery, interactiveFallback: delivery === 'batch' && interactiveFallback })
  const { progress, quota, eta } = batch
  const waitUntil = quota?.parkedUntil ?? quota?.blockedUntil ?? null
  const locked = batch.submitting || (progress !== null && !progress.finished)

  return (
    <div className="space-y-4">
      <label className="block text-sm font-medium">
        Processing strategy
        <select value={strategy} disabled={locked}
          onChange={(e) => setStrategy(e.target.value as ProcessingStrategy)} className="w-full p-2 border rounded">
          {STRATEGIES.map((s) => <option key={s.value} value={s.value}>{s.label}</option>)}
        </select>
      </label>

      <label className="block text-sm font-medium">
        Delivery
        <select value={delivery} disabled={locked}
          onChange={(e) => setDelivery(e.target.value as Delivery)} className="w-full p-2 border rounded">
          {DELIVERIES.map((d) => <option key={d.value} value={d.value}>{d.label}</option>)}
        </select>
      </label>
      {delivery === 'batch' && (
        <label className="block text-sm">
          <input type="checkbox" checked={interactiveFallback} disabled={locked}
            onChange={(e) => setInteractiveFallback(e.target.checked)} />
          {' '}If a batch job expires or fails, process its files now at full price
        </label>
      )}

      <input type="file" multiple accept="image/*,application/pdf" disabled={batch.submitting}
        onChange={(e) => { const picked = e.target.files; if (picked?.length) void batch.submit([...picked]) }} />

      {progress && (
        <div className="space-y-2">
          <div className="flex justify-between">
            <span>{progress.status}: {progress.done} of {progress.total} files</span>
            <span>{Math.round(progress.fraction * 100)}%</span>
          </div>
          <progress value={progress.done} max={Math.max(progress.total, 1)} className="w-full" />
          <div className="text-sm text-gray-600">
            {progress.completed} done, {progress.failed} failed, {progress.skipped} skipped, {progress.uploading} uploading
          </div>
          {quota && quota.requestsLimit !== null && (
            <div className="text-sm text-gray-600">
              <div>API quota: {quota.requestsUsed}/{quota.requestsLimit} requests/min</div>
              <div>Tokens: {quota.inputTokensUsed}/{quota.inputTokensLimit} tokens/min</div>
            </div>
          )}
          {waitUntil && (
            <div className="text-orange-600">Rate limited: resuming at {waitUntil.toLocaleTimeString()}</div>
          )}
          {batch.batch && !progress.finished && (
            <div className="text-sm">
              {batch.batch.live.map((job) => (
                <div key={job.jobId}>
                  {job.filesAtGoogle} of {job.files} files at Google in batch job {job.name ?? job.jobId} ({job.state})
                </div>
              ))}
              {batch.batch.waitingForJob > 0 && <div>{batch.batch.waitingForJob} files waiting for a batch job</div>}
              <div>Batch delivery: {batch.batchDue}</div>
            </div>
          )}
          {eta && !batch.batch && !progress.finished && <div className="text-sm">Estimated completion: {eta.toLocaleTimeString()}</div>}
          {progress.message && <div className="text-sm text-red-600">{progress.message}</div>}
          <div className="space-x-2">
            <button type="button" disabled={!batch.canPause} onClick={() => void batch.pause()}>Pause</button>
            <button type="button" disabled={!batch.canResume} onClick={() => void batch.resume()}>Resume</button>
            <button type="button" disabled={!batch.canCancel} onClick={() => void batch.cancel()}>Cancel</button>
          </div>
          <ul className="text-sm">
            {batch.files.filter((f) => f.error_message).map((f) => (
              <li key={f.id}>{f.original_filename}: {f.error_message}</li>
            ))}
          </ul>
        </div>
      )}
      {batch.error && <div role="alert" className="text-red-600">{batch.error}</div>}
    </div>
  )
}
