#!/usr/bin/env bash
# newer-release.sh RUN_NUMBER: refuses the dev bump of release run RUN_NUMBER when a later run of the
# release workflow has already succeeded, i.e. pinned dev to newer images. Without it, re-running an
# old run's failed bump (its digest artifacts live 7 days) would pin dev back to the older build, and
# the bump PR merges itself. Runs are ordered by number, the order pushes to main start them in (their
# concurrency group runs one at a time). Not being able to tell fails too.
# Needs `gh` with actions: read, and GH_REPO.
set -euo pipefail

fail() { printf 'newer-release: %s\n' "$*" >&2; exit 1; }
run=${1:-}
[[ $run =~ ^[0-9]+$ ]] || { echo "usage: scripts/newer-release.sh RUN_NUMBER" >&2; exit 2; }

# Newest first: the latest successful release run, if any.
runs=$(gh run list --workflow release.yml --branch main --status success --limit 1 --json number) ||
  fail "cannot list the release runs, so cannot tell whether a newer one deployed dev"
newest=$(jq -r '.[0].number // 0' <<<"$runs") || fail "cannot read the release runs: $runs"
[[ $newest =~ ^[0-9]+$ ]] || fail "cannot read the release runs: $runs"
if ((newest > run)); then
  fail "release run $newest, newer than this run ($run), already pinned dev: this run's images are older. Push a new commit to release again, or use the rollback workflow to go back."
fi
echo "no release newer than run $run has deployed dev" >&2
