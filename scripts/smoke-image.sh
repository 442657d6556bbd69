#!/usr/bin/env bash
# Smoke test of a release image before it is signed: it starts (read-only, as UID 65532, as in the
# clusters), turns ready, answers its own routes, and reports the commit it was built from.
#   scripts/smoke-image.sh APP COMMIT IMAGE@DIGEST [PLATFORM]   runs the image with docker, then checks it
#   scripts/smoke-image.sh APP COMMIT http://HOST:PORT http://HOST:ADMIN_PORT
#                                                                  checks an instance already running
# (the second form is how tests/contract/pipeline.rs drives it against the real binary). The probes
# answer on the admin port, the app's routes on the public one.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

fail() { printf 'smoke-image: %s\n' "$*" >&2; exit 1; }
app=${1:-} commit=${2:-} target=${3:-} fourth=${4:-}
[[ ($app == api-app || $app == demo-app) && -n $commit && -n $target ]] ||
  fail "usage: scripts/smoke-image.sh api-app|demo-app COMMIT IMAGE@DIGEST [PLATFORM] | URL ADMIN_URL"

platform=
if [[ $target == http://* ]]; then
  base=$target admin=$fourth
  [[ $admin == http://* ]] || fail "usage: scripts/smoke-image.sh APP COMMIT URL ADMIN_URL"
else
  platform=$fourth
  [[ $target == *@sha256:* ]] || fail "run images by digest, not $target"
  port=$(free_port) admin_port=$(free_port)
  container=$(docker run --detach --rm ${platform:+--platform "$platform"} --read-only --user 65532:65532 \
    --cap-drop ALL --security-opt no-new-privileges -e APP_ENV=local -e LOG_FORMAT=json -e PORT=8080 \
    -e ADMIN_PORT=9090 -p "127.0.0.1:${port}:8080" -p "127.0.0.1:${admin_port}:9090" "$target")
  trap 'docker logs "$container" 2>&1 | tail -n 50 >&2; docker rm -f "$container" >/dev/null 2>&1 || true' EXIT
  base="http://127.0.0.1:${port}" admin="http://127.0.0.1:${admin_port}"
fi

# Ready within 30 s (readiness answers 200 only once the app serves).
for _ in $(seq 1 300); do
  curl -fsS -o /dev/null "$admin/readyz" 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null "$admin/readyz" || fail "$app never became ready at $admin/readyz"
curl -fsS -o /dev/null "$admin/healthz" || fail "$app: /healthz does not answer 200"
# The public port never serves the probes or the metrics.
for path in /healthz /readyz /metrics; do
  code=$(curl -sS -o /dev/null -w '%{http_code}' "$base$path")
  [[ $code == 404 ]] || fail "$app: the public port answered $path with $code, expected 404"
done

# The build it reports: the commit this release was asked to build, not another one.
case $app in
  api-app) info=$(curl -fsS "$base/api") && field='d["commit"]' ;;
  demo-app) info=$(curl -fsS "$base/ui/info") && field='d["build"]["commit"]' ;;
esac
reported=$(python3 -c "import json, sys; d = json.load(sys.stdin); print($field)" <<<"$info") ||
  fail "$app: no build information in $info"
[[ $reported == "$commit" ]] || fail "$app reports commit '$reported', expected '$commit'"

# One real request through the app's own code path.
case $app in
  api-app)
    code=$(curl -sS -o /dev/null -w '%{http_code}' -H 'content-type: application/json' \
      -d '{"title": "smoke test"}' "$base/api/tasks")
    [[ $code == 201 ]] || fail "api-app: POST /api/tasks answered $code, expected 201"
    ;;
  demo-app)
    # grep reads the whole page: with -q it stops at the first match, and curl fails on the pipe.
    curl -fsS "$base/" | grep -i '<html' >/dev/null || fail "demo-app: / is not the page"
    ;;
esac
echo "smoke-image: $app${platform:+ ($platform)} at $base is ready, reports $commit and serves"
