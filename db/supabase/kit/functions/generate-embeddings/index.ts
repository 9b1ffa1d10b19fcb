// generate-embeddings: one Gemini embedContent call through batchpilot's quota gate, so this
// Edge Function and the workers share one quota per (provider, model) and never exceed it.
//
//   POST { "text": "..." }  ->  200 { "embedding": [...], "model": "...", "dimensions": 768 }
//                           ->  429 { "error": ... } with Retry-After when the quota stays busy
//
// Environment: SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY (set by Supabase; the gate's functions are
// the service role's), GEMINI_API_KEY; optional GEMINI_BASE_URL (the simulator in tests),
// BATCHPILOT_EMBEDDING_MODEL (gemini-embedding-001), BATCHPILOT_EMBEDDING_DIMENSIONS (768, as
// the migration's receipt_embeddings), BATCHPILOT_MAX_QUOTA_WAIT_MS (20000).
import { createClient } from 'npm:@supabase/supabase-js@2.119.1'
// Type-only, erased when Deno runs it; point it at your project's generated types.
import type { Database } from '../../src/database.types.ts'

const PROVIDER = 'gemini'
const MODEL = Deno.env.get('BATCHPILOT_EMBEDDING_MODEL') ?? 'gemini-embedding-001'
const DIMENSIONS = whole('BATCHPILOT_EMBEDDING_DIMENSIONS', 768)
const MAX_QUOTA_WAIT_MS = whole('BATCHPILOT_MAX_QUOTA_WAIT_MS', 20000)
const GEMINI_BASE_URL = (Deno.env.get('GEMINI_BASE_URL') ?? 'https://generativelanguage.googleapis.com').replace(/\/+$/, '')
const MAX_TEXT_CHARS = 32000 // gemini-embedding-001 takes 2048 input tokens; ~4 characters a token, with room

const supabase = createClient<Database>(required('SUPABASE_URL'), required('SUPABASE_SERVICE_ROLE_KEY'), {
  auth: { persistSession: false },
})

function required(name: string): string {
  const value = Deno.env.get(name)
  if (!value) throw new Error(`generate-embeddings: ${name} is not set; set it with \`supabase secrets set ${name}=...\``)
  return value
}

function whole(name: string, fallback: number): number {
  const text = Deno.env.get(name)
  if (text === undefined || text === '') return fallback
  const value = Number(text)
  if (!Number.isInteger(value) || value <= 0) throw new Error(`generate-embeddings: ${name} must be a positive whole number; got '${text}'`)
  return value
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } })

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** A Gemini 429's RetryInfo.retryDelay ("20s", "1.5s") in ms, and its QuotaFailure quotaId. */
interface GeminiErrorBody {
  error?: { message?: string; status?: string; details?: { '@type'?: string; retryDelay?: string; violations?: { quotaId?: string }[] }[] }
}
function rateLimitOf(body: GeminiErrorBody): { retryDelayMs: number; quotaId: string | null } {
  const details = body.error?.details ?? []
  const delay = details.find((d) => d['@type']?.endsWith('google.rpc.RetryInfo'))?.retryDelay
  const seconds = delay ? Number.parseFloat(delay) : NaN
  const quotaId = details.find((d) => d['@type']?.endsWith('google.rpc.QuotaFailure'))?.violations?.[0]?.quotaId ?? null
  return { retryDelayMs: Number.isFinite(seconds) ? Math.ceil(seconds * 1000) : 60000, quotaId }
}

class QuotaBusy extends Error {
  constructor(readonly retryAfterMs: number, reason: string) {
    super(`the ${MODEL} quota is busy (${reason}); try again in ${Math.ceil(retryAfterMs / 1000)} s`)
  }
}

async function rpcOrThrow<T>(what: string, call: PromiseLike<{ data: T | null; error: { message: string } | null }>): Promise<T> {
  const { data, error } = await call
  if (error) throw new Error(`generate-embeddings: ${what} failed: ${error.message}`)
  return data as T
}

