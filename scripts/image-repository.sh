#!/usr/bin/env bash
# Prints the image repository of APP (docker.io/<namespace>/<app>), or with no APP the registry
# namespace (docker.io/<namespace>), from DOCKERHUB_NAMESPACE in .github/registry.env: the one source the
# release, the promotion, the signature check and the contract tests all read.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { printf 'image-repository: %s\n' "$*" >&2; exit 1; }
app=${1:-}
namespace=$(sed -n 's/^DOCKERHUB_NAMESPACE=//p' .github/registry.env)
# Docker Hub's rule for user and organisation names: 4-30 lowercase letters and digits.
[[ $namespace =~ ^[a-z0-9]{4,30}$ ]] ||
  fail "DOCKERHUB_NAMESPACE in .github/registry.env must be a Docker Hub namespace (4-30 of a-z, 0-9), got '${namespace}'"
[[ -z $app || $app =~ ^[a-z0-9][a-z0-9-]*$ ]] || fail "not an app name: '$app'"
echo "docker.io/${namespace}${app:+/$app}"
