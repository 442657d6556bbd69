#!/usr/bin/env bash
# The repository's GitHub settings that the pipeline's promises rest on, as code:
# .github/github-settings.json states each one once (the environments' branches, reviewers and
# self-review rule, the rulesets, the fork pull request approval policy); this script applies and
# checks them with the GitHub CLI.
#
#   scripts/github-settings.sh apply --app-id ID --reviewer team:<slug>|user:<login> [--repo owner/name]
#       Once, by a repository admin (terraform/README.md, step 1; again after editing the spec):
#       sets everything, idempotently, then runs the full check. ID is the GitOps App's numeric ID,
#       the only actor allowed to write gitops/** branches; the reviewer approves every environment
#       the spec gives required reviewers (production, terraform-prod, terraform-prod-plan).
#   scripts/github-settings.sh check --app-id ID [--repo owner/name]
#       Everything, as a repository admin: the environments, the rulesets (bypass actors included:
#       GitHub shows them to admins only), the fork approval policy, and GitHub's CODEOWNERS
#       errors (a line naming a team that does not exist is silently ignored by GitHub).
#   scripts/github-settings.sh check --environment NAME [--repo owner/name]
#       One environment, with a token that may only read Actions (terraform-env.yml, before every
#       job that runs in one: its role trusts only that environment's tokens).
#
# An environment deploys from the spec's branches, or from "any" branch: terraform-prod-plan, whose
# jobs are pull requests' plans (GitHub matches their refs/pull/N/merge against no branch policy),
# so its reviewers are its only gate.
#
# Required reviewers and self-review prevention exist only on public repositories and on
# Enterprise plans: elsewhere GitHub drops them, and the check says so.
set -euo pipefail

spec="$(cd "$(dirname "$0")/.." && pwd)/.github/github-settings.json"
fail() { printf 'github-settings: %s\n' "$*" >&2; exit 1; }
usage="usage: scripts/github-settings.sh apply --app-id ID --reviewer team:<slug>|user:<login> [--repo owner/name]
       scripts/github-settings.sh check (--app-id ID | --environment NAME) [--repo owner/name]"

command=${1:-}
(($#)) && shift
app_id='' reviewer='' environment='' repo=${GITHUB_REPOSITORY:-}
while (($#)); do
  [[ $1 != --* || $# -ge 2 ]] || fail "$1 needs a value"
  case $1 in
    --app-id) app_id=${2:-}; shift 2 ;;
    --reviewer) reviewer=${2:-}; shift 2 ;;
    --environment) environment=${2:-}; shift 2 ;;
    --repo) repo=${2:-}; shift 2 ;;
    *) fail "$usage" ;;
  esac
done
[[ -n $repo ]] || repo=$(gh repo view --json nameWithOwner --jq .nameWithOwner)
[[ $repo =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] || fail "not a repository: $repo"
problems=()

# The spec's rulesets, with the GitOps App's ID in place of its placeholder.
rulesets() {
  jq -c --argjson app "$app_id" '.rulesets[] | walk(if . == "GITOPS_APP_ID" then $app else . end)' "$spec"
}

ruleset_id() {
  gh api "repos/${repo}/rulesets?includes_parents=false" --jq ".[] | select(.name == \"$1\") | .id"
}

apply_rulesets() {
  local ruleset name id
  while read -r ruleset; do
    name=$(jq -r .name <<<"$ruleset")
    id=$(ruleset_id "$name")
    if [[ -n $id ]]; then
      gh api --method PUT "repos/${repo}/rulesets/${id}" --input - <<<"$ruleset" >/dev/null
    else
      gh api --method POST "repos/${repo}/rulesets" --input - <<<"$ruleset" >/dev/null
    fi
    echo "github-settings: ruleset '$name' applied"
  done < <(rulesets)
}

apply_environments() {
  local type id env want policies branch policy
  case $reviewer in
    team:?*) type=Team id=$(gh api "orgs/${repo%%/*}/teams/${reviewer#team:}" --jq .id) ;;
    user:?*) type=User id=$(gh api "users/${reviewer#user:}" --jq .id) ;;
    *) fail "--reviewer: team:<slug> or user:<login>, who approves production, terraform-prod and terraform-prod-plan" ;;
  esac
  for env in $(jq -r '.environments | keys[]' "$spec"); do
    want=$(jq -c --arg env "$env" '.environments[$env]' "$spec")
    jq --arg type "$type" --argjson id "$id" '{
        prevent_self_review,
        can_admins_bypass,
        reviewers: (if .required_reviewers then [{type: $type, id: $id}] else [] end),
        deployment_branch_policy: (if .deployment_branches == "any" then null
          else {protected_branches: false, custom_branch_policies: true} end)
      }' <<<"$want" | gh api --method PUT "repos/${repo}/environments/${env}" --input - >/dev/null
    if [[ $(jq -r '.deployment_branches' <<<"$want") == any ]]; then
      echo "github-settings: environment '$env' applied (any branch)"
      continue
    fi
    # Exactly the spec's branches: add the missing, delete the rest.
    policies=$(gh api "repos/${repo}/environments/${env}/deployment-branch-policies")
    for branch in $(jq -r '.deployment_branches[]' <<<"$want"); do
      jq -e --arg b "$branch" 'any(.branch_policies[]; .name == $b and .type != "tag")' <<<"$policies" >/dev/null ||
        jq -n --arg b "$branch" '{name: $b, type: "branch"}' |
        gh api --method POST "repos/${repo}/environments/${env}/deployment-branch-policies" --input - >/dev/null
    done
    for policy in $(jq -r --argjson want "$want" \
      '.branch_policies[] | select(.type == "tag" or (.name | IN($want.deployment_branches[]) | not)) | .id' <<<"$policies"); do
      gh api --method DELETE "repos/${repo}/environments/${env}/deployment-branch-policies/${policy}" >/dev/null
    done
    echo "github-settings: environment '$env' applied"
  done
}

