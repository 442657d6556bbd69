//! The pod against the code: the port each app listens on, the probe paths it serves, the grace
//! period its shutdown needs, and the user its image runs as.

use std::time::Duration;

use integration_tests::facts::{APPS, ENVS, admin_port, default_port};
use integration_tests::k8s::{
    all_renderings, container, keys, name, named, one, overlay, pod_env, s, seq,
};
use integration_tests::{of_kind, read_text, test_env};

const ALB: &str = "alb.ingress.kubernetes.io/";

/// The numeric ports an ingress `NetworkPolicy` admits.
fn admitted_ports(policy: &serde_yaml_ng::Value) -> Vec<u64> {
    seq(&policy["spec"]["ingress"])
        .iter()
        .flat_map(|rule| seq(&rule["ports"]))
        .filter_map(|port| port["port"].as_u64())
        .collect()
}

#[test]
fn container_ports_are_the_apps_default_public_and_admin_ports() {
    for app in APPS {
        let (public, admin) = (u64::from(default_port(app)), u64::from(admin_port(app)));
        for (env, docs) in all_renderings(app) {
            let ports: Vec<(&str, Option<u64>)> = seq(&container(&docs)["ports"])
                .iter()
                .map(|p| (s(&p["name"]), p["containerPort"].as_u64()))
                .collect();
            assert_eq!(
                ports,
                [("http", Some(public)), ("admin", Some(admin))],
                "{env}/{app}"
            );
            // The public Service, which the Ingress routes, and the stable and canary Services the
            // Rollout points at each ReplicaSet (which the ALB's weighted action splits between): the
            // public port only, never the admin port.
            let public_names = [
                app.to_owned(),
                format!("{app}-stable"),
                format!("{app}-canary"),
            ];
            for svc_name in &public_names {
                let svc = named(&docs, "Service", svc_name);
                let svc_ports = seq(&svc["spec"]["ports"]);
                assert_eq!(
                    svc_ports.len(),
                    1,
                    "{env}/{svc_name}: one public Service port"
                );
                assert_eq!(s(&svc_ports[0]["targetPort"]), "http", "{env}/{svc_name}");
                assert_eq!(
                    svc_ports[0]["port"].as_u64(),
                    Some(public),
                    "{env}/{svc_name}"
                );
            }
            // The admin port has a headless Service of its own, for Prometheus.
            let admin_svc = named(&docs, "Service", &format!("{app}-admin"));
            assert_eq!(s(&admin_svc["spec"]["clusterIP"]), "None", "{env}/{app}");
            let admin_ports = seq(&admin_svc["spec"]["ports"]);
            assert_eq!(admin_ports.len(), 1, "{env}/{app}: one admin Service port");
            assert_eq!(s(&admin_ports[0]["targetPort"]), "admin", "{env}/{app}");
            assert_eq!(
                of_kind(&docs, "Service").count(),
                public_names.len() + 1,
                "{env}/{app}: the public, stable, canary and admin Services"
            );
            // Nothing sets PORT or ADMIN_PORT: the app listens on its defaults, which the manifests expose.
            for var in ["PORT", "ADMIN_PORT"] {
                assert!(
                    !pod_env(&docs).contains_key(var),
                    "{env}/{app} must not override {var}"
                );
            }
            // NetworkPolicies use numeric ports (the VPC CNI agent mishandles named ones), in
            // ingress and egress rules alike; ingress admits the same numbers.
            for policy in of_kind(&docs, "NetworkPolicy") {
                for direction in ["ingress", "egress"] {
                    for rule in seq(&policy["spec"][direction]) {
                        for port in seq(&rule["ports"]) {
                            assert!(
                                port.get("port").is_none_or(serde_yaml_ng::Value::is_u64),
                                "{env}/{app}: {} names a port in {direction}: {port:?}",
                                name(policy)
                            );
                        }
                    }
                }
                for port in admitted_ports(policy) {
                    assert!(
                        port == public || port == admin,
                        "{env}/{app}: {} admits {port}",
                        name(policy)
                    );
                }
            }
        }
    }
}

