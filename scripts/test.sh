#!/usr/bin/env bash
# The one test command (`make test`, and `.ci/run`): installs its own tools, then runs every check in order.
# Each stage is its own script so GitHub Actions can call the same stages without a second copy.
#
# A stage that counts what it checked appends lines `COUNT WHAT` to $CHECK_COUNTS (the Rust tests,
# the Schemathesis cases, the shutdown and canary drills, the browser steps); the closing summary adds them
# up, with every stage that passed. `scripts/test.sh --summary FILE STAGES` prints that summary
# for a counts file alone (its test, tests/api/readme.rs, uses it).
set -euo pipefail
cd "$(dirname "$0")/.."

# summary COUNTS_FILE STAGES: one line with the total of every count, each count, and the stages.
summary() {
  awk -v stages="$2" '
    NF >= 2 && $1 ~ /^[0-9]+$/ { total += $1; n = $1; $1 = ""; parts = parts sep n $0; sep = ", " }
    END { printf "summary: %d checks passed (%s) in %d stages\n", total, parts, stages }
  ' "$1"
}
if [[ ${1:-} == --summary ]]; then
  summary "$2" "$3"
  exit 0
fi

export PATH="$PWD/.tools/venv/bin:$PWD/.tools/cargo/bin:$PATH"
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
mkdir -p artifacts
export CHECK_COUNTS=$PWD/artifacts/check-counts
: >"$CHECK_COUNTS"

# Each stage's heading, and how long the one before it took (the budget is 90 minutes on 2 cores;
# `make test` takes about 9). A stage that passes counts once.
last=$SECONDS
stages=0
stage() {
  ((SECONDS > last)) && printf '=== (%d s)\n' "$((SECONDS - last))"
  last=$SECONDS
  printf '\n=== %s\n' "$1"
  shift
  "$@"
  stages=$((stages + 1))
}

stage "prerequisites"                    scripts/check-prerequisites.sh
stage "install pinned tools"             scripts/install-tools.sh
stage "rust: fmt, clippy, tests"         scripts/check-rust.sh
stage "supply chain: cargo-deny"         scripts/check-deny.sh
stage "k8s/: render and validate"        scripts/check-k8s.sh
stage "alerts and dashboard: promtool"   scripts/check-monitoring.sh
stage "k8s/: database bootstrap"         scripts/with-postgres.sh scripts/check-db-bootstrap.sh
stage "store on RDS's PostgreSQL major"  scripts/check-rds-major.sh
stage "terraform/: fmt and checkov"      scripts/check-terraform.sh
stage ".github/, Dockerfiles, shell"     scripts/check-workflows.sh
stage "drills: fuzz, shutdown, canary"  scripts/drills.sh
stage "browser end-to-end"               scripts/e2e.sh
printf '=== (%d s)\n\n=== all checks passed in %d s\n' "$((SECONDS - last))" "$SECONDS"
# One plain closing line that counts every check run (every stage above passed, or we would not
# be here).
summary "$CHECK_COUNTS" "$stages"
