//! Canary releases (k8s/README.md, "Canary releases"): the Rollouts, the Services and Ingresses they
//! steer, the `AnalysisTemplate` they name, the recording rules it reads, the `ServiceMonitor`s that
//! feed them and the controller Terraform installs, bound to each other. The timing is in
//! `restore_budget.rs`; the queries run against a real Prometheus in
//! `scripts/drills/canary_analysis.py`.

use std::collections::BTreeMap;

use integration_tests::facts::{APPS, ENVS};
use integration_tests::k8s::{
    all_renderings, argocd, configmaps_read, name, named, one, overlay, s, selector_picks, seq,
};
use integration_tests::terraform::{attr_text, block, blocks_in, helm_release};
use integration_tests::{of_kind, read_text};
use serde_yaml_ng::Value;

use crate::monitoring::{monitoring, rules};

const HASH_LABEL: &str = "rollouts-pod-template-hash";
/// The analysis's per-ReplicaSet rules and the burn-rate rules (5-minute window) they must equal.
const PER_REPLICASET: [(&str, &str); 2] = [
    (
        "pod_template:http_errors:ratio",
        "slo:api_errors:ratio_rate5m",
    ),
    ("pod_template:http_slow:ratio", "slo:api_slow:ratio_rate5m"),
];
/// The canary's sample: the requests the ratios above divide by.
const SAMPLE: &str = "pod_template:http_requests:sum";

/// The requests an analysis query waits for before it judges a ratio: the `N` of its
/// `pod_template:http_requests:sum{...} >= N`, if it has one.
pub(crate) fn judged_from_requests(query: &str) -> Option<u32> {
    squash(query)
        .split(SAMPLE)
        .nth(1)?
        .split(">= ")
        .nth(1)?
        .split([')', ' '])
        .next()?
        .parse()
        .ok()
}

fn labels(v: &Value) -> BTreeMap<String, String> {
    v.as_mapping()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (s(k).to_owned(), s(v).to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// What the rule group `group` of `env`'s monitoring overlay records.
fn recorded_by(env: &str, group: &str) -> Vec<String> {
    let docs = monitoring(env);
    of_kind(&docs, "PrometheusRule")
        .flat_map(|r| seq(&r["spec"]["groups"]))
        .filter(|g| g["name"].as_str() == Some(group))
        .flat_map(|g| seq(&g["rules"]))
        .filter_map(|r| r["record"].as_str().map(str::to_owned))
        .collect()
}

/// Every rule of `env`'s monitoring overlay, owned (`monitoring.rs` renders and flattens it).
pub(crate) fn monitoring_rules(env: &str) -> Vec<Value> {
    rules(&monitoring(env)).into_iter().cloned().collect()
}

/// The rule that records or alerts as `name`.
pub(crate) fn rule<'a>(rules: &'a [Value], name: &str) -> Vec<&'a Value> {
    rules
        .iter()
        .filter(|r| r["record"].as_str() == Some(name) || r["alert"].as_str() == Some(name))
        .collect()
}

