#!/usr/bin/env bash
# Mutation testing (`make mutants`; not part of `make test`, it takes hours on 2 cores): installs
# cargo-mutants and cargo-nextest from crates.io at pinned versions into .tools/cargo, then runs
# `cargo mutants` with .cargo/mutants.toml (which names the crates and the test command) and any
# arguments given, e.g. `scripts/mutants.sh --in-diff git.diff` or `--shard 0/8`.
# Results land in mutants.out/; bench/MUTANTS.md records the last full run.
set -euo pipefail
cd "$(dirname "$0")/.."

mutants_version=27.1.0
nextest_version=0.9.143
tools=${MUTANTS_TOOLS_ROOT:-$PWD/.tools/cargo}
export PATH="$tools/bin:$PATH"

install() { # crate version, e.g. cargo-mutants 27.1.0 (run as `cargo mutants`)
  if ! cargo "${1#cargo-}" --version 2>/dev/null | grep -q "^$1 $2\b"; then
    echo "==> cargo install $1@$2" >&2
    cargo install --locked --quiet --root "$tools" "$1@$2"
  fi
}
install cargo-mutants "$mutants_version"
install cargo-nextest "$nextest_version"

exec cargo mutants "$@"
