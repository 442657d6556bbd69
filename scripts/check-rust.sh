#!/usr/bin/env bash
# Formatting, lints and the whole Rust suite (unit, integration and contract tests).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The binary tests (tests/api/process.rs, abuse.rs) spawn the real executables.
cargo build --workspace --bins --locked
cargo test --workspace --locked
