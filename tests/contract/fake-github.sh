#!/usr/bin/env bash
# A stand-in `gh api` for scripts/github-settings.sh, with state: one repository's environments,
# deployment branch policies, rulesets and fork approval policy live as JSON files in
# $FAKE_DIR/github, and answer GET, PUT, POST and DELETE the way GitHub's REST API does
# (docs.github.com/rest: deployments/environments, deployments/branch-policies, repos/rules,
# actions/permissions, repos/repos#list-codeowners-errors). Every call is logged to
# $FAKE_DIR/github/calls as `METHOD endpoint`. Files a test may write: `visibility` (public),
# `codeowners-errors.json`, `not-admin` (the token is no admin: rulesets hide their bypass
# actors, and the Actions settings answer 403).
set -euo pipefail
[[ ${1:-} == api ]] || { echo "unexpected: gh $*" >&2; exit 2; }
shift
state=$FAKE_DIR/github
mkdir -p "$state/environments"
method=GET endpoint='' filter='' body=''
while (($#)); do
  case $1 in
    --method | -X) method=$2; shift 2 ;;
    --jq) filter=$2; shift 2 ;;
    --input) [[ $2 == - ]] || { echo "fake gh: --input - only" >&2; exit 2; }; body=$(cat); shift 2 ;;
    -*) echo "fake gh: unknown flag $1" >&2; exit 2 ;;
    *) endpoint=$1; shift ;;
  esac
done
echo "$method $endpoint" >>"$state/calls"
path=${endpoint%%\?*}

not_found() { echo "gh: Not Found (HTTP 404)" >&2; exit 1; }
forbidden() { echo "gh: Resource not accessible by integration (HTTP 403)" >&2; exit 1; }
answer() {
  if [[ -n $filter ]]; then jq -r "$filter"; else cat; fi
}
next_id() { # a fresh id for a new object in the JSON array file $1
  jq '[.[].id] | max // 0 | . + 1' "$1"
}

case "$method $path" in
  "GET repos/"*/*/environments/*/deployment-branch-policies)
    env=${path#*/environments/}; env=${env%%/*}
    [[ -f $state/environments/$env.json ]] || not_found
    jq '{total_count: length, branch_policies: .}' "$state/environments/$env.policies.json" | answer ;;
  "POST repos/"*/*/environments/*/deployment-branch-policies)
    env=${path#*/environments/}; env=${env%%/*}
    file=$state/environments/$env.policies.json
    [[ -f $file ]] || not_found
    id=$(next_id "$file")
    jq --argjson id "$id" --argjson new "$body" '. + [{id: $id, name: $new.name, type: ($new.type // "branch")}]' "$file" >"$file.new"
    mv "$file.new" "$file"
    echo '{}' ;;
  "DELETE repos/"*/*/environments/*/deployment-branch-policies/*)
    env=${path#*/environments/}; env=${env%%/*}
    file=$state/environments/$env.policies.json
    [[ -f $file ]] || not_found
    jq --argjson id "${path##*/}" 'map(select(.id != $id))' "$file" >"$file.new"
    mv "$file.new" "$file" ;;
  "GET repos/"*/*/environments/*)
    env=${path##*/}
    [[ -f $state/environments/$env.json ]] || not_found
    answer <"$state/environments/$env.json" ;;
  "PUT repos/"*/*/environments/*)
    # GitHub stores reviewers as a required_reviewers rule, and the branch policy as a rule too.
    env=${path##*/}
    [[ -f $state/environments/$env.policies.json ]] || echo '[]' >"$state/environments/$env.policies.json"
    jq --arg env "$env" '{
        name: $env,
        can_admins_bypass: (if has("can_admins_bypass") then .can_admins_bypass else true end),
        deployment_branch_policy: (.deployment_branch_policy | if . then {custom_branch_policies, protected_branches} else . end),
        protection_rules: (
          [if (.reviewers // []) != [] then {type: "required_reviewers", prevent_self_review: (.prevent_self_review == true),
             reviewers: [.reviewers[] | {type, reviewer: {id}}]} else empty end]
          + [if .deployment_branch_policy != null then {type: "branch_policy"} else empty end])
      }' <<<"$body" >"$state/environments/$env.json"
    answer <"$state/environments/$env.json" ;;
  "GET repos/"*/*/rulesets)
    [[ -f $state/rulesets.json ]] || echo '[]' >"$state/rulesets.json"
    jq '[.[] | {id, name, target, source_type: "Repository", enforcement}]' "$state/rulesets.json" | answer ;;
  "POST repos/"*/*/rulesets)
    [[ -f $state/rulesets.json ]] || echo '[]' >"$state/rulesets.json"
    id=$(next_id "$state/rulesets.json")
    jq --argjson id "$id" --argjson new "$body" '. + [$new + {id: $id}]' "$state/rulesets.json" >"$state/rulesets.new"
    mv "$state/rulesets.new" "$state/rulesets.json"
    echo '{}' ;;
  "GET repos/"*/*/rulesets/*)
    jq -e --argjson id "${path##*/}" 'any(.[]; .id == $id)' "$state/rulesets.json" >/dev/null || not_found
    jq --argjson id "${path##*/}" --argjson admin "$([[ -f $state/not-admin ]] && echo false || echo true)" \
      '.[] | select(.id == $id) | if $admin then . else del(.bypass_actors) end' "$state/rulesets.json" | answer ;;
  "PUT repos/"*/*/rulesets/*)
    jq -e --argjson id "${path##*/}" 'any(.[]; .id == $id)' "$state/rulesets.json" >/dev/null || not_found
    jq --argjson id "${path##*/}" --argjson new "$body" 'map(if .id == $id then $new + {id: $id} else . end)' \
      "$state/rulesets.json" >"$state/rulesets.new"
    mv "$state/rulesets.new" "$state/rulesets.json"
    echo '{}' ;;
  "GET repos/"*/*/actions/permissions/fork-pr-contributor-approval)
    [[ ! -f $state/not-admin ]] || forbidden
    if [[ -f $state/fork-approval.json ]]; then answer <"$state/fork-approval.json"; else
      echo '{"approval_policy": "first_time_contributors"}' | answer; fi ;;
  "PUT repos/"*/*/actions/permissions/fork-pr-contributor-approval)
    jq -e '.approval_policy | IN("first_time_contributors_new_to_github", "first_time_contributors", "all_external_contributors")' \
      <<<"$body" >/dev/null || { echo "gh: Validation Failed (HTTP 422)" >&2; exit 1; }
    echo "$body" >"$state/fork-approval.json" ;;
  "GET repos/"*/*/codeowners/errors)
    if [[ -f $state/codeowners-errors.json ]]; then answer <"$state/codeowners-errors.json"; else
      echo '{"errors": []}' | answer; fi ;;
  "GET orgs/"*/teams/*) jq -n --arg slug "${path##*/}" '{id: 4100, slug: $slug}' | answer ;;
  "GET users/"*) jq -n --arg login "${path##*/}" '{id: 4200, login: $login}' | answer ;;
  "GET repos/"*/*)
    [[ $path =~ ^repos/[^/]+/[^/]+$ ]] || { echo "fake gh: unexpected endpoint $method $endpoint" >&2; exit 2; }
    jq -n --arg v "$(cat "$state/visibility" 2>/dev/null || echo public)" '{visibility: $v}' | answer ;;
  *) echo "fake gh: unexpected endpoint $method $endpoint" >&2; exit 2 ;;
esac
