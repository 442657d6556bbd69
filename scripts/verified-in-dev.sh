#!/usr/bin/env bash
# verified-in-dev.sh APP DIGEST: whether dev's release of APP@DIGEST completed, canary analysis and all,
# from the deployment records Argo CD writes (terraform/modules/cluster-addons/deployment-records.tf),
# never from anything a person typed. promote.yml offers prod only a digest that passes (Kargo's
# verified freight is the anchor).
#
# A record of environment APP-dev names the main commit a sync deployed; the digest that commit
# pinned is in k8s/overlays/dev/APP/kustomization.yaml at that commit. Argo CD records `success` only
# once the Application is Healthy after the sync, which for a Rollout means fully promoted: every
# analysis step passed. An aborted canary is Degraded, recorded as `failure`. The newest record of a
# commit that pinned DIGEST decides, by its newest status other than `inactive` (GitHub's mark on a
# record a later deployment of the environment replaced):
#   success         -> verified (exit 0; prints the evidence), even if dev has moved on since
#   failure, error  -> refused: the canary was aborted or the sync failed
#   none yet        -> refused: the rollout has not finished, or was replaced before it did
#   no such record  -> refused: dev never ran it (within the last $RECORDS records)
# Every refusal is one line saying why (exit 1). Needs main's history (fetch-depth 0), `gh` with
# deployments: read, and GITHUB_REPOSITORY.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

app=${1:-} digest=${2:-}
refuse() { printf 'verified-in-dev: refusing %s@%s: %s\n' "$app" "$digest" "$*" >&2; exit 1; }
[[ $app == api-app || $app == demo-app ]] || { echo "usage: scripts/verified-in-dev.sh api-app|demo-app sha256:<digest>" >&2; exit 2; }
[[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] || { echo "verified-in-dev: not a digest: $digest" >&2; exit 2; }
repo=${GITHUB_REPOSITORY:?GITHUB_REPOSITORY (owner/name) is required}
overlay=k8s/overlays/dev/$app/kustomization.yaml
records=${RECORDS:-100}

# The digest a commit pinned for the app in dev ("" when it pinned none, or git does not have it).
pinned_at() {
  image_pins "$1" "$overlay" | APP=$app jq -r '(. // [])[] | select(.name == env.APP) | .digest // ""'
}

# Newest first (GitHub lists deployments by creation, newest first).
listed=$(gh api "repos/$repo/deployments?environment=$app-dev&per_page=$records" \
  --jq '.[] | "\(.id) \(.sha) \(.created_at)"') || refuse "cannot read dev's deployment records"
mapfile -t deployments <<<"$listed"
for line in "${deployments[@]}"; do
  [[ -n $line ]] || continue
  read -r id sha created <<<"$line"
  [[ $(pinned_at "$sha") == "$digest" ]] || continue
  # shellcheck disable=SC2016 # $s is jq's, not the shell's
  status=$(gh api "repos/$repo/deployments/$id/statuses?per_page=100" \
    --jq '([.[] | select(.state != "inactive")][0] // {}) as $s | "\($s.state // "-") \(.[0].state == "inactive") \($s.created_at // "-") \($s.description // "")"') ||
    refuse "cannot read the statuses of $app-dev deployment $id"
  read -r state replaced at description <<<"$status"
  case $state in
    success)
      echo "verified-in-dev: $app@$digest completed its canary in dev: $app-dev deployment $id of ${sha:0:7} succeeded at $at ($description)"
      exit 0 ;;
    failure | error)
      refuse "dev's rollout of it failed at $at (${description:-no description}): an aborted canary or a failed sync; fix it and release again" ;;
    *)
      [[ $replaced == true ]] && refuse "dev replaced it before its rollout finished (deployment $id of ${sha:0:7})"
      refuse "dev's rollout of it has not finished (deployment $id of ${sha:0:7}, created $created, has no outcome yet); wait for its canary" ;;
  esac
done
refuse "dev never ran it: none of $app-dev's last $records deployment records is of a commit that pins it"
