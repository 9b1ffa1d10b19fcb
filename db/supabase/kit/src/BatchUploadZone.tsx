// BatchUploadZone: the design document's upload zone (strategy selector, progress with quota
// status and ETA, pause/resume/cancel) on useBatchUpload. Unstyled apart from Tailwind-like class
// names; restyle freely.
import { useState } from 'react'
import type { BatchClient, ProcessingStrategy } from './batch'
import { useBatchUpload } from './useBatchUpload'

const STRATEGIES: { value: ProcessingStrategy; label: string }[] = [
  { value: 'conservative', label: 'Conservative (half the quota, leaves room for other apps)' },
  { value: 'balanced', label: 'Balanced (three quarters of the quota)' },
  { value: 'aggressive', label: 'Aggressive (the whole quota; the gate keeps it exact)' },
  { value: 'adaptive', label: 'Adaptive (backs off on a 429, recovers after)' },
]

export function BatchUploadZone({ client, teamId = null }: { client: BatchClient; teamId?: string | null }) {
  const [strategy, setStrategy] = useState<ProcessingStrategy>('adaptive')
  const batch = useBatchUpload(client, { teamId, strategy })
  const { progress, quota, eta } = batch
  const waitUntil = quota?.parkedUntil ?? quota?.blockedUntil ?? null

  return (
    <div className="space-y-4">
      <label className="block text-sm font-medium">
        Processing strategy
        <select value={strategy} disabled={batch.submitting || (progress !== null && !progress.finished)}
          onChange={(e) => setStrategy(e.target.value as ProcessingStrategy)} className="w-full p-2 border rounded">
          {STRATEGIES.map((s) => <option key={s.value} value={s.value}>{s.label}</option>)}
        </select>
      </label>

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
          {eta && !progress.finished && <div className="text-sm">Estimated completion: {eta.toLocaleTimeString()}</div>}
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