/** Acquire a permit (waiting as the gate says, up to the deadline), call, then finish or release it. */
async function embedWithQuota(text: string): Promise<number[]> {
  const deadline = Date.now() + MAX_QUOTA_WAIT_MS
  const estimatedTokens = Math.ceil(text.length / 4)
  for (;;) {
    const [answer] = await rpcOrThrow('batchpilot_acquire_quota', supabase.rpc('batchpilot_acquire_quota', {
      provider: PROVIDER, model: MODEL, estimated_input_tokens: estimatedTokens, strategy: 'balanced',
    }))
    if (!answer) throw new Error('generate-embeddings: batchpilot_acquire_quota returned no row')
    if (!answer.granted) {
      const wait = answer.wait_ms + Math.random() * 20
      if (Date.now() + wait > deadline) throw new QuotaBusy(answer.wait_ms, answer.reason)
      await sleep(wait)
      continue
    }
    let ended = false
    try {
      const response = await fetch(`${GEMINI_BASE_URL}/v1beta/models/${MODEL}:embedContent`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-goog-api-key': required('GEMINI_API_KEY') },
        body: JSON.stringify({ model: `models/${MODEL}`, content: { parts: [{ text }] }, outputDimensionality: DIMENSIONS }),
      })
      if (response.status === 429) {
        const limit = rateLimitOf(await response.json().catch(() => ({})) as GeminiErrorBody)
        // Tell the fleet: a per-day quota parks the model until midnight Pacific, a per-minute one blocks it.
        if (limit.quotaId?.includes('PerDay')) {
          await rpcOrThrow('batchpilot_report_daily_quota_exhausted',
            supabase.rpc('batchpilot_report_daily_quota_exhausted', { provider: PROVIDER, model: MODEL }))
        } else {
          await rpcOrThrow('batchpilot_report_rate_limit', supabase.rpc('batchpilot_report_rate_limit', {
            provider: PROVIDER, model: MODEL, retry_delay_ms: limit.retryDelayMs, ...(limit.quotaId ? { quota_id: limit.quotaId } : {}),
          }))
        }
        continue // the gate now answers with the wait; the finally releases this permit
      }
      if (!response.ok) {
        const body = await response.json().catch(() => ({})) as GeminiErrorBody
        throw new Error(`generate-embeddings: Gemini answered ${response.status} ${body.error?.status ?? ''}: ${body.error?.message ?? response.statusText}`)
      }
      const body = await response.json() as { embedding?: { values?: number[] }; usageMetadata?: { promptTokenCount?: number } }
      const values = body.embedding?.values
      if (!Array.isArray(values) || values.length !== DIMENSIONS) {
        throw new Error(`generate-embeddings: Gemini's answer has no ${DIMENSIONS}-value embedding (got ${values?.length ?? 'none'})`)
      }
      // The real prompt tokens when Gemini reports them; otherwise the estimate stands.
      const actual = body.usageMetadata?.promptTokenCount
      await (typeof actual === 'number'
        ? rpcOrThrow('batchpilot_finish_quota', supabase.rpc('batchpilot_finish_quota', { permit_id: answer.permit_id, actual_input_tokens: actual }))
        : rpcOrThrow('batchpilot_release_quota', supabase.rpc('batchpilot_release_quota', { permit_id: answer.permit_id })))
      ended = true
      return values
    } finally {
      if (!ended) {
        // A lost release is made good by the permit's lease; never hide the call's own error.
        await supabase.rpc('batchpilot_release_quota', { permit_id: answer.permit_id }).then(() => undefined, () => undefined)
      }
    }
  }
}

Deno.serve(async (request) => {
  if (request.method !== 'POST') return json(405, { error: 'POST a JSON body { "text": "..." }' })
  const body = await request.json().catch(() => null) as { text?: unknown } | null
  const text = typeof body?.text === 'string' ? body.text.trim() : ''
  if (!text) return json(400, { error: 'the body must be JSON with a non-empty "text" string' })
  if (text.length > MAX_TEXT_CHARS) {
    return json(413, { error: `"text" has ${text.length} characters; at most ${MAX_TEXT_CHARS} are embedded in one call` })
  }
  try {
    const embedding = await embedWithQuota(text)
    return json(200, { embedding, model: MODEL, dimensions: DIMENSIONS })
  } catch (e) {
    if (e instanceof QuotaBusy) {
      return json(429, { error: e.message }, { 'retry-after': String(Math.ceil(e.retryAfterMs / 1000)) })
    }
    return json(502, { error: e instanceof Error ? e.message : String(e) })
  }
})
