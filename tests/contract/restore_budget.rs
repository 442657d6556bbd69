//! The restore budget: from the moment a rollback reaches Git (dev: the revert PR merges itself) or
//! someone presses Sync (prod) to the moment only the good version receives requests, computed from
//! the rendered manifests, Argo CD's settings and the rollback workflow. Dev must fit in 120 s.
//! The "Rolling back" table of .github/README.md is this computation, term by term.

use std::fmt::Write as _;

use integration_tests::k8s::sync_wave;
use integration_tests::{kustomize, of_kind, read_text, read_yaml};
use serde_yaml_ng::Value;

use integration_tests::terraform::{helm_release, local_str, platform_locals};

use integration_tests::facts::APPS;
const ALB: &str = "alb.ingress.kubernetes.io/";
const DEV_BUDGET_S: u32 = 120;

// What no manifest states, measured or documented elsewhere; each is an allowance, not a hope.
/// GitHub gives up on a webhook delivery after 10 s, so a delivered push arrives within it.
const WEBHOOK_DELIVERY_S: u32 = 10;
/// Argo CD refreshes the app, renders one small overlay (manifest-generate-paths) and applies it.
const ARGOCD_SYNC_S: u32 = 10;
/// Argo CD pauses between sync waves (`ARGOCD_SYNC_WAVE_DELAY`, 2 s by default).
const SYNC_WAVE_DELAY_S: u32 = 2;
/// Schedule, pull a ~10 MB distroless image (usually still cached: a rollback returns to it) and start.
const POD_START_S: u32 = 10;
/// A Sync hook Job before the Deployment (api-app's database bootstrap): schedule, start a cached
/// postgres image, connect and run its idempotent SQL.
const HOOK_JOB_S: u32 = 15;
/// Each further step of a hook Job, in the same pod (the bootstrap's `api-app migrate`): start the
/// release's image (pulled here, so the new pods find it cached), connect, and find the migrations
/// applied (a rollback's are).
const HOOK_STEP_S: u32 = 5;
/// The load balancer controller registers a new pod IP in the target group.
const LBC_REGISTER_S: u32 = 5;
/// How long an ALB may keep sending new requests to an IP target after the controller starts
/// deregistering it: reported at 10-25 s, so the upper end. The pods' preStop must cover it, and the
/// budget counts the preStop itself for this term, so the two cannot drift.
const ALB_KEEPS_ROUTING_S: u32 = 25;

fn int(v: &Value, what: &str) -> u32 {
    v.as_u64()
        .map(|n| u32::try_from(n).unwrap())
        .or_else(|| v.as_str().and_then(|t| t.parse().ok()))
        .unwrap_or_else(|| panic!("{what}: expected a number, got {v:?}"))
}

/// "90s", "2m" → seconds.
fn duration_s(text: &str) -> u32 {
    let (n, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u32 = n
        .parse()
        .unwrap_or_else(|_| panic!("not a duration: {text}"));
    match unit {
        "s" | "" => n,
        "m" => n * 60,
        _ => panic!("unexpected duration unit in {text}"),
    }
}

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj["metadata"]["annotations"][format!("{ALB}{key}")].as_str()
}

/// One line of the budget: what it is, its seconds, and where the number comes from.
struct Term {
    what: &'static str,
    seconds: u32,
    source: String,
}

/// The rollout of one app in one env, and what holds it to the ALB.
struct Rollout {
    steps: u32,
    per_step: Vec<Term>,
    pre_stop_s: u32,
    deregistration_delay_s: u32,
    /// How long the old `ReplicaSet` stays after the controller has seen the new pods registered.
    scale_down_delay_s: u32,
    /// The ALB's health checks of a newly registered target.
    health_checks_s: u32,
}

