#!/bin/sh
# Makes api-app's role and database exist as the app expects, connected as the database's admin. Runs on
# every Argo CD sync (a Sync hook before the Deployment) and locally as a plain Job; safe to repeat.
set -eu

# The app's own DATABASE_URL (no password) is the one source for the owner role, database, host, port and
# sslmode; the Secret names which of the owner's two login users (<owner>_a, <owner>_b) gets its password.
rest=${DATABASE_URL#*://}
app_owner=${rest%%@*}
rest=${rest#*@}
server=${rest%%/*}
path=${rest#*/}
app_db=${path%%\?*}
case $path in
  *\?*) query="?${path#*\?}" ;;
  *) query= ;;
esac
admin_url="postgres://${server}/postgres${query}"

app_login=$(cat "$DATABASE_USER_FILE") || {
  echo "bootstrap: cannot read DATABASE_USER_FILE; the Secret must hold {\"username\": \"${app_owner}_a\", \"password\": ...}" >&2
  exit 1
}
case $app_login in
  "${app_owner}_a" | "${app_owner}_b") ;;
  *)
    echo "bootstrap: the Secret's username must be ${app_owner}_a or ${app_owner}_b (the alternating login users)" >&2
    exit 1
    ;;
esac

admin_dir=${ADMIN_SECRET_DIR:-/var/run/secrets/db-admin}
PGUSER=$(cat "$admin_dir/username")
PGPASSWORD=$(cat "$admin_dir/password")
export PGUSER PGPASSWORD

# Dev's instance may still be starting in the morning; locally the server starts beside this Job.
tries=0
until pg_isready -q -d "$admin_url"; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "bootstrap: no database answering at $server after 5 minutes" >&2
    exit 1
  fi
  sleep 5
done

exec psql -X -q -d "$admin_url" -v ON_ERROR_STOP=1 \
  -v app_owner="$app_owner" -v app_login="$app_login" -v app_db="$app_db" \
  -v password_file="$DATABASE_PASSWORD_FILE" \
  -f "$(dirname "$0")/bootstrap.sql"
