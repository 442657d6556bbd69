#!/usr/bin/env bash
# The GitHub side of the CI identities, as code: github-settings.json says how each terraform-<env>
# environment is protected (its apply role trusts only tokens from it) and that workflows of pull
# requests from forks wait for a maintainer's approval (the runners must never start for them).
#
#   github-settings.sh apply <owner>/<repo> <prod reviewer>   once, by a repository admin, at bootstrap
#                                                             (<prod reviewer>: team:<slug> or user:<login>)
#   github-settings.sh check <owner>/<repo> <environment>     by terraform-env.yml before every run
#
# Needs gh (authenticated) and jq. `check` reads only, with a token that may read Actions settings.
set -euo pipefail
cd "$(dirname "$0")"
spec=github-settings.json

fail() { printf 'github-settings: %s\n' "$*" >&2; exit 1; }

apply() {
  local repo=$1 reviewer=${2:?a prod reviewer: team:<slug> or user:<login>} type id env
  case $reviewer in
    team:*) type=Team id=$(gh api "orgs/${repo%%/*}/teams/${reviewer#team:}" --jq .id) ;;
    user:*) type=User id=$(gh api "users/${reviewer#user:}" --jq .id) ;;
    *) fail "reviewer must be team:<slug> or user:<login>" ;;
  esac
  for env in $(jq -r '.environments | keys[]' "$spec"); do
    jq --arg env "$env" --arg type "$type" --argjson id "$id" '.environments[$env] | {
        prevent_self_review,
        reviewers: (if .required_reviewers then [{type: $type, id: $id}] else [] end),
        deployment_branch_policy: {protected_branches: false, custom_branch_policies: true}
      }' "$spec" | gh api -X PUT "repos/$repo/environments/$env" --input - >/dev/null
    for branch in $(jq -r --arg env "$env" '.environments[$env].deployment_branches[]' "$spec"); do
      gh api "repos/$repo/environments/$env/deployment-branch-policies" --jq '.branch_policies[].name' | grep -qx "$branch" ||
        gh api -X POST "repos/$repo/environments/$env/deployment-branch-policies" -f name="$branch" -f type=branch >/dev/null
    done
    echo "github-settings: $env protected"
  done
  gh api -X PUT "repos/$repo/actions/permissions/fork-pr-contributor-approval" \
    -f approval_policy="$(jq -r .fork_pull_request_approval "$spec")" >/dev/null
  echo "github-settings: workflows of fork pull requests wait for approval"
}

check() {
  local repo=$1 env=$2 live want got
  want=$(jq -c --arg env "$env" '.environments[$env] // empty' "$spec")
  [[ -n $want ]] || fail "$spec does not describe environment $env"
  live=$(gh api "repos/$repo/environments/$env") || fail "environment $env does not exist: run terraform/bootstrap/github-settings.sh apply"
  [[ $(jq -c '.deployment_branch_policy' <<<"$live") == '{"protected_branches":false,"custom_branch_policies":true}' ]] ||
    fail "$env must deploy from selected branches only (deployment branch policy: $(jq -c .deployment_branch_policy <<<"$live"))"
  got=$(gh api "repos/$repo/environments/$env/deployment-branch-policies" --jq '[.branch_policies[].name] | sort')
  [[ $got == $(jq -c '.deployment_branches | sort' <<<"$want") ]] || fail "$env deploys from $got, not $(jq -c .deployment_branches <<<"$want")"
  if [[ $(jq -r .required_reviewers <<<"$want") == true ]]; then
    jq -e '[.protection_rules[] | select(.type == "required_reviewers") | .reviewers | length] | max > 0' <<<"$live" >/dev/null ||
      fail "$env must require a reviewer"
    [[ $(jq -r '[.protection_rules[] | select(.type == "required_reviewers") | .prevent_self_review][0]' <<<"$live") == "$(jq -r .prevent_self_review <<<"$want")" ]] ||
      fail "$env must prevent self-review"
  fi
  echo "github-settings: $env is protected as $spec says"
}

case ${1:-} in
  apply) apply "${2:?owner/repo}" "${3:-}" ;;
  check) check "${2:?owner/repo}" "${3:?environment}" ;;
  *) fail "usage: $0 apply <owner>/<repo> <team:slug|user:login> | check <owner>/<repo> <environment>" ;;
esac
