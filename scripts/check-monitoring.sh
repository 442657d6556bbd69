#!/usr/bin/env bash
# The alerts and the dashboard, offline, with promtool: every rule of the rendered PrometheusRules loads,
# their unit tests pass (each alert fires on a synthetic failure and stays silent on healthy traffic),
# and every PromQL expression of the Grafana dashboard parses. Which metric names they may use is the
# contract test's job (tests/contract/monitoring.rs), against the apps' real /metrics.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { printf 'check-monitoring: %s\n' "$*" >&2; exit 1; }
command -v promtool >/dev/null || fail "promtool is missing: run scripts/install-tools.sh"
py=.tools/venv/bin/python # has PyYAML (yamllint's dependency)
[[ -x $py ]] || fail "$py is missing: run scripts/install-tools.sh"

# pick KIND FIELD < rendered.yaml: FIELD (a Python expression over `d`) of every object of KIND, as JSON.
pick() {
  "$py" -c 'import json, sys, yaml
# kubectl prints matchType "=" bare, which PyYAML would read as its obsolete "value" tag.
yaml.SafeLoader.add_constructor("tag:yaml.org,2002:value", yaml.SafeLoader.construct_scalar)
for d in yaml.safe_load_all(sys.stdin):
    if d and d.get("kind") == sys.argv[1]:
        print(json.dumps(eval(sys.argv[2], {"d": d})))' "$@"
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 1. The rules exactly as each cluster gets them, as one Prometheus rule file per env.
for env in dev prod; do
  kubectl kustomize "k8s/overlays/$env/monitoring" >"$work/$env.yaml" || fail "kubectl kustomize k8s/overlays/$env/monitoring failed"
  pick PrometheusRule 'd["spec"]["groups"]' <"$work/$env.yaml" | jq -s '{groups: add}' >"$work/rules-$env.yaml"
  promtool check rules "$work/rules-$env.yaml" >/dev/null || fail "promtool rejects the $env rules"
done
cmp -s "$work/rules-dev.yaml" "$work/rules-prod.yaml" || fail "dev and prod must run the same rules (overlays may not patch them)"

# 2. Unit tests, against the rendered rules (the tests name their rule file rules.yaml; JSON is YAML).
cp "$work/rules-dev.yaml" "$work/rules.yaml"
cp k8s/base/monitoring/tests/*.test.yaml "$work/"
(cd "$work" && promtool test rules ./*.test.yaml) || fail "promtool rule unit tests failed"

# 3. The dashboard: every panel query and annotation, with Grafana's variables replaced by values of
#    the right type, must parse. promtool parses expressions only as rules, so each becomes one.
pick ConfigMap 'd["metadata"].get("labels", {}).get("grafana_dashboard") == "1" and list(d["data"].values())[0]' <"$work/dev.yaml" |
  jq -r 'select(. != false)' >"$work/dashboard.json"
[[ -s $work/dashboard.json ]] || fail "no ConfigMap labelled grafana_dashboard=1 for the Grafana sidecar"
jq -e '.uid == "gitops-platform"' "$work/dashboard.json" >/dev/null || fail "the dashboard's uid must stay gitops-platform (alerts link to /d/gitops-platform)"
# shellcheck disable=SC2016 # the $ names are Grafana's variables, not the shell's
jq -r '[.panels[].targets[]?.expr, .annotations.list[].expr] | .[] | select(. != null)' "$work/dashboard.json" |
  sed -e 's/\$__rate_interval/5m/g' -e 's/\$__interval/1m/g' -e 's/\$namespace/api-app-dev/g' >"$work/exprs.txt"
n=$(wc -l <"$work/exprs.txt")
((n > 0)) || fail "the dashboard has no queries"
if grep -n '\$' "$work/exprs.txt" >&2; then fail "a dashboard query uses a variable this check does not know"; fi
jq -R -s '{groups: [{name: "dashboard", rules: [split("\n")[] | select(length > 0)] | to_entries | map({record: "dashboard:query\(.key)", expr: .value})}]}' \
  "$work/exprs.txt" >"$work/dashboard-rules.json"
promtool check rules "$work/dashboard-rules.json" >/dev/null || fail "a dashboard query does not parse"

echo "check-monitoring: rules load for dev and prod, their unit tests pass, $n dashboard queries parse"
