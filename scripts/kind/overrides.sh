#!/usr/bin/env bash
# overrides.sh good|bad: the Argo CD Application kustomize override (JSON) that makes each release of
# the kind job: `good` moves api-app to the same build under the tag local-next (a new template, so
# the Rollout releases it); `bad` does the same and turns INJECT_ERROR_PERCENT=50 on in its pods.
# The image is named through scripts/image-repository.sh, like every workflow's.
set -euo pipefail
cd "$(dirname "$0")/../.."
image="api-app=$(scripts/image-repository.sh api-app):local-next"
case ${1:-} in
  good) jq -nc --arg image "$image" '{images: [$image]}' ;;
  bad)
    jq -nc --arg image "$image" '{images: [$image], patches: [{
      target: {kind: "Deployment", name: "api-app"},
      patch: ([{op: "add", path: "/spec/template/spec/containers/0/env",
                value: [{name: "INJECT_ERROR_PERCENT", value: "50"}]}] | tojson)}]}' ;;
  *) echo "usage: scripts/kind/overrides.sh good|bad" >&2; exit 2 ;;
esac
