#!/usr/bin/env bash
# release.sh NAME EXPECT KUSTOMIZE_JSON: one release of api-app on the kind cluster up.sh built, and
# its verdict. The release is an override of the Argo CD Application's kustomize source (KUSTOMIZE_JSON,
# e.g. {"images": [...]} or {"patches": [...]}), so Argo CD syncs it like a commit. While it runs,
# requests flow through api-app's Service (the API server's service proxy spreads them over its pods,
# stable and canary). Passes when the verdict (scripts/kind/rollout-verdict.sh) is EXPECT
# (promoted|aborted); for aborted, stable must then answer every request. Prints a Markdown table row
# with the measured times.
set -euo pipefail
cd "$(dirname "$0")/../.."
name=${1:?usage: release.sh NAME promoted|aborted KUSTOMIZE_JSON} expect=${2:?} kustomize=${3:?}
ns=api-app-local
proxy=http://127.0.0.1:${PROXY_PORT:-8001}/api/v1/namespaces/$ns/services/api-app:http/proxy
deadline=$((SECONDS + ${RELEASE_TIMEOUT_S:-600}))

stable_before=$(kubectl -n "$ns" get rollout api-app -o jsonpath='{.status.stableRS}')
(while :; do curl -s -o /dev/null "$proxy/api/echo?message=canary" || true; sleep 0.05; done) &
traffic=$!
trap 'kill "$traffic" 2>/dev/null || true' EXIT

start=$SECONDS
kubectl -n argocd patch application local --type merge \
  -p "{\"spec\":{\"source\":{\"kustomize\":$kustomize}}}" >/dev/null
ready_at='' code=20
while ((SECONDS < deadline)); do
  json=$(kubectl -n "$ns" get rollout api-app -o json)
  set +e
  verdict=$(scripts/kind/rollout-verdict.sh "$stable_before" <<<"$json")
  code=$?
  set -e
  # The canary's first ready pod: the clock of the restore budget's canary path.
  current=$(jq -r '.status.currentPodHash // ""' <<<"$json")
  if [[ -z $ready_at && $current != "$stable_before" ]] &&
    kubectl -n "$ns" get pods -l "rollouts-pod-template-hash=$current" \
      -o jsonpath='{.items[*].status.conditions[?(@.type=="Ready")].status}' | grep -q True; then
    ready_at=$SECONDS
  fi
  ((code == 20)) || break
  sleep 2
done
decided=$SECONDS
echo "release.sh: $name: $verdict" >&2
case "$expect:$code" in
  promoted:0) ;;
  aborted:10)
    # Stable still serves: once the canary's pods are gone, every request answers, from the revision
    # that served before.
    kubectl -n "$ns" wait --for=delete pod -l "rollouts-pod-template-hash=$current" --timeout=120s
    for _ in $(seq 1 30); do curl -fsS -o /dev/null "$proxy/api/health"; done
    [[ $(kubectl -n "$ns" get rollout api-app -o jsonpath='{.status.stableRS}') == "$stable_before" ]] ;;
  *) echo "release.sh: $name: expected $expect, got: $verdict" >&2; exit 1 ;;
esac
canary=$([[ -n $ready_at ]] && echo "$((decided - ready_at)) s" || echo "-")
echo "| $name | $expect | $((decided - start)) s | $canary |"
