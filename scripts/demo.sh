#!/usr/bin/env bash
# The local demo (`make demo`): api-app on :8080 and demo-app on :8081 proxying /api to it; their
# probes and /metrics on :9080 and :9081. Open http://localhost:8081. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

api_port=${API_PORT:-8080}
demo_port=${DEMO_PORT:-8081}
api_admin_port=${API_ADMIN_PORT:-9080}
demo_admin_port=${DEMO_ADMIN_PORT:-9081}
# A key for the local demo only; clusters get theirs from AWS Secrets Manager.
api_key=${API_KEY:-local-demo-key-not-a-secret}

scripts/check-prerequisites.sh --demo || exit 1
cargo build --locked --bins -p api-app -p demo-app
bin=${CARGO_TARGET_DIR:-target}/debug

pids=()
# Each app in a process group of its own: a signal to this script's group (Ctrl-C, `timeout`, a
# closing terminal) reaches this script only, which passes one SIGTERM on. Reaching the apps
# directly as well, it would be their second signal, which stops them without a drain.
set -m
stop() {
  trap - INT TERM EXIT
  ((${#pids[@]})) && kill -TERM "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

# The pod name a cluster's runtime would set: the page shows which host answered.
host=$(hostname)
HOSTNAME=$host APP_ENV=local PORT=$api_port ADMIN_PORT=$api_admin_port API_KEY=$api_key \
  SHUTDOWN_DRAIN_SECS=0 "$bin/api-app" &
pids+=($!)
wait_ready "http://127.0.0.1:$api_admin_port/readyz" "$!"

HOSTNAME=$host APP_ENV=local PORT=$demo_port ADMIN_PORT=$demo_admin_port API_URL="http://127.0.0.1:$api_port" \
  SHUTDOWN_DRAIN_SECS=0 "$bin/demo-app" &
pids+=($!)
wait_ready "http://127.0.0.1:$demo_admin_port/readyz" "$!"

cat <<MSG

  Demo page:   http://localhost:$demo_port
  API:         http://localhost:$api_port/api   (docs: http://localhost:$api_port/api/docs/)
  Probes:      http://localhost:$api_admin_port/readyz, /healthz, /metrics   (demo-app: :$demo_admin_port)
  Stats key:   $api_key   (local demo only)

  Ctrl-C stops both.
MSG
wait -n "${pids[@]}"
