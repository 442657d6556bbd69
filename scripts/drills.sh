#!/usr/bin/env bash
# Reliability drills with tools nobody here wrote:
#   1. Schemathesis fuzzes a running api-app from its own /api/openapi.json: every check, the key
#      header supplied, a fixed seed, 100 examples per operation. Zero failures allowed. Once with
#      the in-memory store and once with PostgreSQL.
#   2. Shutdown under load, for api-app (on each store) and demo-app: wrk plus a recording client,
#      SIGTERM mid-load (scripts/drills/shutdown_under_load.py says exactly what passes).
#   3. Canary analysis: a real Prometheus scrapes a stable and two canary api-apps (one injecting
#      5xx) with the clusters' recording rules, and the AnalysisTemplate's own queries pass the healthy
#      canary and fail the faulty one in time (scripts/drills/canary_analysis.py). About a minute.
#   4. Abuse at the scale of issue 21 (pipelined answers never read, 2048 oversized heads,
#      MAX_CONNECTIONS held by idle keep-alive clients): RSS under 64 MiB and every probe on the
#      admin port answered within 1 s throughout (scripts/drills/abuse.py; figures in bench/ABUSE.md).
# Loopback only; every wait is bounded. Debug builds: the drills check behaviour, not speed.
set -euo pipefail
cd "$(dirname "$0")/.."
# The PostgreSQL runs need a server: start a throwaway one for the whole script.
[[ -n ${TEST_DATABASE_URL:-} ]] || exec scripts/with-postgres.sh "scripts/$(basename "$0")" "$@"
. scripts/lib.sh
export PATH="$PWD/.tools/venv/bin:$PATH"

SEED=${DRILL_SEED:-20261126}
EXAMPLES=${DRILL_EXAMPLES:-100}
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
CONFIG=$PWD/scripts/drills/schemathesis.toml
HOOKS=$PWD/scripts/drills
scratch_for_app # WORK, and APP_PID once an app runs: both cleaned up on exit

for tool in schemathesis wrk python3 prometheus kubectl; do
  command -v "$tool" >/dev/null || { echo "drills: $tool is not installed (scripts/install-tools.sh, apt wrk prometheus)" >&2; exit 1; }
done

cargo build --locked --quiet -p api-app -p demo-app --bins

# new_database NAME -> the URL of a new, empty database on the throwaway server (api-app migrates it)
new_database() {
  "$PG_BIN/psql" -qAt "$TEST_DATABASE_URL" -c "CREATE DATABASE $1" >/dev/null
  echo "${TEST_DATABASE_URL%/*}/$1"
}

# --- 1. Schemathesis against a running api-app, once per store ------------------------------------
# fuzz STORE [VAR=VALUE...]
fuzz() {
  local store=$1
  shift
  KEY="drill-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
  # Port 0, and the startup line (the port it bound) above the warn level the rest of the log keeps.
  env HOST=127.0.0.1 PORT=0 ADMIN_PORT=0 API_KEY="$KEY" APP_ENV=local LOG_FORMAT=json \
    RUST_LOG=warn,api_app::startup=info SHUTDOWN_DRAIN_SECS=0 WORKERS=2 "$@" \
    "$TARGET/debug/api-app" >"$WORK/api-app-$store.log" 2>&1 &
  APP_PID=$!
  PORT=$(listening_port "$WORK/api-app-$store.log")
  wait_ready "http://127.0.0.1:$(admin_port "$WORK/api-app-$store.log")/readyz"

  # One worker: with two threads, CPython 3.11's ast.parse (Hypothesis describing a lambda) can fail
  # with "SystemError: AST constructor recursion depth mismatch", a crash of the tool, not of the API.
  # The hooks give each schema-valid Idempotency-Key a per-request suffix, and keep a cursor rather
  # than a cursor with an offset (see the file).
  if ! (cd "$WORK" && PYTHONPATH="$HOOKS" SCHEMATHESIS_HOOKS=schemathesis_hooks \
    schemathesis --config-file "$CONFIG" run "http://127.0.0.1:$PORT/api/openapi.json" \
    --checks all --header "x-api-key: $KEY" --seed "$SEED" --max-examples "$EXAMPLES" \
    --workers 1 --request-timeout 10 --generation-database none --no-color \
    --report junit --report-dir "$WORK/report-$store") >"$WORK/schemathesis-$store.log" 2>&1; then
    cat "$WORK/schemathesis-$store.log"
    echo "--- api-app log (last 20 lines)"; tail -n 20 "$WORK/api-app-$store.log"
    echo "drills: Schemathesis found failures on the $store store (seed $SEED)" >&2
    exit 1
  fi
  generated=$(grep -E '^  [0-9]+ generated' "$WORK/schemathesis-$store.log")
  awk -v prefix="schemathesis ($store store, seed $SEED): " '{ sub(/^ */, prefix); print }' <<<"$generated"
  [[ -z ${CHECK_COUNTS:-} ]] || echo "$(awk '{print $1}' <<<"$generated") Schemathesis cases ($store store)" >>"$CHECK_COUNTS"
  if grep -qiE 'panicked|handler panicked' "$WORK/api-app-$store.log"; then
    grep -iE 'panicked' "$WORK/api-app-$store.log" | head -5
    echo "drills: api-app panicked under Schemathesis ($store store)" >&2
    exit 1
  fi
  kill -TERM "$APP_PID"
  wait "$APP_PID" || { echo "drills: api-app did not exit 0 after Schemathesis ($store store)" >&2; exit 1; }
  APP_PID=
}

fuzz memory
fuzz postgres DATABASE_URL="$(new_database drills_fuzz)"

# --- 2. Shutdown under load ---------------------------------------------------------------------
# The drill's own checks first (how it reads wrk and words its report).
python3 -m doctest scripts/drills/shutdown_under_load.py
for app in api-app demo-app; do
  scripts/drills/shutdown_under_load.py --app "$app" --bin "$TARGET/debug/$app" \
    --drain 2 --timeout 5 --log "$WORK/$app-shutdown.log"
done
scripts/drills/shutdown_under_load.py --app api-app --bin "$TARGET/debug/api-app" \
  --drain 2 --timeout 5 --log "$WORK/api-app-postgres-shutdown.log" \
  --database-url "$(new_database drills_shutdown)"
[[ -z ${CHECK_COUNTS:-} ]] || echo "3 shutdown-under-load drills" >>"$CHECK_COUNTS"

# --- 3. Canary analysis on a real Prometheus ------------------------------------------------------
python3 -m doctest scripts/drills/canary_analysis.py
scripts/drills/canary_analysis.py --bin "$TARGET/debug/api-app" --work "$WORK"
[[ -z ${CHECK_COUNTS:-} ]] || echo "1 canary-analysis drill" >>"$CHECK_COUNTS"

# --- 4. Abuse at the scale of issue 21 ------------------------------------------------------------
python3 scripts/drills/abuse.py --bin "$TARGET/debug/api-app" --log "$WORK/api-app-abuse.log"
[[ -z ${CHECK_COUNTS:-} ]] || echo "3 abuse drills" >>"$CHECK_COUNTS"
