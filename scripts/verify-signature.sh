#!/usr/bin/env bash
# Verifies that images were built and signed by this repository's release workflow on main: a keyless
# cosign signature whose certificate names .github/workflows/release.yml@refs/heads/main of
# $GITHUB_REPOSITORY (owner/repo), issued to GitHub Actions' OIDC tokens. The clusters' admission policy
# (k8s/admission) demands the same identity.
#   scripts/verify-signature.sh IMAGE@DIGEST...        the given images
#   scripts/verify-signature.sh --overlays ENV...      every image pinned by k8s/overlays/<env>/<app>: each
#                                                      must name the registry of .github/registry.env and a
#                                                      digest (only the seed tag, before a first release,
#                                                      pins none and is skipped)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

fail() { printf 'verify-signature: %s\n' "$*" >&2; exit 1; }
[[ ${GITHUB_REPOSITORY:-} =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] || fail "GITHUB_REPOSITORY (owner/repo) names whose release workflow signs"
signer="https://github.com/${GITHUB_REPOSITORY}/.github/workflows/release.yml@refs/heads/main"
issuer=https://token.actions.githubusercontent.com
seed_tag=unreleased

images=()
if [[ ${1:-} == --overlays ]]; then
  shift
  (($#)) || fail "usage: scripts/verify-signature.sh --overlays dev [prod]"
  for env in "$@"; do
    [[ $env == dev || $env == prod ]] || fail "unknown environment: $env"
    for file in k8s/overlays/"$env"/*/kustomization.yaml; do
      app=$(basename "$(dirname "$file")")
      pins=$(yaml_py 'd = yaml.safe_load(sys.stdin) or {}
for i in d.get("images") or []:
    print(*(i.get(k) or "-" for k in ("name", "newName", "newTag", "digest")))' <"$file")
      [[ -n $pins ]] || continue
      repository=$(scripts/image-repository.sh "$app")
      while read -r name new_name tag digest; do
        [[ $new_name == "$repository" ]] ||
          fail "$file: $name comes from '$new_name', not $repository (.github/registry.env)"
        if [[ $digest == - ]]; then
          [[ $tag == "$seed_tag" ]] || fail "$file: $name pins the tag '$tag' without a digest; pin the digest release.yml signed"
          echo "verify-signature: $file: $name is still the seed ($seed_tag), nothing to verify"
          continue
        fi
        [[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] || fail "$file: $name: not a digest: $digest"
        images+=("${new_name}@${digest}")
      done <<<"$pins"
    done
  done
else
  images=("$@")
  ((${#images[@]})) || fail "usage: scripts/verify-signature.sh IMAGE@DIGEST... | --overlays ENV..."
fi

for image in "${images[@]}"; do
  [[ $image =~ @sha256:[0-9a-f]{64}$ ]] || fail "verify images by digest: $image"
  cosign verify --certificate-identity "$signer" --certificate-oidc-issuer "$issuer" "$image" >/dev/null ||
    fail "$image has no valid signature from $signer"
  echo "verify-signature: $image signed by $signer"
done
