#!/usr/bin/env bash
# Prints the digest-pinned reference of one image the workflows run (actionlint, buildkit,
# sbom-scanner), from its stage in .github/images/Dockerfile, where Dependabot keeps it current.
set -euo pipefail
cd "$(dirname "$0")/.."

stage=${1:?usage: scripts/pinned-image.sh STAGE}
image=$(sed -n "s/^FROM \([^ ]*\) AS ${stage}\$/\1/p" .github/images/Dockerfile)
[[ $image =~ ^[a-z0-9./_-]+:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}$ ]] ||
  { echo "pinned-image: no stage '${stage}' pinned by tag and digest in .github/images/Dockerfile" >&2; exit 1; }
echo "$image"