pub(crate) fn squash(expr: &str) -> String {
    expr.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn every_app_runs_from_a_rollout_whose_template_is_a_deployment_at_zero_replicas() {
    for app in APPS {
        for (env, docs) in all_renderings(app) {
            let rollout = one(&docs, "Rollout");
            let deploy = one(&docs, "Deployment");
            assert_eq!(name(rollout), app, "{env}");
            let reference = &rollout["spec"]["workloadRef"];
            assert_eq!(
                (
                    s(&reference["apiVersion"]),
                    s(&reference["kind"]),
                    s(&reference["name"])
                ),
                ("apps/v1", "Deployment", name(deploy)),
                "{env}/{app}: the Rollout runs the Deployment's template"
            );
            assert!(
                rollout["spec"]["template"].is_null(),
                "{env}/{app}: one template, the Deployment's"
            );
            // Otherwise both would run pods: the Deployment's beside the Rollout's.
            assert_eq!(
                deploy["spec"]["replicas"].as_u64(),
                Some(0),
                "{env}/{app}: the Deployment must run no pod of its own"
            );
            assert!(
                rollout["spec"]["replicas"].as_u64().is_some_and(|n| n >= 1),
                "{env}/{app}: the Rollout runs the pods"
            );
            let selector = labels(&rollout["spec"]["selector"]["matchLabels"]);
            assert_eq!(
                selector,
                labels(&deploy["spec"]["selector"]["matchLabels"]),
                "{env}/{app}"
            );
            assert!(
                selector_picks(
                    &rollout["spec"]["selector"],
                    &deploy["spec"]["template"]["metadata"]["labels"]
                ),
                "{env}/{app}: the Rollout's selector picks the template's pods"
            );
            // Rollouts labels its pods rollouts-pod-template-hash, never pod-template-hash: the spread
            // must key on the label the pods carry, or old and new pods count as one set.
            for c in seq(&deploy["spec"]["template"]["spec"]["topologySpreadConstraints"]) {
                let keys: Vec<&str> = seq(&c["matchLabelKeys"]).iter().map(s).collect();
                assert_eq!(keys, [HASH_LABEL], "{env}/{app}: {}", s(&c["topologyKey"]));
            }
            assert_eq!(
                rollout["spec"]["progressDeadlineAbort"].as_bool(),
                Some(true),
                "{env}/{app}: a canary that never gets ready is aborted too"
            );
        }
    }
}

#[test]
fn the_stable_and_canary_services_select_the_rollouts_pods_and_the_scrape_takes_the_admin_port() {
    for app in APPS {
        for (env, docs) in all_renderings(app) {
            let rollout = one(&docs, "Rollout");
            let canary = &rollout["spec"]["strategy"]["canary"];
            let selector = labels(&rollout["spec"]["selector"]["matchLabels"]);
            let root = named(&docs, "Service", app);
            let port = &seq(&root["spec"]["ports"])[0];
            for (field, role) in [("stableService", "stable"), ("canaryService", "canary")] {
                let svc = named(&docs, "Service", s(&canary[field]));
                assert_eq!(
                    labels(&svc["spec"]["selector"]),
                    selector,
                    "{env}/{app}: {field} selects the Rollout's pods (the controller adds the hash)"
                );
                // The root Service's one public port and nothing else: the ALB's weighted action
                // forwards to these two, so the admin port must never be among their ports.
                assert_eq!(
                    seq(&svc["spec"]["ports"]),
                    seq(&root["spec"]["ports"]),
                    "{env}/{app}: {field} serves the root Service's port, and only it"
                );
                assert_eq!(
                    svc["metadata"]["labels"]["gitops-platform/rollout-role"].as_str(),
                    Some(role),
                    "{env}/{app}: {field}"
                );
            }
            assert_eq!(
                s(&port["targetPort"]),
                "http",
                "{env}/{app}: the root Service"
            );
            // The scrape: every pod once, stable and canary alike, through the one Service that
            // exposes the admin port (headless), each series with its ReplicaSet.
            let monitor = one(&docs, "ServiceMonitor");
            let picked: Vec<&Value> = of_kind(&docs, "Service")
                .filter(|svc| {
                    selector_picks(&monitor["spec"]["selector"], &svc["metadata"]["labels"])
                })
                .collect();
            let picked_names: Vec<&str> = picked.iter().map(|svc| name(svc)).collect();
            let admin_name = format!("{app}-admin");
            assert_eq!(
                picked_names,
                [admin_name.as_str()],
                "{env}/{app}: the ServiceMonitor picks"
            );
            assert_eq!(
                labels(&picked[0]["spec"]["selector"]),
                selector,
                "{env}/{app}: {admin_name} selects every pod of the Rollout"
            );
            let endpoint_port = s(&seq(&monitor["spec"]["endpoints"])[0]["port"]);
            let admin_ports = seq(&picked[0]["spec"]["ports"]);
            assert_eq!(
                admin_ports
                    .iter()
                    .map(|p| (s(&p["name"]), s(&p["targetPort"])))
                    .collect::<Vec<_>>(),
                [(endpoint_port, "admin")],
                "{env}/{app}: the ServiceMonitor scrapes the container's admin port"
            );
            let copied: Vec<&str> = seq(&monitor["spec"]["podTargetLabels"])
                .iter()
                .map(s)
                .collect();
            assert!(
                copied.contains(&HASH_LABEL),
                "{env}/{app}: the analysis finds the canary's series by {HASH_LABEL}"
            );
        }
    }
}

/// The `job` label prometheus-operator gives the `ServiceMonitor`'s series: the value of the Service's
/// `jobLabel` label, or the Service's name without one.
fn scraped_job(docs: &[Value]) -> &str {
    let monitor = one(docs, "ServiceMonitor");
    let svc = of_kind(docs, "Service")
        .find(|svc| selector_picks(&monitor["spec"]["selector"], &svc["metadata"]["labels"]))
        .expect("the ServiceMonitor selects a Service");
    match monitor["spec"]["jobLabel"].as_str() {
        Some(key) => s(&svc["metadata"]["labels"][key]),
        None => name(svc),
    }
}

#[test]
fn on_eks_the_alb_splits_requests_and_argo_cd_leaves_the_weights_to_rollouts() {
    for env in ENVS {
        let apps = argocd(env);
        for app in APPS {
            let docs = overlay(env, app);
            let rollout = one(&docs, "Rollout");
            let canary = &rollout["spec"]["strategy"]["canary"];
            let alb = &canary["trafficRouting"]["alb"];
            let ingress = named(&docs, "Ingress", s(&alb["ingress"]));
            let root = s(&alb["rootService"]);
            let root_port = seq(&named(&docs, "Service", root)["spec"]["ports"])[0]["port"]
                .as_u64()
                .unwrap();
            assert_eq!(alb["servicePort"].as_u64(), Some(root_port), "{env}/{app}");
            let rule = seq(&ingress["spec"]["rules"][0]["http"]["paths"])
                .iter()
                .find(|p| p["backend"]["service"]["name"].as_str() == Some(root))
                .unwrap_or_else(|| panic!("{env}/{app}: an Ingress rule names {root}"));
            assert_eq!(
                rule["backend"]["service"]["port"]["name"].as_str(),
                Some("use-annotation"),
                "{env}/{app}: the rule forwards by the action the controller weights"
            );
            // The resting state Git holds: everything to stable, the canary's target group at 0
            // (so it exists before any canary pod).
            let key = format!("alb.ingress.kubernetes.io/actions.{root}");
            let action: serde_json::Value =
                serde_json::from_str(s(&ingress["metadata"]["annotations"][&key]))
                    .unwrap_or_else(|e| panic!("{env}/{app}: {key} is JSON: {e}"));
            assert_eq!(action["Type"], "forward");
            let groups: BTreeMap<String, (String, u64)> = action["ForwardConfig"]["TargetGroups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| {
                    (
                        g["ServiceName"].as_str().unwrap().to_owned(),
                        (
                            g["ServicePort"].as_str().unwrap().to_owned(),
                            g["Weight"].as_u64().unwrap(),
                        ),
                    )
                })
                .collect();
            let port = root_port.to_string();
            assert_eq!(
                groups,
                BTreeMap::from([
                    (s(&canary["canaryService"]).to_owned(), (port.clone(), 0)),
                    (s(&canary["stableService"]).to_owned(), (port, 100)),
                ]),
                "{env}/{app}: {key}"
            );
            // The Services' target groups exist before the pods (wave -1 < the Rollout's 0).
            let wave = |d: &Value| {
                d["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
                    .as_str()
                    .map_or(0, |w| w.parse::<i32>().unwrap())
            };
            for field in ["stableService", "canaryService"] {
                assert!(
                    wave(named(&docs, "Service", s(&canary[field]))) < wave(rollout),
                    "{env}/{app}: {field} syncs before the Rollout"
                );
            }
            // Argo CD must not put the weights back mid-release, nor overwrite them on a sync.
            let application = named(&apps, "Application", &format!("{app}-{env}"));
            let annotation = format!(".metadata.annotations.\"{key}\"");
            assert!(
                ignores(application, INGRESS, name(ingress), &annotation),
                "{env}/{app}: Argo CD ignores {key}"
            );
            assert!(
                respects_ignores(application),
                "{env}/{app}: a sync keeps the live weights"
            );
            let project = named(&apps, "AppProject", s(&application["spec"]["project"]));
            for kind in ["Rollout", "AnalysisTemplate"] {
                assert!(
                    seq(&project["spec"]["namespaceResourceWhitelist"])
                        .iter()
                        .any(|r| r["group"].as_str() == Some("argoproj.io")
                            && r["kind"].as_str() == Some(kind)),
                    "{env}: the project lets {app}-{env} sync {kind}"
                );
            }
        }
    }
}

/// An Ingress and a Service, as `ignoreDifferences` names their kinds (API group, kind).
const INGRESS: (&str, &str) = ("networking.k8s.io", "Ingress");
const SERVICE: (&str, &str) = ("", "Service");
/// The key Argo Rollouts adds to the stable and canary Services' selectors.
const HASH_IN_SELECTOR: &str = ".spec.selector.\"rollouts-pod-template-hash\"";

/// Whether `application` ignores the field at `path` of the object `name` of `kind` when it diffs.
fn ignores(application: &Value, (group, kind): (&str, &str), name: &str, path: &str) -> bool {
    seq(&application["spec"]["ignoreDifferences"])
        .iter()
        .any(|d| {
            d["group"].as_str() == Some(group)
                && d["kind"].as_str() == Some(kind)
                && d["name"].as_str() == Some(name)
                && seq(&d["jqPathExpressions"]).iter().any(|p| s(p) == path)
        })
}

/// Whether a sync of `application` keeps the live value of every field it ignores.
fn respects_ignores(application: &Value) -> bool {
    seq(&application["spec"]["syncPolicy"]["syncOptions"])
        .iter()
        .any(|o| s(o) == "RespectIgnoreDifferences=true")
}

/// Argo Rollouts adds its pod-template hash to the stable and canary Services' selectors. A
/// selector is atomic to Server-Side Apply, so a sync would replace it whole: both Services would
/// select every pod, the canary's share included, until Rollouts put the hash back, and the diff
/// would never settle (dev's self-heal would sync, and run its hooks, over and over).
#[test]
fn argo_cd_leaves_the_services_pod_template_hash_to_rollouts() {
    for env in ENVS {
        let apps = argocd(env);
        for app in APPS {
            let docs = overlay(env, app);
            let canary = &one(&docs, "Rollout")["spec"]["strategy"]["canary"];
            let application = named(&apps, "Application", &format!("{app}-{env}"));
            for field in ["stableService", "canaryService"] {
                let service = s(&canary[field]);
                assert!(
                    ignores(application, SERVICE, service, HASH_IN_SELECTOR),
                    "{env}/{app}: Argo CD keeps {service}'s pod-template hash"
                );
            }
            assert!(
                respects_ignores(application),
                "{env}/{app}: a sync applies the live hash, not none"
            );
        }
    }
}

#[test]
fn the_analysis_measures_the_canarys_own_pods_through_the_slo_recording_rules() {
    // kube-prometheus-stack's Prometheus Service: <release>-prometheus in the release's namespace.
    let addons = blocks_in("terraform/modules/cluster-addons");
    let stack = block(
        &addons,
        "resource",
        &["helm_release", "kube_prometheus_stack"],
    )
    .body();
    let prometheus_url = format!(
        "http://{}-prometheus.{}.svc:9090",
        attr_text(stack, "name").trim_matches('"'),
        helm_release("dev", "kube_prometheus_stack").0
    );
    for app in APPS {
        for (env, docs) in all_renderings(app) {
            let rules_env = if env == "local" { "dev" } else { env.as_str() };
            let rules = monitoring_rules(rules_env);
            let rollout = one(&docs, "Rollout");
            let steps = seq(&rollout["spec"]["strategy"]["canary"]["steps"]);
            let analyses: Vec<&Value> = steps.iter().filter(|s| !s["analysis"].is_null()).collect();
            assert!(
                analyses.len() >= 2,
                "{env}/{app}: an analysis after each weight step"
            );
            for step in analyses {
                let template = named(
                    &docs,
                    "AnalysisTemplate",
                    s(&step["analysis"]["templates"][0]["templateName"]),
                );
                let args: BTreeMap<&str, &Value> = seq(&step["analysis"]["args"])
                    .iter()
                    .map(|a| (s(&a["name"]), a))
                    .collect();
                let wanted: Vec<&str> = seq(&template["spec"]["args"])
                    .iter()
                    .map(|a| s(&a["name"]))
                    .collect();
                let given: Vec<&str> = args.keys().copied().collect();
                let mut wanted_sorted = wanted.clone();
                wanted_sorted.sort_unstable();
                assert_eq!(
                    given, wanted_sorted,
                    "{env}/{app}: the step gives every argument"
                );
                assert_eq!(
                    args["canary-hash"]["valueFrom"]["podTemplateHashValue"].as_str(),
                    Some("Latest"),
                    "{env}/{app}: the canary's hash, not stable's"
                );
                assert_eq!(
                    args["namespace"]["valueFrom"]["fieldRef"]["fieldPath"].as_str(),
                    Some("metadata.namespace")
                );
                // The Prometheus job the ServiceMonitor gives the app's series, which the rules select.
                assert_eq!(args["job"]["value"].as_str(), Some(app), "{env}/{app}");
                assert_eq!(scraped_job(&docs), app, "{env}/{app}: the scraped job");
                for metric in seq(&template["spec"]["metrics"]) {
                    let prometheus = &metric["provider"]["prometheus"];
                    assert_eq!(
                        s(&prometheus["address"]),
                        prometheus_url,
                        "{env}/{app}: kube-prometheus-stack's Prometheus (terraform/modules/cluster-addons)"
                    );
                    let query = squash(s(&prometheus["query"]));
                    for selector in [
                        r#"job="{{args.job}}""#,
                        r#"namespace="{{args.namespace}}""#,
                        r#"rollouts_pod_template_hash="{{args.canary-hash}}""#,
                    ] {
                        assert!(
                            query.contains(selector),
                            "{env}/{app} {}: the canary's own pods ({selector}): {query}",
                            s(&metric["name"])
                        );
                    }
                    // Every metric yields exactly one number: no data is 0, never an error.
                    assert!(
                        query.ends_with("or on () vector(0)"),
                        "{env}/{app} {}: {query}",
                        s(&metric["name"])
                    );
                    for record in query
                        .split(['(', '{', ' '])
                        .filter(|w| w.starts_with("pod_template:"))
                    {
                        assert!(
                            !rule(&rules, record).is_empty(),
                            "{env}/{app}: {record} is recorded by k8s/base/monitoring"
                        );
                    }
                }
            }
        }
    }
}

/// The guard that a canary is measured also proves the recording rules its ratios read are being
/// evaluated, by the group that records them: without it, rules missing from Prometheus (another
/// Application, synced in no set order) would make both ratios read 0 and pass any canary.
#[test]
fn the_canary_is_measured_only_while_its_recording_rules_are_evaluated() {
    for app in APPS {
        for (env, docs) in all_renderings(app) {
            let rules_env = if env == "local" { "dev" } else { env.as_str() };
            let template = one(&docs, "AnalysisTemplate");
            let guard = seq(&template["spec"]["metrics"])
                .iter()
                .find(|m| s(&m["name"]) == "canary-is-measured")
                .unwrap_or_else(|| panic!("{env}/{app}: canary-is-measured"));
            let query = squash(s(&guard["provider"]["prometheus"]["query"]));
            let group = query
                .split(
                    r#"prometheus_rule_group_last_evaluation_timestamp_seconds{rule_group=~".+;"#,
                )
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| {
                    panic!("{env}/{app}: the guard reads a rule group's last evaluation: {query}")
                })
                .replace("[.]", ".");
            let recorded = recorded_by(rules_env, &group);
            for ratio in [
                "pod_template:http_errors:ratio",
                "pod_template:http_slow:ratio",
            ] {
                assert!(
                    recorded.iter().any(|r| r == ratio),
                    "{env}/{app}: group {group} records {ratio}"
                );
            }
        }
    }
}

