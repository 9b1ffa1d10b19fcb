#!/usr/bin/env bash
# One run: a fresh database, the simulator, the four files submitted, one worker at -Xmx64m with 4
# threads; prints whether every file completed, the worker's peak RSS (VmHWM) and the wall time.
set -euo pipefail
cd "$(dirname "$0")/../.."
db=memrun_$1
psql -h 127.0.0.1 -U postgres -qc "drop database if exists $db" -c "create database $db" >/dev/null 2>&1
export DATABASE_URL="postgresql://postgres@127.0.0.1:5432/$db?sslmode=disable"
./batchpilot migrate >/dev/null 2>&1
./batchpilot simulate --port 18765 --rpm 1000 > ${OUT:-/tmp}/sim.log 2>&1 &
sim=$!
sleep 3
./batchpilot submit --name mem ${FILES:-${OUT:-/tmp}/files} > ${OUT:-/tmp}/submit.log 2>&1
start=$(date +%s.%N)
GEMINI_BASE_URL=http://127.0.0.1:18765 GEMINI_API_KEY=memkey BATCHPILOT_LOCAL_FILE_ROOT=${FILES:-${OUT:-/tmp}/files} \
  BATCHPILOT_CONCURRENCY=4 BATCHPILOT_JAVA_OPTS="-XX:+UseSerialGC ${HEAP:--Xmx64m}" ./batchpilot worker > ${OUT:-/tmp}/worker-$1.log 2>&1 &
# The launcher execs java, so this is the worker's own process (never another one on a shared machine).
wpid=$!
sleep 1
jpid=$(pgrep -P "$wpid" java || echo "$wpid")
peak=0; done_files=0
for i in $(seq 1 240); do
  if [ -r /proc/$jpid/status ]; then
    hwm=$(awk '/VmHWM/{print $2}' /proc/$jpid/status); [ -n "$hwm" ] && [ "$hwm" -gt "$peak" ] && peak=$hwm
  fi
  done_files=$(psql -h 127.0.0.1 -U postgres -d $db -Atc "select count(*) from batch_upload_files where status in ('completed','failed')")
  [ "$done_files" -ge 4 ] && break
  sleep 0.5
done
end=$(date +%s.%N)
hwm=$(awk '/VmHWM/{print $2}' /proc/$jpid/status 2>/dev/null || echo 0); [ "$hwm" -gt "$peak" ] && peak=$hwm
psql -h 127.0.0.1 -U postgres -d $db -Atc "select original_filename, status, coalesce(error_message,'') from batch_upload_files order by 1"
kill -TERM $jpid 2>/dev/null || true; sleep 3; kill $sim 2>/dev/null || true
echo "run $1: peak RSS $((peak/1024)) MB, wall $(echo "$end - $start" | bc) s"