fn rollout(env: &str, app: &str) -> Rollout {
    let docs = kustomize(&format!("k8s/overlays/{env}/{app}"));
    // The Rollout runs the pods; the Deployment it references holds their template (probes, preStop).
    let deploy = of_kind(&docs, "Deployment").next().expect("a Deployment");
    let rollout = of_kind(&docs, "Rollout").next().expect("a Rollout");
    let spec = &rollout["spec"];
    let replicas = int(&spec["replicas"], "replicas");
    // A rollback returns to a recent revision: the rollback window skips the canary steps, so the
    // restore is the one-step replacement below, not a release.
    assert!(
        spec["rollbackWindow"]["revisions"]
            .as_u64()
            .is_some_and(|n| n >= 1),
        "{env}/{app}: without rollbackWindow a rollback would crawl through the canary steps and analysis"
    );
    let ru = &spec["strategy"]["canary"];
    assert_eq!(
        int(&ru["maxUnavailable"], "maxUnavailable"),
        0,
        "{env}/{app}: no old pod may stop before its replacement serves"
    );
    // Kubernetes rounds a percentage surge up.
    let surge = match ru["maxSurge"].as_str().and_then(|p| p.strip_suffix('%')) {
        Some(pct) => (replicas * pct.parse::<u32>().unwrap()).div_ceil(100),
        None => int(&ru["maxSurge"], "maxSurge"),
    };
    let steps = replicas.div_ceil(surge.max(1));
    let c = &deploy["spec"]["template"]["spec"]["containers"][0];
    let ingress = of_kind(&docs, "Ingress").next().expect("an Ingress");
    let alb = |key: &str| {
        annotation(ingress, key)
            .unwrap_or_else(|| panic!("{env}/{app}: Ingress sets {ALB}{key}"))
            .parse::<u32>()
            .unwrap()
    };
    let dereg = annotation(ingress, "target-group-attributes")
        .and_then(|a| {
            a.split(',')
                .find_map(|kv| kv.strip_prefix("deregistration_delay.timeout_seconds="))
        })
        .map_or(300, |v| v.parse().unwrap());
    let interval = alb("healthcheck-interval-seconds");
    let healthy = alb("healthy-threshold-count");
    Rollout {
        steps,
        per_step: vec![
            Term {
                what: "pod scheduled, image pulled, process started",
                seconds: POD_START_S,
                source: "allowance".into(),
            },
            Term {
                what: "startup probe passes",
                seconds: int(
                    &c["startupProbe"]["periodSeconds"],
                    "startupProbe.periodSeconds",
                ),
                source: "startupProbe.periodSeconds".into(),
            },
            Term {
                what: "readiness probe passes",
                seconds: int(
                    &c["readinessProbe"]["periodSeconds"],
                    "readinessProbe.periodSeconds",
                ),
                source: "readinessProbe.periodSeconds".into(),
            },
            Term {
                what: "pod registered in the ALB target group",
                seconds: LBC_REGISTER_S,
                source: "allowance".into(),
            },
            Term {
                what: "ALB health checks pass",
                seconds: interval * healthy,
                source: format!(
                    "healthcheck-interval-seconds {interval} × healthy-threshold-count {healthy}"
                ),
            },
            Term {
                what: "minReadySeconds",
                seconds: spec["minReadySeconds"]
                    .as_u64()
                    .map_or(0, |n| u32::try_from(n).unwrap()),
                source: "Rollout minReadySeconds".into(),
            },
        ],
        pre_stop_s: int(
            &c["lifecycle"]["preStop"]["sleep"]["seconds"],
            "preStop.sleep.seconds",
        ),
        deregistration_delay_s: dereg,
        scale_down_delay_s: int(&ru["scaleDownDelaySeconds"], "canary.scaleDownDelaySeconds"),
        health_checks_s: interval * healthy,
    }
}

