#!/usr/bin/env bash
# api-app's CPU at fixed request rates of the soak's mix, on PostgreSQL: what the Deployment's CPU
# request is set from (k8s/base/api-app/deployment.yaml). Samples the process's CPU time every second
# and reports, per rate, the 50th and 95th percentile and the maximum of the per-second millicores,
# and the CPU milliseconds per request. Writes bench/CPU.md. Not part of `make test`.
#
#   bench/cpu.sh                          # rates 50, 200 and 800 req/s, 60 s each
#   CPU_RATES="200" CPU_SECS=120 bench/cpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -n ${TEST_DATABASE_URL:-} ]] || PG_DURABLE=1 exec scripts/with-postgres.sh "$0" "$@"
. scripts/lib.sh

RATES=${CPU_RATES:-50 200 800}
SECS=${CPU_SECS:-60}
CONNECTIONS=${CPU_CONNECTIONS:-10}
PROFILE=bench-local
OUT=${CPU_OUT:-bench/CPU.md}
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
KEY=cpu-bench-key-0123456789abcdef
TICKS=$(getconf CLK_TCK)

command -v wrk >/dev/null || { echo "cpu: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo build --locked --quiet --profile "$PROFILE" -p api-app --bin api-app

scratch_for_app # WORK, and APP_PID once an app runs: both cleaned up on exit

"$PG_BIN/psql" -qAtX -v ON_ERROR_STOP=1 "$TEST_DATABASE_URL" -c "CREATE DATABASE cpu"
PORT=$(free_port) ADMIN_PORT=$(free_port)
# As in the pods: the default worker count and pool size, JSON logs at info (the access log is work too).
env -i PATH="$PATH" HOST=127.0.0.1 PORT="$PORT" ADMIN_PORT="$ADMIN_PORT" APP_ENV=local LOG_FORMAT=json RUST_LOG=info \
  SHUTDOWN_DRAIN_SECS=0 API_KEY="$KEY" DATABASE_URL="${TEST_DATABASE_URL%/*}/cpu" \
  "$TARGET/$PROFILE/api-app" >"$WORK/api-app.log" 2>&1 &
APP_PID=$!
wait_ready "http://127.0.0.1:$ADMIN_PORT/readyz"

# CPU ticks (user + system) the process has used so far.
ticks() { awk '{ print $14 + $15 }' "/proc/$APP_PID/stat"; }

ROWS=
for rate in $RATES; do
  delay=$((CONNECTIONS * 1000 / rate))
  echo "cpu: ${rate} req/s (${CONNECTIONS} connections, ${delay} ms apart) for ${SECS}s" >&2
  CPU_DELAY_MS=$delay SOAK_KEY=$KEY wrk -t2 -c"$CONNECTIONS" -d"${SECS}s" --timeout 5s \
    -s bench/cpu-rate.lua "http://127.0.0.1:$PORT" >"$WORK/wrk-$rate.txt" 2>&1 &
  WRK_PID=$!
  sleep 2 # warm-up, not sampled
  : >"$WORK/samples-$rate.txt"
  prev=$(ticks)
  while kill -0 "$WRK_PID" 2>/dev/null; do
    sleep 1
    kill -0 "$WRK_PID" 2>/dev/null || break
    now=$(ticks)
    echo $(((now - prev) * 1000 / TICKS)) >>"$WORK/samples-$rate.txt"
    prev=$now
  done
  wait "$WRK_PID"
  grep -q "every response had an expected status" "$WORK/wrk-$rate.txt" ||
    { echo "cpu: unexpected statuses at ${rate} req/s:" >&2; cat "$WORK/wrk-$rate.txt" >&2; exit 1; }
  rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$WORK/wrk-$rate.txt")
  read -r p50 p95 max mean < <(sort -n "$WORK/samples-$rate.txt" | awk '
    { v[NR] = $1; sum += $1 }
    END { i50 = int(NR * 0.50 + 0.5); i95 = int(NR * 0.95 + 0.5); if (i50 < 1) i50 = 1; if (i95 < 1) i95 = 1
          printf "%d %d %d %.0f\n", v[i50], v[i95], v[NR], sum / NR }')
  per_req=$(awk -v m="$mean" -v r="$rps" 'BEGIN { printf "%.2f", (r > 0 ? m / r : 0) }')
  ROWS+="| ${rate} | ${rps} | ${p50} | **${p95}** | ${max} | ${per_req} |"$'\n'
done

cat >"$OUT" <<MD
# CPU of api-app at fixed request rates

Written by \`bench/cpu.sh\` on $(date -u +%Y-%m-%dT%H:%MZ). The soak's mix (\`scripts/soak/mix.lua\`: lists,
creates, reads, patches, deletes, echo, health, stats) at a fixed pace (${CONNECTIONS} connections, each
waiting between requests), against api-app built with \`--profile bench-local\` on PostgreSQL
(\`scripts/with-postgres.sh\`, durable), default workers and pool, JSON logs at info. CPU is the
process's user + system time, sampled every second for ${SECS} s after a 2 s warm-up. Machine:
$(nproc) cores, shared with wrk and PostgreSQL (and other jobs): numbers are upper bounds.

| Target req/s | Measured req/s | CPU p50 (m) | CPU p95 (m) | CPU max (m) | CPU ms per request |
|---:|---:|---:|---:|---:|---:|
${ROWS}
The Deployment's CPU request is the p95 at the design rate (k8s/base/api-app/deployment.yaml says
which), rounded up to the next 50m; there is no CPU limit, so bursts above it use the node's idle CPU.
MD
echo "cpu: wrote $OUT" >&2
