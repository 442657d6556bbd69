#!/usr/bin/env bash
# Load benchmark: wrk against optimised builds of api-app and of a bare actix-web
# baseline (api-app/examples/baseline.rs), side by side in one run, on loopback.
# Writes bench/RESULTS.md. Not part of `make test`: numbers are recorded, not asserted, except that
# the health ratio below BENCH_MIN_RATIO (default 0.6) fails the run.
#
#   scripts/bench.sh                      # or: make bench
#   BENCH_DURATION=20 BENCH_CONNECTIONS=128 scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

DURATION=${BENCH_DURATION:-10}        # seconds per wrk run
CONNECTIONS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}           # wrk threads
WORKERS=${BENCH_WORKERS:-2}           # server workers, the same for api-app and the baseline
ROUNDS=${BENCH_ROUNDS:-2}             # health: api-app and baseline alternate this many times
MIN_RATIO=${BENCH_MIN_RATIO:-0.6}
PROFILE=bench-local                   # Cargo.toml: release with thin LTO, quicker to build
OUT=${BENCH_OUT:-bench/RESULTS.md}
mkdir -p "$(dirname "$OUT")"
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
KEY=bench-key-0123456789abcdef

command -v wrk >/dev/null || { echo "bench: wrk is not installed (apt-get install wrk)" >&2; exit 1; }

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

rss_mib() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
now_ns() { date +%s%N; }

# ready_after_ms PORT PID -> milliseconds from $STARTED_NS until /readyz (on the admin port PORT)
# answered 200 (bounded: 10 s)
ready_after_ms() {
  local port=$1 pid=$2
  for _ in $(seq 2000); do
    if curl -fs -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; then
      echo $((($(now_ns) - STARTED_NS) / 1000000))
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { echo "bench: the process exited" >&2; return 1; }
    sleep 0.005
  done
  echo "bench: not ready within 10 s" >&2
  return 1
}

# start_api PORT [VAR=VALUE...] -> sets API_PID and READY_MS
start_api() {
  local port=$1
  shift
  STARTED_NS=$(now_ns)
  local admin
  admin=$(free_port)
  env -i PATH="$PATH" HOST=127.0.0.1 PORT="$port" ADMIN_PORT="$admin" APP_ENV=local LOG_FORMAT=json \
    RUST_LOG=info WORKERS="$WORKERS" SHUTDOWN_DRAIN_SECS=0 API_KEY="$KEY" "$@" \
    "$API_BIN" >>"$WORK/api-app.log" 2>&1 &
  API_PID=$!
  PIDS+=("$API_PID")
  READY_MS=$(ready_after_ms "$admin" "$API_PID")
}

stop() { kill "$1"; wait "$1" 2>/dev/null || true; }

# run_wrk NAME URL [wrk args...] -> writes $WORK/NAME.txt; prints "rps p50 p99 non2xx errors"
run_wrk() {
  local name=$1 url=$2
  shift 2
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@" "$url" >"$WORK/$name.txt"
  awk '
    /Requests\/sec:/                   { rps = $2 }
    /^ +50%/                           { p50 = $2 }
    /^ +99%/                           { p99 = $2 }
    /Non-2xx or 3xx responses:/        { non2xx = $5 }
    /Socket errors:/                   { errors = $4 + $6 + $8 + $10 }
    END { printf "%s %s %s %d %d\n", rps, p50, p99, non2xx, errors }
  ' "$WORK/$name.txt"
}

cat >"$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"title":"benchmark task","completed":false}'
wrk.headers["Content-Type"] = "application/json"
LUA

# --- health: api-app vs the baseline, alternating, same workers, same wrk --------------------------
API_PORT=$(free_port)
BASE_PORT=$(free_port)
start_api "$API_PORT" MAX_TASKS=10000000
START_MS=$READY_MS
IDLE_RSS=$(sleep 1 && rss_mib "$API_PID")
PORT=$BASE_PORT WORKERS=$WORKERS "$BASE_BIN" >/dev/null 2>&1 &
BASE_PID=$!
PIDS+=("$BASE_PID")
for _ in $(seq 200); do curl -fs -o /dev/null "http://127.0.0.1:$BASE_PORT/api/health" && break; sleep 0.02; done

echo "warming up" >&2
wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "http://127.0.0.1:$API_PORT/api/health" >/dev/null
wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "http://127.0.0.1:$BASE_PORT/api/health" >/dev/null

API_RPS=()
BASE_RPS=()
for round in $(seq "$ROUNDS"); do
  echo "health round $round/$ROUNDS" >&2
  read -r rps p50 p99 non2xx errors < <(run_wrk "api-health-$round" "http://127.0.0.1:$API_PORT/api/health")
  API_RPS+=("$rps"); API_HEALTH="$rps $p50 $p99 $non2xx $errors"
  read -r rps p50 p99 non2xx errors < <(run_wrk "base-health-$round" "http://127.0.0.1:$BASE_PORT/api/health")
  BASE_RPS+=("$rps"); BASE_HEALTH="$rps $p50 $p99 $non2xx $errors"
done
stop "$BASE_PID"
mean() { printf '%s\n' "$@" | awk '{ s += $1 } END { printf "%.0f", s / NR }'; }
API_MEAN=$(mean "${API_RPS[@]}")
BASE_MEAN=$(mean "${BASE_RPS[@]}")
RATIO=$(awk -v a="$API_MEAN" -v b="$BASE_MEAN" 'BEGIN { printf "%.2f", a / b }')

