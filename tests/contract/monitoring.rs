//! The alerts and the dashboard against what really exists: every metric they read is on the apps'
//! real `/metrics`, recorded by our own rules, or exported by a named exporter; the SLO's latency
//! threshold is a bucket of the app's histogram; every alert links a runbook entry and the dashboard;
//! and the secrets they need come from the ops secret Terraform creates.
//!
//! promtool checks that every expression parses (scripts/check-monitoring.sh); this file checks names.

use std::collections::{BTreeMap, BTreeSet};

use integration_tests::api::until_ready;
use integration_tests::{
    Http, ShutdownTrigger, kustomize, of_kind, read_text, read_yaml, test_client, test_env,
};
use serde_yaml_ng::Value;

use integration_tests::terraform::{local_str, platform_locals};

use integration_tests::facts::ENVS;
use integration_tests::k8s::sync_wave;

use crate::canary::{monitoring_rules, rule, squash};

/// kube-state-metrics (the chart's dependency): the series this repo reads, as named in its
/// docs/metrics/workload/{pod,deployment}-metrics.md.
const KUBE_STATE_METRICS: &[&str] = &[
    "kube_pod_status_ready",
    "kube_pod_status_phase",
    "kube_pod_container_info",
    "kube_deployment_metadata_generation",
    "kube_pod_container_status_last_terminated_reason",
    "kube_pod_container_status_restarts_total",
    "kube_pod_container_status_waiting_reason",
];
/// Prometheus's own series for every target it scrapes.
const PROMETHEUS: &[&str] = &["up"];
/// External Secrets Operator's controller metrics (docs/api/metrics.md), scraped through its chart's
/// `ServiceMonitor` (terraform/modules/cluster-addons).
const EXTERNAL_SECRETS: &[&str] = &["externalsecret_status_condition"];
/// Argo CD's application-controller metrics (docs/operator-manual/metrics.md).
const ARGO_CD: &[&str] = &["argocd_app_info", "argocd_app_sync_total"];
/// Argo Rollouts' controller metrics (docs/features/controller-metrics.md, controller/metrics/), scraped
/// through its chart's `ServiceMonitor` and relabelled to the Rollout's own namespace
/// (terraform/modules/cluster-addons/rollouts.tf).
const ARGO_ROLLOUTS: &[&str] = &[
    "rollout_info",
    "rollout_info_replicas_available",
    "rollout_info_replicas_desired",
    "analysis_run_info",
    "analysis_run_metric_phase",
];

