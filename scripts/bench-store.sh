#!/usr/bin/env bash
# The task store under load (issue 10): api-app on PostgreSQL against PostgreSQL's own ceiling, and
# side by side with the in-memory store. Writes bench/STORE.md. Not part of `make test`.
#
#   scripts/bench-store.sh                # about two minutes of load
#   BENCH_DURATION=20 scripts/bench-store.sh
#
# In one run, on one throwaway server (durable settings: fsync and synchronous commit on):
#   * pgbench runs api-app's own list statement and its own create statement, at the concurrency wrk
#     uses against the app (the app's pool has that many connections);
#   * wrk drives GET /api/tasks?limit=50 and POST /api/tasks on api-app, with 1 000 tasks stored and
#     again with 100 000; RSS is read while wrk runs and as the peak after;
#   * the same wrk runs against api-app on the in-memory store.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -n ${TEST_DATABASE_URL:-} ]] || PG_DURABLE=1 exec scripts/with-postgres.sh "$0" "$@"
. scripts/lib.sh

DURATION=${BENCH_DURATION:-10}
CONCURRENCY=${BENCH_CONCURRENCY:-16}   # wrk connections = pgbench clients = pool connections
THREADS=2                              # wrk and pgbench threads
WORKERS=2                              # api-app workers
PROFILE=bench-local
OUT=${BENCH_OUT:-bench/STORE.md}
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
API_BIN="$TARGET/$PROFILE/api-app"
PSQL=("$PG_BIN/psql" -qAtX -v ON_ERROR_STOP=1)

