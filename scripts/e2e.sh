#!/usr/bin/env bash
# Browser end-to-end test of the demo: builds both apps, starts api-app on a free port and
# demo-app proxying to it, and drives the page in headless chromium (e2e/demo.test.mjs).
# Screenshots and both apps' logs land in artifacts/e2e/ (gitignored; CI uploads it).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
export PATH="$PWD/.tools/venv/bin:$PATH"

out=artifacts/e2e
chromium=$(find_browser)
[[ -n $chromium ]] || { echo "e2e: no Chromium or Chrome found; run scripts/install-tools.sh" >&2; exit 1; }
[[ -d tools/node_modules/playwright-core ]] || { echo "e2e: playwright-core missing; run scripts/install-tools.sh" >&2; exit 1; }

cargo build --locked --quiet -p api-app -p demo-app --bins
bin=${CARGO_TARGET_DIR:-target}/debug

rm -rf "$out" && mkdir -p "$out"
dead_port=$(free_port) # nothing listens here: the "API down" demo-app points at it
# A throwaway key for this run only (api-app wants 16-512 characters).
api_key="e2e-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

# Every app binds port 0 and says which port it got.
common=(HOST=127.0.0.1 PORT=0 ADMIN_PORT=0 APP_ENV=local LOG_FORMAT=json RUST_LOG=info WORKERS=2 SHUTDOWN_DRAIN_SECS=0)
env "${common[@]}" API_KEY="$api_key" "$bin/api-app" >"$out/api-app.log" 2>&1 &
pids+=($!)
api_port=$(listening_port "$out/api-app.log")
env "${common[@]}" API_URL="http://127.0.0.1:$api_port" "$bin/demo-app" >"$out/demo-app.log" 2>&1 &
pids+=($!)
env "${common[@]}" API_URL="http://127.0.0.1:$dead_port" "$bin/demo-app" >"$out/demo-app-api-down.log" 2>&1 &
pids+=($!)
demo_port=$(listening_port "$out/demo-app.log")
down_port=$(listening_port "$out/demo-app-api-down.log")

wait_ready "http://127.0.0.1:$(admin_port "$out/api-app.log")/readyz"
wait_ready "http://127.0.0.1:$(admin_port "$out/demo-app.log")/readyz"
wait_ready "http://127.0.0.1:$(admin_port "$out/demo-app-api-down.log")/readyz"

DEMO_URL="http://127.0.0.1:$demo_port" DOWN_URL="http://127.0.0.1:$down_port" API_URL="http://127.0.0.1:$api_port" E2E_API_KEY="$api_key" \
  ARTIFACTS="$out" CHROMIUM="$chromium" timeout 180 node e2e/demo.test.mjs | tee "$out/steps.txt"
[[ -z ${CHECK_COUNTS:-} ]] || echo "$(grep -c '^ok ' "$out/steps.txt") browser steps" >>"$CHECK_COUNTS"

# The key must never reach a log line.
if grep -qF "$api_key" "$out"/*.log; then
  echo "e2e: the API key appears in a log file" >&2
  exit 1
fi
echo "e2e: passed; screenshots in $out/"
