#!/usr/bin/env bash
# Formatting, lints and the whole Rust suite (unit, integration and contract tests), then the
# black-box API suite a second time with its apps on PostgreSQL, and a third time as two replicas
# sharing one database. A throwaway PostgreSQL server
# (scripts/with-postgres.sh) serves the postgres test binary and that second pass.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
[[ -n ${TEST_DATABASE_URL:-} ]] || exec scripts/with-postgres.sh "scripts/$(basename "$0")" "$@"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The binary tests (tests/support/process.rs) build the real executables if stale; building them
# here first keeps that a no-op.
cargo build --workspace --bins --locked
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
# The same API tests, each app on a fresh database of its own (copied from a migrated template).
TEST_STORE=postgres cargo test -p integration-tests --test api --locked 2>&1 | tee -a "$log"
# And again as two replicas on one database: writes go to one process, task reads to the other.
TEST_STORE=postgres-replicas cargo test -p integration-tests --test api --locked 2>&1 | tee -a "$log"
# The totals over every test binary (unit, integration, contract, and the API suite on each store),
# for the summary line scripts/test.sh ends with.
read -r passed failed < <(rust_test_totals "$log")
echo "rust tests: $passed passed, $failed failed"
[[ -z ${CHECK_COUNTS:-} ]] || echo "$passed Rust tests" >>"$CHECK_COUNTS"
