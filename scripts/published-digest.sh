#!/usr/bin/env bash
# Reads the image references a release is about to push (one per line: <repo>:1.0.<run>, <repo>:sha-<commit>)
# and prints `digest=` for $GITHUB_OUTPUT: empty when none of them is published yet (build and push), or
# the one digest they all name when every one is (a re-run of this release: its earlier attempt pushed
# them, so it goes on with that image). Fails when only some exist or they name different images: a tag
# is never moved. "Cannot tell" (any registry error but not-found) fails too.
set -euo pipefail

fail() { printf 'published-digest: %s\n' "$*" >&2; exit 1; }
declare -A digests=()
absent=() refs=()
while read -r ref; do
  [[ -n $ref ]] || continue
  refs+=("$ref")
  if out=$(docker buildx imagetools inspect "$ref" --format '{{ .Manifest.Digest }}' 2>&1); then
    [[ $out =~ ^sha256:[0-9a-f]{64}$ ]] || fail "cannot read the digest of ${ref}: ${out}"
    digests[$out]+="$ref "
  elif grep -qiE 'not found|manifest unknown' <<<"$out"; then
    absent+=("$ref")
  else
    fail "cannot tell whether ${ref} exists: ${out}"
  fi
done
((${#refs[@]})) || fail "no tags on stdin"

if ((${#absent[@]} == ${#refs[@]})); then
  echo "digest="
elif ((${#absent[@]} == 0 && ${#digests[@]} == 1)); then
  digest=${!digests[*]}
  echo "::notice::${refs[*]} already name ${digest}: a re-run of this release goes on with that image" >&2
  echo "digest=${digest}"
else
  for d in "${!digests[@]}"; do echo "  ${d}: ${digests[$d]}" >&2; done
  fail "${refs[*]}: some are published (${#absent[@]} absent) or they name different images; a release never moves a tag. Push a new commit to release again."
fi
