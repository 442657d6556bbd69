#!/usr/bin/env bash
# Formatting, lints and the whole Rust suite (unit, integration and contract tests).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The binary tests (tests/support/process.rs) build the real executables if stale; building them
# here first keeps that a no-op.
cargo build --workspace --bins --locked
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
# The totals over every test binary, for the summary line scripts/test.sh ends with.
mkdir -p artifacts
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "%d %d\n", passed, failed }' "$log" >artifacts/rust-tests.count
read -r passed failed <artifacts/rust-tests.count
echo "rust tests: $passed passed, $failed failed"
