#!/usr/bin/env bash
# The frontend kit's check, run by .ci/run: install the pinned packages (npm ci), regenerate
# database.types.ts from the migrations into a temp file and diff it with the committed one, check
# the excerpts in README.md and docs/*.md against their files, then tsc --strict over the kit (src/) and the Edge
# Functions (functions/), then the tests of the kit's pure functions (scripts/test-kit.mjs). Needs Node 20+ with npm and the PostgreSQL server of
# BATCHPILOT_TEST_DATABASE_URL (a scratch database is created and dropped).
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v npm >/dev/null 2>&1; then
  echo "== frontend kit: SKIPPED, npm is not installed: install Node.js 20+ with npm to type-check db/supabase/kit"
  exit 0
fi

echo "== frontend kit: npm ci (pinned in package-lock.json)"
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error

echo "== frontend kit: database.types.ts is what postgres-meta generates from the migrations"
generated="$(mktemp --suffix=.ts)"
trap 'rm -f "$generated"' EXIT
node scripts/gen-types.mjs "$generated" >/dev/null
if ! diff -u src/database.types.ts "$generated"; then
  echo "db/supabase/kit/src/database.types.ts is out of date with the migrations (diff above):" >&2
  echo "run 'npm run gen-types' in db/supabase/kit and commit the file" >&2
  exit 1
fi

echo "== frontend kit: the excerpts in README.md and docs/*.md are in their files"
node scripts/check-readme-excerpts.mjs

echo "== frontend kit: tsc --strict (src/, functions/)"
node_modules/.bin/tsc -p tsconfig.json --strict --noEmit
node_modules/.bin/tsc -p functions/tsconfig.json --strict --noEmit

echo "== frontend kit: tests of its pure functions (scripts/test-kit.mjs)"
node scripts/test-kit.mjs
echo "== frontend kit: OK"
