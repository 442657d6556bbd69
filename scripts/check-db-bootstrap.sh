#!/usr/bin/env bash
# Runs k8s/components/database-bootstrap against a real PostgreSQL, the way RDS sets it up: an admin with
# CREATEROLE and CREATEDB but no superuser, owning the database RDS created (it sees who holds a session in
# pg_stat_activity without pg_monitor, though RDS's rds_superuser has that too), and then the Job's second
# step, the real `api-app migrate` as that admin. Proves least privilege: a NOLOGIN owner api_app owns
# `tasks` and everything the migrations create; the pods' login users (api_app_a, api_app_b) may read and
# write rows and nothing more, and that is enough for api-app to serve (DATABASE_MIGRATIONS=verify). Proves
# the alternating users: a rotation to the other user leaves open sessions of the previous one working and
# refuses no login at any point; a second run changes nothing; installs from before (one login role; login
# users acting as the owner) upgrade without refusing live sessions; and it refuses a superuser role or a
# stray username.
# Run under scripts/with-postgres.sh, which provides TEST_DATABASE_URL (superuser, loopback) and PG_BIN:
#
#   scripts/with-postgres.sh scripts/check-db-bootstrap.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
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
# The Job's second step: the release's `api-app migrate`, logged in as the admin, acting as owner $1 of
# database $2 (default api_app, tasks).
api_app=target/debug/api-app
cargo build -q --locked --workspace --bin api-app
migrate() {
  env -i PATH="$PATH" LOG_FORMAT=json DATABASE_URL="postgres://${1:-api_app}@$server/${2:-tasks}?sslmode=disable" \
    DATABASE_USER_FILE="$work/admin/username" DATABASE_PASSWORD_FILE="$work/admin/password" \
    "$api_app" migrate >"$work/migrate.log" 2>&1 || fail "api-app migrate failed: $(cat "$work/migrate.log")"
}
# Fails if login $1 (password $2) may run, in database $3, any of the statements that follow.
refused() {
  local user=$1 password=$2 db=$3 sql
  shift 3
  for sql in "$@"; do
    if as_role "$user" "$password" "$db" "$sql" >/dev/null 2>&1; then fail "$user may $sql"; fi
  done
}
# Every change a login user $1 (password $2) must not make in database $3, table $4 being one of the owner's.
refused_ddl() {
  refused "$1" "$2" "$3" "CREATE TABLE by_$1 (id int)" "ALTER TABLE $4 ADD COLUMN by_$1 int" "DROP TABLE $4" \
    "TRUNCATE $4" "CREATE TEMP TABLE by_$1 (id int)" "CREATE INDEX ON $4 ((1))" "ALTER DATABASE $3 SET work_mem = '1GB'"
}
# Everything the bootstrap (and the Job's migrate step after it) decides about owner $1 and database $2, but the password hashes (SCRAM salts them
# anew on every ALTER ROLE ... PASSWORD; which passwords work is checked by logging in).
state() {
  as_superuser "SELECT r.rolname, r.rolcanlogin, r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolreplication,
      r.rolbypassrls, r.rolinherit, r.rolpassword IS NULL,
      (SELECT string_agg(m.roleid::regrole::text || '/' || m.admin_option, ',' ORDER BY m.roleid::regrole::text)
         FROM pg_auth_members m WHERE m.member = r.oid),
      (SELECT array_to_string(s.setconfig, ',') FROM pg_db_role_setting s WHERE s.setrole = r.oid AND s.setdatabase = 0)
    FROM pg_authid r WHERE r.rolname IN ('$1', '$1_rw', '$1_a', '$1_b') ORDER BY 1"
  as_superuser "SELECT pg_get_userbyid(datdba), datacl FROM pg_database WHERE datname = '$2'"
  as_role postgres '' "$2" "SELECT defaclrole::regrole, defaclobjtype, defaclacl FROM pg_default_acl ORDER BY 1, 2"
  as_role postgres '' "$2" "SELECT relname, relacl FROM pg_class WHERE relnamespace = 'public'::regnamespace ORDER BY 1"
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
[[ $attrs == "api_app=000000 api_app_a=100000 api_app_b=100000 api_app_rw=000000" ]] ||
  fail "api_app and api_app_rw must be NOLOGIN and api_app_a, api_app_b login-only, have (login super createdb createrole replication bypassrls) $attrs"
owner=$(as_superuser "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'tasks'")
[[ $owner == api_app ]] || fail "tasks is owned by $owner, not api_app"
members=$(as_superuser "SELECT string_agg(m.member::regrole || '>' || m.roleid::regrole, ' ' ORDER BY 1) FROM pg_auth_members m WHERE m.member::regrole::text LIKE 'api\_app\__'")
[[ $members == "api_app_a>api_app_rw api_app_b>api_app_rw" ]] || fail "the login users must hold api_app_rw and nothing else: $members"

# The Job's second step, then what the pods' login may do: rows, in the tables the migrations made and in one
# the owner makes later (default privileges), and no change to the schema or the database.
migrate
owners=$(as_role postgres '' tasks "SELECT string_agg(DISTINCT pg_get_userbyid(relowner), ' ') FROM pg_class WHERE relnamespace = 'public'::regnamespace")
[[ $owners == api_app ]] || fail "what api-app migrate creates must belong to api_app, not $owners"
as_role platform_admin admin-pw tasks "SET ROLE api_app; CREATE TABLE t (id int)" || fail "the admin cannot act as api_app"
[[ $(as_role api_app_a first-password tasks "INSERT INTO t VALUES (1); UPDATE t SET id = 1; SELECT count(*) FROM t") == 1 ]] ||
  fail "api_app_a cannot use the rows of a table api_app creates after the bootstrap"
refused_ddl api_app_a first-password tasks t
refused_ddl api_app_a first-password tasks tasks
# The ledger: read (api-app verifies), never written (a forged row would skip a migration).
[[ $(as_role api_app_a first-password tasks "SELECT count(*) > 0 FROM schema_migrations") == t ]] || fail "api_app_a cannot read the ledger"
refused api_app_a first-password tasks "INSERT INTO schema_migrations (version, name, checksum) VALUES (99, 'forged', '')" \
  "DELETE FROM schema_migrations" "UPDATE schema_migrations SET checksum = ''"

# And that is enough to serve: api-app as the pods run it, verifying the schema, logged in as api_app_a.
env -i PATH="$PATH" LOG_FORMAT=json HOST=127.0.0.1 PORT=0 ADMIN_PORT=0 SHUTDOWN_DRAIN_SECS=0 \
  DATABASE_URL="postgres://api_app@$server/tasks?sslmode=disable" DATABASE_MIGRATIONS=verify \
  DATABASE_USER_FILE="$work/secret/username" DATABASE_PASSWORD_FILE="$work/secret/password" \
  "$api_app" >"$work/serve.log" 2>&1 &
serving=$!
port=$(listening_port "$work/serve.log") || fail "api-app as api_app_a never listened: $(tail -3 "$work/serve.log")"
wait_ready "http://127.0.0.1:$(admin_port "$work/serve.log")/readyz" "$serving" ||
  fail "api-app as api_app_a never got ready: $(tail -3 "$work/serve.log")"
api() { curl -sS -o "$work/answer" -w '%{http_code}' -H 'content-type: application/json' "$@"; }
[[ $(api -X POST -d '{"title":"plain"}' "http://127.0.0.1:$port/api/tasks") == 201 ]] || fail "create as api_app_a: $(cat "$work/answer")"
id=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["id"])' "$work/answer")
[[ $(api -X POST -H 'Idempotency-Key: k1' -d '{"title":"keyed"}' "http://127.0.0.1:$port/api/tasks") == 201 ]] || fail "keyed create as api_app_a: $(cat "$work/answer")"
[[ $(api -X PATCH -d '{"completed":true}' "http://127.0.0.1:$port/api/tasks/$id") == 200 ]] || fail "update as api_app_a: $(cat "$work/answer")"
[[ $(api "http://127.0.0.1:$port/api/tasks") == 200 ]] || fail "list as api_app_a: $(cat "$work/answer")"
grep -q '"total":2' "$work/answer" || fail "list as api_app_a counts $(cat "$work/answer"), not the 2 tasks created"
[[ $(api -X DELETE "http://127.0.0.1:$port/api/tasks/$id") == 204 ]] || fail "delete as api_app_a: $(cat "$work/answer")"
kill -TERM "$serving"
wait "$serving" || fail "api-app as api_app_a did not drain: $(tail -3 "$work/serve.log")"
if as_role api_app first-password tasks "SELECT 1" 2>/dev/null; then fail "the owner api_app can log in"; fi
if as_role api_app_b first-password tasks "SELECT 1" 2>/dev/null; then fail "api_app_b got the password of api_app_a"; fi

