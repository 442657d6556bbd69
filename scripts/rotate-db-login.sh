#!/usr/bin/env bash
# Rotates api-app's database login with no refused connection (terraform/README.md, "Rotating api-app's
# database login"). Two login users alternate, as Secrets Manager's multi-user RDS rotation does: the pods
# log in as one (Secret api-app-db, key username); this gives the other a new password and then moves the
# pods to it. The order is what makes it gapless:
#   1. put {the inactive user, a new password} into gitops/demo-api/<env>/db;
#   2. sync: the bootstrap hook reads the value afresh (ExternalSecret api-app-db-login) and sets the
#      password on that user, while the pods still read api-app-db, which is fetched only when forced;
#   3. force the fetch of api-app-db: within about a minute the kubelet swaps the pods' files, and new
#      connections log in as the other user. The previous user keeps its password (until the next
#      rotation), so a pod that has not seen the swap yet still logs in, and open connections stay.
# Needs aws (Secrets Manager of the env), kubectl (the env's cluster) and argocd (logged in).
#
#   scripts/rotate-db-login.sh dev|prod
set -euo pipefail

fail() { printf 'rotate-db-login: %s\n' "$*" >&2; exit 1; }

# The other of the two alternating login users: <owner>_a <-> <owner>_b.
other_user() {
  case $1 in
    *_a) printf '%s_b\n' "${1%_a}" ;;
    *_b) printf '%s_a\n' "${1%_b}" ;;
    *) return 1 ;;
  esac
}

[[ $# -eq 1 && $1 =~ ^(dev|prod)$ ]] || { echo "usage: $0 dev|prod" >&2; exit 2; }
env=$1
ns=api-app-$env
secret_id=gitops/demo-api/$env/db

# The user the pods log in as now, and the one Secrets Manager names: they differ only when an earlier
# rotation stopped between its steps; moving on from there could change the password the pods use.
active=$(kubectl -n "$ns" get secret api-app-db -o jsonpath='{.data.username}' | base64 -d)
stored=$(aws secretsmanager get-secret-value --secret-id "$secret_id" --query SecretString --output text |
  jq -r '.username // empty')
[[ -n $active ]] || fail "Secret api-app-db in $ns names no user: upgrade first (terraform/README.md)"
[[ $stored == "$active" ]] ||
  fail "an earlier rotation is half done: $secret_id names ${stored:-no user}, the pods log in as $active. Finish it: argocd app sync api-app-$env, then force-sync ExternalSecret api-app-db (terraform/README.md)"
next=$(other_user "$active") || fail "the pods log in as $active, which is not one of two alternating users (<owner>_a, <owner>_b)"
# Step 2's sync applies all of Git, not only the hook: in prod (manual sync) that would also release
# whatever was merged and not synced yet, so the rotation starts only from a synced app.
sync_status=$(argocd app get "api-app-$env" -o json | jq -r '.status.sync.status')
[[ $sync_status == Synced ]] ||
  fail "api-app-$env is ${sync_status:-of unknown status}, not Synced: its sync would also release what Git changed. Sync (or revert) that first"

# 1. The new value, written from a private file: the password never appears in a process's arguments.
work=$(umask 077 && mktemp -d)
trap 'rm -rf "$work"' EXIT
aws secretsmanager get-random-password --password-length 48 --exclude-punctuation --require-each-included-type \
  --query RandomPassword --output text >"$work/password"
NEXT_USER=$next jq -n --rawfile password "$work/password" \
  '{username: env.NEXT_USER, password: ($password | rtrimstr("\n"))}' >"$work/value.json"
aws secretsmanager put-secret-value --secret-id "$secret_id" --secret-string "file://$work/value.json" >/dev/null
echo "rotate-db-login: $secret_id now names $next with a new password"

# 2. The hook sets it on $next; argocd waits for the sync and fails if the hook does.
argocd app sync "api-app-$env" >/dev/null ||
  fail "the sync failed: $next may not have its password yet, and the pods still use $active (run it again once fixed)"
echo "rotate-db-login: the bootstrap hook set the password of $next"

# 3. Only now may the pods see it.
before=$(kubectl -n "$ns" get externalsecret api-app-db -o jsonpath='{.status.refreshTime}')
kubectl -n "$ns" annotate externalsecret api-app-db force-sync="$(date +%s)" --overwrite >/dev/null
for _ in $(seq 60); do
  if [[ $(kubectl -n "$ns" get externalsecret api-app-db -o jsonpath='{.status.refreshTime}') != "$before" &&
    $(kubectl -n "$ns" get secret api-app-db -o jsonpath='{.data.username}' | base64 -d) == "$next" ]]; then
    echo "rotate-db-login: Secret api-app-db names $next; the pods move to it within about a minute, and $active keeps its password until the next rotation"
    exit 0
  fi
  sleep 2
done
fail "ExternalSecret api-app-db did not fetch the new value in 2 minutes (kubectl -n $ns describe externalsecret api-app-db)"
