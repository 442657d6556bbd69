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
REQUEST_PATH=/api/health
. bench/callgrind.sh
build_with_symbols --bin api-app --example baseline

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
API_TOTAL=$(total "$WORK/api.out")
BASE_TOTAL=$(total "$WORK/base.out")
{
  echo "GET /api/health, $REQUESTS keep-alive requests, one worker, instructions (callgrind)"
  echo "api-app:  $API_TOTAL total, $((API_TOTAL / REQUESTS)) per request"
  echo "baseline: $BASE_TOTAL total, $((BASE_TOTAL / REQUESTS)) per request"
  echo
  echo "=== api-app, inclusive, per request, top entries ==="
  top "$WORK/api.out" "$REQUESTS" 150
  echo
  echo "=== baseline, inclusive, per request, top entries ==="
  top "$WORK/base.out" "$REQUESTS" 60
} >"$OUT"
head -n 3 "$OUT"
echo "written: $OUT" >&2
