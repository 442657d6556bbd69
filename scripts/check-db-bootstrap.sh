#!/usr/bin/env bash
# Runs k8s/components/database-bootstrap against a real PostgreSQL, the way RDS sets it up: an admin with
# CREATEROLE and CREATEDB but no superuser, owning the database RDS created. Proves the role it leaves is
# login-only and owns `tasks`, that a second run changes nothing, that a new password replaces the old one,
# and that it refuses a role with superuser attributes. Run under scripts/with-postgres.sh, which provides
# TEST_DATABASE_URL (superuser, loopback) and PG_BIN:
#
#   scripts/with-postgres.sh scripts/check-db-bootstrap.sh
set -euo pipefail
cd "$(dirname "$0")/.."
: "${TEST_DATABASE_URL:?run me under scripts/with-postgres.sh}" "${PG_BIN:?run me under scripts/with-postgres.sh}"

server=${TEST_DATABASE_URL#*@}
server=${server%%/*}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { printf 'check-db-bootstrap: %s\n' "$*" >&2; exit 1; }

as_superuser() { "$PG_BIN/psql" -X -qAt -v ON_ERROR_STOP=1 -d "$TEST_DATABASE_URL" -c "$1"; }
# Connects as $1 with password $2 to database $3 and runs $4.
as_role() { PGPASSWORD=$2 "$PG_BIN/psql" -X -qAt -v ON_ERROR_STOP=1 -d "postgres://$1@$server/$3?sslmode=disable" -c "$4"; }
bootstrap() { # admin-dir
  PATH="$PG_BIN:$PATH" DATABASE_URL="postgres://api_app@$server/tasks?sslmode=disable" \
    DATABASE_PASSWORD_FILE="$work/password" ADMIN_SECRET_DIR=$1 sh k8s/components/database-bootstrap/bootstrap.sh
}

# What RDS leaves: master user platform_admin (not a superuser) owning the database named in db_name.
as_superuser "CREATE ROLE platform_admin LOGIN CREATEROLE CREATEDB PASSWORD 'admin-pw'"
as_superuser "CREATE DATABASE tasks OWNER platform_admin"
mkdir -p "$work/admin" "$work/superuser"
printf platform_admin >"$work/admin/username"
printf admin-pw >"$work/admin/password"
printf postgres >"$work/superuser/username"
printf unused >"$work/superuser/password"
printf 'first-password' >"$work/password"

bootstrap "$work/admin" || fail "the first run failed"
attrs=$(as_superuser "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = 'api_app'")
[[ $attrs == "t|f|f|f|f|f" ]] || fail "api_app must be login-only, has (login|super|createdb|createrole|replication|bypassrls) $attrs"
owner=$(as_superuser "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'tasks'")
[[ $owner == api_app ]] || fail "tasks is owned by $owner, not api_app"
[[ $(as_role api_app first-password tasks "CREATE TABLE t (id int); INSERT INTO t VALUES (1); SELECT count(*) FROM t") == 1 ]] ||
  fail "api_app cannot create and use a table in tasks"

as_superuser "CREATE ROLE bystander LOGIN PASSWORD 'b'"
if as_role bystander b tasks "SELECT 1" 2>/dev/null; then fail "a role other than api_app may connect to tasks"; fi

bootstrap "$work/admin" || fail "a second run failed"
[[ $(as_role api_app first-password tasks "SELECT count(*) FROM t") == 1 ]] || fail "a second run changed the data"

printf 'second-password' >"$work/password"
bootstrap "$work/admin" || fail "the rotation run failed"
[[ $(as_role api_app second-password tasks "SELECT 'ok'") == ok ]] || fail "the new password does not work"
if as_role api_app first-password tasks "SELECT 1" 2>/dev/null; then fail "the old password still works"; fi

as_superuser "ALTER ROLE api_app SUPERUSER"
if out=$(bootstrap "$work/superuser" 2>&1); then fail "handed the database to a superuser role"; fi
[[ $out == *"holds SUPERUSER"* ]] || fail "refused a superuser role without saying why: $out"
as_superuser "ALTER ROLE api_app NOSUPERUSER"

echo "check-db-bootstrap: role api_app is login-only and owns tasks; reruns, rotation and refusal behave"
