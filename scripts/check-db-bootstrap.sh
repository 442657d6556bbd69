#!/usr/bin/env bash
# Runs k8s/components/database-bootstrap against a real PostgreSQL, the way RDS sets it up: an admin with
# CREATEROLE and CREATEDB but no superuser, owning the database RDS created (it sees who holds a session in
# pg_stat_activity without pg_monitor, though RDS's rds_superuser has that too). Proves the alternating
# users: a NOLOGIN owner api_app owns `tasks` and whatever either login user (api_app_a, api_app_b)
# creates; a rotation to the other user leaves open sessions of the previous one working and refuses no
# login at any point; a second run changes nothing; an install from before (one login role) upgrades
# without refusing its live sessions; and it refuses a superuser role or a stray username.
# Run under scripts/with-postgres.sh, which provides TEST_DATABASE_URL (superuser, loopback) and PG_BIN:
#
#   scripts/with-postgres.sh scripts/check-db-bootstrap.sh
set -euo pipefail
cd "$(dirname "$0")/.."
: "${TEST_DATABASE_URL:?run me under scripts/with-postgres.sh}" "${PG_BIN:?run me under scripts/with-postgres.sh}"

server=${TEST_DATABASE_URL#*@}
server=${server%%/*}
work=$(mktemp -d)
cleanup() {
  touch "$work/stop"
  # Only the jobs this script started: the login loop and the held sessions.
  jobs -p | xargs -r kill 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { printf 'check-db-bootstrap: %s\n' "$*" >&2; exit 1; }

as_superuser() { "$PG_BIN/psql" -X -qAt -v ON_ERROR_STOP=1 -d "$TEST_DATABASE_URL" -c "$1"; }
# Connects as $1 with password $2 to database $3 and runs $4.
as_role() { PGPASSWORD=$2 "$PG_BIN/psql" -X -qAt -v ON_ERROR_STOP=1 -d "postgres://$1@$server/$3?sslmode=disable" -c "$4"; }
# Runs the bootstrap for owner $2 of database $3 (default api_app, tasks) with admin dir $1, as the Job
# does: the Secret (username, password) in $work/secret.
bootstrap() {
  PATH="$PG_BIN:$PATH" DATABASE_URL="postgres://${2:-api_app}@$server/${3:-tasks}?sslmode=disable" \
    DATABASE_USER_FILE="$work/secret/username" DATABASE_PASSWORD_FILE="$work/secret/password" \
    ADMIN_SECRET_DIR=$1 sh k8s/components/database-bootstrap/bootstrap.sh
}
secret() { printf '%s' "$1" >"$work/secret/username" && printf '%s' "$2" >"$work/secret/password"; }
# Everything the bootstrap decides about owner $1 and database $2, but the password hashes (SCRAM salts them
# anew on every ALTER ROLE ... PASSWORD; which passwords work is checked by logging in).
state() {
  as_superuser "SELECT r.rolname, r.rolcanlogin, r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolreplication,
      r.rolbypassrls, r.rolinherit, r.rolpassword IS NULL,
      (SELECT string_agg(m.roleid::regrole::text || '/' || m.admin_option, ',' ORDER BY m.roleid::regrole::text)
         FROM pg_auth_members m WHERE m.member = r.oid),
      (SELECT array_to_string(s.setconfig, ',') FROM pg_db_role_setting s WHERE s.setrole = r.oid AND s.setdatabase = 0)
    FROM pg_authid r WHERE r.rolname IN ('$1', '$1_a', '$1_b') ORDER BY 1"
  as_superuser "SELECT pg_get_userbyid(datdba), datacl FROM pg_database WHERE datname = '$2'"
}
# A session held open as $1 (password $2) on database $3, fed one statement at a time by `in_session`, which
# leaves the answer's first line in $reply (a coprocess's pipes do not reach a command substitution).
hold_session() {
  # Line-buffered: psql writes to a pipe in blocks otherwise, and each answer must arrive at once.
  coproc SESSION { PGPASSWORD=$2 stdbuf -oL "$PG_BIN/psql" -X -qAt -v ON_ERROR_STOP=1 -d "postgres://$1@$server/$3?sslmode=disable" 2>"$work/session.err"; }
}
in_session() {
  printf '%s;\n' "$1" >&"${SESSION[1]}"
  read -r -t 10 reply <&"${SESSION[0]}" || fail "the held session stopped answering to: $1 ($(cat "$work/session.err"))"
}
end_session() {
  local fd=${SESSION[1]}
  exec {fd}>&-
  wait "$SESSION_PID" 2>/dev/null || true
}
# Logs in to tasks over and over with the credentials in $work/pod (one line: user password, replaced in one
# rename as the kubelet swaps a Secret volume) until $work/stop exists; one line per attempt in $work/logins.
login_loop() {
  local user password
  while [[ ! -e $work/stop ]]; do
    read -r user password <"$work/pod"
    if as_role "$user" "$password" tasks "SELECT 1" >/dev/null 2>&1; then echo "ok $user"; else echo "refused $user"; fi
  done >"$work/logins"
}
pod_reads() { printf '%s %s\n' "$1" "$2" >"$work/pod.new" && mv "$work/pod.new" "$work/pod"; }
# Waits until the login loop has logged in $1 more times.
logins_go_by() {
  local until=$(($(wc -l <"$work/logins") + $1))
  for _ in $(seq 300); do (($(wc -l <"$work/logins") >= until)) && return; sleep 0.05; done
  fail "the login loop stalled"
}

# What RDS leaves: master user platform_admin (not a superuser) owning the database named in db_name.
as_superuser "CREATE ROLE platform_admin LOGIN CREATEROLE CREATEDB PASSWORD 'admin-pw'"
as_superuser "CREATE DATABASE tasks OWNER platform_admin"
mkdir -p "$work/admin" "$work/superuser" "$work/secret"
printf platform_admin >"$work/admin/username"
printf admin-pw >"$work/admin/password"
printf postgres >"$work/superuser/username"
printf unused >"$work/superuser/password"

# --- A new install: the Secret names api_app_a.
secret api_app_a first-password
bootstrap "$work/admin" || fail "the first run failed"
attrs=$(as_superuser "SELECT string_agg(rolname || '=' || concat_ws('', rolcanlogin::int, rolsuper::int, rolcreatedb::int, rolcreaterole::int, rolreplication::int, rolbypassrls::int), ' ' ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'api\_app%'")
[[ $attrs == "api_app=000000 api_app_a=100000 api_app_b=100000" ]] ||
  fail "api_app must be NOLOGIN and api_app_a, api_app_b login-only, have (login super createdb createrole replication bypassrls) $attrs"
owner=$(as_superuser "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'tasks'")
[[ $owner == api_app ]] || fail "tasks is owned by $owner, not api_app"
[[ $(as_role api_app_a first-password tasks "CREATE TABLE t (id int); INSERT INTO t VALUES (1); SELECT count(*) FROM t") == 1 ]] ||
  fail "api_app_a cannot create and use a table in tasks"
[[ $(as_role api_app_a first-password tasks "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 't'") == api_app ]] ||
  fail "a table api_app_a creates must belong to api_app"
if as_role api_app first-password tasks "SELECT 1" 2>/dev/null; then fail "the owner api_app can log in"; fi
if as_role api_app_b first-password tasks "SELECT 1" 2>/dev/null; then fail "api_app_b got the password of api_app_a"; fi

as_superuser "CREATE ROLE bystander LOGIN PASSWORD 'b'"
if as_role bystander b tasks "SELECT 1" 2>/dev/null; then fail "a role other than api_app's users may connect to tasks"; fi

before=$(state api_app tasks)
bootstrap "$work/admin" || fail "a second run failed"
[[ $(state api_app tasks) == "$before" ]] || fail "a second run changed roles or the database: $before -> $(state api_app tasks)"
[[ $(as_role api_app_a first-password tasks "SELECT count(*) FROM t") == 1 ]] || fail "a second run changed the data or the password"

# --- Rotations, under a steady stream of logins as whatever the pods' Secret names, and a held session.
pod_reads api_app_a first-password
login_loop &
hold_session api_app_a first-password tasks
logins_go_by 5
previous=first-password
for step in "api_app_a api_app_b second-password" "api_app_b api_app_a third-password"; do
  read -r from to password <<<"$step"
  # 1. The new password on the inactive user (the bootstrap hook, reading the freshly fetched Secret) ...
  secret "$to" "$password"
  bootstrap "$work/admin" >/dev/null || fail "the rotation run to $to failed"
  logins_go_by 5
  [[ $(as_role "$from" "$previous" tasks "SELECT 'ok'") == ok ]] || fail "$from lost its password when the Secret moved to $to"
  # 2. ... then the kubelet swaps the pods' files.
  pod_reads "$to" "$password"
  logins_go_by 5
  in_session "INSERT INTO t VALUES (2); SELECT count(*) FROM t"
  [[ $reply =~ ^[0-9]+$ ]] || fail "the held session failed: $reply"
  [[ $(as_role "$to" "$password" tasks "CREATE TABLE IF NOT EXISTS by_$to (id int); SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'by_$to'") == api_app ]] ||
    fail "what $to creates must belong to api_app"
  previous=$password
done
touch "$work/stop"
wait %login_loop 2>/dev/null || wait
grep -q '^refused' "$work/logins" && fail "logins were refused during the rotations: $(sort "$work/logins" | uniq -c | tr '\n' ' ')"
for user in api_app_a api_app_b; do
  grep -q "^ok $user\$" "$work/logins" || fail "the login loop never logged in as $user"
done
in_session "SELECT current_user"
[[ $reply == api_app ]] || fail "the held session of api_app_a stopped working, or is not acting as api_app"
end_session
[[ $(as_role api_app_b second-password tasks "SELECT 'ok'") == ok ]] || fail "api_app_b lost its password when the Secret moved back to api_app_a"
rotated=$(state api_app tasks)
bootstrap "$work/admin" || fail "a rerun after the rotations failed"
[[ $(state api_app tasks) == "$rotated" ]] || fail "a rerun after the rotations changed something"

# --- Refusals.
secret api_app_c whatever
if out=$(bootstrap "$work/admin" 2>&1); then fail "set a password on a user that is neither api_app_a nor api_app_b"; fi
[[ $out == *"must be api_app_a or api_app_b"* ]] || fail "refused a stray username without saying why: $out"
secret api_app_a third-password
as_superuser "ALTER ROLE api_app_b SUPERUSER"
if out=$(bootstrap "$work/superuser" 2>&1); then fail "handed the database to a superuser role's member"; fi
[[ $out == *"holds SUPERUSER"* ]] || fail "refused a superuser role without saying why: $out"
as_superuser "ALTER ROLE api_app_b NOSUPERUSER"

# --- Upgrading an install from before the alternating users: legacy_app logs in itself, owns legacy and
# its tables, and a pod of the previous release holds a session as it during the upgrade sync.
as_superuser "CREATE ROLE legacy_app LOGIN PASSWORD 'legacy-pw'"
as_superuser "GRANT legacy_app TO platform_admin"
as_superuser "CREATE DATABASE legacy OWNER legacy_app"
as_superuser "REVOKE ALL ON DATABASE legacy FROM PUBLIC"
as_role legacy_app legacy-pw legacy "CREATE TABLE old (id int); INSERT INTO old VALUES (1)"
hold_session legacy_app legacy-pw legacy
# The upgrade puts the username beside the password it already has.
secret legacy_app_a legacy-pw
bootstrap "$work/admin" legacy_app legacy 2>"$work/upgrade.err" || fail "the upgrade run failed: $(cat "$work/upgrade.err")"
grep -q "keeps LOGIN until the next sync" "$work/upgrade.err" || fail "the upgrade run does not say why legacy_app still logs in"
[[ $(as_role legacy_app legacy-pw legacy "SELECT count(*) FROM old") == 1 ]] ||
  fail "legacy_app was refused while a session of it was still open"
in_session "SELECT count(*) FROM old"
[[ $reply == 1 ]] || fail "legacy_app's open session failed"
[[ $(as_role legacy_app_a legacy-pw legacy "INSERT INTO old VALUES (2); CREATE TABLE new (id int); SELECT count(*) FROM old") == 2 ]] ||
  fail "legacy_app_a cannot use legacy_app's tables"
[[ $(as_role legacy_app_a legacy-pw legacy "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'new'") == legacy_app ]] ||
  fail "what legacy_app_a creates must belong to legacy_app"
end_session
# The server notices the closed session a moment later; the sync closes the role only once it has.
for _ in $(seq 250); do
  [[ $(as_superuser "SELECT count(*) FROM pg_stat_activity WHERE usename = 'legacy_app'") == 0 ]] && break
  sleep 0.02
done
[[ $(as_superuser "SELECT count(*) FROM pg_stat_activity WHERE usename = 'legacy_app'") == 0 ]] ||
  fail "legacy_app's session is still open 5 s after it was closed"
bootstrap "$work/admin" legacy_app legacy || fail "the sync after the upgrade failed"
[[ $(as_superuser "SELECT rolcanlogin::text || (rolpassword IS NULL)::text FROM pg_authid WHERE rolname = 'legacy_app'") == falsetrue ]] ||
  fail "legacy_app must be NOLOGIN with no password once no session of it is open"
if as_role legacy_app legacy-pw legacy "SELECT 1" 2>/dev/null; then fail "legacy_app still logs in after the upgrade"; fi
[[ $(as_role legacy_app_a legacy-pw legacy "SELECT count(*) FROM old") == 2 ]] || fail "the upgrade lost data"
upgraded=$(state legacy_app legacy)
bootstrap "$work/admin" legacy_app legacy || fail "a rerun after the upgrade failed"
[[ $(state legacy_app legacy) == "$upgraded" ]] || fail "a rerun after the upgrade changed something"

echo "check-db-bootstrap: NOLOGIN api_app owns tasks through api_app_a and api_app_b; rotations refused none of $(wc -l <"$work/logins") logins; reruns, the upgrade and the refusals behave"