/// Each SLO metric of the template fails above the fast-burn page's threshold of the SLO its name
/// states: the canary fails what, at full traffic, would page within the hour.
#[test]
fn the_canary_thresholds_are_the_fast_burn_pages() {
    let rules = monitoring_rules("dev");
    let page_threshold = |alert: &str, ratio: &str| -> f64 {
        let expr = squash(s(&rule(&rules, alert)[0]["expr"]));
        let needle = format!("{ratio} > ");
        let rest = &expr[expr
            .find(&needle)
            .unwrap_or_else(|| panic!("{alert} reads {ratio}"))
            + needle.len()..];
        rest.split([' ', ')']).next().unwrap().parse().unwrap()
    };
    let availability = page_threshold("ApiAppErrorBudgetBurnFast", "slo:api_errors:ratio_rate5m");
    let latency = page_threshold("ApiAppLatencyBudgetBurnFast", "slo:api_slow:ratio_rate5m");
    let docs = overlay("dev", "api-app");
    let template = one(&docs, "AnalysisTemplate");
    let mut judged = 0;
    for metric in seq(&template["spec"]["metrics"]) {
        let metric_name = s(&metric["name"]);
        let query = s(&metric["provider"]["prometheus"]["query"]);
        let expected = if query.contains("pod_template:http_errors:") {
            assert!(metric_name.starts_with("availability-slo"), "{metric_name}");
            availability
        } else if query.contains("pod_template:http_slow:") {
            assert!(metric_name.starts_with("latency-slo"), "{metric_name}");
            latency
        } else {
            continue;
        };
        judged += 1;
        // Judged only past a sample in which one error stays under the threshold: a good canary is
        // never aborted by its first unlucky request.
        let sample = f64::from(judged_from_requests(query).unwrap_or_else(|| {
            panic!("{metric_name}: judged only from `{SAMPLE}{{...}} >= N` requests: {query}")
        }));
        assert!(
            1.0 / sample <= expected,
            "{metric_name}: one error in {sample} requests is over {expected}, so a good canary fails"
        );
        let condition = s(&metric["successCondition"]);
        let threshold: f64 = condition
            .strip_prefix("result[0] <= ")
            .unwrap_or_else(|| panic!("{metric_name}: `result[0] <= <threshold>`, the form the drill evaluates: {condition}"))
            .parse()
            .unwrap();
        assert!(
            (threshold - expected).abs() < 1e-9,
            "{metric_name}: {threshold} is not the fast-burn page's {expected}"
        );
        assert!(
            metric["failureCondition"].is_null(),
            "{metric_name}: whatever is not a success is a failure"
        );
    }
    assert_eq!(judged, 2, "both SLOs are judged");
}

