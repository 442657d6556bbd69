#!/usr/bin/env bash
# The performance table (issue 22), every row from one run on one machine: wrk on loopback against
# optimised builds of api-app, the bare actix-web baseline (api-app/examples/baseline.rs) and the
# Express peer (api-app/examples/express-health.cjs), and pgbench against the same throwaway
# PostgreSQL (durable: fsync and synchronous commit on) that api-app uses. Every row is a ratio of
# two rates measured side by side, so it says what api-app costs, not how fast the machine is.
#
#   scripts/bench.sh            # or: make bench. Records bench/RESULTS.md and bench/ratios.json.
#   scripts/bench.sh --check    # the same run, compared with bench/ratios.json (CI: bench.yml):
#                               # fails when a ratio falls more than BENCH_TOLERANCE (0.15) below
#                               # its recorded value, or RSS under load exceeds its ceiling.
#   BENCH_DURATION=20 scripts/bench.sh
#
# Not part of `make test`. Needs wrk, curl, python3, node with tools/node_modules (scripts/install-tools.sh)
# and PostgreSQL's server binaries (scripts/with-postgres.sh finds them).
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=record
case ${1:-} in
  "") ;;
  --check) MODE=check ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
[[ -n ${TEST_DATABASE_URL:-} ]] || PG_DURABLE=1 exec scripts/with-postgres.sh "scripts/$(basename "$0")" "$@"
. scripts/lib.sh

RECORDED=bench/ratios.json            # the recorded values --check compares against
TOLERANCE=${BENCH_TOLERANCE:-0.15}    # a ratio may fall this fraction below its recorded value
DURATION=${BENCH_DURATION:-10}        # seconds per wrk or pgbench run
CONNECTIONS=${BENCH_CONNECTIONS:-64}  # wrk connections for the health rows
CONCURRENCY=${BENCH_CONCURRENCY:-16}  # store rows: wrk connections = pgbench clients = pool size
THREADS=2                             # wrk and pgbench threads
WORKERS=2                             # server workers, the same for api-app and the baseline
ROUNDS=${BENCH_ROUNDS:-2}             # health servers, and pgbench and the app on the page, alternate this many times
DEEP=100000                           # tasks stored for the first-page/last-page row
PAGE=50
PROFILE=bench-local                   # Cargo.toml: release with thin LTO, quicker to build
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
KEY=bench-key-0123456789abcdef
if [[ $MODE == record ]]; then
  OUT=${BENCH_OUT:-bench/RESULTS.md}
  JSON_OUT=$RECORDED
else
  OUT=${BENCH_OUT:-/dev/null}
  JSON_OUT=
fi

fail() { echo "bench: $*" >&2; exit 1; }
command -v wrk >/dev/null || fail "wrk is not installed (apt-get install wrk)"
command -v node >/dev/null || fail "node is not installed"
[[ -f tools/node_modules/express/package.json ]] || fail "express is not in tools/node_modules (run scripts/install-tools.sh)"

echo "building api-app and the baseline with --profile $PROFILE" >&2
cargo build --locked --quiet --profile "$PROFILE" -p api-app --bin api-app --example baseline
API_BIN="$TARGET/$PROFILE/api-app"
BASE_BIN="$TARGET/$PROFILE/examples/baseline"

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

