#!/usr/bin/env bash
# Soak test: minutes of high-concurrency mixed traffic against an optimised api-app, recording
# errors, timeouts and RSS over time. Writes bench/SOAK.md. Not part of `make test`.
#
#   scripts/soak.sh                        # or: make soak (4 minutes, 256 connections)
#   SOAK_DURATION=600 SOAK_CONNECTIONS=512 scripts/soak.sh
#
# The mix (scripts/soak/mix.lua): list pages, create, read, patch and delete tasks, echo, health and
# the protected stats. Each wrk thread deletes the tasks it created once it holds 300, so the store
# reaches a steady size and RSS should go flat once warmed. Any 5xx, unexpected status, socket error
# or timeout fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

DURATION=${SOAK_DURATION:-240}
CONNECTIONS=${SOAK_CONNECTIONS:-256}
THREADS=${SOAK_THREADS:-2}
WORKERS=${SOAK_WORKERS:-2}
SAMPLE=${SOAK_SAMPLE_SECS:-15}
PROFILE=bench-local
OUT=${SOAK_OUT:-bench/SOAK.md}
mkdir -p "$(dirname "$OUT")"
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
KEY=soak-key-0123456789abcdef

command -v wrk >/dev/null || { echo "soak: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo build --locked --quiet --profile "$PROFILE" -p api-app --bin api-app

scratch_for_app # WORK, and APP_PID once an app runs: both cleaned up on exit

# Port 0: the app binds what the kernel gives and logs it, so nothing can take it in between.
env -i PATH="$PATH" HOST=127.0.0.1 PORT=0 ADMIN_PORT=0 APP_ENV=local LOG_FORMAT=json RUST_LOG=info \
  WORKERS="$WORKERS" SHUTDOWN_DRAIN_SECS=0 API_KEY="$KEY" MAX_TASKS=100000 \
  "$TARGET/$PROFILE/api-app" >"$WORK/api-app.log" 2>&1 &
APP_PID=$!
PORT=$(listening_port "$WORK/api-app.log")
ADMIN_PORT=$(admin_port "$WORK/api-app.log")
wait_ready "http://127.0.0.1:$ADMIN_PORT/readyz"

rss_mib() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$APP_PID/status"; }
tasks() { curl -fs -m 5 "http://127.0.0.1:$PORT/api/tasks?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])' || echo "?"; }

echo "soaking api-app for ${DURATION}s with $CONNECTIONS connections" >&2
START=$(date +%s)
SOAK_KEY=$KEY wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 5s --latency \
  -s scripts/soak/mix.lua "http://127.0.0.1:$PORT" >"$WORK/wrk.txt" 2>&1 &
WRK_PID=$!
printf '| %s | %s | %s |\n' "0" "$(rss_mib)" "$(tasks)" >"$WORK/samples.md"
while kill -0 "$WRK_PID" 2>/dev/null; do
  sleep "$SAMPLE"
  kill -0 "$WRK_PID" 2>/dev/null || break
  printf '| %s | %s | %s |\n' "$(($(date +%s) - START))" "$(rss_mib)" "$(tasks)" >>"$WORK/samples.md"
done
wait "$WRK_PID"
printf '| %s (after) | %s | %s |\n' "$(($(date +%s) - START))" "$(rss_mib)" "$(tasks)" >>"$WORK/samples.md"

kill -TERM "$APP_PID"
EXIT=0
wait "$APP_PID" || EXIT=$?
APP_PID=
PANICS=$(grep -c 'panicked' "$WORK/api-app.log" || true)

# Steady state: RSS in the last sample against the sample a quarter of the way in.
read -r WARM LAST GROWTH < <(awk -F'|' 'NR > 1 { gsub(/ /, "", $3); v[++n] = $3 }
  END { w = v[int(n / 4) + 1]; l = v[n]; printf "%s %s %.1f\n", w, l, (l - w) * 100 / w }' "$WORK/samples.md")
CPU=$(lscpu | awk -F: '/^Model name/ { gsub(/^ +/, "", $2); print $2; exit }')
{
  echo "# Soak results"
  echo
  echo "Written by \`scripts/soak.sh\` (\`make soak\`) on $(date -u +%Y-%m-%dT%H:%MZ)."
  echo
  echo "Command: \`SOAK_DURATION=$DURATION SOAK_CONNECTIONS=$CONNECTIONS scripts/soak.sh\` — wrk, $THREADS threads,"
  echo "$CONNECTIONS connections, ${DURATION} s, 5 s request timeout, against api-app built with"
  echo "\`--profile $PROFILE\`, WORKERS=$WORKERS, MAX_TASKS=100000, LOG_FORMAT=json RUST_LOG=info. Machine: $CPU,"
  echo "\`nproc\` = $(nproc), $(free -h | awk '/^Mem:/ { print $2 }') memory; wrk and the server share the cores."
  echo
  echo "Mix per request (\`scripts/soak/mix.lua\`): 30 % \`GET /api/tasks?limit=20\`, 20 % \`POST /api/tasks\`"
  echo "(a \`DELETE\` of the thread's oldest task instead once it holds 300), 15 % \`GET /api/tasks/{id}\`,"
  echo "10 % \`PATCH /api/tasks/{id}\`, 10 % \`GET /api/echo\`, 10 % \`GET /api/health\`, 5 % \`GET /api/protected/stats\`."
  echo
  echo "## Errors and latency"
  echo
  echo '```'
  cat "$WORK/wrk.txt"
  echo '```'
  echo
  echo "api-app exited with $EXIT after SIGTERM; panics in its log: $PANICS."
  echo
  echo "## RSS over time"
  echo
  echo "| Seconds | RSS (MiB) | Tasks stored |"
  echo "|---:|---:|---:|"
  cat "$WORK/samples.md"
  echo
  echo "RSS from a quarter of the way in to the end: $WARM → $LAST MiB ($GROWTH %)."
} >"$OUT"
cat "$OUT"

FAIL=$(grep -E '^(soak|FAIL)' "$WORK/wrk.txt" || true)
if [[ $EXIT -ne 0 || $PANICS -ne 0 ]] || grep -qE 'Socket errors|Non-2xx|^soak: unexpected' "$WORK/wrk.txt"; then
  echo "soak: errors, timeouts, unexpected statuses or a bad exit (see $OUT) $FAIL" >&2
  exit 1
fi