#[test]
fn prometheus_reaches_only_the_admin_port_and_scrapes_it_there() {
    for app in APPS {
        let admin = u64::from(admin_port(app));
        for env in ENVS {
            let docs = overlay(env, app);
            let policy = named(&docs, "NetworkPolicy", &format!("{app}-allow-prometheus"));
            assert_eq!(admitted_ports(policy), [admin], "{env}/{app}");
            // The ALB reaches the public port, and the admin port for its health check only.
            let alb = named(&docs, "NetworkPolicy", &format!("{app}-allow-alb"));
            assert_eq!(
                admitted_ports(alb),
                [u64::from(default_port(app)), admin],
                "{env}/{app}"
            );
            let monitor = one(&docs, "ServiceMonitor");
            let endpoints = seq(&monitor["spec"]["endpoints"]);
            assert_eq!(endpoints.len(), 1, "{env}/{app}");
            assert_eq!(s(&endpoints[0]["port"]), "admin", "{env}/{app}");
            assert_eq!(
                s(&endpoints[0]["path"]),
                platform::metrics::METRICS_PATH,
                "{env}/{app}"
            );
            // It selects the admin Service only, and keeps the job label the rules select on.
            let selector = &monitor["spec"]["selector"]["matchLabels"];
            for svc in of_kind(&docs, "Service") {
                let labels = &svc["metadata"]["labels"];
                let selected = selector
                    .as_mapping()
                    .unwrap()
                    .iter()
                    .all(|(k, v)| labels[k.as_str().unwrap()] == *v);
                assert_eq!(
                    selected,
                    name(svc) == format!("{app}-admin"),
                    "{env}/{app}: the ServiceMonitor selects {}",
                    name(svc)
                );
                if selected {
                    let job_label = s(&monitor["spec"]["jobLabel"]);
                    assert_eq!(s(&labels[job_label]), app, "{env}/{app}: job label");
                }
            }
        }
    }
}

#[test]
fn probes_use_the_platform_probe_paths_on_the_admin_port() {
    for app in APPS {
        for (env, docs) in all_renderings(app) {
            let c = container(&docs);
            for (probe, path) in [
                ("startupProbe", platform::probes::LIVENESS_PATH),
                ("livenessProbe", platform::probes::LIVENESS_PATH),
                ("readinessProbe", platform::probes::READINESS_PATH),
            ] {
                let get = &c[probe]["httpGet"];
                assert_eq!(s(&get["path"]), path, "{env}/{app} {probe} path");
                assert_eq!(s(&get["port"]), "admin", "{env}/{app} {probe} port");
            }
        }
        for env in ENVS {
            let docs = overlay(env, app);
            let ingress = one(&docs, "Ingress");
            let hc =
                s(&ingress["metadata"]["annotations"][format!("{ALB}healthcheck-path").as_str()]);
            assert_eq!(
                hc,
                platform::probes::READINESS_PATH,
                "{env}/{app}: ALB health check"
            );
            let hc_port =
                s(&ingress["metadata"]["annotations"][format!("{ALB}healthcheck-port").as_str()]);
            assert_eq!(
                hc_port,
                admin_port(app).to_string(),
                "{env}/{app}: the ALB health-checks readiness where it is served"
            );
        }
    }
}

/// Starts the real app on free ports and asks its admin port for every path the manifests probe.
#[tokio::test]
async fn every_probe_path_is_a_route_the_app_serves() {
    let local_vars = test_env(&[("LOG_FORMAT", "json"), ("RUST_LOG", "error")]);

    let api_config = api_app::config::Config::from_vars(local_vars.clone()).unwrap();
    let api = api_app::startup::build(api_config).await.unwrap();
    let demo_config = demo_app::config::Config::from_vars(local_vars).unwrap();
    let demo = demo_app::startup::build(demo_config).await.unwrap();
    let ports = [
        ("api-app", api.admin_port()),
        ("demo-app", demo.admin_port()),
    ];
    tokio::spawn(api.run_until(std::future::pending()));
    tokio::spawn(demo.run_until(std::future::pending()));

    let client = reqwest::Client::new();
    for (app, port) in ports {
        let c = container(&overlay("prod", app)).clone();
        for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
            let path = s(&c[probe]["httpGet"]["path"]);
            let url = format!("http://127.0.0.1:{port}{path}");
            // Readiness turns 200 once the listener is up; allow the server a moment to get there.
            let mut status = None;
            for _ in 0..50 {
                status = client
                    .get(&url)
                    .send()
                    .await
                    .ok()
                    .map(|r| r.status().as_u16());
                if status == Some(200) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert_eq!(status, Some(200), "{app} {probe} GET {path}");
        }
    }
}

#[test]
fn the_grace_period_covers_pre_stop_drain_and_shutdown() {
    for app in APPS {
        for (env, docs) in all_renderings(app) {
            let pod = &one(&docs, "Deployment")["spec"]["template"]["spec"];
            let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
            let pre_stop = container(&docs)["lifecycle"]["preStop"]["sleep"]["seconds"]
                .as_u64()
                .unwrap();
            let env_vars = pod_env(&docs);
            let secs = |k: &str| env_vars[k].as_deref().unwrap().parse::<u64>().unwrap();
            // preStop outlasts the ALB's routing to a deregistering target (restore_budget.rs).
            assert_eq!((grace, pre_stop), (45, 25), "{env}/{app}");
            assert_eq!(
                (secs("SHUTDOWN_DRAIN_SECS"), secs("SHUTDOWN_TIMEOUT_SECS")),
                (2, 15),
                "{env}/{app}"
            );
            // The process itself gives up on a stuck drain before Kubernetes kills it.
            let overrun = platform::server::SHUTDOWN_OVERRUN.as_secs();
            assert!(
                pre_stop + secs("SHUTDOWN_DRAIN_SECS") + secs("SHUTDOWN_TIMEOUT_SECS") + overrun
                    < grace,
                "{env}/{app}"
            );
        }
    }
}

