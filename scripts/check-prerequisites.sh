#!/usr/bin/env bash
# What `make test` cannot install itself, checked before anything runs: each missing prerequisite
# is named on one line with how to get it, instead of a failure deep inside a later stage.
# `--demo`: only what `make demo` needs (the first four).
set -uo pipefail

target="test"
[[ ${1:-} == --demo ]] && target="demo"
missing=0
need() { # need WHAT HOW
  echo "make $target: missing prerequisite: $1 ($2)" >&2
  missing=1
}
have() { command -v "$1" >/dev/null 2>&1; }

have make || need "make" "apt-get install make"
have curl || need "curl" "apt-get install curl"
have cargo || need "cargo" "install rustup from https://rustup.rs; rust-toolchain.toml pins the version"
# rustc links through the system C compiler, and `ring` (TLS) compiles C: rustup brings neither.
have cc || need "cc (a C compiler)" "apt-get install gcc"
[[ $target == demo ]] && exit "$missing"
if ! have python3; then
  need "python3 3.11+" "apt-get install python3"
elif ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  need "python3 3.11+ (found $(python3 -V 2>&1))" "install a newer Python 3"
elif ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  need "python3 venv" "apt-get install python3-venv"
fi
if ! have node; then
  need "node 22+" "install Node.js 22 or later, e.g. from https://nodejs.org"
else
  node_major=$(node -p 'process.versions.node.split(".")[0]')
  if ((node_major < 20)); then
    need "node 22+ (found $(node --version))" "install Node.js 22 or later"
  elif ((node_major < 22)); then
    # The pinned kubernetes-models packages declare Node 22+; 20 runs them today, unsupported.
    echo "make test: warning: node $(node --version) is older than the 22+ the pinned kubernetes-models packages declare" >&2
  fi
fi
have npm || need "npm" "apt-get install npm, or install Node.js from https://nodejs.org"
have kubectl || need "kubectl" "https://kubernetes.io/docs/tasks/tools/"
if ! have terraform; then
  need "terraform" "1.11 or later: https://developer.hashicorp.com/terraform/install"
else
  # `Terraform v1.11.4` on the first line; the checks use features of 1.11.
  tf_version=$(terraform version 2>/dev/null | sed -n '1s/^Terraform v\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
  read -r tf_major tf_minor <<<"${tf_version:-0 0}"
  if ((tf_major < 1 || (tf_major == 1 && tf_minor < 11))); then
    need "terraform 1.11+ (found $(terraform version 2>/dev/null | head -n 1))" "https://developer.hashicorp.com/terraform/install"
  fi
fi
if ! have apt-get && ! have chromium && ! have google-chrome; then
  need "apt-get (for chromium and wrk)" "run on Debian or Ubuntu, or install chromium and wrk yourself"
fi
exit "$missing"
