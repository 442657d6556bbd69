#!/usr/bin/env bash
# The one test command (`make test`, and `.ci/run`): installs its own tools, then runs every check in order.
# Each stage is its own script so GitHub Actions can call the same stages without a second copy.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/venv/bin:$PWD/.tools/cargo/bin:$PATH"
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

# Each stage's heading, and how long the one before it took (the budget is 90 minutes on 2 cores;
# `make test` takes about 9).
last=$SECONDS
stage() {
  ((SECONDS > last)) && printf '=== (%d s)\n' "$((SECONDS - last))"
  last=$SECONDS
  printf '\n=== %s\n' "$*"
}

stage "prerequisites";               scripts/check-prerequisites.sh
stage "install pinned tools";        scripts/install-tools.sh
stage "rust: fmt, clippy, tests";    scripts/check-rust.sh
stage "supply chain: cargo-deny";    scripts/check-deny.sh
stage "k8s/: render and validate";   scripts/check-k8s.sh
stage "alerts and dashboard: promtool"; scripts/check-monitoring.sh
stage "k8s/: database bootstrap";    scripts/with-postgres.sh scripts/check-db-bootstrap.sh
stage "terraform/: fmt and checkov"; scripts/check-terraform.sh
stage ".github/, Dockerfiles, shell"; scripts/check-workflows.sh
stage "drills: fuzz and shutdown";   scripts/drills.sh
stage "browser end-to-end";          scripts/e2e.sh
stage "all checks passed in $SECONDS s"
# One plain closing line with the Rust suite's totals (every other stage above passed, or we would
# not be here).
read -r passed failed <artifacts/rust-tests.count
echo "summary: $passed passed, $failed failed"