#[test]
fn every_pod_runs_non_root_read_only_without_capabilities_or_a_token() {
    let image_uid: u64 = read_text("Dockerfile")
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .and_then(|user| user.split(':').next())
        .and_then(|uid| uid.trim().parse().ok())
        .expect("the Dockerfile sets a numeric USER");
    for app in APPS {
        for (env, docs) in all_renderings(app) {
            // checkov (scripts/check-k8s.sh) already judges runAsNonRoot, seccomp, the service
            // account token, a read-only root, privilege escalation and dropped capabilities
            // (CKV_K8S_20/22/23/28/31/37/38); what it cannot know is the image's own user.
            let pod = &one(&docs, "Deployment")["spec"]["template"]["spec"];
            assert_eq!(
                pod["securityContext"]["runAsUser"].as_u64(),
                Some(image_uid),
                "{env}/{app}: the Dockerfile's USER"
            );
            let selector = keys(&one(&docs, "Deployment")["spec"]["selector"]["matchLabels"]);
            assert_eq!(
                selector,
                ["app.kubernetes.io/instance", "app.kubernetes.io/name"]
                    .map(str::to_owned)
                    .into()
            );
            assert!(
                of_kind(&docs, "PodDisruptionBudget").count() == 1,
                "{env}/{app}: a PDB"
            );
            let deny_all = of_kind(&docs, "NetworkPolicy").any(|p| {
                p["spec"]["podSelector"]
                    .as_mapping()
                    .is_some_and(serde_yaml_ng::Mapping::is_empty)
                    && p["spec"]["ingress"].is_null()
                    && p["spec"]["egress"].is_null()
                    && seq(&p["spec"]["policyTypes"]).len() == 2
            });
            assert!(deny_all, "{env}/{app}: a default-deny NetworkPolicy");
        }
    }
}

/// Prod never lets replicas pile into one zone (a node-group update, a zone's nodes coming back
/// late): its zone constraint is `DoNotSchedule` with `minDomains` the number of zones, which the
/// ALB's public subnets (one per zone, in the allow-alb `NetworkPolicy`) count. Dev, with two or three
/// nodes that start every morning, keeps `ScheduleAnyway` so one node up serves.
#[test]
fn prod_spreads_replicas_over_every_zone_and_never_schedules_past_the_skew() {
    for env in ENVS {
        let zones = seq(&one(
            &overlay(env, "api-app")
                .into_iter()
                .filter(|d| d["metadata"]["name"] == "api-app-allow-alb")
                .collect::<Vec<_>>(),
            "NetworkPolicy",
        )["spec"]["ingress"][0]["from"])
        .len();
        for app in APPS {
            let docs = overlay(env, app);
            let pod = &one(&docs, "Deployment")["spec"]["template"]["spec"];
            let zone = seq(&pod["topologySpreadConstraints"])
                .iter()
                .find(|c| c["topologyKey"] == "topology.kubernetes.io/zone")
                .unwrap_or_else(|| panic!("{env}/{app} spreads over zones"))
                .clone();
            if env == "prod" {
                assert_eq!(
                    (s(&zone["whenUnsatisfiable"]), zone["minDomains"].as_u64()),
                    ("DoNotSchedule", Some(u64::try_from(zones).unwrap())),
                    "{env}/{app}: zone spread"
                );
            } else {
                assert_eq!(
                    s(&zone["whenUnsatisfiable"]),
                    "ScheduleAnyway",
                    "{env}/{app}"
                );
            }
        }
    }
}

/// api-app's CPU request is measured, not guessed: the p95 of its CPU at the design rate in
/// bench/CPU.md (bench/cpu.sh), rounded up to 50m. No limit: bursts use the node's idle CPU.
#[test]
fn api_apps_cpu_request_is_the_measured_p95_at_the_design_rate() {
    /// Requests per second per pod the request is sized for (prod: 3 pods, 600 req/s).
    const DESIGN_RATE: u64 = 200;
    let table = read_text("bench/CPU.md");
    let p95: u64 = table
        .lines()
        .find(|l| l.starts_with(&format!("| {DESIGN_RATE} |")))
        .unwrap_or_else(|| panic!("bench/CPU.md has a row for {DESIGN_RATE} req/s"))
        .split('|')
        .nth(4)
        .unwrap()
        .trim()
        .trim_matches('*')
        .parse()
        .unwrap();
    let want = p95.div_ceil(50) * 50;
    for (env, docs) in all_renderings("api-app") {
        let cpu = s(&container(&docs)["resources"]["requests"]["cpu"]).to_owned();
        assert_eq!(
            cpu,
            format!("{want}m"),
            "{env}: api-app's CPU request from bench/CPU.md (p95 {p95}m at {DESIGN_RATE} req/s)"
        );
    }
}
