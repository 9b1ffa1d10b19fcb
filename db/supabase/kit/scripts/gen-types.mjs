// Generates database.types.ts from batchpilot's migrated schema with @supabase/postgres-meta, the
// engine behind `supabase gen types typescript` (which needs Docker; this does not).
//
//   node scripts/gen-types.mjs [OUTPUT]        (default: src/database.types.ts)
//
// BATCHPILOT_TEST_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/postgres) names a
// server where this may create and drop a scratch database. Into it go the Supabase compatibility
// schema (what a Supabase project already has: auth, teams, team_members, receipts) and the
// Flyway migrations in Flyway's order (versioned by number, then repeatable by name), each in one
// transaction as Flyway runs it. postgres-meta then reads the public schema.
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'

const kit = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const resources = resolve(kit, '../../src/main/resources/batchpilot')
const output = resolve(process.argv[2] ?? join(kit, 'src/database.types.ts'))
const serverUrl = process.env.BATCHPILOT_TEST_DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/postgres'

/** Flyway's order: V<n>__ by n, then R__ by description. */
function migrations(folder) {
  const files = readdirSync(folder).filter((f) => /^(V\d+(\.\d+)*|R)__.+\.sql$/.test(f))
  const version = (f) => f.startsWith('R__') ? Infinity : Number(f.slice(1, f.indexOf('__')).split('.')[0])
  return files
    .sort((a, b) => version(a) - version(b) || a.localeCompare(b))
    .map((f) => join(folder, f))
}

function withDatabase(url, name) {
  const u = new URL(url)
  u.pathname = `/${name}`
  return u.toString()
}

async function run(url, sql, what) {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(sql)
  } catch (e) {
    throw new Error(`${what}: ${e.message}`)
  } finally {
    await client.end()
  }
}

const scratch = `batchpilot_kit_types_${process.pid}`
try {
  await run(serverUrl, `CREATE DATABASE ${scratch} TEMPLATE template0`, `creating the scratch database on ${new URL(serverUrl).host}`
    + ' (set BATCHPILOT_TEST_DATABASE_URL to a PostgreSQL 15+ server where the user may create databases)')
} catch (e) {
  console.error(`gen-types: ${e.message}`)
  process.exit(2)
}
let status = 1
try {
  const url = withDatabase(serverUrl, scratch)
  for (const file of [...migrations(join(resources, 'compat')), ...migrations(join(resources, 'migration'))]) {
    await run(url, `BEGIN;\n${readFileSync(file, 'utf8')}\n;COMMIT;`, `applying ${file}`)
  }
  const server = join(kit, 'node_modules/@supabase/postgres-meta/dist/server/server.js')
  const generated = spawnSync(process.execPath, [server], {
    env: {
      ...process.env,
      PG_META_DB_URL: url,
      PG_META_GENERATE_TYPES: 'typescript',
      PG_META_GENERATE_TYPES_INCLUDED_SCHEMAS: 'public',
      PG_META_GENERATE_TYPES_DETECT_ONE_TO_ONE_RELATIONSHIPS: 'true',
    },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
  if (generated.status !== 0 || !generated.stdout.includes('export type Database')) {
    throw new Error(`postgres-meta's typegen failed (exit ${generated.status}): ${generated.stderr || generated.stdout}`)
  }
  writeFileSync(output, generated.stdout)
  console.log(`gen-types: wrote ${output}`)
  status = 0
} catch (e) {
  console.error(`gen-types: ${e.message}`)
} finally {
  await run(serverUrl, `DROP DATABASE IF EXISTS ${scratch} WITH (FORCE)`, 'dropping the scratch database')
}
process.exit(status)
