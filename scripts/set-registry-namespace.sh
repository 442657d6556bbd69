#!/usr/bin/env bash
# For a fork: makes NAMESPACE (your Docker Hub user or organisation) the registry namespace everywhere.
# Writes DOCKERHUB_NAMESPACE in .github/registry.env, the one source release.yml, promote.yml and the
# signature check read, and rewrites the copies tests/contract/registry.rs holds to it: every overlay's
# image newName and the admission policy's glob (k8s/admission). Commit the result; `make test` passes.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { printf 'set-registry-namespace: %s\n' "$*" >&2; exit 1; }
new=${1:-}
[[ $new =~ ^[a-z0-9]{4,30}$ ]] || fail "usage: scripts/set-registry-namespace.sh NAMESPACE (4-30 of a-z, 0-9, as Docker Hub allows)"
old=$(scripts/image-repository.sh)
old=${old#docker.io/}
[[ $old != "$new" ]] || { echo "set-registry-namespace: already $new"; exit 0; }

sed -i "s|^DOCKERHUB_NAMESPACE=${old}\$|DOCKERHUB_NAMESPACE=${new}|" .github/registry.env
sed -i "s|docker\.io/${old}/|docker.io/${new}/|g" k8s/overlays/*/*/kustomization.yaml
sed -i "s|index\.docker\.io/${old}/|index.docker.io/${new}/|g" k8s/admission/clusterimagepolicy.yaml
[[ $(scripts/image-repository.sh) == "docker.io/${new}" ]] || fail ".github/registry.env was not rewritten"
echo "set-registry-namespace: ${old} -> ${new} in .github/registry.env, k8s/overlays/*/*/kustomization.yaml, k8s/admission"
