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
# One throwaway server for both passes (its URL in TEST_DATABASE_URL).
[[ -n ${TEST_DATABASE_URL:-} ]] || exec scripts/with-postgres.sh "scripts/$(basename "$0")" "$@"

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
postgres_files=(api-app/src/tasks/store/postgres.rs api-app/src/tasks/store/pool.rs
  api-app/src/tasks/store/migrate.rs api-app/src/tasks/store/metrics.rs
  api-app/src/tasks/store/settings.rs api-app/src/tasks/store/tls.rs
  api-app/src/tasks/store/shards.rs api-app/src/tasks/store/postgres/idempotency.rs
  api-app/src/tasks/store/postgres/rows.rs api-app/src/tasks/store/postgres/batch.rs
  api-app/src/tasks/store/postgres/db.rs)
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

# The unmutated suite, run as the mutants' test command runs it (.cargo/mutants.toml): cargo-mutants
# 27.1 builds its own baseline with only the mutated packages, where the suites of tests/ do not
# exist, so each pass checks the baseline here and tells cargo-mutants to skip its own.
toml_list() { sed -n "s/^$1 = \[\(.*\)\]\$/\1/p" .cargo/mutants.toml | tr -d '",'; }
read -ra packages <<<"$(toml_list test_package)"
read -ra cargo_args <<<"$(toml_list additional_cargo_args)"
read -ra test_args <<<"$(toml_list additional_cargo_test_args)"
suite=(cargo nextest run "${packages[@]/#/--package=}" "${cargo_args[@]}" "${test_args[@]}")
listing=0
for arg in "${rest[@]}"; do [[ $arg == --list* ]] && listing=1; done

pass() { # NAME TEST_STORE [cargo mutants args...]
  local name=$1 store=$2
  shift 2
  echo "==> mutants: $name pass" >&2
  if ((!listing)) && ! TEST_STORE=$store "${suite[@]}" >"$out/$name.baseline.log" 2>&1; then
    echo "mutants: the unmutated suite fails in the $name pass; see $out/$name.baseline.log" >&2
    return 4
  fi
  # A mutant that hangs is cut off at 5 minutes (a clean run takes under one).
  TEST_STORE=$store cargo mutants --output "$out/$name" --baseline=skip \
    --timeout "${MUTANTS_TIMEOUT:-300}" "$@"
}

mkdir -p "$out/memory" "$out/postgres"
rc=0
pass memory memory "${memory_args[@]}" "${rest[@]}" || rc=$?
if ((${#postgres_args[@]})); then
  pass postgres postgres "${postgres_args[@]}" "${rest[@]}" || { s=$?; rc=$((s > rc ? s : rc)); }
fi
exit "$rc"
