# What bench/profile-health.sh and bench/profile-page.sh share: running a server under valgrind's
# callgrind and counting the instructions of a number of requests. Source it after setting
# REQUESTS (requests counted) and REQUEST_PATH (what each one GETs); it sets TARGET, where
# build_with_symbols builds, and makes WORK, a scratch directory removed on exit with the server
# still running, if any.
# shellcheck shell=bash

command -v valgrind >/dev/null || { echo "$(basename "$0"): valgrind is not installed" >&2; exit 1; }
# Their builds, with symbols, in a directory of their own (symbols change every crate's build
# flags), where the raw profiles are kept too.
TARGET=$PWD/target/prof

# build_with_symbols CARGO_TARGETS...: api-app's package built as `make bench` builds it, with line
# tables and unstripped, into $TARGET.
build_with_symbols() {
  echo "building with symbols into $TARGET" >&2
  CARGO_TARGET_DIR=$TARGET CARGO_PROFILE_BENCH_LOCAL_STRIP=none CARGO_PROFILE_BENCH_LOCAL_DEBUG=line-tables-only \
    cargo build --locked --quiet --profile bench-local -p api-app "$@"
}

WORK=$(mktemp -d)
PID=
cleanup() {
  if [[ -n $PID ]]; then kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# valgrind names its control pipes after $HOST, which is also api-app's listen address: one value
# for the profiled processes and callgrind_control alike.
export HOST=127.0.0.1
# shellcheck disable=SC2034 # the scripts that source this run their servers under it
CG=(valgrind --tool=callgrind --instr-atstart=no --dump-instr=no --separate-threads=no)

# send PORT N: N sequential GET $REQUEST_PATH on one keep-alive connection, each answered 200.
send() {
  python3 - "$1" "$2" "$REQUEST_PATH" <<'PY'
import http.client, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=60)
for _ in range(int(sys.argv[2])):
    conn.request("GET", sys.argv[3])
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
    curl -fs -o /dev/null "http://127.0.0.1:$port$REQUEST_PATH" 2>/dev/null && break
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

# total FILE: the instructions a callgrind output counted.
total() { awk '/^(summary|totals):/ { print $2; exit }' "$1"; }

# top FILE N MOST: the MOST costliest entries of FILE, inclusive, per request of N.
top() {
  callgrind_annotate --inclusive=yes --threshold=99 "$1" 2>/dev/null |
    awk -v n="$2" -v most="$3" '/^ *[0-9,]+ / && k++ < most { c = $1; gsub(",", "", c); $1 = ""; printf "%10d %s\n", c / n, $0 }'
}