as_superuser "CREATE ROLE bystander LOGIN PASSWORD 'b'"
if as_role bystander b tasks "SELECT 1" 2>/dev/null; then fail "a role other than api_app's users may connect to tasks"; fi

before=$(state api_app tasks)
bootstrap "$work/admin" || fail "a second run failed"
migrate
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
  [[ $(as_role "$to" "$password" tasks "INSERT INTO t VALUES (3); SELECT current_user") == "$to" ]] ||
    fail "$to cannot write rows as itself"
  refused_ddl "$to" "$password" tasks t
  previous=$password
done
touch "$work/stop"
wait %login_loop 2>/dev/null || wait
grep -q '^refused' "$work/logins" && fail "logins were refused during the rotations: $(sort "$work/logins" | uniq -c | tr '\n' ' ')"
for user in api_app_a api_app_b; do
  grep -q "^ok $user\$" "$work/logins" || fail "the login loop never logged in as $user"
done
in_session "SELECT current_user"
[[ $reply == api_app_a ]] || fail "the held session of api_app_a stopped working, or is not acting as itself"
end_session
[[ $(as_role api_app_b second-password tasks "SELECT 'ok'") == ok ]] || fail "api_app_b lost its password when the Secret moved back to api_app_a"
rotated=$(state api_app tasks)
bootstrap "$work/admin" || fail "a rerun after the rotations failed"
migrate
[[ $(state api_app tasks) == "$rotated" ]] || fail "a rerun after the rotations changed something: $(diff <(echo "$rotated") <(state api_app tasks))"

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
# The roles an earlier bootstrap made, made as it made them: by the admin, who so holds ADMIN on them (PostgreSQL
# 16 and later let a CREATEROLE role alter only the roles it holds ADMIN on).
as_admin() { as_role platform_admin admin-pw postgres "$1"; }
as_admin "CREATE ROLE legacy_app LOGIN PASSWORD 'legacy-pw'"
as_admin "GRANT legacy_app TO platform_admin"
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
[[ $(as_role legacy_app_a legacy-pw legacy "INSERT INTO old VALUES (2); SELECT count(*) FROM old") == 2 ]] ||
  fail "legacy_app_a cannot use legacy_app's tables"
