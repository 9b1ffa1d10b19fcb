#!/usr/bin/env bash
# Proves that two sets of Flyway migrations build the same database: each is applied to a fresh
# database (after the Supabase compatibility schema), in Flyway's order (versioned by version, then
# repeatables by description, one transaction per file), and the two pg_dumps are compared:
# --schema-only --no-owner, and --data-only (timestamps masked: they are the install's clock).
# The NEW set's repeatables are then applied a second time, and the dump must not change.
#
#   db/tools/compare-migrations.sh OLD_MIGRATION_DIR NEW_MIGRATION_DIR
#
# e.g. OLD from another commit:
#   git archive main db/src/main/resources/batchpilot | tar -x -C /tmp/old
#   db/tools/compare-migrations.sh /tmp/old/db/src/main/resources/batchpilot/migration \
#     db/src/main/resources/batchpilot/migration
#
# Server: BATCHPILOT_COMPARE_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/postgres), a
# user that may create databases. Full-line SQL comments are left out of the normalised comparison
# (a function's text keeps its comments); the raw diff is printed too. Exit 0 when identical.
set -euo pipefail

old_dir=${1:?usage: compare-migrations.sh OLD_MIGRATION_DIR NEW_MIGRATION_DIR}
new_dir=${2:?usage: compare-migrations.sh OLD_MIGRATION_DIR NEW_MIGRATION_DIR}
here=$(cd "$(dirname "$0")" && pwd)
compat="$here/../src/main/resources/batchpilot/compat/V1__supabase_compatibility.sql"
server=${BATCHPILOT_COMPARE_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
work=$(mktemp -d)
suffix=$$
old_db=bp_compare_old_$suffix
new_db=bp_compare_new_$suffix

url_of() { # the server URL with another database name
  local base=${server%%\?*} query=
  [[ $server == *\?* ]] && query="?${server#*\?}"
  echo "${base%/*}/$1$query"
}

cleanup() {
  psql -X -q "$server" -c "DROP DATABASE IF EXISTS $old_db WITH (FORCE)" -c "DROP DATABASE IF EXISTS $new_db WITH (FORCE)" >/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# Flyway's order: V<n>__ by n, then R__ by description.
flyway_order() {
  local dir=$1
  ls "$dir" | grep -E '^V[0-9]+__.*\.sql$' | sort -t_ -k1.2n | sed "s|^|$dir/|"
  repeatables "$dir"
}
repeatables() {
  ls "$1" | grep -E '^R__.*\.sql$' | sort | sed "s|^|$1/|"
}

apply() { # database, files...
  local db=$1; shift
  for f in "$@"; do
    psql -X -q -v ON_ERROR_STOP=1 --single-transaction "$(url_of "$db")" -f "$f" >/dev/null 2>"$work/psql.err" \
      || { echo "FAILED applying $f to $db:"; cat "$work/psql.err"; exit 1; }
  done
}

dump() { # database, output prefix
  # A fixed \restrict key (pg_dump 15.14+ writes a random one otherwise); the data dump warns that
  # batch_upload_files references itself (duplicate_of), which is expected.
  pg_dump --schema-only --no-owner --restrict-key=batchpilotcompare "$(url_of "$1")" >"$2.schema.raw"
  pg_dump --data-only --no-owner --restrict-key=batchpilotcompare "$(url_of "$1")" >"$2.data.raw" 2>/dev/null
  grep -vE '^\s*--|^\s*$' "$2.schema.raw" >"$2.schema"
  grep -vE '^\s*--|^\s*$' "$2.data.raw" \
    | sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?[+-][0-9]{2}(:[0-9]{2})?/<timestamp>/g' >"$2.data"
}

for db in $old_db $new_db; do
  psql -X -q "$server" -c "CREATE DATABASE $db TEMPLATE template0" >/dev/null
  apply $db "$compat"
done
mapfile -t old_files < <(flyway_order "$old_dir")
mapfile -t new_files < <(flyway_order "$new_dir")
echo "old: ${old_files[*]##*/}"
echo "new: ${new_files[*]##*/}"
apply $old_db "${old_files[@]}"
apply $new_db "${new_files[@]}"
dump $old_db "$work/old"
dump $new_db "$work/new"

status=0
for kind in schema data; do
  if diff -u "$work/old.$kind" "$work/new.$kind" >"$work/$kind.diff"; then
    echo "$kind: identical ($(wc -l <"$work/new.$kind") lines)"
  else
    echo "$kind: DIFFERENT"; cat "$work/$kind.diff"; status=1
  fi
  if ! diff "$work/old.$kind.raw" "$work/new.$kind.raw" >"$work/$kind.raw.diff"; then
    echo "  the raw dumps (comments and timestamps included) differ in $(grep -cE '^[<>]' "$work/$kind.raw.diff") lines:"
    [[ $kind == schema ]] && grep -E '^[<>]' "$work/$kind.raw.diff" | sed 's/^/    /'
  fi
done

mapfile -t again < <(repeatables "$new_dir")
apply $new_db "${again[@]}"
dump $new_db "$work/again"
for kind in schema data; do
  if cmp -s "$work/new.$kind.raw" "$work/again.$kind.raw"; then
    echo "repeatables applied again: $kind unchanged (byte for byte)"
  else
    echo "repeatables applied again: $kind CHANGED"; diff -u "$work/new.$kind.raw" "$work/again.$kind.raw" || true; status=1
  fi
done
exit $status