/// api-app's per-ReplicaSet rules are the burn-rate rules' SLIs: the same selectors and the same
/// arithmetic, with only the grouping changed and the counters read as they stand instead of as a
/// rate (a canary's counters are its whole sample, and a rate never sees a series' first value).
/// The sample is the errors' denominator. A change to one SLI must reach every one.
#[test]
fn the_per_replicaset_rules_are_the_burn_rate_rules_over_the_canarys_whole_counters() {
    let rules = monitoring_rules("dev");
    let for_api = |record: &str| {
        let found = rule(&rules, record)
            .into_iter()
            .find(|r| s(&r["expr"]).contains(r#"job="api-app""#))
            .unwrap_or_else(|| panic!("{record} for api-app"));
        squash(s(&found["expr"]))
    };
    for (per_replicaset, burn_rate) in PER_REPLICASET {
        let alerting = squash(s(&rule(&rules, burn_rate)[0]["expr"]))
            .replace(
                "sum by (namespace)",
                "sum by (namespace, job, rollouts_pod_template_hash)",
            )
            .replace("rate(", "")
            .replace("[5m])", "");
        assert!(!alerting.contains("rate("), "{alerting}");
        assert_eq!(for_api(per_replicaset), alerting, "{per_replicaset}");
    }
    let errors = for_api(PER_REPLICASET[0].0);
    let denominator = errors.split(" / ").nth(1).expect("a ratio");
    assert_eq!(
        for_api(SAMPLE),
        denominator,
        "the sample is what the ratios divide by"
    );
    // Both apps' per-ReplicaSet rules exist.
    for app in APPS {
        for record in PER_REPLICASET
            .map(|(record, _)| record)
            .into_iter()
            .chain([SAMPLE])
        {
            assert!(
                rule(&rules, record)
                    .iter()
                    .any(|r| s(&r["expr"]).contains(&format!(r#"job="{app}""#))),
                "{record} for {app}"
            );
        }
    }
}

#[test]
fn argo_rollouts_is_installed_with_its_metrics_where_the_alerts_and_dashboard_look() {
    let rules = monitoring_rules("dev");
    for env in ENVS {
        let (namespace, values) = helm_release(env, "argo_rollouts");
        assert_eq!(namespace, "argo-rollouts", "{env}");
        let monitor = &values["controller"]["metrics"]["serviceMonitor"];
        assert_eq!(values["controller"]["metrics"]["enabled"], true, "{env}");
        assert_eq!(monitor["enabled"], true, "{env}");
        let relabel = &monitor["metricRelabelings"];
        assert_eq!(relabel[0]["sourceLabels"][0], "exported_namespace", "{env}");
        assert_eq!(relabel[0]["targetLabel"], "namespace", "{env}");
        assert_eq!(relabel[1]["action"], "labeldrop", "{env}");
        assert_eq!(values["keepCRDs"], true, "{env}");
        assert!(
            values["controller"]["replicas"].as_u64() >= Some(2),
            "{env}"
        );
    }
    // The chart names its metrics Service <release>-metrics: the job the ArgoRolloutsDown alert reads.
    let addons = blocks_in("terraform/modules/cluster-addons");
    let release = attr_text(
        block(&addons, "resource", &["helm_release", "argo_rollouts"]).body(),
        "name",
    );
    let down = squash(s(&rule(&rules, "ArgoRolloutsDown")[0]["expr"]));
    assert!(
        down.contains(&format!(r#"job="{}-metrics""#, release.trim_matches('"'))),
        "{down}"
    );
}

/// The README's release-path diagram states the numbers the manifests set: the first weight, the
/// template it is judged by, its thresholds as percentages, and the canary path's budget.
#[test]
fn the_readme_release_diagram_says_what_the_manifests_do() {
    let readme = read_text("README.md");
    let section = readme
        .split("### The release path")
        .nth(1)
        .expect("README has a release path section");
    let diagram = section
        .split("```mermaid")
        .nth(1)
        .and_then(|d| d.split("```").next())
        .expect("the release path is one mermaid diagram");
    let docs = overlay("dev", "api-app");
    let rollout = one(&docs, "Rollout");
    let steps = seq(&rollout["spec"]["strategy"]["canary"]["steps"]);
    let template = one(&docs, "AnalysisTemplate");
    let mut facts = vec![
        format!("{} % of requests", steps[0]["setWeight"].as_u64().unwrap()),
        name(template).to_owned(),
        format!(
            "≤ {} s from the canary's first ready pod",
            crate::restore_budget::canary_s("dev").0
        ),
    ];
    for metric in seq(&template["spec"]["metrics"]) {
        if let Some(t) = s(&metric["successCondition"]).strip_prefix("result[0] <= ") {
            let percent = t.parse::<f64>().unwrap() * 100.0;
            facts.push(format!("≤ {} %", (percent * 100.0).round() / 100.0));
        }
    }
    for fact in facts {
        assert!(
            diagram.contains(&fact),
            "the release diagram must say {fact:?}:\n{diagram}"
        );
    }
}

/// A config change renames the `ConfigMap`s the pods read (their names carry a hash of their
/// contents), while the stable `ReplicaSet` still names the old ones: after an aborted canary, or a
/// rollback, its pods restart or are rescheduled from them, and one pruned at the sync that renamed
/// it leaves them in `CreateContainerConfigError`. So Argo CD never prunes them, and the old copies
/// do not mark the Application `OutOfSync`.
#[test]
fn the_configmaps_the_pods_read_outlive_the_sync_that_renames_them() {
    for app in APPS {
        for (env, docs) in all_renderings(app) {
            let read = configmaps_read(&one(&docs, "Deployment")["spec"]["template"]["spec"]);
            assert!(!read.is_empty(), "{env}/{app}: the pods read a ConfigMap");
            for configmap in read {
                let annotations = &named(&docs, "ConfigMap", &configmap)["metadata"]["annotations"];
                let says = |key: &str, option: &str| {
                    annotations[key]
                        .as_str()
                        .is_some_and(|v| v.split(',').any(|o| o.trim() == option))
                };
                assert!(
                    says("argocd.argoproj.io/sync-options", "Prune=false"),
                    "{env}/{app}: ConfigMap {configmap} would be pruned while the stable pods need it"
                );
                assert!(
                    says("argocd.argoproj.io/compare-options", "IgnoreExtraneous"),
                    "{env}/{app}: the old copies of ConfigMap {configmap} would mark the app OutOfSync"
                );
            }
        }
    }
}