apply_fork_approval() {
  jq '{approval_policy: .fork_pull_request_approval}' "$spec" |
    gh api --method PUT "repos/${repo}/actions/permissions/fork-pr-contributor-approval" --input - >/dev/null
  echo "github-settings: workflows of fork pull requests wait for approval ($(jq -r .fork_pull_request_approval "$spec"))"
}

check_environment() {
  local env=$1 want live got visibility
  want=$(jq -c --arg env "$env" '.environments[$env] // empty' "$spec")
  [[ -n $want ]] || fail "${spec##*/} does not describe environment $env"
  live=$(gh api "repos/${repo}/environments/${env}") ||
    { problems+=("environment $env does not exist (or the token may not read Actions): run scripts/github-settings.sh apply"); return; }
  if [[ $(jq -r '.deployment_branches' <<<"$want") == any ]]; then
    jq -e '.deployment_branch_policy == null' <<<"$live" >/dev/null ||
      problems+=("environment $env must deploy from any branch, as pull requests' plans do (deployment branch policy: $(jq -c .deployment_branch_policy <<<"$live"))")
  else
    jq -e '.deployment_branch_policy == {protected_branches: false, custom_branch_policies: true}' <<<"$live" >/dev/null ||
      problems+=("environment $env must deploy from selected branches only (deployment branch policy: $(jq -c .deployment_branch_policy <<<"$live"))")
    got=$(gh api "repos/${repo}/environments/${env}/deployment-branch-policies" |
      jq -c '[.branch_policies[] | "\(.type // "branch") \(.name)"] | sort')
    [[ $got == "$(jq -c '[.deployment_branches[] | "branch \(.)"] | sort' <<<"$want")" ]] ||
      problems+=("environment $env deploys from $got, not the branches $(jq -c .deployment_branches <<<"$want")")
  fi
  if [[ $(jq -r .can_admins_bypass <<<"$want") == false && $(jq -r .can_admins_bypass <<<"$live") != false ]]; then
    problems+=("environment $env lets administrators bypass its protection rules")
  fi
  if [[ $(jq -r .required_reviewers <<<"$want") == true ]]; then
    if ! jq -e 'any(.protection_rules[]?; .type == "required_reviewers" and (.reviewers | length) > 0)' <<<"$live" >/dev/null; then
      visibility=$(gh api "repos/${repo}" --jq .visibility)
      problems+=("environment $env has no required reviewers (a $visibility repository: reviewers on environments need a public repository or GitHub Enterprise); nothing waits for an approval")
    elif [[ $(jq -r .prevent_self_review <<<"$want") == true ]] &&
      ! jq -e 'all(.protection_rules[]? | select(.type == "required_reviewers"); .prevent_self_review == true)' <<<"$live" >/dev/null; then
      problems+=("environment $env: turn on 'Prevent self-review', or whoever starts the job approves it")
    fi
  fi
}

