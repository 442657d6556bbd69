#!/usr/bin/env bash
# Undoes the deploy of one environment that is in effect now: puts back the image pins its overlays had
# before the current ones were deployed, and stages that change (the rollback workflow's PR commits it).
# Prints commit=<sha> and subject=<subject> of the deploy being undone, for $GITHUB_OUTPUT.
#
# It decides from the pins themselves, never from commit messages: the history of the overlays' `images:`
# blocks is replayed as a stack, where a new set of pins is a deploy (pushed) and a return to an earlier
# set is a rollback (popped back to it), whether it came from this script, a plain `git revert` or a
# hand edit. The target is the entry under the top. Refuses when that is the seed tag (no release
# before it), when nothing would change, and when the change would touch more than image pins.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

fail() { printf 'rollback: %s\n' "$*" >&2; exit 1; }
env=${1:-}
[[ $env == dev || $env == prod ]] || fail "usage: scripts/rollback.sh dev|prod"
overlays=("k8s/overlays/$env/api-app/kustomization.yaml" "k8s/overlays/$env/demo-app/kustomization.yaml")
# The tag the overlays are seeded with; no release carries it (tests/contract/seed.rs).
seed_tag=unreleased

# The pins of both overlays at one revision, as one line.
pins_at() {
  local file
  for file in "${overlays[@]}"; do printf '%s ' "$(image_pins "$1" "$file")"; done
}

states=() commits=()
while read -r sha; do
  state=$(pins_at "$sha")
  last=$((${#states[@]} - 1))
  ((last >= 0)) && [[ ${states[last]} == "$state" ]] && continue
  for ((i = last - 1; i >= 0; i--)); do
    [[ ${states[i]} == "$state" ]] && break
  done
  if ((last >= 0 && i >= 0)); then
    states=("${states[@]:0:i+1}") commits=("${commits[@]:0:i+1}")
  else
    states+=("$state") commits+=("$sha")
  fi
done < <(git log --reverse --format=%H -- "${overlays[@]}")

current=$(pins_at HEAD)
top=$((${#states[@]} - 1))
((top >= 0)) && [[ ${states[top]} == "$current" ]] || fail "the history of ${overlays[*]} does not end at HEAD's pins"
((top >= 1)) || fail "no deploy($env) commit left to revert: $env still runs the pins it started with"
target=${commits[top - 1]}
undone=${commits[top]}
subject=$(git log -1 --format=%s "$undone")
if grep -q "\"newTag\": \"$seed_tag\"" <<<"${states[top - 1]}"; then
  fail "$undone ($subject) is the first deploy of $env: before it, $env pinned the seed tag $seed_tag, which no release carries; roll forward instead"
fi

# swap_images FILE: replaces the top-level `images:` block of FILE with the one of the YAML on stdin,
# leaving every other line (comments included) as it is.
swap_images() {
  python3 -c '
import re, sys
def block(lines):
    start = next(i for i, l in enumerate(lines) if l.startswith("images:"))
    end = start + 1
    while end < len(lines) and not re.match(r"[A-Za-z_]", lines[end]):
        end += 1
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
        end -= 1
    return start, end
new = sys.stdin.read().splitlines(keepends=True)
path = sys.argv[1]
old = open(path).read().splitlines(keepends=True)
(a, b), (c, d) = block(old), block(new)
open(path, "w").write("".join(old[:a] + new[c:d] + old[b:]))
' "$1"
}

# Put the target's `images:` block into each overlay, leaving every other line as HEAD has it.
for file in "${overlays[@]}"; do
  git show "$target:$file" | swap_images "$file" || fail "$file has no images: block to restore"
  git add -- "$file"
done
git diff --cached --quiet && fail "rolling back $undone would change nothing"
while read -r file; do
  [[ -z $file ]] && continue
  [[ " ${overlays[*]} " == *" $file "* ]] || fail "rolling back $undone would also change $file"
  only_images_differ HEAD "" "$file" || fail "rolling back $undone would change more than the image pins of $file"
done < <(git diff --cached --name-only)
[[ $(pins_at "") != "$current" ]] || fail "rolling back $undone would leave the pins as they are"

printf 'commit=%s\nsubject=%s\n' "$undone" "$subject"
