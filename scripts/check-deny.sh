#!/usr/bin/env bash
# Supply-chain policy (deny.toml): licenses, banned crates and allowed sources, offline.
# `--with-advisories` adds the RustSec advisory check, which fetches the database from GitHub;
# CI (.github/workflows/ci.yml) runs that mode, the offline test command cannot.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/cargo/bin:$PWD/.tools/venv/bin:$PATH"

# cargo-deny reads the whole graph, every target platform included; fetch those crates first
# (crates.io only, exactly what Cargo.lock names).
cargo fetch --locked --quiet

if [[ ${1:-} == --with-advisories ]]; then
  exec cargo deny --locked check --hide-inclusion-graph advisories bans licenses sources
fi
# Duplicate-version warnings are for humans reading CI logs; locally only errors are printed.
cargo deny --offline --locked --log-level error check --hide-inclusion-graph bans licenses sources
