#!/usr/bin/env bash
# Undoes the newest deploy of one environment that is still in effect: finds the last
# "deploy(<env>): ..." commit on that environment's overlays that no later commit reverts ("Reverts
# <sha>" in its message), reverts it in the index and working tree without committing (the rollback
# workflow's PR commits it), and prints commit=<sha> and subject=<subject> for $GITHUB_OUTPUT.
# Refuses when nothing is left to roll back, or when the revert would change more than image pins.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

fail() { printf 'rollback: %s\n' "$*" >&2; exit 1; }
env=${1:-}
[[ $env == dev || $env == prod ]] || fail "usage: scripts/rollback.sh dev|prod"
overlays=("k8s/overlays/$env/api-app/kustomization.yaml" "k8s/overlays/$env/demo-app/kustomization.yaml")

reverted=$(git log --format=%B -- "${overlays[@]}" | sed -n 's/^Reverts \([0-9a-f]\{40\}\)$/\1/p')
target='' subject=''
while read -r sha line; do
  [[ $line == "deploy($env):"* ]] || continue
  grep -qx "$sha" <<<"$reverted" && continue
  target=$sha subject=$line
  break
done < <(git log --format='%H %s' -- "${overlays[@]}")
[[ -n $target ]] || fail "no deploy($env) commit left to revert"

if ! git revert --no-commit "$target" >&2; then
  git revert --abort || true
  fail "$target does not revert cleanly (a later commit changed the same lines); revert it by hand"
fi
while read -r file; do
  [[ -z $file ]] && continue
  [[ " ${overlays[*]} " == *" $file "* ]] || fail "reverting $target would also change $file"
  only_images_differ HEAD "" "$file" || fail "reverting $target would change more than the image pins of $file"
done < <(git diff --cached --name-only)

printf 'commit=%s\nsubject=%s\n' "$target" "$subject"
