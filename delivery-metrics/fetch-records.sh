#!/usr/bin/env bash
# Saves what delivery-metrics counts into OUT (default records/): the GitHub Deployments of each
# environment, the statuses of every deployment that can hold one from the window, and the
# checked-out branch's history from git, with the files each commit changed.
#
# Run it in a clone of the deployed branch, full history. Environment:
#   REPO          owner/name on GitHub (gh api reads with GH_TOKEN, deployments: read)
#   DAYS          the window in days, 1 to 3660
#   ENVIRONMENTS  the GitHub environments, space-separated (one per Argo CD Application)
#   HISTORY       per environment, how many deployments created before the window to read the
#                 statuses of too: an Argo CD history rollback adds a status to the deployment of
#                 an earlier revision, at most revisionHistoryLimit back.
set -euo pipefail

fail() { printf 'fetch-records: %s\n' "$*" >&2; exit 2; }
# Checked before any arithmetic: bash evaluates a variable's text as an expression there, so a
# value like a[$(cmd)] would run cmd.
[[ ${DAYS:-} =~ ^[1-9][0-9]{0,3}$ ]] || fail "DAYS must be a whole number of days from 1 to 3660, not '${DAYS:-}'"
((DAYS <= 3660)) || fail "DAYS must be a whole number of days from 1 to 3660, not '$DAYS'"
[[ ${HISTORY:-} =~ ^[0-9]{1,3}$ ]] || fail "HISTORY must be a whole number from 0 to 999, not '${HISTORY:-}'"
[[ ${REPO:-} =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] || fail "REPO must be owner/name, not '${REPO:-}'"
[[ -n ${ENVIRONMENTS:-} ]] || fail "ENVIRONMENTS names no environment"
out=${1:-records}
mkdir -p "$out"

# A week before the window tells what ran when it opened (the baseline of lead time, rollbacks).
since=$(date -u -d "-$((DAYS + 7)) days" +%Y-%m-%dT%H:%M:%SZ)

: >"$out/deployments.json"
: >"$out/statuses.json"
for env in $ENVIRONMENTS; do
  [[ $env =~ ^[A-Za-z0-9_.-]+$ ]] || fail "not an environment name: '$env'"
  pages=$(gh api --paginate "repos/${REPO}/deployments?environment=${env}&per_page=100")
  printf '%s\n' "$pages" >>"$out/deployments.json"
  # Not filtered on updated_at: a new status does not reliably touch its deployment's.
  jq -rs --arg since "$since" --argjson history "$HISTORY" '
    add // [] | sort_by(.created_at) | reverse
    | (map(select(.created_at >= $since)) | length) as $new
    | .[: $new + $history][] | .id' <<<"$pages" |
    while read -r id; do
      gh api --paginate "repos/${REPO}/deployments/${id}/statuses?per_page=100"
    done >>"$out/statuses.json"
done

# The whole history: a change's image source may be older than the window. Each commit as
# {sha, commit: {message, committer: {date}}, files: [{filename}]}, newest first.
git -c core.quotePath=false log --first-parent --diff-merges=first-parent --name-only \
  --format='%x1e%H%x1f%cI%x1f%B%x1f' HEAD |
  jq -Rs '[split("\u001e")[1:][] | split("\u001f") | {
      sha: .[0],
      commit: {message: .[2], committer: {date: .[1]}},
      files: [.[3] | split("\n")[] | select(length > 0) | {filename: .}]
    }]' >"$out/commits.json"

printf 'fetch-records: %s deployments, %s statuses, %s commits in %s/\n' \
  "$(jq -s 'add // [] | length' "$out/deployments.json")" \
  "$(jq -s 'add // [] | length' "$out/statuses.json")" \
  "$(jq length "$out/commits.json")" "$out" >&2
