#!/usr/bin/env bash
# Reliability drills with tools nobody here wrote:
#   1. Schemathesis fuzzes a running api-app from its own /api/openapi.json: every check, the key
#      header supplied, a fixed seed, 100 examples per operation. Zero failures allowed.
#   2. Shutdown under load, for api-app and demo-app: wrk plus a recording client, SIGTERM mid-load
#      (scripts/drills/shutdown_under_load.py says exactly what passes).
# Loopback only; every wait is bounded. Debug builds: the drills check behaviour, not speed.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
export PATH="$PWD/.tools/venv/bin:$PATH"

SEED=${DRILL_SEED:-20261126}
EXAMPLES=${DRILL_EXAMPLES:-100}
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
WORK=$(mktemp -d)
APP_PID=
cleanup() {
  if [[ -n $APP_PID ]] && kill -0 "$APP_PID" 2>/dev/null; then kill "$APP_PID"; wait "$APP_PID" || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

for tool in schemathesis wrk python3; do
  command -v "$tool" >/dev/null || { echo "drills: $tool is not installed (scripts/install-tools.sh, apt wrk)" >&2; exit 1; }
done

cargo build --locked --quiet -p api-app -p demo-app --bins

# --- 1. Schemathesis against a running api-app --------------------------------------------------
KEY="drill-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
# Port 0, and the startup line (the port it bound) above the warn level the rest of the log keeps.
HOST=127.0.0.1 PORT=0 API_KEY=$KEY APP_ENV=local LOG_FORMAT=json RUST_LOG=warn,api_app::startup=info \
  SHUTDOWN_DRAIN_SECS=0 WORKERS=2 "$TARGET/debug/api-app" >"$WORK/api-app.log" 2>&1 &
APP_PID=$!
PORT=$(listening_port "$WORK/api-app.log")
wait_ready "http://127.0.0.1:$PORT/readyz"

if ! (cd "$WORK" && schemathesis run "http://127.0.0.1:$PORT/api/openapi.json" \
  --checks all --header "x-api-key: $KEY" --seed "$SEED" --max-examples "$EXAMPLES" \
  --workers 2 --request-timeout 10 --generation-database none --no-color \
  --report junit --report-dir "$WORK/report") >"$WORK/schemathesis.log" 2>&1; then
  cat "$WORK/schemathesis.log"
  echo "--- api-app log (last 20 lines)"; tail -n 20 "$WORK/api-app.log"
  echo "drills: Schemathesis found failures (seed $SEED)" >&2
  exit 1
fi
grep -E '^  [0-9]+ generated' "$WORK/schemathesis.log" | sed "s/^ */schemathesis (seed $SEED): /"
if grep -qiE 'panicked|handler panicked' "$WORK/api-app.log"; then
  grep -iE 'panicked' "$WORK/api-app.log" | head -5
  echo "drills: api-app panicked under Schemathesis" >&2
  exit 1
fi
kill -TERM "$APP_PID"
wait "$APP_PID" || { echo "drills: api-app did not exit 0 after Schemathesis" >&2; exit 1; }
APP_PID=

# --- 2. Shutdown under load ---------------------------------------------------------------------
for app in api-app demo-app; do
  scripts/drills/shutdown_under_load.py --app "$app" --bin "$TARGET/debug/$app" \
    --drain 2 --timeout 5 --log "$WORK/$app-shutdown.log"
done