# --- tasks: 1000 stored, then list pages of 50; then creates --------------------------------------
echo "storing 1000 tasks" >&2
python3 - "$API_PORT" <<'PY'
import http.client, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
for i in range(1000):
    conn.request("POST", "/api/tasks", body=f'{{"title":"seed task {i}"}}',
                 headers={"content-type": "application/json"})
    res = conn.getresponse()
    res.read()
    assert res.status == 201, res.status
PY
echo "GET /api/tasks?limit=50" >&2
LIST=$(run_wrk list "http://127.0.0.1:$API_PORT/api/tasks?limit=50")
echo "POST /api/tasks" >&2
POST=$(run_wrk post "http://127.0.0.1:$API_PORT/api/tasks" -s "$WORK/post.lua")
CREATED=$(curl -fs "http://127.0.0.1:$API_PORT/api/tasks?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
stop "$API_PID"

# --- RSS with 100 000 tasks ----------------------------------------------------------------------
echo "filling a fresh api-app to 100 000 tasks" >&2
FILL_PORT=$(free_port)
start_api "$FILL_PORT" MAX_TASKS=100000
TOTAL=0
for _ in $(seq 20); do
  wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -s "$WORK/post.lua" "http://127.0.0.1:$FILL_PORT/api/tasks" >/dev/null
  TOTAL=$(curl -fs "http://127.0.0.1:$FILL_PORT/api/tasks?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
  [[ $TOTAL -ge 100000 ]] && break
done
[[ $TOTAL -eq 100000 ]] || { echo "bench: only $TOTAL tasks stored" >&2; exit 1; }
sleep 1
FULL_RSS=$(rss_mib "$API_PID")
stop "$API_PID"

# --- report --------------------------------------------------------------------------------------
row() { # LABEL "rps p50 p99 non2xx errors"
  read -r rps p50 p99 non2xx errors <<<"$2"
  printf '| %s | %.0f | %s | %s | %s | %s |\n' "$1" "$rps" "$p50" "$p99" "$non2xx" "$errors"
}
CPU=$(lscpu | awk -F: '/^Model name/ { gsub(/^ +/, "", $2); print $2; exit }')
MEM=$(free -h | awk '/^Mem:/ { print $2 }')
{
  echo "# Benchmark results"
  echo
  echo "Written by \`scripts/bench.sh\` (\`make bench\`) on $(date -u +%Y-%m-%dT%H:%MZ). How to read and rerun"
  echo "it: [README.md](README.md)."
  echo
  echo "## Machine and settings"
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| CPU | $CPU, \`nproc\` = $(nproc) |"
  echo "| Memory | $MEM |"
  echo "| Kernel | $(uname -sr) |"
  echo "| Toolchain | $(rustc --version) |"
  echo "| Build | \`cargo build --profile $PROFILE\` (release, thin LTO, 16 codegen units) |"
  echo "| Load | $(wrk --version 2>&1 | head -1 | awk '{print $1, $2}'), ${THREADS} threads, ${CONNECTIONS} connections, ${DURATION} s per run, loopback; wrk shares the cores with the server |"
  echo "| Server | WORKERS=$WORKERS for both; api-app with LOG_FORMAT=json RUST_LOG=info (one access-log line per request, to a file) |"
  echo
  echo "## Throughput and latency"
  echo
  echo "| Endpoint | req/s | p50 | p99 | non-2xx | socket errors |"
  echo "|---|---:|---:|---:|---:|---:|"
  row "GET /api/health (api-app, last round)" "$API_HEALTH"
  row "GET /api/health (bare actix-web baseline, last round)" "$BASE_HEALTH"
  row "GET /api/tasks?limit=50 (1 000 tasks stored)" "$LIST"
  row "POST /api/tasks" "$POST"
  echo
  echo "POST created $((CREATED - 1000)) tasks in ${DURATION} s (store total $CREATED; MAX_TASKS=10000000)."
  echo
  echo "## api-app against the baseline (health)"
  echo
  echo "| Round | api-app req/s | baseline req/s | ratio |"
  echo "|---|---:|---:|---:|"
  for i in "${!API_RPS[@]}"; do
    printf '| %d | %.0f | %.0f | %.2f |\n' $((i + 1)) "${API_RPS[$i]}" "${BASE_RPS[$i]}" \
      "$(awk -v a="${API_RPS[$i]}" -v b="${BASE_RPS[$i]}" 'BEGIN { print a / b }')"
  done
  echo "| **mean** | **$API_MEAN** | **$BASE_MEAN** | **$RATIO** |"
  echo
  echo "Target ≥ 0.6×, goal 0.9×."
  echo
  echo "## Memory and start-up"
  echo
  echo "| Measure | Value |"
  echo "|---|---:|"
  echo "| RSS idle (ready, no tasks) | $IDLE_RSS MiB |"
  echo "| RSS with 100 000 tasks stored | $FULL_RSS MiB |"
  echo "| Start to ready (spawn until \`/readyz\` = 200, polled every 5 ms) | $START_MS ms |"
} >"$OUT"
cat "$OUT"

if awk -v r="$RATIO" -v m="$MIN_RATIO" 'BEGIN { exit !(r < m) }'; then
  echo "bench: health ratio $RATIO is below $MIN_RATIO" >&2
  exit 1
fi
