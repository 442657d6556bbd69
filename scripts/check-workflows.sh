#!/usr/bin/env bash
# .github/, the Dockerfile and the shell scripts, offline: actionlint (with shellcheck on run:
# blocks), zizmor (zero findings), yamllint, hadolint, every action pinned by a full commit SHA with
# its version, and shellcheck on scripts/ and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/venv/bin:$PATH"

fail() { printf 'check-workflows: %s\n' "$*" >&2; exit 1; }

# Correctness: syntax, expressions, action inputs, and shellcheck on run: blocks.
command -v shellcheck >/dev/null || fail "shellcheck is missing: run scripts/install-tools.sh"
actionlint
# Security: template injection, permissions, credentials, caches, triggers... Zero findings, and
# every accepted exception is written down with its reason in .github/zizmor.yml.
zizmor --offline --quiet --config .github/zizmor.yml .github
yamllint --strict .github

# Every `uses:` is a local path, or owner/repo@<40-hex commit> with a `# vX.Y.Z` comment naming it
# (Dependabot keeps the two in step), or a docker:// image pinned by digest.
unpinned=$(grep -rnE '^[[:space:]-]*uses:' .github/workflows | grep -vE \
  -e 'uses:[[:space:]]+\./' \
  -e 'uses:[[:space:]]+[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}[[:space:]]+#[[:space:]]+v[0-9]+\.[0-9]+\.[0-9]+[[:space:]]*$' \
  -e 'uses:[[:space:]]+docker://[^[:space:]]+@sha256:[0-9a-f]{64}' || true)
[[ -z $unpinned ]] || fail "actions not pinned by full commit SHA with a version comment:"$'\n'"$unpinned"

# The image recipe both services share.
hadolint Dockerfile

# The scripts every check runs through.
mapfile -t shell_scripts < <(git ls-files -- '*.sh' .ci/run)
shellcheck -x "${shell_scripts[@]}"