/// `PromQL` words that are not metric names: aggregations, operators and literals.
const PROMQL_WORDS: &[&str] = &[
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
    "limitk",
    "limit_ratio",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "atan2",
    "inf",
    "nan",
];
/// Modifiers whose optional parenthesised list holds label names, never metrics.
const LABEL_LIST_MODIFIERS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The metric names a `PromQL` expression selects. A small lexer rather than a parser crate: it only
/// has to skip strings, label matchers `{}`, ranges `[]`, label lists after by/on/..., function
/// names (an identifier followed by `(`) and keywords; what remains is a metric name. Whether the
/// expression is valid `PromQL` at all is promtool's verdict, not this function's.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let next_non_space = |mut j: usize| {
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        j
    };
    // Index just past the group opened at `open` (a bracket char), honouring nested strings.
    let skip_group = |open: usize, close: char| {
        let mut j = open + 1;
        while j < chars.len() && chars[j] != close {
            if matches!(chars[j], '"' | '\'' | '`') {
                let q = chars[j];
                j += 1;
                while j < chars.len() && chars[j] != q {
                    j += if chars[j] == '\\' { 2 } else { 1 };
                }
            }
            j += 1;
        }
        j + 1
    };
    while i < chars.len() {
        let c = chars[i];
        if matches!(c, '"' | '\'' | '`') {
            i = skip_group(i, c);
        } else if c == '{' {
            i = skip_group(i, '}');
        } else if c == '[' {
            i = skip_group(i, ']');
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | ':'))
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let after = next_non_space(i);
            if LABEL_LIST_MODIFIERS.contains(&word.as_str()) {
                if chars.get(after) == Some(&'(') {
                    i = skip_group(after, ')');
                }
            } else if PROMQL_WORDS.contains(&word.as_str()) || chars.get(after) == Some(&'(') {
                // A keyword, or a function's name.
            } else {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// The rendered monitoring overlay of one env (rules, routing, dashboard).
pub(crate) fn monitoring(env: &str) -> Vec<Value> {
    kustomize(&format!("k8s/overlays/{env}/monitoring"))
}

/// Every rule of the `PrometheusRule`s in `docs`, each group's in order.
pub(crate) fn rules(docs: &[Value]) -> Vec<&Value> {
    of_kind(docs, "PrometheusRule")
        .flat_map(|r| r["spec"]["groups"].as_sequence().expect("groups"))
        .flat_map(|g| g["rules"].as_sequence().expect("rules"))
        .collect()
}

fn dashboard(docs: &[Value]) -> serde_json::Value {
    let cm = of_kind(docs, "ConfigMap")
        .find(|d| d["metadata"]["labels"]["grafana_dashboard"].as_str() == Some("1"))
        .expect("a ConfigMap labelled grafana_dashboard=1 for Grafana's sidecar");
    let json = cm["data"]
        .as_mapping()
        .and_then(|m| m.values().next())
        .and_then(Value::as_str)
        .expect("the ConfigMap holds the dashboard JSON");
    serde_json::from_str(json).expect("the dashboard is valid JSON")
}

/// Every `PromQL` expression of the dashboard: panel queries, annotations, and the metric of each
/// `label_values(metric, label)` variable.
fn dashboard_exprs(dash: &serde_json::Value) -> Vec<String> {
    let mut exprs = Vec::new();
    for panel in dash["panels"].as_array().expect("panels") {
        for t in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(
                t["expr"]
                    .as_str()
                    .expect("every target has an expr")
                    .to_owned(),
            );
        }
    }
    for a in dash["annotations"]["list"].as_array().into_iter().flatten() {
        exprs.extend(a["expr"].as_str().map(str::to_owned));
    }
    for v in dash["templating"]["list"].as_array().into_iter().flatten() {
        if let Some(q) = v["definition"].as_str() {
            let inner = q
                .strip_prefix("label_values(")
                .and_then(|r| r.split(',').next())
                .expect("variables are label_values(metric, label) queries");
            exprs.push(inner.to_owned());
        }
    }
    exprs
}

/// The metric names on a running app's /metrics (its admin port, as Prometheus scrapes it) after
/// it became ready and served a few requests (a labelled family appears only once it has a
/// series), and the page itself.
async fn scrape(app: &str, http: &Http) -> (BTreeSet<String>, String) {
    let client = test_client();
    until_ready(http).await;
    for path in ["/api", "/api/health", "/api/tasks", "/no-such-route"] {
        client
            .get(http.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{app} GET {path}: {e}"));
    }
    let body = http.metrics().await;
    let names = body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_owned())
        .collect();
    (names, body)
}

#[test]
fn the_metric_lexer_finds_metrics_and_nothing_else() {
    let expr = r#"sum by (namespace, le) (rate(http_requests_total{job="api-app", route=~"/api.*"}[5m])) / on (namespace) group_left (image) max without (pod) (kube_pod_info offset 1h) > bool 0.25 and slo:api_errors:ratio_rate5m"#;
    assert_eq!(
        metric_names(expr),
        BTreeSet::from([
            "http_requests_total".to_owned(),
            "kube_pod_info".to_owned(),
            "slo:api_errors:ratio_rate5m".to_owned()
        ])
    );
    assert_eq!(
        metric_names(
            r#"histogram_quantile(0.95, sum by (le) (rate(x_bucket{a="}{[("}[$__rate_interval])))"#
        ),
        BTreeSet::from(["x_bucket".to_owned()])
    );
}

