#!/bin/sh
# Puts $FIRST_VALUE into secret $SECRET_ID unless the secret already has a version (a rotation, or an
# earlier apply): never overwrites, never reads a value. The value arrives in the environment and
# leaves through stdin, so it is never in a process's arguments. Needs the AWS CLI v2 (the runners'
# image and terraform/README.md's prerequisites have it). tests/contract/iam.rs grants the apply role
# every `aws` call written here.
set -eu

versions=$(aws secretsmanager list-secret-version-ids --secret-id "$SECRET_ID" --include-deprecated --query 'length(Versions)' --output text)
if [ "$versions" != "0" ]; then
  echo "$SECRET_ID already has $versions version(s): left as it is"
  exit 0
fi
printf '%s' "$FIRST_VALUE" | aws secretsmanager put-secret-value --secret-id "$SECRET_ID" --secret-string file:///dev/stdin --query VersionId --output text >/dev/null
echo "$SECRET_ID: first value written"