refused_ddl legacy_app_a legacy-pw legacy old
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

# --- Upgrading an install from before the row role: the login users were members of the owner and started
# each session as it. A pod of the previous release holds such a session during the upgrade sync.
as_admin "CREATE ROLE split_app NOLOGIN"
as_admin "CREATE ROLE split_app_a LOGIN PASSWORD 'split-pw'"
as_admin "CREATE ROLE split_app_b LOGIN"
as_admin "GRANT split_app TO split_app_a, split_app_b"
as_superuser "ALTER ROLE split_app_a SET role = split_app"
as_superuser "ALTER ROLE split_app_b SET role = split_app"
as_admin "GRANT split_app TO platform_admin"
as_superuser "CREATE DATABASE split OWNER split_app"
as_superuser "REVOKE ALL ON DATABASE split FROM PUBLIC"
as_role split_app_a split-pw split "CREATE TABLE old (id int); INSERT INTO old VALUES (1)"
hold_session split_app_a split-pw split
secret split_app_a split-pw
bootstrap "$work/admin" split_app split || fail "the upgrade run from login users acting as the owner failed"
in_session "INSERT INTO old VALUES (2); SELECT current_user"
[[ $reply == split_app ]] || fail "the previous release's open session stopped working: $reply"
end_session
[[ $(as_role split_app_a split-pw split "INSERT INTO old VALUES (3); SELECT current_user || count(*) FROM old") == split_app_a3 ]] ||
  fail "after the upgrade split_app_a must write rows, as itself"
refused_ddl split_app_a split-pw split old
split=$(state split_app split)
bootstrap "$work/admin" split_app split || fail "a rerun after the split failed"
[[ $(state split_app split) == "$split" ]] || fail "a rerun after the split changed something"

echo "check-db-bootstrap: NOLOGIN api_app owns tasks and what api-app migrate made; api_app_a and api_app_b write rows only (the ledger's not even those), and api-app serves so; rotations refused none of $(wc -l <"$work/logins") logins; reruns, both upgrades and the refusals behave"