# shellcheck disable=SC2016 # jq's own $variables
# covers(want): the live value holds everything the spec says (GitHub adds defaults of its own).
covers='def covers($want):
  . as $got
  | if ($want | type) == "object" then ($got | type) == "object" and all($want | keys[]; . as $k | $got[$k] | covers($want[$k]))
    elif ($want | type) == "array" then ($got | type) == "array" and ($got | length) == ($want | length)
      and all(range($want | length); . as $i | $got[$i] | covers($want[$i]))
    else $got == $want end;'

check_rulesets() {
  local ruleset name id live diff
  while read -r ruleset; do
    name=$(jq -r .name <<<"$ruleset")
    id=$(ruleset_id "$name")
    [[ -n $id ]] || { problems+=("ruleset '$name' does not exist: run scripts/github-settings.sh apply"); continue; }
    live=$(gh api "repos/${repo}/rulesets/${id}")
    diff=$(jq -r --argjson want "$ruleset" "$covers"'
      [ (("target", "enforcement", "conditions") as $k | select(.[$k] | covers($want[$k]) | not) | $k),
        ($want.rules[] as $rule | select(any(.rules[]?; covers($rule)) | not) | "rule \($rule.type)"),
        if has("bypass_actors") | not then "bypass actors (GitHub shows them to repository admins only)"
        elif ([.bypass_actors[] | {actor_id, actor_type, bypass_mode}] | sort) != ($want.bypass_actors | sort) then "bypass actors \(.bypass_actors | tojson)"
        else empty end
      ] | join(", ")' <<<"$live")
    [[ -z $diff ]] || problems+=("ruleset '$name' differs from ${spec##*/}: $diff")
  done < <(rulesets)
}

check_codeowners() {
  local errors
  errors=$(gh api "repos/${repo}/codeowners/errors" --jq '.errors[] | "line \(.line): \(.message | split("\n")[0])"')
  [[ -z $errors ]] || problems+=("CODEOWNERS has lines GitHub ignores (create the teams, or replace them):"$'\n'"$errors")
}

check_fork_approval() {
  local want got
  want=$(jq -r .fork_pull_request_approval "$spec")
  got=$(gh api "repos/${repo}/actions/permissions/fork-pr-contributor-approval" --jq .approval_policy) ||
    { problems+=("the fork approval policy cannot be read: run the check as a repository admin"); return; }
  [[ $got == "$want" ]] || problems+=("workflows of fork pull requests run after approval for $got, not $want")
}

check_all() {
  local env
  for env in $(jq -r '.environments | keys[]' "$spec"); do check_environment "$env"; done
  check_rulesets
  check_fork_approval
  check_codeowners
}

report() {
  if ((${#problems[@]})); then
    printf 'github-settings: %s\n' "${problems[@]}" >&2
    exit 1
  fi
  echo "github-settings: ${repo}: $1 as ${spec##*/} says"
}

need_app_id() {
  [[ $app_id =~ ^[0-9]+$ ]] || fail "--app-id: the GitOps App's numeric ID (Settings → Developer settings → GitHub Apps)"
}

case $command in
  apply)
    need_app_id
    apply_environments
    apply_rulesets
    apply_fork_approval
    check_all
    report "every setting is applied"
    ;;
  check)
    if [[ -n $environment ]]; then
      check_environment "$environment"
      report "environment $environment is protected"
    else
      need_app_id
      check_all
      report "every setting is"
    fi
    ;;
  *) fail "$usage" ;;
esac
