#!/usr/bin/env bash
# The store's SQL on the PostgreSQL major the clusters' RDS instances run (terraform's
# `database_engine_version`), not only on this machine's server: the PostgreSQL suite (migrations,
# paging, roles, TLS, outages), the black-box API suite with api-app on PostgreSQL, and the database
# bootstrap with its role split. The server is the one tools/package.json pins for that major
# (scripts/with-postgres.sh PG_MAJOR=N fails when the two disagree), so a major RDS moves to is
# tested here before it is deployed.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
if [[ -z ${TEST_DATABASE_URL:-} ]]; then
  major=$(sed -n '/^variable "database_engine_version"/,/^}/s/^ *default *= *"\([0-9]*\)"$/\1/p' \
    terraform/modules/platform-cluster/variables.tf)
  [[ -n $major ]] || { echo "check-rds-major: no default for database_engine_version in terraform/modules/platform-cluster/variables.tf" >&2; exit 1; }
  PG_MAJOR=$major exec scripts/with-postgres.sh "scripts/$(basename "$0")" "$@"
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test -p integration-tests --test postgres --locked 2>&1 | tee "$log"
TEST_STORE=postgres cargo test -p integration-tests --test api --locked 2>&1 | tee -a "$log"
scripts/check-db-bootstrap.sh
version=$("$PG_BIN/postgres" --version | awk '{print $3}')
read -r passed failed < <(rust_test_totals "$log")
echo "check-rds-major: $passed Rust tests passed on PostgreSQL $version, $failed failed; the bootstrap check passed"
[[ -z ${CHECK_COUNTS:-} ]] || echo "$passed Rust tests on PostgreSQL $version" >>"$CHECK_COUNTS"
