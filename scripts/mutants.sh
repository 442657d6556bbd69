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

# The files whose code runs only against a database.
postgres_files=(api-app/src/store/postgres.rs api-app/src/store/pool.rs api-app/src/store/migrate.rs
  api-app/src/store/metrics.rs)
out=${MUTANTS_OUT:-mutants.out}

# `-f FILE` picks files: each pass takes its share (the postgres pass runs only if one is its own).
memory_args=() postgres_args=() rest=() picked=0
while (($#)); do
  case $1 in
    -f | --file) picked=1 file=$2; shift 2 ;;
    --file=*) picked=1 file=${1#--file=}; shift ;;
    *) rest+=("$1"); shift; continue ;;
  esac
  memory_args+=(--file "$file")
  for own in "${postgres_files[@]}"; do [[ $file == "$own" ]] && postgres_args+=(--file "$file"); done
done
for own in "${postgres_files[@]}"; do
  memory_args+=(--exclude "$own")
  ((picked)) || postgres_args+=(--file "$own")
done

mkdir -p "$out/memory" "$out/postgres"
rc=0
echo "==> mutants: memory pass" >&2
scripts/with-postgres.sh cargo mutants --output "$out/memory" "${memory_args[@]}" "${rest[@]}" || rc=$?
if ((${#postgres_args[@]})); then
  echo "==> mutants: postgres pass" >&2
  TEST_STORE=postgres scripts/with-postgres.sh \
    cargo mutants --output "$out/postgres" "${postgres_args[@]}" "${rest[@]}" || { s=$?; rc=$((s > rc ? s : rc)); }
fi
exit "$rc"
