#!/usr/bin/env bash
# Mutation testing (`make mutants`; not part of `make test`, it takes hours on 2 cores): installs
# cargo-mutants and cargo-nextest from crates.io at pinned versions into .tools/cargo, then runs
# `cargo mutants` with .cargo/mutants.toml (which names the crates and the test command) and any
# arguments given, e.g. `scripts/mutants.sh --in-diff git.diff`, `--shard 0/8` or `-f FILE`.
#
# Two passes, both next to a throwaway PostgreSQL (scripts/with-postgres.sh):
#   memory    every file but the ones below, with the API suite on the in-memory store;
#   postgres  the store's PostgreSQL files, with the API suite on PostgreSQL (TEST_STORE=postgres),
#             the only place their code runs.
# Results land in mutants.out/<pass>/mutants.out; scripts/mutants-report.py adds them up, and
# bench/MUTANTS.md records the last full run. The exit code is the worse of the two passes'.
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

# The files whose code runs only against a database (matched against the mutant's name, which
# starts with its path, so that a `-f` given here narrows both passes).
postgres_only='^api-app/src/store/(postgres|pool|migrate|metrics)\.rs:'
out=${MUTANTS_OUT:-mutants.out}

rc=0
echo "==> mutants: memory pass" >&2
scripts/with-postgres.sh cargo mutants --output "$out/memory" --exclude-re "$postgres_only" "$@" || rc=$?
echo "==> mutants: postgres pass" >&2
TEST_STORE=postgres scripts/with-postgres.sh \
  cargo mutants --output "$out/postgres" --re "$postgres_only" "$@" || { s=$?; rc=$((s > rc ? s : rc)); }
exit "$rc"
