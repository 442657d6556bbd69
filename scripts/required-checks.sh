#!/usr/bin/env bash
# ci.yml's `required` job, the one check branch protection requires. Passes only when:
#  1. every ci.yml job this change needed passed, and the ones it did not need were skipped: the
#     bundle checks for an overlay-only change, else make test, coverage, cargo-deny and actionlint;
#     the signature check whenever overlay pins changed ($NEEDS: ci.yml's `toJSON(needs)`);
#  2. on a pull request that changes prod's image pins, it comes from a branch of this repository only
#     the GitOps App may push ($HEAD_REF, $HEAD_REPO): gitops/promote-prod-* or gitops/rollback-prod,
#     which promote.yml and rollback.yml write after the `production` environment's approval;
#  3. on a pull request, every other GitHub Actions check run on its head commit ($HEAD_SHA) finished
#     without failing: terraform, mutants, whatever workflow is added later, path-filtered or not.
#     It waits for them (every $REQUIRED_POLL_SECONDS, default 30, up to $REQUIRED_WAIT_MINUTES, 110).
set -euo pipefail

fail() { printf 'required-checks: %s\n' "$*" >&2; exit 1; }
[[ -n ${NEEDS:-} ]] || fail "NEEDS (ci.yml's toJSON(needs)) is not set"

problems=$(python3 - <<'PY'
import json, os
needs = json.loads(os.environ["NEEDS"])
result = lambda job: needs.get(job, {}).get("result", "absent")
outputs = needs.get("changes", {}).get("outputs", {})
problems = []
if result("changes") != "success":
    problems.append(f"changes: {result('changes')} (the classifier must pass)")
overlay_only = outputs.get("overlay-only") == "true"
overlays = outputs.get("overlays") == "true"
must_run = {
    "bundle": overlay_only,
    "signatures": overlays,
    "test": not overlay_only,
    "coverage": not overlay_only,
    "cargo-deny": not overlay_only,
    "actionlint": not overlay_only,
}
for job, needed in must_run.items():
    r = result(job)
    if needed and r != "success":
        problems.append(f"{job}: {r} (this change needs it to pass)")
    elif not needed and r not in ("skipped", "success"):
        problems.append(f"{job}: {r}")
for job in sorted(set(needs) - set(must_run) - {"changes"}):
    if result(job) not in ("success", "skipped"):
        problems.append(f"{job}: {result(job)}")
print("\n".join(problems))
PY
)
[[ -z $problems ]] || fail "ci.yml jobs:"$'\n'"$problems"
echo "required-checks: every ci.yml job this change needed passed"

[[ ${EVENT:-} == pull_request ]] || exit 0
prod_pins=$(python3 -c 'import json, os; print(json.loads(os.environ["NEEDS"]).get("changes", {}).get("outputs", {}).get("prod-pins", "true"))')
if [[ $prod_pins != false ]]; then
  [[ ${HEAD_REPO:-} == "${GITHUB_REPOSITORY:-}" && ${HEAD_REF:-} =~ ^gitops/(promote-prod-[a-z-]+|rollback-prod)$ ]] ||
    fail "this PR changes prod's image pins from ${HEAD_REPO:-?}:${HEAD_REF:-?}; prod pins change only through promote.yml or rollback.yml, after the production environment's approval"
  echo "required-checks: prod's pins come from ${HEAD_REF}, which only the GitOps App can push"
fi
[[ ${HEAD_SHA:-} =~ ^[0-9a-f]{40}$ ]] || fail "HEAD_SHA (the pull request's head commit) is not set"
: "${GITHUB_REPOSITORY:?}" "${GITHUB_RUN_ID:?}"
poll=${REQUIRED_POLL_SECONDS:-30}
deadline=$((SECONDS + ${REQUIRED_WAIT_MINUTES:-110} * 60))
while :; do
  runs=$(gh api --paginate "repos/${GITHUB_REPOSITORY}/commits/${HEAD_SHA}/check-runs?per_page=100&filter=latest" \
    --jq '.check_runs[] | select(.app.slug == "github-actions") | {name, status, conclusion, details_url}')
  verdict=$(RUNS=$runs python3 - <<'PY'
import json, os
own = f"/actions/runs/{os.environ['GITHUB_RUN_ID']}/"
runs = [json.loads(l) for l in os.environ["RUNS"].splitlines() if l.strip()]
others = [r for r in runs if own not in (r.get("details_url") or "")]
pending = [r["name"] for r in others if r["status"] != "completed"]
failed = [f"{r['name']}: {r['conclusion']}" for r in others
          if r["status"] == "completed" and r["conclusion"] not in ("success", "neutral", "skipped")]
if failed:
    print("failed\n" + "\n".join(failed))
elif pending:
    print("pending\n" + "\n".join(pending))
else:
    print(f"passed\n{len(others)} other check runs")
PY
)
  state=${verdict%%$'\n'*} detail=${verdict#*$'\n'}
  case $state in
    passed) echo "required-checks: every other workflow on ${HEAD_SHA} passed (${detail})"; exit 0 ;;
    failed) fail "other workflows on ${HEAD_SHA} failed:"$'\n'"$detail" ;;
  esac
  ((SECONDS < deadline)) || fail "still running after the wait:"$'\n'"$detail"
  echo "required-checks: waiting for: ${detail//$'\n'/, }"
  sleep "$poll"
done