/// Seconds for a good release of `app` in `env` to reach every pod: each weight step and the final
/// promotion start pods (the one-step terms), and each analysis step takes all its measurements.
pub(crate) fn release_s(env: &str, app: &str) -> u32 {
    let docs = kustomize(&format!("k8s/overlays/{env}/{app}"));
    let spec = &of_kind(&docs, "Rollout").next().expect("a Rollout")["spec"];
    let steps = spec["strategy"]["canary"]["steps"]
        .as_sequence()
        .expect("canary steps");
    let weights = steps.iter().filter(|s| !s["setWeight"].is_null()).count();
    let analysis: u32 = steps
        .iter()
        .filter_map(|s| s["analysis"]["templates"][0]["templateName"].as_str())
        .map(|name| {
            let template = of_kind(&docs, "AnalysisTemplate")
                .find(|t| t["metadata"]["name"].as_str() == Some(name))
                .unwrap_or_else(|| panic!("{env}/{app}: AnalysisTemplate {name}"));
            template["spec"]["metrics"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|m| int(&m["count"], "count") * duration_s(m["interval"].as_str().unwrap()))
                .max()
                .unwrap()
        })
        .sum();
    let per_step: u32 = rollout(env, app).per_step.iter().map(|t| t.seconds).sum();
    (u32::try_from(weights).unwrap() + 1) * per_step + analysis
}

/// How Argo CD learns of a push in `env`: the webhook when it is wired end to end, else its poll.
fn git_to_argocd(env: &str) -> Term {
    let (_, values) = helm_release(env, "argocd");
    let cm = &values["configs"]["cm"];
    let poll = duration_s(cm["timeout.reconciliation"].as_str().unwrap_or("120s"))
        + duration_s(
            cm["timeout.reconciliation.jitter"]
                .as_str()
                .unwrap_or("60s"),
        );
    let poll_term = Term {
        what: "Argo CD polls Git (no webhook)",
        seconds: poll,
        source: "timeout.reconciliation + jitter".into(),
    };
    if webhook_problems(env, &values).is_empty() {
        Term {
            what: "GitHub webhook reaches Argo CD",
            seconds: WEBHOOK_DELIVERY_S,
            source: "allowance (GitHub's delivery timeout)".into(),
        }
    } else {
        poll_term
    }
}

/// Argo CD's worst-case poll: `timeout.reconciliation` plus its jitter (chart defaults when unset).
pub(crate) fn poll_s(argocd_values: &serde_json::Value) -> u32 {
    let cm = &argocd_values["configs"]["cm"];
    duration_s(cm["timeout.reconciliation"].as_str().unwrap_or("120s"))
        + duration_s(
            cm["timeout.reconciliation.jitter"]
                .as_str()
                .unwrap_or("60s"),
        )
}

/// Everything the webhook needs, from the ALB rule to the secret; empty when it is wired.
fn webhook_problems(env: &str, argocd_values: &serde_json::Value) -> Vec<String> {
    let mut problems = Vec::new();
    let docs = kustomize(&format!("k8s/argocd/{env}"));
    let route = of_kind(&docs, "Ingress").find_map(|ing| {
        ing["spec"]["rules"][0]["http"]["paths"]
            .as_sequence()?
            .iter()
            .find(|p| p["path"].as_str() == Some("/api/webhook"))
            .map(|p| (ing, p))
    });
    match route {
        None => problems.push("no Ingress routes /api/webhook".to_owned()),
        Some((ing, path)) => {
            if path["pathType"].as_str() != Some("Exact") {
                problems
                    .push("the webhook route must be exactly /api/webhook, not a prefix".into());
            }
            if path["backend"]["service"]["name"].as_str() != Some("argocd-server") {
                problems.push("/api/webhook must go to argocd-server".into());
            }
            if annotation(ing, "group.name") != Some("gitops-platform") {
                problems.push("the webhook route must join the cluster's one ALB".into());
            }
            let api_docs = kustomize(&format!("k8s/overlays/{env}/api-app"));
            let api_order: i32 = of_kind(&api_docs, "Ingress")
                .find_map(|i| annotation(i, "group.order"))
                .expect("api-app's Ingress has a group.order")
                .parse()
                .unwrap();
            let order: i32 = annotation(ing, "group.order")
                .unwrap_or("0")
                .parse()
                .unwrap();
            if order >= api_order {
                problems.push(format!("the webhook rule (order {order}) must come before api-app's /api prefix (order {api_order})"));
            }
        }
    }
    let secret = of_kind(&docs, "ExternalSecret")
        .find(|es| es["spec"]["target"]["name"].as_str() == Some("argocd-secret"));
    match secret {
        None => {
            problems.push("no ExternalSecret writes the webhook secret into argocd-secret".into());
        }
        Some(es) => {
            if es["spec"]["target"]["creationPolicy"].as_str() != Some("Merge") {
                problems.push(
                    "the webhook secret must merge into Helm's argocd-secret, not own it".into(),
                );
            }
            let data = &es["spec"]["data"][0];
            if data["secretKey"].as_str() != Some("webhook.github.secret") {
                problems.push(
                    "Argo CD reads the GitHub webhook secret from key webhook.github.secret".into(),
                );
            }
            if data["remoteRef"]["key"].as_str()
                != Some(local_str(&platform_locals(env), "ops_secret_name").as_str())
            {
                problems.push(
                    "the webhook secret must come from the ops secret Terraform creates".into(),
                );
            }
        }
    }
    if argocd_values["configs"]["params"]["server.insecure"] != "true" {
        problems.push(
            "argocd-server must serve HTTP behind the ALB (configs.params server.insecure)".into(),
        );
    }
    problems
}

