#!/usr/bin/env bash
# How far GET /api/health could get towards the bare actix-web baseline, in wall-clock terms: the
# committed api-app against two ablations of it and the baseline, alternating, on loopback.
#
#   api       api-app as `make bench` runs it (JSON access log at info)
#   no-log    the same binary with RUST_LOG=warn: every feature but the access-log line
#   no-layers a throwaway build of HEAD whose workers skip `wrap_platform_middleware!` (no request
#             id, security headers, metrics, access log, span, deadline, panic net, JSON-error net or
#             protocol rules): what the router, the handler and the connection bounds cost alone
#   base      api-app/examples/baseline.rs
#
#   bench/health-ablation.sh      # 4 rounds of 8 s; ABLATION_ROUNDS, ABLATION_DURATION change it
#
# api-app and the baseline are built from the working tree, no-layers from HEAD in a git worktree:
# commit a change before comparing it. Needs wrk. Not part of `make test` or `make bench`:
# bench/PROFILE.md records what it found.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ROUNDS=${ABLATION_ROUNDS:-4}
DURATION=${ABLATION_DURATION:-8}
PROFILE=bench-local
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
command -v wrk >/dev/null || { echo "health-ablation: wrk is not installed" >&2; exit 1; }

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  git worktree remove --force "$WORK/tree" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

build() { cargo build --locked --quiet --profile "$PROFILE" -p api-app "$@"; }

echo "building no-layers from HEAD in a worktree" >&2
git worktree add --quiet --detach "$WORK/tree" HEAD
wrapped='platform::wrap_platform_middleware!(app.into_app(), crate::error_codes())'
grep -qF "$wrapped" "$WORK/tree/api-app/src/startup.rs" ||
  { echo "health-ablation: startup.rs no longer wraps the app as this script expects" >&2; exit 1; }
startup=$(<"$WORK/tree/api-app/src/startup.rs")
printf '%s\n' "${startup/"$wrapped"/app.into_app()}" >"$WORK/tree/api-app/src/startup.rs"
(cd "$WORK/tree" && CARGO_TARGET_DIR=$TARGET build --bin api-app)
cp "$TARGET/$PROFILE/api-app" "$WORK/no-layers"
echo "building api-app and the baseline" >&2
build --bin api-app --example baseline

declare -A PID PORT
# start NAME COMMAND...: a server on a port of its own (RUST_LOG=warn would hide the line api-app
# reports a port of 0 with, so every server gets one picked here), logging to a file.
start() {
  local name=$1
  shift
  PORT[$name]=$(free_port)
  env PORT="${PORT[$name]}" "$@" >"$WORK/$name.log" 2>&1 &
  PID[$name]=$! PIDS+=($!)
}
api=(ADMIN_PORT=0 HOST=127.0.0.1 WORKERS=2 APP_ENV=local LOG_FORMAT=json SHUTDOWN_DRAIN_SECS=0)
start api "${api[@]}" RUST_LOG=info "$TARGET/$PROFILE/api-app"
start no-log "${api[@]}" RUST_LOG=warn "$TARGET/$PROFILE/api-app"
start no-layers "${api[@]}" RUST_LOG=info "$WORK/no-layers"
start base WORKERS=2 "$TARGET/$PROFILE/examples/baseline"

NAMES=(api no-log no-layers base)
body=
for name in "${NAMES[@]}"; do
  url="http://127.0.0.1:${PORT[$name]}/api/health"
  wait_ready "$url"
  # The same report from each (the uptime aside), as in `make bench`.
  got=$(curl -fsS "$url" | sed 's/"uptime_seconds":[0-9]*/"uptime_seconds":0/')
  [[ -z $body || $got == "$body" ]] || { echo "health-ablation: $name answers another body: $got" >&2; exit 1; }
  body=$got
  wrk -t2 -c64 -d2s "$url" >/dev/null
done

declare -A RPS REQUESTS CPU
for round in $(seq "$ROUNDS"); do
  line="round $round/$ROUNDS:"
  for name in "${NAMES[@]}"; do
    before=$(cpu_ticks "${PID[$name]}")
    wrk -t2 -c64 -d"${DURATION}s" "http://127.0.0.1:${PORT[$name]}/api/health" >"$WORK/wrk.txt"
    after=$(cpu_ticks "${PID[$name]}")
    read -r rps requests < <(awk '/Requests\/sec:/ { r = $2 } / requests in / { n = $1 } END { printf "%.0f %d\n", r, n }' "$WORK/wrk.txt")
    RPS[$name]="${RPS[$name]:-} $rps"
    REQUESTS[$name]=$((${REQUESTS[$name]:-0} + requests))
    CPU[$name]=$((${CPU[$name]:-0} + after - before))
    line+=" $name $rps"
  done
  echo "$line" >&2
done

hz=$(getconf CLK_TCK)
# shellcheck disable=SC2086 # the rounds' rates, one word each
for name in "${NAMES[@]}"; do
  echo "$name $(mean ${RPS[$name]}) $(awk -v r="${REQUESTS[$name]}" -v t="${CPU[$name]}" -v hz="$hz" 'BEGIN { printf "%.0f", r / (t / hz) }')"
done | awk -v rounds="$ROUNDS" -v secs="$DURATION" '
  { name[NR] = $1; rps[NR] = $2; cpu[NR] = $3 }
  END {
    printf "GET /api/health, %d rounds of %d s, 64 connections, servers alternating (wrk on loopback)\n\n", rounds, secs
    printf "| server | req/s (mean) | vs base | req per CPU-s | vs base |\n|---|---:|---:|---:|---:|\n"
    for (i = 1; i <= NR; i++)
      printf "| %s | %d | %.2f× | %d | %.2f× |\n", name[i], rps[i], rps[i] / rps[NR], cpu[i], cpu[i] / cpu[NR]
  }'
