#!/usr/bin/env bash
# First run (and any time after): the GitHub settings the pipeline's promises rest on, applied and
# checked with the GitHub CLI as a repository admin. Idempotent.
#   scripts/github-settings.sh --app-id <GitOps App's numeric ID> [--repo owner/name]
# Applies two rulesets, with no bypass for admins:
#   main               a PR; review from code owners; squash merges; the one required check `required`
#                      (ci.yml) from GitHub Actions; no force push, no deletion.
#   gitops branches    only the GitOps App may create, push or delete refs/heads/gitops/** (the bump,
#                      promotion and rollback branches), so no person or other token can pose as it.
# Then checks what it cannot set: GitHub accepts every CODEOWNERS line (a team that does not exist
# is silently ignored otherwise), and the environments `production` and `terraform-prod` have
# required reviewers with self-review prevented: GitHub offers those only on public repositories
# and on Enterprise plans, and without them the approvals the pipeline describes do not exist.
set -euo pipefail

fail() { printf 'github-settings: %s\n' "$*" >&2; exit 1; }
app_id='' repo=''
while (($#)); do
  case $1 in
    --app-id) app_id=${2:-}; shift 2 ;;
    --repo) repo=${2:-}; shift 2 ;;
    *) fail "usage: scripts/github-settings.sh --app-id ID [--repo owner/name]" ;;
  esac
done
[[ $app_id =~ ^[0-9]+$ ]] || fail "--app-id: the GitOps App's numeric ID (Settings → Developer settings → GitHub Apps)"
[[ -n $repo ]] || repo=$(gh repo view --json nameWithOwner --jq .nameWithOwner)
[[ $repo =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] || fail "not a repository: $repo"
# GitHub Actions' own app: only its check runs count as `required`.
actions_app=15368
problems=()

# put_ruleset NAME JSON: creates the ruleset, or replaces the one of that name.
put_ruleset() {
  local id
  id=$(gh api "repos/${repo}/rulesets" --jq ".[] | select(.name == \"$1\") | .id")
  if [[ -n $id ]]; then
    gh api --method PUT "repos/${repo}/rulesets/${id}" --input - <<<"$2" >/dev/null
  else
    gh api --method POST "repos/${repo}/rulesets" --input - <<<"$2" >/dev/null
  fi
  echo "github-settings: ruleset '$1' applied"
}

put_ruleset main "$(cat <<JSON
{
  "name": "main",
  "target": "branch",
  "enforcement": "active",
  "bypass_actors": [],
  "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}},
  "rules": [
    {"type": "deletion"},
    {"type": "non_fast_forward"},
    {"type": "pull_request", "parameters": {
      "required_approving_review_count": 0,
      "require_code_owner_review": true,
      "dismiss_stale_reviews_on_push": true,
      "require_last_push_approval": true,
      "required_review_thread_resolution": false,
      "allowed_merge_methods": ["squash"]}},
    {"type": "required_status_checks", "parameters": {
      "strict_required_status_checks_policy": false,
      "required_status_checks": [{"context": "required", "integration_id": ${actions_app}}]}}
  ]
}
JSON
)"

put_ruleset "gitops branches" "$(cat <<JSON
{
  "name": "gitops branches",
  "target": "branch",
  "enforcement": "active",
  "bypass_actors": [{"actor_id": ${app_id}, "actor_type": "Integration", "bypass_mode": "always"}],
  "conditions": {"ref_name": {"include": ["refs/heads/gitops/**"], "exclude": []}},
  "rules": [{"type": "creation"}, {"type": "update"}, {"type": "deletion"}, {"type": "non_fast_forward"}]
}
JSON
)"

# CODEOWNERS lines GitHub could not use (unknown users or teams, bad patterns) are ignored by GitHub.
errors=$(gh api "repos/${repo}/codeowners/errors" --jq '.errors[] | "line \(.line): \(.message | split("\n")[0])"')
[[ -z $errors ]] || problems+=("CODEOWNERS has lines GitHub ignores (create the teams, or replace them):"$'\n'"$errors")

visibility=$(gh api "repos/${repo}" --jq .visibility)
for env in production terraform-prod; do
  rules=$(gh api "repos/${repo}/environments/${env}" --jq '[.protection_rules[]? | select(.type == "required_reviewers")] | length' 2>/dev/null) ||
    { problems+=("environment ${env} does not exist: create it as .github/README.md describes"); continue; }
  self=$(gh api "repos/${repo}/environments/${env}" --jq '[.protection_rules[]? | select(.type == "required_reviewers") | .prevent_self_review] | all')
  if [[ $rules == 0 ]]; then
    problems+=("environment ${env} has no required reviewers (a ${visibility} repository: reviewers on environments need a public repository or GitHub Enterprise); nothing waits for an approval")
  elif [[ $self != true ]]; then
    problems+=("environment ${env}: turn on 'Prevent self-review', or whoever starts a promotion approves it")
  fi
done

if ((${#problems[@]})); then
  printf 'github-settings: %s\n' "${problems[@]}" >&2
  exit 1
fi
echo "github-settings: ${repo}: rulesets applied; CODEOWNERS and the approval environments check out"
