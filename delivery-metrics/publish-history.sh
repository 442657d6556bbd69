#!/usr/bin/env bash
# Appends one run's metrics (FILE: what `delivery-metrics --format json` printed) as one line of
# history.jsonl on the branch BRANCH (default delivery-metrics-history), which holds nothing else.
# It writes through GitHub's API (no checkout, no git credentials) and creates the branch, with no
# parent, on its first run. The history outlives the workflow's artifacts and is read from
# https://github.com/<owner>/<repo>/blob/delivery-metrics-history/history.jsonl.
#
# Environment: REPO (owner/name), GH_TOKEN with contents: write, BRANCH (optional).
set -euo pipefail

fail() { printf 'publish-history: %s\n' "$*" >&2; exit 2; }
file=${1:-}
[[ -f $file ]] || fail "usage: publish-history.sh METRICS_JSON"
[[ ${REPO:-} =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] || fail "REPO must be owner/name, not '${REPO:-}'"
branch=${BRANCH:-delivery-metrics-history}
path=history.jsonl
line=$(jq -ce 'select(.since and .until and (.environments | type == "array"))' "$file") ||
  fail "$file is not delivery-metrics' JSON"

if parent=$(gh api "repos/${REPO}/git/ref/heads/${branch}" --jq .object.sha 2>/dev/null); then
  history=$(gh api -H "Accept: application/vnd.github.raw" "repos/${REPO}/contents/${path}?ref=${branch}")
  # A re-run the same day replaces that day's line rather than adding one.
  history=$(jq -c --argjson new "$line" 'select(.until[:10] != $new.until[:10])' <<<"$history")
else
  parent='' history=''
fi
content=$(printf '%s\n%s\n' "$history" "$line" | sed '/^$/d')

tree=$(jq -n --arg path "$path" --arg content "$content" \
  '{tree: [{path: $path, mode: "100644", type: "blob", content: ($content + "\n")}]}' |
  gh api -X POST "repos/${REPO}/git/trees" --input - --jq .sha)
commit=$(jq -n --arg tree "$tree" --arg parent "$parent" --arg until "$(jq -r .until <<<"$line")" \
  '{message: "delivery metrics until \($until)", tree: $tree, parents: ([$parent] - [""])}' |
  gh api -X POST "repos/${REPO}/git/commits" --input - --jq .sha)
if [[ -n $parent ]]; then
  jq -n --arg sha "$commit" '{sha: $sha, force: false}' |
    gh api -X PATCH "repos/${REPO}/git/refs/heads/${branch}" --input - >/dev/null
else
  jq -n --arg ref "refs/heads/${branch}" --arg sha "$commit" '{ref: $ref, sha: $sha}' |
    gh api -X POST "repos/${REPO}/git/refs" --input - >/dev/null
fi
printf 'publish-history: %s lines in %s on %s\n' "$(wc -l <<<"$content")" "$path" "$branch" >&2