rss_mib() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
hwm_mib() { awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
now_ns() { date +%s%N; }
TICKS=$(getconf CLK_TCK)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# start_api [VAR=VALUE...] -> API_PID, API_PORT, API_ADMIN_PORT, READY_MS (spawn until /readyz on
# the admin port answers 200). It binds port 0 and logs the ports it got (lib.sh's `logged_port`),
# so no other process can take them between choosing and binding; each start logs to its own file.
API_STARTS=0
start_api() {
  API_STARTS=$((API_STARTS + 1))
  API_LOG=$WORK/api-app-$API_STARTS.log
  API_PORT='' API_ADMIN_PORT=''
  local started
  started=$(now_ns)
  env -i PATH="$PATH" HOST=127.0.0.1 PORT=0 ADMIN_PORT=0 APP_ENV=local \
    LOG_FORMAT=json RUST_LOG=info WORKERS="$WORKERS" SHUTDOWN_DRAIN_SECS=0 API_KEY="$KEY" \
    MAX_TASKS=10000000 "$@" \
    "$API_BIN" >"$API_LOG" 2>&1 &
  API_PID=$!
  PIDS+=("$API_PID")
  # Polled every 5 ms, not with lib.sh's 0.1 s waits: READY_MS is a measured row.
  for _ in $(seq 2000); do
    if [[ -z $API_ADMIN_PORT ]]; then
      # Empty until the line is there.
      API_ADMIN_PORT=$(port_in_log "$API_LOG" admin_port)
      API_PORT=$(port_in_log "$API_LOG" port)
    fi
    if [[ -n $API_ADMIN_PORT && -n $API_PORT ]] &&
      curl -fs -o /dev/null "http://127.0.0.1:$API_ADMIN_PORT/readyz" 2>/dev/null; then
      READY_MS=$((($(now_ns) - started) / 1000000))
      return 0
    fi
    kill -0 "$API_PID" 2>/dev/null || fail "api-app exited; see its log: $(tail -n 3 "$API_LOG")"
    sleep 0.005
  done
  fail "api-app was not ready within 10 s"
}
stop() { kill "$1"; wait "$1" 2>/dev/null || true; }

# run_wrk NAME URL [wrk args...] -> "rps p50 p99 non2xx errors"; with SAMPLE_PID set, also samples
# that process's RSS halfway through into $WORK/NAME.rss.
run_wrk() {
  local name=$1 url=$2
  shift 2
  wrk -t"$THREADS" -c"${WRK_CONNECTIONS:-$CONNECTIONS}" -d"${DURATION}s" --latency "$@" "$url" >"$WORK/$name.txt" &
  local wrk_pid=$!
  if [[ -n ${SAMPLE_PID:-} ]]; then
    sleep "$((DURATION / 2))"
    { rss_mib "$SAMPLE_PID"; echo; } >"$WORK/$name.rss"
  fi
  wait "$wrk_pid"
  awk '
    /Requests\/sec:/                   { rps = $2 }
    /^ +50%/                           { p50 = $2 }
    /^ +99%/                           { p99 = $2 }
    /Non-2xx or 3xx responses:/        { non2xx = $5 }
    /Socket errors:/                   { errors = $4 + $6 + $8 + $10 }
    / requests in /                    { requests = $1 }
    END { printf "%.0f %s %s %d %d %d\n", rps, p50, p99, non2xx, errors, requests }
  ' "$WORK/$name.txt"
}

# pgbench_tps NAME SQL -> transactions per second; each transaction is the one statement.
pgbench_tps() {
  printf '%s\n' "$2" >"$WORK/$1.sql"
  "$PG_BIN/pgbench" -n -c "$CONCURRENCY" -j "$THREADS" -T "$DURATION" -M prepared \
    -f "$WORK/$1.sql" "$DB_URL" >"$WORK/$1.txt" 2>&1 || { cat "$WORK/$1.txt" >&2; exit 1; }
  awk '/^tps = / { printf "%.0f\n", $3 }' "$WORK/$1.txt"
}

cat >"$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"title":"benchmark task","completed":false}'
wrk.headers["Content-Type"] = "application/json"
LUA

# ==== 1. GET /api/health: api-app, the bare actix-web baseline and the Express peer ===============
echo "health: api-app, baseline, express" >&2
start_api
START_MS=$READY_MS
sleep 1
IDLE_RSS=$(rss_mib "$API_PID")
MEM_PID=$API_PID
MEM_PORT=$API_PORT
# The peers answer with the very bytes api-app just returned.
HEALTH_BODY=$(curl -fsS "http://127.0.0.1:$MEM_PORT/api/health")
BASE_PORT=$(free_port)
PORT=$BASE_PORT WORKERS=$WORKERS BODY=$HEALTH_BODY "$BASE_BIN" >/dev/null 2>&1 &
BASE_PID=$!
PIDS+=("$BASE_PID")
EXPRESS_PORT=$(free_port)
PORT=$EXPRESS_PORT BODY=$HEALTH_BODY NODE_PATH="$PWD/tools/node_modules" NODE_ENV=production \
  node api-app/examples/express-health.cjs >"$WORK/express.log" 2>&1 &
EXPRESS_PID=$!
PIDS+=("$EXPRESS_PID")
for port in "$BASE_PORT" "$EXPRESS_PORT"; do
  wait_ready "http://127.0.0.1:$port/api/health"
  [[ $(curl -fsS "http://127.0.0.1:$port/api/health") == "$HEALTH_BODY" ]] || fail "the peer on $port does not answer api-app's bytes"
done
for port in "$MEM_PORT" "$BASE_PORT" "$EXPRESS_PORT"; do
  wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "http://127.0.0.1:$port/api/health" >/dev/null
done
API_RPS=() BASE_RPS=() EXPRESS_RPS=()
# Each server's requests and CPU ticks over every round: requests per CPU second do not depend on
# how much of the shared cores a server got (more threads get more of them on a busy machine).
declare -A REQUESTS=() CPU_TICKS=()
# health_run NAME PID PORT -> "rps p50 p99 non2xx errors", and adds to REQUESTS[NAME] and CPU_TICKS[NAME].
health_run() {
  local before after rps p50 p99 non2xx errors requests
  before=$(cpu_ticks "$2")
  read -r rps p50 p99 non2xx errors requests < <(run_wrk "$1-health-$round" "http://127.0.0.1:$3/api/health")
  after=$(cpu_ticks "$2")
  REQUESTS[$1]=$((${REQUESTS[$1]:-0} + requests))
  CPU_TICKS[$1]=$((${CPU_TICKS[$1]:-0} + after - before))
  echo "$rps $p50 $p99 $non2xx $errors"
}
for round in $(seq "$ROUNDS"); do
  echo "health round $round/$ROUNDS" >&2
  health_run api "$MEM_PID" "$MEM_PORT" >"$WORK/run"
  read -r rps _ <"$WORK/run"; API_RPS+=("$rps"); API_HEALTH=$(<"$WORK/run")
  health_run base "$BASE_PID" "$BASE_PORT" >"$WORK/run"
  read -r rps _ <"$WORK/run"; BASE_RPS+=("$rps"); BASE_HEALTH=$(<"$WORK/run")
  health_run express "$EXPRESS_PID" "$EXPRESS_PORT" >"$WORK/run"
  read -r rps _ <"$WORK/run"; EXPRESS_RPS+=("$rps"); EXPRESS_HEALTH=$(<"$WORK/run")
done
per_cpu_s() { awk -v r="${REQUESTS[$1]}" -v t="${CPU_TICKS[$1]}" -v hz="$TICKS" 'BEGIN { printf "%.0f", r / (t / hz) }'; }
API_PER_CPU=$(per_cpu_s api)
BASE_PER_CPU=$(per_cpu_s base)
EXPRESS_PER_CPU=$(per_cpu_s express)
API_MEAN=$(mean "${API_RPS[@]}")
BASE_MEAN=$(mean "${BASE_RPS[@]}")
EXPRESS_MEAN=$(mean "${EXPRESS_RPS[@]}")

# The in-memory store under the store rows' load, for comparison with PostgreSQL below.
echo "in-memory store: list, create" >&2
seed_http "$MEM_PORT" 1000
WRK_CONNECTIONS=$CONCURRENCY
MEM_LIST=$(run_wrk mem-list "http://127.0.0.1:$MEM_PORT/api/tasks?limit=$PAGE")
MEM_POST=$(run_wrk mem-post "http://127.0.0.1:$MEM_PORT/api/tasks" -s "$WORK/post.lua")
MEM_HWM=$(hwm_mib "$MEM_PID")
stop "$MEM_PID"
for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
PIDS=()

# ==== 2. The PostgreSQL store against pgbench on the same server =================================
PSQL=("$PG_BIN/psql" -qAtX -v ON_ERROR_STOP=1)
"${PSQL[@]}" "$TEST_DATABASE_URL" -c "CREATE DATABASE bench"
DB_URL="${TEST_DATABASE_URL%/*}/bench"

# seed N: N tasks straight into the table, counted in the ledger row as tasks from before the
# counter shards are (api-app/src/tasks/store/migrations/0003_counter_shards.sql).
seed() {
  "${PSQL[@]}" "$DB_URL" <<SQL
TRUNCATE tasks;
INSERT INTO tasks (id, title) SELECT gen_random_uuid(), 'seed task ' || g FROM generate_series(1, $1) g;
UPDATE task_counts SET total = $1, completed = 0;
UPDATE task_count_shards SET total = 0, completed = 0, budget = 0, max_tasks = 0;
VACUUM ANALYZE tasks;
SQL
}

# api-app's own page statement (LIST_BY_OFFSET in api-app/src/tasks/store/postgres.rs, as it sends it
# for the first page of $PAGE: one row more than the page; tests/contract/bench.rs keeps them equal).
LIST_SQL="SELECT t.id, t.title, t.completed, t.created_at, t.updated_at, t.version, t.seq, n.total FROM (SELECT (c.total - s.budget + s.total)::bigint AS total FROM task_counts c, (SELECT sum(budget) AS budget, sum(total) AS total FROM task_count_shards) s) n LEFT JOIN LATERAL (SELECT id, title, completed, created_at, updated_at, version, seq FROM tasks WHERE 0 < n.total ORDER BY seq LIMIT $((PAGE + 1)) OFFSET 0) t ON true;"
# PostgreSQL's floor for a durable create: a plain INSERT of one row into the same table.
INSERT_SQL="INSERT INTO tasks (id, title) VALUES (gen_random_uuid(), 'benchmark task');"

start_api DATABASE_URL="$DB_URL" DATABASE_POOL_MAX="$CONCURRENCY"   # migrates the bench database
PG_PID=$API_PID
SAMPLE_PID=$PG_PID
seed 1000
wrk -t"$THREADS" -c"$CONCURRENCY" -d2s "http://127.0.0.1:$API_PORT/api/tasks?limit=$PAGE" >/dev/null
# pgbench and the app alternate, as the health servers do: one 10 s run each moved the ratio by
# ±0.05 with whatever else the machine did.
PG_LIST_RUNS=() APP_LIST_RUNS=()
for round in $(seq "$ROUNDS"); do
  echo "1 000 tasks, round $round/$ROUNDS: pgbench page, api-app page" >&2
  PG_LIST_RUNS+=("$(pgbench_tps "pg-list-$round" "$LIST_SQL")")
  APP_LIST=$(run_wrk "app-list-$round" "http://127.0.0.1:$API_PORT/api/tasks?limit=$PAGE")
  APP_LIST_RUNS+=("${APP_LIST%% *}")
done
PG_LIST=$(mean "${PG_LIST_RUNS[@]}")
APP_LIST_MEAN=$(mean "${APP_LIST_RUNS[@]}")
echo "creates: pgbench plain INSERT, api-app" >&2
PG_INSERT=$(pgbench_tps pg-insert "$INSERT_SQL")
seed 1000
APP_POST=$(run_wrk app-post "http://127.0.0.1:$API_PORT/api/tasks" -s "$WORK/post.lua")

echo "$DEEP tasks: first page, last page" >&2
seed "$DEEP"
# The last page as a client reaches it: by the cursor the API hands out when it has one, else by
# offset. The walk runs at 1 000 per page, then the page before the last $PAGE tasks.
read -r PAGING LAST_PATH < <(python3 - "$API_PORT" "$DEEP" "$PAGE" <<'PY'
import http.client, json, sys, urllib.parse
port, total, page = (int(a) for a in sys.argv[1:])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
def get(path):
    conn.request("GET", path)
    res = conn.getresponse()
    body = res.read()
    assert res.status == 200, (path, res.status, body)
    return json.loads(body)
first = get("/api/tasks?limit=1")
if "next_cursor" not in first:
    print("offset", f"/api/tasks?limit={page}&offset={total - page}")
    sys.exit()
seen, cursor = 0, None
while seen < total - page:
    limit = min(1000, total - page - seen)
    query = {"limit": limit} | ({"cursor": cursor} if cursor else {})
    got = get("/api/tasks?" + urllib.parse.urlencode(query))
    seen += len(got["items"])
    cursor = got["next_cursor"]
print("cursor", "/api/tasks?" + urllib.parse.urlencode({"limit": page, "cursor": cursor}))
PY
)
LAST_ITEMS=$(curl -fsS "http://127.0.0.1:$API_PORT$LAST_PATH" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')
[[ $LAST_ITEMS -eq $PAGE ]] || fail "the last page ($LAST_PATH) holds $LAST_ITEMS tasks, not $PAGE"
APP_FIRST=$(run_wrk app-first "http://127.0.0.1:$API_PORT/api/tasks?limit=$PAGE")
APP_LAST=$(run_wrk app-last "http://127.0.0.1:$API_PORT$LAST_PATH")
# The documented cost of offset, for comparison: the same last page by offset reads every task before it.
APP_LAST_OFFSET=$(run_wrk app-last-offset "http://127.0.0.1:$API_PORT/api/tasks?limit=$PAGE&offset=$((DEEP - PAGE))")
PG_HWM=$(hwm_mib "$PG_PID")
PG_RSS_SAMPLES=$(cat "$WORK"/app-*.rss | sort -n | tail -n 1)
stop "$PG_PID"
PIDS=()
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ==== 3. The table, the details, and the machine-readable values ================================
rps() { echo "${1%% *}"; }
HEALTH_VS_ACTIX=$(ratio "$API_MEAN" "$BASE_MEAN")
HEALTH_VS_EXPRESS=$(ratio "$API_MEAN" "$EXPRESS_MEAN")
HEALTH_CPU_VS_ACTIX=$(ratio "$API_PER_CPU" "$BASE_PER_CPU")
HEALTH_CPU_VS_EXPRESS=$(ratio "$API_PER_CPU" "$EXPRESS_PER_CPU")
LIST_VS_PGBENCH=$(ratio "$APP_LIST_MEAN" "$PG_LIST")
CREATE_VS_INSERT=$(ratio "$(rps "$APP_POST")" "$PG_INSERT")
LAST_VS_FIRST=$(ratio "$(rps "$APP_LAST")" "$(rps "$APP_FIRST")")
WHEN=$(date -u +%Y-%m-%dT%H:%MZ)
CPU=$(lscpu | awk -F: '/^Model name/ { gsub(/^ +/, "", $2); print $2; exit }')
PG_VERSION=$("$PG_BIN/postgres" --version | awk '{print $3}')

python3 - "$WORK/ratios.json" <<PY
import json, sys
row = lambda what, ratio, target, app, peer: {"what": what, "ratio": ratio, "target": target, "app": app, "peer": peer}
doc = {
    "recorded_at": "$WHEN",
    "machine": "$CPU, nproc $(nproc)",
    "load_average": {"before": "$LOAD_BEFORE", "after": "$LOAD_AFTER"},
    "command": "scripts/bench.sh",
    "tolerance": $TOLERANCE,
    "ratios": {
        "health_vs_actix": row("GET /api/health vs a bare actix-web hello-world", $HEALTH_VS_ACTIX, 0.9, $API_MEAN, $BASE_MEAN),
        "health_vs_express": row("GET /api/health vs the Express peer", $HEALTH_VS_EXPRESS, 15, $API_MEAN, $EXPRESS_MEAN),
        "health_per_cpu_vs_actix": row("GET /api/health per CPU second of the server, vs bare actix-web", $HEALTH_CPU_VS_ACTIX, 0.9, $API_PER_CPU, $BASE_PER_CPU),
        "health_per_cpu_vs_express": row("GET /api/health per CPU second of the server, vs Express", $HEALTH_CPU_VS_EXPRESS, 15, $API_PER_CPU, $EXPRESS_PER_CPU),
        "list_vs_pgbench": row("GET /api/tasks?limit=$PAGE vs pgbench running the same page query", $LIST_VS_PGBENCH, 0.6, $APP_LIST_MEAN, $PG_LIST),
        "create_vs_pgbench_insert": row("POST /api/tasks vs pgbench running a plain INSERT of one row", $CREATE_VS_INSERT, 0.5, $(rps "$APP_POST"), $PG_INSERT),
        "last_page_vs_first_page": row("the last page of $DEEP tasks vs the first page ($PAGING)", $LAST_VS_FIRST, 0.8, $(rps "$APP_LAST"), $(rps "$APP_FIRST")),
    },
    "rss_under_load_mib": {"what": "RSS under load, on PostgreSQL (peak of the run)", "value": $PG_HWM, "max": 32},
}
json.dump(doc, open(sys.argv[1], "w"), indent=2)
open(sys.argv[1], "a").write("\n")
PY

met() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { ok = (op == "min") ? v >= t : v <= t; print ok ? "met" : "**not met**" }'; }
row() { # LABEL "rps p50 p99 non2xx errors"
  read -r rps p50 p99 non2xx errors _ <<<"$2"
  printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$rps" "$p50" "$p99" "$non2xx" "$errors"
}
{
  echo "# Benchmark results"
  echo
  echo "Written by \`scripts/bench.sh\` (\`make bench\`) on $WHEN, every row from this one run. How to read"
  echo "and rerun it: [README.md](README.md)."
  echo
  echo "| What | api-app | peer | ratio | target | |"
  echo "|---|---:|---:|---:|---:|---|"
  echo "| \`GET /api/health\` vs a bare actix-web hello-world | $API_MEAN req/s | $BASE_MEAN req/s | **${HEALTH_VS_ACTIX}×** | ≥ 0.9× | $(met "$HEALTH_VS_ACTIX" 0.9 min) |"
  echo "| \`GET /api/health\` vs the Express peer | $API_MEAN req/s | $EXPRESS_MEAN req/s | **${HEALTH_VS_EXPRESS}×** | ≥ 15× | $(met "$HEALTH_VS_EXPRESS" 15 min) |"
  echo "| the same, per CPU second of the server: vs bare actix-web | $API_PER_CPU req/CPU-s | $BASE_PER_CPU req/CPU-s | **${HEALTH_CPU_VS_ACTIX}×** | ≥ 0.9× | $(met "$HEALTH_CPU_VS_ACTIX" 0.9 min) |"
  echo "| the same, per CPU second of the server: vs Express | $API_PER_CPU req/CPU-s | $EXPRESS_PER_CPU req/CPU-s | **${HEALTH_CPU_VS_EXPRESS}×** | ≥ 15× | $(met "$HEALTH_CPU_VS_EXPRESS" 15 min) |"
  echo "| \`GET /api/tasks?limit=$PAGE\` vs pgbench running the same page query | $APP_LIST_MEAN req/s | $PG_LIST tx/s | **${LIST_VS_PGBENCH}×** | ≥ 0.6× | $(met "$LIST_VS_PGBENCH" 0.6 min) |"
  echo "| \`POST /api/tasks\` vs pgbench running a plain INSERT of one row | $(rps "$APP_POST") req/s | $PG_INSERT tx/s | **${CREATE_VS_INSERT}×** | ≥ 0.5× | $(met "$CREATE_VS_INSERT" 0.5 min) |"
  echo "| the last page of $DEEP tasks vs the first page (by $PAGING) | $(rps "$APP_LAST") req/s | $(rps "$APP_FIRST") req/s | **${LAST_VS_FIRST}×** | ≥ 0.8× | $(met "$LAST_VS_FIRST" 0.8 min) |"
  echo "| RSS under load, on PostgreSQL (peak of the run) | $PG_HWM MiB | | | ≤ 32 MiB | $(met "$PG_HWM" 32 max) |"
  echo
  echo "Requests per CPU second divide each server's requests by the CPU time it used (user and system,"
  echo "every thread, from \`/proc/PID/stat\`): unlike req/s, they do not depend on how much of the shared"
  echo "cores a server got, which on a busy machine favours the process with more threads."
  echo
  echo "The same values are in [ratios.json](ratios.json), which the \`bench\` workflow compares each pull"
  echo "request's run against (\`scripts/bench.sh --check\`: a ratio more than ${TOLERANCE} below its recorded"
  echo "value, or RSS over its ceiling, fails)."
  echo
  echo "## Machine and settings"
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| CPU | $CPU, \`nproc\` = $(nproc), $(free -h | awk '/^Mem:/ { print $2 }') |"
  echo "| Load average (1, 5, 15 min) | before the run $LOAD_BEFORE; after it $LOAD_AFTER |"
  echo "| Toolchain | $(rustc --version) |"
  echo "| Build | \`cargo build --profile $PROFILE\` (release, thin LTO, 16 codegen units) |"
  echo "| Servers | WORKERS=$WORKERS for api-app and the baseline; Express $(node -p 'require("./tools/node_modules/express/package.json").version') on Node $(node --version), one process; api-app with LOG_FORMAT=json RUST_LOG=info (one access-log line per request, to a file) |"
  echo "| Health rows | $(wrk --version 2>&1 | head -1 | awk '{print $1, $2}'), $THREADS threads, $CONNECTIONS connections, ${DURATION} s per run, the three servers alternating for $ROUNDS rounds after a 2 s warm-up each; ratio of the means |"
  echo "| Store rows | PostgreSQL $PG_VERSION on loopback, fsync and synchronous_commit on; $CONCURRENCY clients everywhere (wrk connections, pgbench clients \`-M prepared\`, \`DATABASE_POOL_MAX\`), ${DURATION} s per run; the page row alternates pgbench and the app for $ROUNDS rounds (ratio of the means; app rounds ${APP_LIST_RUNS[*]} req/s) |"
  echo
  echo "## Every run"
  echo
  echo "| Run | req/s | p50 | p99 | non-2xx | socket errors |"
  echo "|---|---:|---:|---:|---:|---:|"
  row "GET /api/health, api-app (last round)" "$API_HEALTH"
  row "GET /api/health, bare actix-web (last round)" "$BASE_HEALTH"
  row "GET /api/health, Express (last round)" "$EXPRESS_HEALTH"
  row "PostgreSQL: GET /api/tasks?limit=$PAGE, 1 000 tasks (last round)" "$APP_LIST"
  row "PostgreSQL: POST /api/tasks" "$APP_POST"
  row "PostgreSQL: first page, $DEEP tasks" "$APP_FIRST"
  row "PostgreSQL: last page, $DEEP tasks ($PAGING)" "$APP_LAST"
  row "PostgreSQL: last page, $DEEP tasks (offset, for comparison)" "$APP_LAST_OFFSET"
  row "memory: GET /api/tasks?limit=$PAGE, 1 000 tasks" "$MEM_LIST"
  row "memory: POST /api/tasks" "$MEM_POST"
  echo
  echo "| pgbench (the same server, $CONCURRENCY clients) | tx/s |"
  echo "|---|---:|"
  echo "| api-app's page statement (mean of the rounds: ${PG_LIST_RUNS[*]}) | $PG_LIST |"
  echo "| a plain INSERT of one row | $PG_INSERT |"
  echo
  echo "| Health round | api-app | bare actix-web | Express | vs actix | vs Express |"
  echo "|---|---:|---:|---:|---:|---:|"
  for i in "${!API_RPS[@]}"; do
    echo "| $((i + 1)) | ${API_RPS[$i]} | ${BASE_RPS[$i]} | ${EXPRESS_RPS[$i]} | $(ratio "${API_RPS[$i]}" "${BASE_RPS[$i]}") | $(ratio "${API_RPS[$i]}" "${EXPRESS_RPS[$i]}") |"
  done
  echo
  echo "| Memory and start-up | |"
  echo "|---|---:|"
  echo "| RSS idle (in-memory store, ready, no tasks) | $IDLE_RSS MiB |"
  echo "| RSS on PostgreSQL: highest sample halfway through a run / peak of the run (VmHWM) | $PG_RSS_SAMPLES / $PG_HWM MiB |"
  echo "| Peak RSS, in-memory store, after its create run (it holds every task created) | $MEM_HWM MiB |"
  echo "| Start to ready (spawn until \`/readyz\` = 200, polled every 5 ms) | $START_MS ms |"
  echo
  echo "Reproduce: \`make bench\` (or \`scripts/bench.sh\`; \`BENCH_DURATION\`, \`BENCH_ROUNDS\`,"
  echo "\`BENCH_CONNECTIONS\`, \`BENCH_CONCURRENCY\` change the load)."
} >"$WORK/results.md"

if [[ $MODE == record ]]; then
  cp "$WORK/ratios.json" "$JSON_OUT"
  cp "$WORK/results.md" "$OUT"
  cat "$OUT"
  exit 0
fi

cp "$WORK/results.md" "$OUT"
# --check: every recorded ratio against this run's, and RSS against its ceiling.
python3 - "$RECORDED" "$WORK/ratios.json" "$TOLERANCE" <<'PY'
import json, sys
recorded, measured = (json.load(open(p)) for p in sys.argv[1:3])
tolerance = float(sys.argv[3])
failed = []
print(f"| Row | recorded | this run | floor (recorded × {1 - tolerance:.2f}) | |")
print("|---|---:|---:|---:|---|")
for key, was in recorded["ratios"].items():
    now = measured["ratios"][key]["ratio"]
    floor = was["ratio"] * (1 - tolerance)
    ok = now >= floor
    failed += [] if ok else [key]
    print(f"| {was['what']} | {was['ratio']:.2f} | {now:.2f} | {floor:.2f} | {'ok' if ok else '**below**'} |")
rss, ceiling = measured["rss_under_load_mib"]["value"], recorded["rss_under_load_mib"]["max"]
print(f"| RSS under load on PostgreSQL (MiB) | {recorded['rss_under_load_mib']['value']} | {rss} | ≤ {ceiling} | {'ok' if rss <= ceiling else '**over**'} |")
failed += [] if rss <= ceiling else ["rss_under_load_mib"]
if failed:
    sys.exit(f"bench: below the recorded values: {', '.join(failed)}")
PY
