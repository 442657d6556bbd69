#!/usr/bin/env bash
# terraform/: the offline checks (`make test`, and the terraform workflow after its online ones):
# formatting, then checkov over our own resources with zero failures. Every skip carries a reason,
# inline (#checkov:skip=ID:reason) or in terraform/.checkov.yaml. Registry modules cannot be fetched
# here, so checkov scans the code we write, not the community modules' internals. Then every IAM
# document: the contract test renders each to JSON with sample values (artifacts/iam/), and
# cloudsplaining judges them (scripts/check-iam.py: zero findings but the written exceptions).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/venv/bin:$PWD/.tools/cargo/bin:$PATH"
# A CLI config path that points nowhere only produces warnings; drop it.
if [[ -n ${TF_CLI_CONFIG_FILE:-} && ! -f $TF_CLI_CONFIG_FILE ]]; then unset TF_CLI_CONFIG_FILE; fi

terraform fmt -check -recursive -diff terraform

out=$(mktemp)
trap 'rm -f "$out"' EXIT
if ! checkov --config-file terraform/.checkov.yaml --directory terraform >"$out" 2>&1; then
  cat "$out"
  echo "check-terraform: checkov found failures (fix them, or skip with a written reason)" >&2
  exit 1
fi
grep -E '^(Passed|Failed) checks' "$out" || true

# The IAM documents, rendered from the Terraform that creates them, then judged.
cargo test --locked --quiet -p integration-tests --test contract \
  iam::every_iam_document_renders_to_json_for_cloudsplaining -- --exact >/dev/null
python scripts/check-iam.py artifacts/iam