command -v wrk >/dev/null || { echo "bench-store: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
echo "building api-app with --profile $PROFILE" >&2
cargo build --locked --quiet --profile "$PROFILE" -p api-app --bin api-app

WORK=$(mktemp -d)
API_PID=
cleanup() {
  if [[ -n $API_PID ]]; then kill "$API_PID" 2>/dev/null && wait "$API_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

"${PSQL[@]}" "$TEST_DATABASE_URL" -c "CREATE DATABASE bench"
DB_URL="${TEST_DATABASE_URL%/*}/bench"

rss_mib() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
hwm_mib() { awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# start_api [VAR=VALUE...] -> API_PID, API_PORT
start_api() {
  API_PORT=$(free_port) API_ADMIN_PORT=$(free_port)
  env -i PATH="$PATH" HOST=127.0.0.1 PORT="$API_PORT" ADMIN_PORT="$API_ADMIN_PORT" APP_ENV=local LOG_FORMAT=json RUST_LOG=info \
    WORKERS="$WORKERS" SHUTDOWN_DRAIN_SECS=0 MAX_TASKS=10000000 DATABASE_POOL_MAX="$CONCURRENCY" "$@" \
    "$API_BIN" >>"$WORK/api-app.log" 2>&1 &
  API_PID=$!
  wait_ready "http://127.0.0.1:$API_ADMIN_PORT/readyz"
}
stop_api() { kill "$API_PID"; wait "$API_PID" 2>/dev/null || true; API_PID=; }

# wrk_rps NAME PATH [wrk args...] -> "rps non2xx rss_during_mib"; the RSS is read halfway through.
wrk_rps() {
  local name=$1 path=$2
  shift 2
  wrk -t"$THREADS" -c"$CONCURRENCY" -d"${DURATION}s" "$@" "http://127.0.0.1:$API_PORT$path" >"$WORK/$name.txt" &
  local wrk_pid=$!
  sleep "$((DURATION / 2))"
  local rss
  rss=$(rss_mib "$API_PID")
  wait "$wrk_pid"
  awk -v rss="$rss" '
    /Requests\/sec:/            { rps = $2 }
    /Non-2xx or 3xx responses:/ { non2xx = $5 }
    END { printf "%.0f %d %s\n", rps, non2xx, rss }
  ' "$WORK/$name.txt"
}

# pgbench_tps NAME SCRIPT -> transactions per second (each transaction is the one statement)
pgbench_tps() {
  "$PG_BIN/pgbench" -n -c "$CONCURRENCY" -j "$THREADS" -T "$DURATION" -M prepared \
    -f "$2" "$DB_URL" >"$WORK/$1.txt" 2>&1 || { cat "$WORK/$1.txt" >&2; exit 1; }
  awk '/^tps = / { printf "%.0f\n", $3 }' "$WORK/$1.txt"
}

# seed N: N tasks straight into the table, with the counter row to match.
seed() {
  "${PSQL[@]}" "$DB_URL" <<SQL
TRUNCATE tasks;
INSERT INTO tasks (id, title) SELECT gen_random_uuid(), 'seed task ' || g FROM generate_series(1, $1) g;
UPDATE task_counts SET total = $1, completed = 0;
VACUUM ANALYZE tasks;
SQL
}

cat >"$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"title":"benchmark task","completed":false}'
wrk.headers["Content-Type"] = "application/json"
LUA
# api-app's statements, verbatim from src/tasks/store/postgres.rs (the list page and the create).
cat >"$WORK/list.sql" <<'SQL'
SELECT t.id, t.title, t.completed, t.created_at, t.updated_at, t.version, c.total FROM task_counts c LEFT JOIN LATERAL (SELECT id, title, completed, created_at, updated_at, version FROM tasks ORDER BY seq LIMIT 50 OFFSET 0) t ON true;
SQL
cat >"$WORK/insert.sql" <<'SQL'
WITH counted AS (UPDATE task_counts SET total = total + 1, completed = completed + CASE WHEN false THEN 1 ELSE 0 END WHERE total < 10000000 RETURNING total) INSERT INTO tasks (id, title, completed, created_at, updated_at) SELECT gen_random_uuid(), 'benchmark task', false, clock.at, clock.at FROM (SELECT clock_timestamp() AS at FROM counted) clock RETURNING id, title, completed, created_at, updated_at, version, (SELECT total FROM counted);
SQL

# --- PostgreSQL store ----------------------------------------------------------------------------
start_api DATABASE_URL="$DB_URL"      # migrates the bench database
seed 1000
wrk -t"$THREADS" -c"$CONCURRENCY" -d2s "http://127.0.0.1:$API_PORT/api/tasks?limit=50" >/dev/null
echo "1 000 tasks: pgbench list, wrk list" >&2
PG_LIST_1K=$(pgbench_tps pg-list-1k "$WORK/list.sql")
read -r APP_LIST_1K APP_LIST_1K_ERR APP_LIST_1K_RSS < <(wrk_rps app-list-1k "/api/tasks?limit=50")
echo "inserts: pgbench, wrk" >&2
PG_INSERT=$(pgbench_tps pg-insert "$WORK/insert.sql")
read -r APP_POST APP_POST_ERR APP_POST_RSS < <(wrk_rps app-post /api/tasks -s "$WORK/post.lua")
echo "100 000 tasks: pgbench list, wrk list" >&2
seed 100000
PG_LIST_100K=$(pgbench_tps pg-list-100k "$WORK/list.sql")
read -r APP_LIST_100K _ APP_LIST_100K_RSS < <(wrk_rps app-list-100k "/api/tasks?limit=50")
PG_PEAK=$(hwm_mib "$API_PID")
stop_api

# --- in-memory store, same wrk -------------------------------------------------------------------
echo "in-memory store: wrk list, wrk post" >&2
start_api
python3 - "$API_PORT" <<'PY'
import http.client, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
for i in range(1000):
    conn.request("POST", "/api/tasks", body=f'{{"title":"seed task {i}"}}',
                 headers={"content-type": "application/json"})
    res = conn.getresponse(); res.read()
    assert res.status == 201, res.status
PY
read -r MEM_LIST MEM_LIST_ERR MEM_LIST_RSS < <(wrk_rps mem-list "/api/tasks?limit=50")
read -r MEM_POST MEM_POST_ERR MEM_POST_RSS < <(wrk_rps mem-post /api/tasks -s "$WORK/post.lua")
MEM_PEAK=$(hwm_mib "$API_PID")
stop_api

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
CPU=$(lscpu | awk -F: '/^Model name/ { gsub(/^ +/, "", $2); print $2; exit }')
{
  echo "# Task store benchmark"
  echo
  echo "Written by \`scripts/bench-store.sh\` on $(date -u +%Y-%m-%dT%H:%MZ); how to read it: [README.md](README.md)."
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| Machine | $CPU, \`nproc\` = $(nproc), shared with other work while this ran |"
  echo "| PostgreSQL | $("$PG_BIN/postgres" --version | awk '{print $3}'), loopback, defaults plus fsync and synchronous_commit on |"
  echo "| Load | ${CONCURRENCY} concurrent clients everywhere (wrk connections, pgbench clients, \`DATABASE_POOL_MAX\`), ${DURATION} s per run, $THREADS threads |"
  echo "| api-app | \`--profile $PROFILE\`, WORKERS=$WORKERS, JSON access log to a file |"
  echo
  echo "## PostgreSQL store against PostgreSQL itself"
  echo
  echo "pgbench runs api-app's own statements (\`-M prepared\`, as the app prepares them)."
  echo
  echo "| Operation | pgbench tx/s | api-app req/s | api-app / pgbench | target |"
  echo "|---|---:|---:|---:|---:|"
  echo "| list 50, 1 000 tasks | $PG_LIST_1K | $APP_LIST_1K | $(ratio "$APP_LIST_1K" "$PG_LIST_1K") | ≥ 0.5 |"
  echo "| create | $PG_INSERT | $APP_POST | $(ratio "$APP_POST" "$PG_INSERT") | ≥ 0.5 |"
  echo "| list 50, 100 000 tasks | $PG_LIST_100K | $APP_LIST_100K | $(ratio "$APP_LIST_100K" "$PG_LIST_100K") | |"
  echo
  echo "List at 100 000 tasks over list at 1 000: **$(ratio "$APP_LIST_100K" "$APP_LIST_1K")** (target ≥ 0.8)."
  echo
  echo "## Side by side with the in-memory store"
  echo
  echo "| Operation | PostgreSQL req/s | memory req/s | non-2xx (pg / memory) |"
  echo "|---|---:|---:|---:|"
  echo "| GET /api/tasks?limit=50 (1 000 tasks) | $APP_LIST_1K | $MEM_LIST | $APP_LIST_1K_ERR / $MEM_LIST_ERR |"
  echo "| POST /api/tasks | $APP_POST | $MEM_POST | $APP_POST_ERR / $MEM_POST_ERR |"
  echo
  echo "## Memory"
  echo
  echo "| | PostgreSQL store | memory store |"
  echo "|---|---:|---:|"
  echo "| RSS during list load | $APP_LIST_1K_RSS MiB | $MEM_LIST_RSS MiB |"
  echo "| RSS during create load | $APP_POST_RSS MiB | $MEM_POST_RSS MiB |"
  echo "| RSS during list load, 100 000 tasks | $APP_LIST_100K_RSS MiB | |"
  echo "| Peak RSS of the run (VmHWM) | $PG_PEAK MiB | $MEM_PEAK MiB |"
  echo
  echo "Target: RSS under load ≤ 32 MiB. The memory store's peak includes every task it created during"
  echo "the POST run (they live in its memory); the PostgreSQL store's does not."
} >"$OUT"
cat "$OUT"
