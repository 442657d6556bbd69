#!/usr/bin/env bash
# Where GET /api/tasks?limit=50 spends its instructions on PostgreSQL: api-app under valgrind's
# callgrind, one worker, 1 000 tasks, the same page requested over and over on one keep-alive
# connection. Instruction counts do not move with the machine's load (the page's req/s in
# `make bench` moves with everything else on the cores), so a change to the page path is judged
# by this count, then confirmed by `make bench`. Only api-app's own instructions are counted:
# PostgreSQL's share is the same statement under pgbench.
#
#   bench/profile-page.sh        # 300 pages; PROFILE_REQUESTS, PROFILE_OUT change it
#   callgrind_annotate --tree=caller target/prof/page-api.callgrind   # who calls what
#
# Needs valgrind, python3 and PostgreSQL's server binaries (scripts/with-postgres.sh starts a
# throwaway server). Not part of `make test` or `make bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -n ${TEST_DATABASE_URL:-} ]] || PG_DURABLE=1 exec scripts/with-postgres.sh "$0" "$@"
. scripts/lib.sh

REQUESTS=${PROFILE_REQUESTS:-300}
OUT=${PROFILE_OUT:-bench/PROFILE-PAGE-RAW.txt}
TASKS=1000
REQUEST_PATH="/api/tasks?limit=50"
. bench/callgrind.sh
build_with_symbols --bin api-app

"$PG_BIN/psql" -qAtX -v ON_ERROR_STOP=1 "$TEST_DATABASE_URL" -c "CREATE DATABASE profile"
DB_URL="${TEST_DATABASE_URL%/*}/profile"
# run_api PORT ADMIN_PORT [COMMAND...]: api-app on the profile database, one worker, run through
# COMMAND (valgrind) if given. Start it in the background: it becomes the server, so $! is its PID.
run_api() {
  local port=$1 admin=$2
  shift 2
  exec env -i PATH="$PATH" HOST="$HOST" PORT="$port" ADMIN_PORT="$admin" APP_ENV=local LOG_FORMAT=json \
    RUST_LOG=info WORKERS=1 SHUTDOWN_DRAIN_SECS=0 DATABASE_URL="$DB_URL" DATABASE_POOL_MAX=4 \
    "$@" "$TARGET/bench-local/api-app"
}

echo "migrating and creating $TASKS tasks through the API" >&2
port=$(free_port) admin=$(free_port)
run_api "$port" "$admin" >"$WORK/seed.log" 2>&1 &
PID=$!
wait_ready "http://127.0.0.1:$admin/readyz"
seed_http "$port" "$TASKS" "profiled task"
kill "$PID"
wait "$PID" 2>/dev/null || true
PID=

echo "api-app under callgrind" >&2
port=$(free_port) admin=$(free_port)
profile page "$port" run_api "$port" "$admin" "${CG[@]}" --callgrind-out-file="$WORK/page.cg"

cp "$WORK/page.out" "$TARGET/page-api.callgrind"
PAGE_TOTAL=$(total "$WORK/page.out")
{
  echo "GET $REQUEST_PATH on PostgreSQL ($TASKS tasks), $REQUESTS keep-alive requests, one worker, instructions (callgrind)"
  echo "api-app: $PAGE_TOTAL total, $((PAGE_TOTAL / REQUESTS)) per page"
  echo
  echo "=== api-app, inclusive, per page, top entries ==="
  top "$WORK/page.out" "$REQUESTS" 120
} >"$OUT"
head -n 2 "$OUT"
echo "written: $OUT" >&2
