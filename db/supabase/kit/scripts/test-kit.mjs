// Tests of the kit's pure functions (no database, no network): what submitBatch inserts, and what a
// batch session's progress shows. src/batch.ts is compiled by the pinned tsc into a temp folder
// and imported from there.
//
//   node scripts/test-kit.mjs
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const kit = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const out = mkdtempSync(join(tmpdir(), 'batchpilot-kit-'))
let failures = 0
try {
  const tsc = spawnSync(join(kit, 'node_modules/.bin/tsc'), [join(kit, 'src/batch.ts'), '--outDir', out, '--target', 'ES2022',
    '--module', 'ESNext', '--moduleResolution', 'bundler', '--lib', 'ES2022,DOM', '--skipLibCheck', '--strict'],
  { stdio: 'inherit' })
  if (tsc.status !== 0) throw new Error('tsc could not compile src/batch.ts (errors above)')
  writeFileSync(join(out, 'package.json'), '{"type":"module"}')
  const kitModule = await import(pathToFileURL(join(out, 'batch.js')).href)

  const tests = {
    'an interactive session by default, without fallback'() {
      const row = kitModule.sessionInsert('u1', 3)
      assert.equal(row.delivery, 'interactive')
      assert.equal(row.interactive_fallback, false)
      assert.equal(row.total_files, 3)
      assert.equal(row.session_name, 'Upload of 3 files')
      assert.equal('model' in row, false, 'the database chooses the model when none is given')
    },
    'batch delivery and its fallback go into the insert'() {
      const row = kitModule.sessionInsert('u1', 1, { delivery: 'batch', interactiveFallback: true, model: 'gemini-2.5-flash', teamId: 't1' })
      assert.deepEqual(
        { delivery: row.delivery, interactive_fallback: row.interactive_fallback, model: row.model, team_id: row.team_id },
        { delivery: 'batch', interactive_fallback: true, model: 'gemini-2.5-flash', team_id: 't1' })
    },
    'a delivery other than interactive or batch is refused, naming both'() {
      assert.throws(() => kitModule.sessionInsert('u1', 1, { delivery: 'overnight' }),
        { message: 'submitBatch: delivery must be interactive or batch, got overnight' })
    },
    'interactive fallback without batch delivery is refused'() {
      assert.throws(() => kitModule.sessionInsert('u1', 1, { interactiveFallback: true }), /applies to delivery 'batch' only/)
    },
    'live jobs count their files at Google and the latest target; final jobs do not'() {
      const running = job('running', 5, '2026-12-04T10:00:00Z')
      const pending = job('pending', 2, '2026-12-04T12:30:00Z')
      const expired = job('expired', 0, '2026-12-04T13:00:00Z')
      const batch = kitModule.batchDeliveryOf([expired, pending, running], progress({ pending: 0 }))
      assert.deepEqual(batch.live, [pending, running])
      assert.equal(batch.filesAtGoogle, 7)
      assert.equal(batch.waitingForJob, 0)
      assert.equal(batch.dueBy.toISOString(), '2026-12-04T12:30:00.000Z')
    },
    'files waiting for a job are due by the workers estimate, when it is later'() {
      const running = job('running', 5, '2026-12-04T10:00:00Z')
      const later = kitModule.batchDeliveryOf([running], progress({ pending: 3, estimatedCompletionAt: new Date('2026-12-04T11:00:00Z') }))
      assert.equal(later.waitingForJob, 3)
      assert.equal(later.dueBy.toISOString(), '2026-12-04T11:00:00.000Z')
      const unknown = kitModule.batchDeliveryOf([running], progress({ pending: 3, estimatedCompletionAt: null }))
      assert.equal(unknown.dueBy, null, 'files in no job yet: not before the next job exists or the workers estimate')
    },
    'no live job: the workers estimate, or nothing'() {
      const none = kitModule.batchDeliveryOf([job('succeeded', 0, '2026-12-04T10:00:00Z')], progress({ pending: 0, estimatedCompletionAt: null }))
      assert.equal(none.filesAtGoogle, 0)
      assert.equal(none.dueBy, null)
    },
    'the due text is hours, with the local time and tomorrow when it is the next day'() {
      const now = new Date(2026, 11, 3, 13, 0)
      assert.equal(kitModule.batchDueText(new Date(2026, 11, 3, 14, 5), now), 'within 24 h (by 14:05)')
      assert.equal(kitModule.batchDueText(new Date(2026, 11, 4, 9, 7), now), 'within 24 h (by 09:07 tomorrow)')
      assert.equal(kitModule.batchDueText(null, now), 'within 24 h')
    },
  }
  for (const [name, test] of Object.entries(tests)) {
    try {
      test()
      console.log(`ok: ${name}`)
    } catch (e) {
      failures++
      console.error(`FAILED: ${name}\n${e.stack ?? e}`)
    }
  }
} finally {
  rmSync(out, { recursive: true, force: true })
}
if (failures > 0) {
  console.error(`${failures} kit test(s) failed`)
  process.exit(1)
}

function job(state, filesAtGoogle, dueBy) {
  return {
    jobId: `${state}-${dueBy}`, name: null, model: 'gemini-2.5-flash', state, files: 5, filesAtGoogle,
    createdAt: new Date(Date.parse(dueBy) - 86400000), submittedAt: null, endedAt: null, dueBy: new Date(dueBy), errorMessage: null,
  }
}

function progress(overrides) {
  return { status: 'processing', pending: 0, estimatedCompletionAt: null, delivery: 'batch', interactiveFallback: false, ...overrides }
}
