#!/usr/bin/env bash
# Where GET /api/health spends what it loses to the bare actix-web baseline, in instructions per
# request (valgrind's callgrind counts instructions whatever the machine's load, where wrk's req/s
# moves with every other job on the cores). Builds both with symbols into target/prof, runs each
# under callgrind with one worker, sends the same keep-alive requests to each, and writes the
# inclusive cost of api-app's own functions next to the totals into bench/PROFILE-RAW.txt.
#
#   bench/profile-health.sh            # 3 000 requests each; PROFILE_REQUESTS, PROFILE_RUST_LOG change it
#   callgrind_annotate --tree=caller target/prof/health-api.callgrind   # who calls what
#
# Needs valgrind (apt-get install valgrind) and python3. Not part of `make test` or `make bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

REQUESTS=${PROFILE_REQUESTS:-3000}
OUT=${PROFILE_OUT:-bench/PROFILE-RAW.txt}
TARGET=$PWD/target/prof   # its own directory: symbols change every crate's build flags
command -v valgrind >/dev/null || { echo "profile-health: valgrind is not installed" >&2; exit 1; }

echo "building with symbols into $TARGET" >&2
CARGO_TARGET_DIR=$TARGET CARGO_PROFILE_BENCH_LOCAL_STRIP=none CARGO_PROFILE_BENCH_LOCAL_DEBUG=line-tables-only \
  cargo build --locked --quiet --profile bench-local -p api-app --bin api-app --example baseline

WORK=$(mktemp -d)
PID=
cleanup() {
  if [[ -n $PID ]]; then kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# send PORT N: N sequential GET /api/health on one keep-alive connection, each answered 200.
send() {
  python3 - "$1" "$2" <<'PY'
import http.client, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=60)
for _ in range(int(sys.argv[2])):
    conn.request("GET", "/api/health")
    res = conn.getresponse()
    res.read()
    assert res.status == 200, res.status
PY
}

# profile NAME PORT COMMAND...: starts COMMAND (under callgrind, not instrumented, on PORT),
# warms it up, collects over $REQUESTS requests, and dumps $WORK/NAME.out.
profile() {
  local name=$1 port=$2
  shift 2
  "$@" >"$WORK/$name.log" 2>&1 &
  PID=$!
  for _ in $(seq 600); do
    curl -fs -o /dev/null "http://127.0.0.1:$port/api/health" 2>/dev/null && break
    sleep 0.1
  done
  send "$port" 200
  callgrind_control -i on "$PID" >/dev/null
  send "$port" "$REQUESTS"
  callgrind_control -d "$PID" >/dev/null
  kill "$PID"
  wait "$PID" 2>/dev/null || true
  PID=
  # callgrind writes one file per dump, next to the first; the collected one is the last.
  cp "$(find "$WORK" -name "$name.cg*" | sort | tail -n 1)" "$WORK/$name.out"
}

# valgrind names its control pipes after $HOST, which is also api-app's listen address: one value
# for the profiled processes and callgrind_control alike.
export HOST=127.0.0.1
CG=(valgrind --tool=callgrind --instr-atstart=no --dump-instr=no --separate-threads=no)
echo "api-app under callgrind" >&2
port=$(free_port)
profile api "$port" env PORT="$port" APP_ENV=local LOG_FORMAT=json RUST_LOG="${PROFILE_RUST_LOG:-info}" \
  WORKERS=1 SHUTDOWN_DRAIN_SECS=0 "${CG[@]}" --callgrind-out-file="$WORK/api.cg" "$TARGET/bench-local/api-app"
echo "baseline under callgrind" >&2
port=$(free_port)
profile base "$port" env PORT="$port" WORKERS=1 "${CG[@]}" --callgrind-out-file="$WORK/base.cg" \
  "$TARGET/bench-local/examples/baseline"

# The raw profiles stay for callgrind_annotate (e.g. --tree=caller) in target/prof.
cp "$WORK/api.out" "$TARGET/health-api.callgrind"
cp "$WORK/base.out" "$TARGET/health-baseline.callgrind"
total() { awk '/^(summary|totals):/ { print $2; exit }' "$1"; }
API_TOTAL=$(total "$WORK/api.out")
BASE_TOTAL=$(total "$WORK/base.out")
{
  echo "GET /api/health, $REQUESTS keep-alive requests, one worker, instructions (callgrind)"
  echo "api-app:  $API_TOTAL total, $((API_TOTAL / REQUESTS)) per request"
  echo "baseline: $BASE_TOTAL total, $((BASE_TOTAL / REQUESTS)) per request"
  echo
  echo "=== api-app, inclusive, per request, top entries ==="
  callgrind_annotate --inclusive=yes --threshold=99 "$WORK/api.out" 2>/dev/null |
    awk -v n="$REQUESTS" -v most=150 '/^ *[0-9,]+ / && k++ < most { c = $1; gsub(",", "", c); $1 = ""; printf "%10d %s\n", c / n, $0 }'
  echo
  echo "=== baseline, inclusive, per request, top entries ==="
  callgrind_annotate --inclusive=yes --threshold=99 "$WORK/base.out" 2>/dev/null |
    awk -v n="$REQUESTS" -v most=60 '/^ *[0-9,]+ / && k++ < most { c = $1; gsub(",", "", c); $1 = ""; printf "%10d %s\n", c / n, $0 }'
} >"$OUT"
head -n 3 "$OUT"
echo "written: $OUT" >&2
