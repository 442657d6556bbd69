#!/usr/bin/env bash
# The limiters' memory under random trusted X-Forwarded-For values (issue 21 item 8): api-app with
# RATE_LIMITS=on behind a "proxy" (127.0.0.0/8 trusted), wrk sending every request as a new client
# that fails the key check. VmRSS before, during and after the load, then after a minute idle and a
# second, short load (the limiters sweep idle clients only while checks arrive).
#   bench/limiter-rss.sh BIN [LABEL]   (build with: cargo build --profile bench-local -p api-app)
# Prints one Markdown table row: label, requests/s, RSS before, at 10 s, at the end, peak, after.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
bin=${1:?usage: bench/limiter-rss.sh BIN [LABEL]}
label=${2:-$bin}
duration=${LIMITER_BENCH_SECS:-30}
command -v wrk >/dev/null || { echo "limiter-rss: wrk is not installed" >&2; exit 1; }
log=$(mktemp)
trap 'kill "$pid" 2>/dev/null || true; rm -f "$log"' EXIT
port=$(free_port) admin=$(free_port)
env -i PATH="$PATH" HOST=127.0.0.1 PORT="$port" ADMIN_PORT="$admin" APP_ENV=local RUST_LOG=warn LOG_FORMAT=json \
  API_KEY=limiter-bench-key-0123456789abcdef RATE_LIMITS=on AUTH_FAILURES_PER_MINUTE=10 \
  TRUSTED_PROXY_CIDRS=127.0.0.0/8 "$bin" >"$log" 2>&1 &
pid=$!
wait_ready "http://127.0.0.1:$admin/readyz"
rss() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status"; }
hwm() { awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status"; }
before=$(rss)
out=$(mktemp)
wrk -t2 -c64 -d"${duration}s" -s bench/limiter-xff.lua "http://127.0.0.1:$port" >"$out" 2>&1 &
wrk_pid=$!
sleep 10
at10=$(rss)
wait "$wrk_pid"
end=$(rss)
rate=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$out")
sleep 60
idle=$(rss)
wrk -t1 -c4 -d5s -s bench/limiter-xff.lua "http://127.0.0.1:$port" >/dev/null 2>&1
after=$(rss)
echo "| $label | $rate | $before | $at10 | $end | $(hwm) | $idle | $after |"
rm -f "$out"
