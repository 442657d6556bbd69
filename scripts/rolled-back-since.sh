#!/usr/bin/env bash
# rolled-back-since.sh COMMIT: release.yml's dev bump asks whether dev was rolled back after COMMIT,
# the commit its images were built from. It prints the first such rollback on main (its sha and
# subject), or nothing. A rollback is a commit that changed k8s/overlays/dev and is either the
# rollback workflow's (`rollback(dev): …`, scripts/rollback.sh) or a plain `git revert` ("This
# reverts commit …"). A release built before the rollback carries the code it undid, so its bump
# PR must not merge itself and redeploy it minutes later; one built after it (the fix, or anything
# merged since) arms as usual. Reads the history of HEAD (check out with fetch-depth: 0).
set -euo pipefail
commit=${1:-}
[[ $commit =~ ^[0-9a-f]{40}$ ]] || { echo "usage: scripts/rolled-back-since.sh COMMIT_SHA" >&2; exit 2; }
git cat-file -e "$commit^{commit}" 2>/dev/null || {
  echo "rolled-back-since: $commit is not in this clone's history (fetch-depth: 0?)" >&2
  exit 1
}
# Oldest first: the first rollback after COMMIT. Records end with \x1e, fields with \x1f.
git log --reverse --format='%H%x1f%s%x1f%b%x1e' "$commit..HEAD" -- k8s/overlays/dev |
  awk -v RS='\x1e' -F '\x1f' '
    { sub(/^\n/, "") }
    $2 ~ /^rollback\(dev\):/ || $3 ~ /(^|\n)This reverts commit [0-9a-f]+/ { print $1 " " $2; exit }
  '