/// Starts both apps on free ports (api-app on PostgreSQL) and compares every metric name the rules and the dashboard read
/// with what the apps serve, what our recording rules produce, and the named exporters' lists.
#[tokio::test]
async fn every_metric_the_alerts_and_dashboard_read_is_exported() {
    let vars = test_env(&[("LOG_FORMAT", "json"), ("RUST_LOG", "error")]);
    // api-app on PostgreSQL, so the store's pool metrics are on its page too.
    let database = integration_tests::pg::fresh_database().await;
    let mut api_vars = vars.clone();
    api_vars.push(("DATABASE_URL".to_owned(), database));
    let api = api_app::startup::build(api_app::config::Config::from_vars(api_vars).unwrap())
        .await
        .unwrap();
    let demo = demo_app::startup::build(demo_app::config::Config::from_vars(vars).unwrap())
        .await
        .unwrap();
    let (api_http, demo_http) = (
        Http::on_ports(api.port(), api.admin_port()),
        Http::on_ports(demo.port(), demo.admin_port()),
    );
    let (api_signal, demo_signal) = (ShutdownTrigger::default(), ShutdownTrigger::default());
    tokio::spawn(api.run_until(api_signal.triggered()));
    tokio::spawn(demo.run_until(demo_signal.triggered()));
    let (api_names, api_page) = scrape("api-app", &api_http).await;
    let (demo_names, _) = scrape("demo-app", &demo_http).await;
    api_signal.trigger();
    demo_signal.trigger();

    // The latency SLO counts requests under 250 ms with the bucket le="0.25": it must exist.
    assert!(
        api_page
            .lines()
            .any(|l| l.starts_with("http_request_duration_seconds_bucket{")
                && l.contains(r#"le="0.25""#)),
        "api-app's latency histogram has no 0.25 s bucket, which the latency SLO reads"
    );

    for env in ENVS {
        let docs = monitoring(env);
        let rules = rules(&docs);
        let recorded: BTreeSet<String> = rules
            .iter()
            .filter_map(|r| r["record"].as_str().map(str::to_owned))
            .collect();
        let known: BTreeSet<String> = api_names
            .iter()
            .chain(&demo_names)
            .cloned()
            .chain(recorded)
            .chain(
                [
                    KUBE_STATE_METRICS,
                    EXTERNAL_SECRETS,
                    ARGO_CD,
                    ARGO_ROLLOUTS,
                    PROMETHEUS,
                ]
                .concat()
                .into_iter()
                .map(str::to_owned),
            )
            .collect();

        let mut exprs: Vec<(String, String)> = rules
            .iter()
            .map(|r| {
                let name = r["alert"].as_str().or(r["record"].as_str()).unwrap();
                (
                    format!("rule {name}"),
                    r["expr"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        exprs.extend(
            dashboard_exprs(&dashboard(&docs))
                .into_iter()
                .map(|e| ("dashboard".to_owned(), e)),
        );
        assert!(
            exprs.len() > 20,
            "{env}: rules and dashboard queries are all found"
        );
        for (origin, expr) in &exprs {
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{env} {origin}: reads no metric: {expr}");
            let unknown: Vec<_> = names.difference(&known).collect();
            assert!(
                unknown.is_empty(),
                "{env} {origin}: {unknown:?} is exported by nothing we run: {expr}"
            );
        }
    }
}

#[test]
fn every_alert_has_a_severity_a_runbook_entry_and_the_dashboard() {
    let runbook = read_text("docs/runbooks.md");
    let anchors: BTreeSet<String> = runbook
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|h| h.trim().to_lowercase().replace(' ', "-"))
        .collect();
    for env in ENVS {
        let docs = monitoring(env);
        let uid = dashboard(&docs)["uid"].as_str().unwrap().to_owned();
        let alerts: Vec<_> = rules(&docs)
            .into_iter()
            .filter(|r| r["alert"].is_string())
            .collect();
        assert!(
            alerts.len() >= 10,
            "{env}: the SLO and platform alerts are all there"
        );
        for a in alerts {
            let name = a["alert"].as_str().unwrap();
            let severity = a["labels"]["severity"].as_str();
            assert!(
                matches!(severity, Some("page" | "ticket")),
                "{env} {name}: severity page or ticket, which the Alertmanager route matches"
            );
            let runbook_url = a["annotations"]["runbook_url"].as_str().unwrap_or_default();
            let anchor = runbook_url
                .strip_prefix("https://github.com/gitops-platform/gitops-platform/blob/main/docs/runbooks.md#")
                .unwrap_or_else(|| panic!("{env} {name}: runbook_url points into docs/runbooks.md"));
            assert!(
                anchors.contains(anchor),
                "{env} {name}: docs/runbooks.md has no heading for #{anchor}"
            );
            let dashboard_url = a["annotations"]["dashboard_url"]
                .as_str()
                .unwrap_or_default();
            assert!(
                dashboard_url.contains(&format!("/d/{uid}/")),
                "{env} {name}: dashboard_url links the dashboard (uid {uid})"
            );
        }
    }
}

/// Whether one `AlertmanagerConfig` matcher matches an alert's labels, as Alertmanager reads it
/// (`=~` anchored). The matchers here are plain alternations (`page|critical`), which this models.
fn matcher_matches(m: &Value, labels: &BTreeMap<&str, &str>) -> bool {
    let value = m["value"].as_str().unwrap();
    let actual = labels
        .get(m["name"].as_str().unwrap())
        .copied()
        .unwrap_or("");
    match m["matchType"].as_str().unwrap_or("=") {
        "=" => actual == value,
        "=~" => {
            assert!(
                value.chars().all(|c| c.is_ascii_alphanumeric() || c == '|'),
                "only alternations of words are modelled: {value}"
            );
            value.split('|').any(|v| v == actual)
        }
        other => panic!("matchType {other} is not modelled"),
    }
}

/// The route an alert takes: the first child whose matchers all match (none of ours continue),
/// else the parent. Returns the receiver and the route that chose it.
fn route_for<'a>(route: &'a Value, labels: &BTreeMap<&str, &str>) -> (&'a str, &'a Value) {
    for child in route["routes"].as_sequence().into_iter().flatten() {
        assert!(
            child["continue"].as_bool() != Some(true),
            "no child route continues"
        );
        if child["matchers"]
            .as_sequence()
            .into_iter()
            .flatten()
            .all(|m| matcher_matches(m, labels))
        {
            return route_for(child, labels);
        }
    }
    (route["receiver"].as_str().unwrap(), route)
}

/// The receiver called `name` of an `AlertmanagerConfig`.
fn receiver<'a>(amc: &'a Value, name: &str) -> &'a Value {
    amc["spec"]["receivers"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|r| r["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("receiver {name} is defined"))
}

/// Watchdog reaches an external heartbeat (a dead man's switch), our pages and the chart's critical
/// alerts page Slack at once, tickets and the chart's warnings reach Slack batched; only info is
/// dropped. Both receivers read their URL from a Secret ESO writes from the ops secret.
#[test]
fn every_alert_that_matters_reaches_a_person_and_watchdog_reaches_the_heartbeat() {
    for env in ENVS {
        let docs = monitoring(env);
        let amc: Vec<_> = of_kind(&docs, "AlertmanagerConfig").collect();
        assert_eq!(amc.len(), 1, "{env}: one AlertmanagerConfig");
        let spec = &amc[0]["spec"];
        let receiver = |name: &str| receiver(amc[0], name);
        let labels = |pairs: &[(&'static str, &'static str)]| -> BTreeMap<&str, &str> {
            pairs.iter().copied().collect()
        };
        let cases: [(&[(&str, &str)], &str); 7] = [
            (
                &[("alertname", "Watchdog"), ("severity", "none")],
                "heartbeat",
            ),
            (
                &[("alertname", "RolloutNotProgressing"), ("severity", "page")],
                "slack",
            ),
            (
                &[
                    ("alertname", "AlertmanagerClusterFailedToSendAlerts"),
                    ("severity", "critical"),
                ],
                "slack",
            ),
            (
                &[("alertname", "PodNotReady"), ("severity", "ticket")],
                "slack",
            ),
            (
                &[("alertname", "TargetDown"), ("severity", "warning")],
                "slack",
            ),
            (
                &[
                    ("alertname", "AlertmanagerFailedToSendAlerts"),
                    ("severity", "warning"),
                ],
                "slack",
            ),
            (
                &[("alertname", "CPUThrottlingHigh"), ("severity", "info")],
                "none",
            ),
        ];
        for (alert, want) in cases {
            let (got, route) = route_for(&spec["route"], &labels(alert));
            assert_eq!(got, want, "{env}: {alert:?}");
            let wait = route["groupWait"].as_str();
            match alert[1].1 {
                "page" | "critical" => assert_eq!(wait, Some("0s"), "{env}: pages leave at once"),
                "none" if got == "heartbeat" => {
                    assert_eq!(wait, Some("0s"), "{env}: the first ping leaves at once");
                    assert_eq!(
                        route["repeatInterval"].as_str(),
                        Some("1m"),
                        "{env}: a heartbeat every minute, so its absence shows within minutes"
                    );
                }
                _ => {}
            }
        }
        assert!(
            receiver("none").as_mapping().unwrap().len() == 1,
            "{env}: 'none' sends nowhere"
        );
    }
}

/// Both receivers' URLs are credentials: `Secret` keys one `ExternalSecret` writes from the ops
/// secret Terraform creates.
#[test]
fn the_receivers_urls_come_from_the_ops_secret() {
    for env in ENVS {
        let docs = monitoring(env);
        let amc = of_kind(&docs, "AlertmanagerConfig")
            .next()
            .expect("the AlertmanagerConfig");
        let receiver = |name: &str| receiver(amc, name);
        let heartbeat = &receiver("heartbeat")["webhookConfigs"][0]["urlSecret"];
        let slack = &receiver("slack")["slackConfigs"][0]["apiURL"];
        let ops = local_str(&platform_locals(env), "ops_secret_name");
        for (reference, property) in [(heartbeat, "HEARTBEAT_URL"), (slack, "SLACK_WEBHOOK_URL")] {
            let (secret, key) = (
                reference["name"].as_str().unwrap(),
                reference["key"].as_str().unwrap(),
            );
            let es = of_kind(&docs, "ExternalSecret")
                .find(|d| d["spec"]["target"]["name"].as_str() == Some(secret))
                .unwrap_or_else(|| panic!("{env}: an ExternalSecret writes Secret {secret}"));
            let data = es["spec"]["data"]
                .as_sequence()
                .unwrap()
                .iter()
                .find(|d| d["secretKey"].as_str() == Some(key))
                .unwrap_or_else(|| panic!("{env}: {secret} has key {key}"));
            assert_eq!(
                data["remoteRef"]["key"].as_str(),
                Some(ops.as_str()),
                "{env}: {key}"
            );
            assert_eq!(
                data["remoteRef"]["property"].as_str(),
                Some(property),
                "{env}: {key}"
            );
        }
    }
}

/// An ops secret not filled in yet leaves the receivers' `ExternalSecret` not Ready; Argo CD stops a
/// sync at the first wave that is not healthy, so the rules must come in an earlier wave.
#[test]
fn a_missing_receiver_secret_never_holds_back_the_rules() {
    for env in ENVS {
        let docs = monitoring(env);
        let first_receiver_wave = of_kind(&docs, "ExternalSecret")
            .chain(of_kind(&docs, "AlertmanagerConfig"))
            .map(sync_wave)
            .min()
            .expect("the receivers' objects");
        for rule in of_kind(&docs, "PrometheusRule") {
            assert!(
                sync_wave(rule) < first_receiver_wave,
                "{env}: PrometheusRule {} (wave {}) must sync before the receivers (wave {first_receiver_wave})",
                rule["metadata"]["name"].as_str().unwrap(),
                sync_wave(rule)
            );
        }
    }
}

/// kube-prometheus-stack (terraform) picks up what Git ships: rules and monitors from any namespace,
/// this repo's `AlertmanagerConfig` for alerts about every namespace, and the dashboard `ConfigMap`.
#[test]
fn the_stack_selects_the_rules_routing_and_dashboard_git_ships() {
    for env in ENVS {
        let (namespace, values) =
            integration_tests::terraform::helm_release(env, "kube_prometheus_stack");
        let docs = monitoring(env);
        assert!(
            docs.iter()
                .all(|d| d["metadata"]["namespace"].as_str() == Some(namespace.as_str())),
            "{env}: the monitoring overlay deploys into the stack's namespace ({namespace})"
        );
        let prom = &values["prometheus"]["prometheusSpec"];
        for key in [
            "serviceMonitorSelectorNilUsesHelmValues",
            "podMonitorSelectorNilUsesHelmValues",
            "ruleSelectorNilUsesHelmValues",
        ] {
            assert_eq!(
                prom[key], false,
                "{env}: {key} must be false, or Git's objects are ignored"
            );
        }
        let am = &values["alertmanager"]["alertmanagerSpec"];
        assert_eq!(
            am["alertmanagerConfigMatcherStrategy"]["type"], "None",
            "{env}: without it the route only sees alerts labelled namespace=monitoring"
        );
        let amc = of_kind(&docs, "AlertmanagerConfig").next().unwrap();
        for (k, v) in am["alertmanagerConfigSelector"]["matchLabels"]
            .as_object()
            .expect("matchLabels")
        {
            assert_eq!(
                amc["metadata"]["labels"][k.as_str()].as_str(),
                v.as_str(),
                "{env}: the AlertmanagerConfig carries the selector's label {k}"
            );
        }
        let sidecar = &values["grafana"]["sidecar"]["dashboards"];
        let label = sidecar["label"].as_str().unwrap();
        let cm = of_kind(&docs, "ConfigMap").next().unwrap();
        assert_eq!(
            cm["metadata"]["labels"][label].as_str(),
            sidecar["labelValue"].as_str(),
            "{env}: Grafana's sidecar loads the dashboard ConfigMap"
        );
    }
}

/// The runbooks read logs the way an incident needs: every pod of an app at once (`-l` with the
/// Deployment's own selector label, `--prefix` to tell the pods apart; `logs deploy/<app>` reads one
/// pod), and the run before the restart (`--previous`) where a container keeps dying.
#[test]
fn runbooks_read_every_pods_logs_and_the_previous_run_of_a_crash() {
    let runbook = read_text("docs/runbooks.md");
    let commands: Vec<&str> = runbook
        .split('`')
        .filter(|c| c.starts_with("kubectl") && c.contains(" logs "))
        .collect();
    assert!(commands.len() >= 4, "the runbooks read logs: {commands:?}");
    let selector_label = {
        let deploy = read_yaml("k8s/base/api-app/deployment.yaml");
        let labels = deploy[0]["spec"]["selector"]["matchLabels"]
            .as_mapping()
            .unwrap()
            .clone();
        assert!(labels.contains_key("app.kubernetes.io/name"));
        "app.kubernetes.io/name"
    };
    for c in &commands {
        if c.contains(" monitoring ") {
            continue; // the chart's one-replica operator
        }
        assert!(
            !c.contains("deploy/"),
            "`{c}` reads one pod of the Deployment; use its label selector"
        );
        if c.contains(" -l ") {
            assert!(
                c.contains(&format!(" -l {selector_label}=")) && c.contains("--prefix"),
                "`{c}`: select by {selector_label} and --prefix each line with its pod"
            );
        } else {
            assert!(
                c.contains("<pod>"),
                "`{c}` names neither a pod nor a selector"
            );
        }
    }
    for alert in [
        "PodCrashLooping",
        "WorkloadNoReplicaAvailable",
        "PodOOMKilled",
    ] {
        let section = runbook
            .split("\n## ")
            .find(|s| s.starts_with(alert))
            .unwrap_or_else(|| panic!("docs/runbooks.md has a section for {alert}"));
        assert!(
            section.contains("--previous"),
            "{alert}: read the run that died (`kubectl logs --previous`)"
        );
    }
}

/// One arm of a burn-rate alert: (short window, long window, burn rate).
type Arm = (&'static str, &'static str, f64);

/// The multiwindow, multi-burn-rate recipe (SRE workbook, ch. 5, table 5-8) for an SLO with `budget`:
/// each alert and its arms.
const BURN_RATE_ARMS: [(&str, [Arm; 2]); 2] = [
    ("BudgetBurnFast", [("5m", "1h", 14.4), ("30m", "6h", 6.0)]),
    ("BudgetBurnSlow", [("2h", "1d", 3.0), ("6h", "3d", 1.0)]),
];

/// Every window of an SLI is its 5-minute rule with only the window changed, and each burn-rate
/// alert is exactly the recipe's arms over them: both windows of an arm above burn rate × budget,
/// the arms or-ed. A threshold, a window or an arm that drifts (promtool's scenario tests pass
/// with a tripled threshold or an arm left out) fails here.
#[test]
fn the_burn_rate_alerts_are_the_workbooks_recipe_over_one_sli_per_slo() {
    let rules = monitoring_rules("dev");
    let expr_of = |name: &str| -> String {
        let found = rule(&rules, name);
        assert_eq!(found.len(), 1, "one rule named {name}");
        squash(found[0]["expr"].as_str().unwrap())
    };
    for (sli, alert_prefix, budget) in [
        ("slo:api_errors", "ApiAppError", 0.001),
        ("slo:api_slow", "ApiAppLatency", 0.01),
    ] {
        let five = expr_of(&format!("{sli}:ratio_rate5m"));
        assert!(five.contains("[5m]"), "{five}");
        for (alert, arms) in BURN_RATE_ARMS {
            let mut expected = Vec::new();
            for (short, long, rate) in arms {
                for window in [short, long] {
                    assert_eq!(
                        expr_of(&format!("{sli}:ratio_rate{window}")),
                        five.replace("[5m]", &format!("[{window}]")),
                        "{sli} over {window} is the 5-minute SLI with only the window changed"
                    );
                }
                let threshold = format!("{}", (rate * budget * 1e6).round() / 1e6);
                expected.push(format!(
                    "({sli}:ratio_rate{short} > {threshold} and {sli}:ratio_rate{long} > {threshold})"
                ));
            }
            assert_eq!(
                expr_of(&format!("{alert_prefix}{alert}")),
                expected.join(" or "),
                "{alert_prefix}{alert}: the workbook's arms for a budget of {budget}"
            );
        }
    }
}
