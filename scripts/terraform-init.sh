#!/usr/bin/env bash
# terraform-init.sh DIR [INIT_ARGS...]: `terraform init` of one root or module, as every workflow runs
# it. A root that commits its .terraform.lock.hcl (terraform-lock.yml opens the PR that adds or
# refreshes it) is initialised with -lockfile=readonly: each provider package is checked against the
# reviewed hashes, and init fails rather than change the lock file. A root without one still
# initialises, with a warning on the run's page, so the first deploy is not blocked on the lock PR.
# Modules (terraform/modules/*) have no lock file of their own: their roots' pins them.
set -euo pipefail
dir=${1:?usage: scripts/terraform-init.sh DIR [init args...]}
shift
dir=${dir%/}
if [[ -f $dir/.terraform.lock.hcl ]]; then
  exec terraform -chdir="$dir" init -lockfile=readonly "$@"
fi
if [[ $dir != terraform/modules/* ]]; then
  echo "::warning::$dir has no .terraform.lock.hcl: its provider packages are not verified; merge terraform-lock.yml's PR (gitops/terraform-lock)" >&2
fi
exec terraform -chdir="$dir" init "$@"