/// Dev rolls back without a human after the button: the rollback PR merges itself once its checks pass.
fn dev_rollback_merges_itself() -> bool {
    let wf = &read_yaml(".github/workflows/rollback.yml")[0];
    let inputs = &wf["on"]["workflow_dispatch"]["inputs"]["environment"];
    let options: Vec<_> = inputs["options"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        options,
        ["dev", "prod"],
        "rollback.yml asks which environment"
    );
    wf["jobs"]["rollback"]["steps"]
        .as_sequence()
        .into_iter()
        .flatten()
        .any(|step| {
            step["if"]
                .as_str()
                .is_some_and(|c| c.contains("inputs.environment == 'dev'"))
                && step["run"]
                    .as_str()
                    .is_some_and(|r| r.contains("gh pr merge") && r.contains("--auto"))
        })
}

/// The readiness gate holds only pods created while a Service with a `TargetGroupBinding` selects
/// them: the first ones. The Rollout points the stable Service at a new `ReplicaSet` only once it
/// has an available pod, so a new revision's pods run ungated, and what holds the old pods is the
/// controller's target group verification (it sees every new pod registered first) and the
/// scale-down delay after it, which must cover the ALB's health checks of the new targets.
fn assert_old_pods_wait_for_new_targets(env: &str, app: &str, r: &Rollout) {
    let application = kustomize(&format!("k8s/argocd/{env}"))
        .into_iter()
        .find(|d| {
            d["kind"] == "Application"
                && d["metadata"]["name"].as_str() == Some(&format!("{app}-{env}"))
        })
        .unwrap_or_else(|| panic!("Application {app}-{env}"));
    let gated = application["spec"]["syncPolicy"]["managedNamespaceMetadata"]["labels"]
        ["elbv2.k8s.aws/pod-readiness-gate-inject"]
        .as_str()
        == Some("enabled");
    assert!(
        gated,
        "{env}/{app}: without the ALB readiness gate the first pods take traffic unchecked"
    );
    let (_, rollouts) = helm_release(env, "argo_rollouts");
    let controller = &rollouts["controller"];
    assert!(
        controller["extraArgs"]
            .as_array()
            .is_some_and(|args| args.iter().any(|a| a == "--aws-verify-target-group")),
        "{env}: the Rollouts controller must verify target groups, or old pods stop before new ones are registered: {controller}"
    );
    // The verification reads the ALB through the AWS API, in the cluster's region.
    let region = controller["extraEnv"]
        .as_array()
        .and_then(|vars| vars.iter().find(|v| v["name"] == "AWS_REGION"))
        .map(|v| v["value"].clone());
    let region_var =
        integration_tests::terraform::addons_vars(env, &platform_locals(env))["region"].clone();
    assert_eq!(
        region,
        Some(region_var),
        "{env}: the Rollouts controller's AWS_REGION"
    );
    // The harness's region is a constant, so a literal would also pass above: the expression
    // itself must be the module's variable.
    let source: String = read_text("terraform/modules/cluster-addons/rollouts.tf")
        .split_whitespace()
        .collect();
    assert!(
        source.contains(r#"extraEnv=[{name="AWS_REGION",value=var.region}]"#),
        "AWS_REGION comes from var.region"
    );
    assert!(
        r.scale_down_delay_s >= r.health_checks_s,
        "{env}/{app}: scaleDownDelaySeconds ({} s) must cover the ALB's health checks of the new targets ({} s)",
        r.scale_down_delay_s,
        r.health_checks_s
    );
}

/// The budget of one env: the terms, each app's rollout running in parallel (the slower one counts).
fn budget(env: &str) -> Vec<Term> {
    let mut terms = Vec::new();
    if env == "dev" {
        assert!(
            dev_rollback_merges_itself(),
            "rollback.yml must auto-merge dev's PR, or a human's delay is in the budget"
        );
        terms.push(git_to_argocd(env));
    }
    terms.push(Term {
        what: "Argo CD refreshes, renders and applies",
        seconds: ARGOCD_SYNC_S,
        source: "allowance".into(),
    });
    // Per app: the sync waves before its Rollout, and the hook Jobs that run on every sync (a
    // rollback's too) and that the Rollout waits for. Each overlay is rendered once.
    let (waves, (hooks, steps)) = APPS
        .iter()
        .map(|app| {
            let docs = kustomize(&format!("k8s/overlays/{env}/{app}"));
            let deploy_wave = sync_wave(of_kind(&docs, "Rollout").next().unwrap());
            let mut before: Vec<_> = docs
                .iter()
                .map(sync_wave)
                .filter(|w| *w < deploy_wave)
                .collect();
            before.sort_unstable();
            before.dedup();
            // Each hook Job's steps: its init containers run one after another, then its containers.
            let hooks: Vec<usize> = of_kind(&docs, "Job")
                .filter(|job| {
                    matches!(
                        job["metadata"]["annotations"]["argocd.argoproj.io/hook"].as_str(),
                        Some("Sync" | "PreSync")
                    )
                })
                .map(|job| {
                    let pod = &job["spec"]["template"]["spec"];
                    let count = |list: &str| pod[list].as_sequence().map_or(0, Vec::len);
                    count("initContainers") + count("containers")
                })
                .collect();
            let jobs = u32::try_from(hooks.len()).unwrap();
            let steps = u32::try_from(hooks.iter().sum::<usize>()).unwrap();
            (u32::try_from(before.len()).unwrap(), (jobs, steps))
        })
        .fold((0, (0, 0)), |(w, h), (aw, ah)| (w.max(aw), h.max(ah)));
    terms.push(Term {
        what: "sync waves before the Rollout",
        seconds: waves * SYNC_WAVE_DELAY_S,
        source: format!("{waves} × ARGOCD_SYNC_WAVE_DELAY"),
    });
    if hooks > 0 {
        let more = steps - hooks;
        terms.push(Term {
            what: "sync hook Jobs run (database bootstrap, then migrate)",
            seconds: hooks * HOOK_JOB_S + more * HOOK_STEP_S,
            source: format!("{hooks} × allowance, and {more} more step × allowance"),
        });
    }

    let slowest = APPS
        .iter()
        .map(|app| (app, rollout(env, app)))
        .max_by_key(|(_, r)| r.steps * r.per_step.iter().map(|t| t.seconds).sum::<u32>())
        .unwrap();
    let (app, r) = slowest;
    assert_old_pods_wait_for_new_targets(env, app, &r);
    assert!(
        r.pre_stop_s >= ALB_KEEPS_ROUTING_S,
        "{env}/{app}: preStop ({} s) must outlast the ALB's {ALB_KEEPS_ROUTING_S} s of routing to a deregistering target, or requests reach a closed port",
        r.pre_stop_s
    );
    assert!(
        r.deregistration_delay_s >= r.pre_stop_s,
        "{env}/{app}: the deregistration delay must let in-flight requests finish"
    );
    for t in r.per_step {
        terms.push(Term {
            what: t.what,
            seconds: t.seconds * r.steps,
            source: if r.steps == 1 {
                t.source
            } else {
                format!("{} × {} rolling steps", t.source, r.steps)
            },
        });
    }
    terms.push(Term {
        what: "ALB stops sending requests to the old pods",
        seconds: r.pre_stop_s,
        source: format!(
            "preStop sleep (covers the ALB's up to {ALB_KEEPS_ROUTING_S} s on a deregistering target)"
        ),
    });
    terms
}

fn total(terms: &[Term]) -> u32 {
    terms.iter().map(|t| t.seconds).sum()
}

/// The restore span the promise is about: from the merge (dev) or pressing Sync (prod) until only
/// the good version serves. README's outcomes table names it beside delivery-metrics' time to
/// restore, which adds detection, the decision and review.
pub(crate) fn after_merge_s(env: &str) -> u32 {
    total(&budget(env))
}

/// The table in .github/README.md: dev and prod side by side.
fn table(dev: &[Term], prod: &[Term]) -> String {
    let mut out = String::from("| Term | dev (s) | prod (s) | From |\n|---|---:|---:|---|\n");
    for t in dev {
        let p = prod
            .iter()
            .find(|p| p.what == t.what)
            .map_or_else(|| "–".to_owned(), |p| p.seconds.to_string());
        writeln!(out, "| {} | {} | {} | {} |", t.what, t.seconds, p, t.source).unwrap();
    }
    writeln!(
        out,
        "| **Total** | **{}** | **{}** | dev: from the merge; prod: from pressing Sync |",
        total(dev),
        total(prod)
    )
    .unwrap();
    out
}

#[test]
fn a_dev_rollback_serves_the_good_version_within_two_minutes_of_the_merge() {
    let dev = budget("dev");
    let prod = budget("prod");
    let table = table(&dev, &prod);
    assert!(
        total(&dev) <= DEV_BUDGET_S,
        "dev restores in {} s, over the {DEV_BUDGET_S} s budget:\n{table}",
        total(&dev)
    );
    assert!(
        total(&prod) <= DEV_BUDGET_S,
        "prod, from pressing Sync, restores in {} s:\n{table}",
        total(&prod)
    );
    assert!(
        read_text(".github/README.md").contains(&table),
        ".github/README.md's \"Rolling back\" table must show this budget; replace it with:\n{table}"
    );
}

#[test]
fn dev_depends_on_the_webhook_not_the_poll() {
    let (_, values) = helm_release("dev", "argocd");
    let problems = webhook_problems("dev", &values);
    assert!(
        problems.is_empty(),
        "the GitHub webhook is not wired: {problems:?}"
    );
    // A lost delivery falls back to the poll, which alone would break the budget: the webhook is
    // part of the promise, and the poll stays short so a lost delivery costs minutes, not more.
    let poll = poll_s(&values);
    assert!(
        poll <= 120,
        "the fallback poll ({poll} s with jitter) must stay at or under 2 minutes"
    );
    let mut with_poll = budget("dev");
    with_poll[0] = Term {
        what: "poll",
        seconds: poll,
        source: String::new(),
    };
    assert!(
        total(&with_poll) > DEV_BUDGET_S,
        "without the webhook the budget would still hold: then the webhook is decoration, not the promise"
    );
}

#[test]
fn both_clusters_get_the_same_fast_poll_and_webhook() {
    for env in ["dev", "prod"] {
        let (_, values) = helm_release(env, "argocd");
        assert_eq!(
            values["configs"]["cm"]["timeout.reconciliation"], "90s",
            "{env}"
        );
        assert!(
            webhook_problems(env, &values).is_empty(),
            "{env}: {:?}",
            webhook_problems(env, &values)
        );
    }
}

// The canary path: a bad release stopped by its own metrics, with no person and no commit. From the
// canary's first ready pod until every request goes to stable again, computed from the Rollout, the
// AnalysisTemplate it names, the ServiceMonitor and the recording rule the template reads.

/// The canary path's target: under a minute, with at most a fifth of the requests exposed.
const CANARY_BUDGET_S: u32 = 60;
const CANARY_MAX_WEIGHT: u64 = 20;
/// Prometheus's discovery manager hands new targets to the scrape loops in batches every 5 s.
const PROMETHEUS_DISCOVERY_S: u32 = 5;
/// The canary's API requests a second the budget assumes while it waits for its sample (at a 20 %
/// weight, 50 a second in all). Slower traffic takes longer to judge, and exposes fewer requests.
const CANARY_REQUESTS_PER_S: u32 = 10;
/// After Argo Rollouts rewrites the Ingress's forward action, the Load Balancer Controller reconciles
/// the `IngressGroup` and modifies the listener rule.
const LBC_APPLY_S: u32 = 10;

/// The canary path of one app: its terms, and the share of requests its first step exposes.
struct CanaryPath {
    terms: Vec<Term>,
    first_weight: u64,
}

/// A metric of an `AnalysisTemplate` that judges an SLO: its query reads a per-ReplicaSet rule.
fn slo_metrics(template: &Value) -> Vec<&Value> {
    template["spec"]["metrics"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter(|m| {
            m["provider"]["prometheus"]["query"]
                .as_str()
                .is_some_and(|q| q.contains("pod_template:"))
        })
        .collect()
}

/// The most requests an SLO metric of `template` waits for before it judges its ratio.
fn judged_sample(template: &Value, what: &str) -> u32 {
    slo_metrics(template)
        .into_iter()
        .map(|m| {
            let query = m["provider"]["prometheus"]["query"].as_str().unwrap();
            crate::canary::judged_from_requests(query).unwrap_or_else(|| {
                panic!(
                    "{what}: {} judges a ratio from a sample",
                    m["name"].as_str().unwrap()
                )
            })
        })
        .max()
        .expect("the template judges an SLO")
}

fn canary_path(env: &str, app: &str) -> CanaryPath {
    let docs = kustomize(&format!("k8s/overlays/{env}/{app}"));
    let rollout = of_kind(&docs, "Rollout").next().expect("a Rollout");
    let canary = &rollout["spec"]["strategy"]["canary"];
    assert!(
        canary["trafficRouting"]["alb"].is_mapping(),
        "{env}/{app}: the ALB splits requests by weight; without it the weight is a share of pods"
    );
    let steps = canary["steps"].as_sequence().expect("canary steps");
    let first_weight = steps[0]["setWeight"]
        .as_u64()
        .unwrap_or_else(|| panic!("{env}/{app}: the first step sets the canary's weight"));
    let template_name = steps[1]["analysis"]["templates"][0]["templateName"]
        .as_str()
        .unwrap_or_else(|| panic!("{env}/{app}: the analysis comes right after the first weight"));
    let template = of_kind(&docs, "AnalysisTemplate")
        .find(|t| t["metadata"]["name"].as_str() == Some(template_name))
        .unwrap_or_else(|| panic!("{env}/{app}: AnalysisTemplate {template_name}"));
    let sample = judged_sample(template, &format!("{env}/{app}"));
    let detection = slo_metrics(template)
        .into_iter()
        .map(|m| {
            let interval = duration_s(m["interval"].as_str().expect("a metric interval"));
            let limit = int(&m["failureLimit"], "failureLimit");
            (
                (limit + 1) * interval,
                format!(
                    "(failureLimit {limit} + 1) × interval {interval} s ({template_name}: {})",
                    m["name"].as_str().unwrap()
                ),
            )
        })
        .max_by_key(|(s, _)| *s)
        .expect("the template judges an SLO");
    let monitor = of_kind(&docs, "ServiceMonitor")
        .next()
        .expect("a ServiceMonitor");
    let scrape = duration_s(
        monitor["spec"]["endpoints"][0]["interval"]
            .as_str()
            .expect("a scrape interval"),
    );
    let rules = kustomize(&format!("k8s/overlays/{env}/monitoring"));
    let group = of_kind(&rules, "PrometheusRule")
        .flat_map(|r| r["spec"]["groups"].as_sequence().unwrap())
        .find(|g| {
            g["rules"].as_sequence().unwrap().iter().any(|r| {
                r["record"]
                    .as_str()
                    .is_some_and(|name| name.starts_with("pod_template:"))
            })
        })
        .expect("a group records the per-ReplicaSet ratios");
    let rule_interval = duration_s(group["interval"].as_str().expect("the group's interval"));
    let min_ready = int(&rollout["spec"]["minReadySeconds"], "minReadySeconds");
    CanaryPath {
        terms: vec![
            Term {
                what: "the canary is available and the ALB sends it its weight",
                seconds: min_ready,
                source: "Rollout minReadySeconds".into(),
            },
            Term {
                what: "Prometheus discovers the canary's pod",
                seconds: PROMETHEUS_DISCOVERY_S,
                source: "allowance".into(),
            },
            Term {
                what: "the canary serves the requests a ratio is judged on",
                seconds: sample.div_ceil(CANARY_REQUESTS_PER_S),
                source: format!(
                    "{sample} requests at {CANARY_REQUESTS_PER_S}/s (its {first_weight} % of {} a second)",
                    u64::from(CANARY_REQUESTS_PER_S) * 100 / first_weight
                ),
            },
            Term {
                what: "a scrape records the canary's counters",
                seconds: scrape,
                source: format!("ServiceMonitor interval {scrape} s"),
            },
            Term {
                what: "the per-ReplicaSet ratio is recorded",
                seconds: rule_interval,
                source: format!("rule group {} interval", group["name"].as_str().unwrap()),
            },
            Term {
                what: "the analysis fails and the Rollout aborts",
                seconds: detection.0,
                source: detection.1,
            },
            Term {
                what: "the ALB sends every request to stable again",
                seconds: LBC_APPLY_S,
                source: "allowance".into(),
            },
        ],
        first_weight,
    }
}

/// The slower app's canary path in `env`, the one the README states.
pub(crate) fn canary_s(env: &str) -> (u32, u64) {
    APPS.iter()
        .map(|app| {
            let path = canary_path(env, app);
            (total(&path.terms), path.first_weight)
        })
        .max()
        .unwrap()
}

fn canary_table(terms: &[Term]) -> String {
    let mut out = String::from("| Term | s | From |\n|---|---:|---|\n");
    for t in terms {
        writeln!(out, "| {} | {} | {} |", t.what, t.seconds, t.source).unwrap();
    }
    writeln!(
        out,
        "| **Total** | **{}** | from the canary's first ready pod |",
        total(terms)
    )
    .unwrap();
    out
}

#[test]
fn a_bad_canary_is_stopped_within_a_minute_having_seen_at_most_a_fifth_of_the_requests() {
    for env in ["dev", "prod"] {
        for app in APPS {
            let path = canary_path(env, app);
            let table = canary_table(&path.terms);
            assert!(
                total(&path.terms) <= CANARY_BUDGET_S,
                "{env}/{app}: a bad canary is stopped in {} s, over the {CANARY_BUDGET_S} s budget:\n{table}",
                total(&path.terms)
            );
            assert!(
                path.first_weight > 0 && path.first_weight <= CANARY_MAX_WEIGHT,
                "{env}/{app}: the first step exposes {} % of requests",
                path.first_weight
            );
        }
    }
    // The two apps and envs share the manifests; .github/README.md shows the slower one's terms.
    let slowest = APPS
        .iter()
        .map(|app| canary_path("dev", app))
        .max_by_key(|p| total(&p.terms))
        .unwrap();
    let table = canary_table(&slowest.terms);
    assert!(
        read_text(".github/README.md").contains(&table),
        ".github/README.md's canary path table must show this budget; replace it with:\n{table}"
    );
    let (seconds, weight) = canary_s("dev");
    let row = format!(
        "**Canary stop** (no person, no commit): from a bad canary's first ready pod until every request goes to stable again: **{seconds} s**, with at most **{weight} %** of requests exposed (at {} API requests a second or more",
        u64::from(CANARY_REQUESTS_PER_S) * 100 / weight
    );
    assert!(
        read_text("README.md").contains(&row),
        "README's outcomes table must name the canary path beside the revert: {row}"
    );
}
