//! Ingress and network: the ALB routes each path to the right app and reaches the pods only from
//! its VPC, and locally demo-app reaches api-app where it listens and nowhere else.

use std::collections::BTreeSet;

use integration_tests::facts::{APPS, ENVS};
use integration_tests::k8s::{local, named, one, overlay, pod_env, s, seq, sync_wave};
use integration_tests::of_kind;
use serde_yaml_ng::Value;

const ALB: &str = "alb.ingress.kubernetes.io/";

#[test]
fn locally_demo_app_reaches_api_app_where_it_listens() {
    let demo = local("demo-app");
    let api_url = pod_env(&demo)["API_URL"]
        .clone()
        .expect("API_URL is set locally");
    let api_port = api_app::config::DEFAULT_PORT;
    assert_eq!(
        api_url,
        format!("http://api-app.api-app-local.svc:{api_port}")
    );
    let svc = named(&local("api-app"), "Service", "api-app").clone();
    assert_eq!(
        seq(&svc["spec"]["ports"])[0]["port"].as_u64(),
        Some(u64::from(api_port))
    );
    let egress_ports: Vec<u64> = of_kind(&demo, "NetworkPolicy")
        .flat_map(|p| seq(&p["spec"]["egress"]))
        .flat_map(|r| seq(&r["ports"]))
        .filter_map(|p| p["port"].as_u64())
        .filter(|p| *p != 53)
        .collect();
    assert_eq!(
        egress_ports,
        [u64::from(api_port)],
        "demo-app may call api-app, and nothing else"
    );
    for env in ENVS {
        assert!(
            !pod_env(&overlay(env, "demo-app")).contains_key("API_URL"),
            "{env}: the ALB routes /api, not demo-app"
        );
    }
}

#[test]
fn the_alb_may_reach_the_pods_from_the_envs_vpc_only() {
    for env in ENVS {
        // Only the ALB's public subnets: the VPC CIDR would also admit every pod (VPC CNI).
        let alb_subnets = crate::network::alb_subnet_cidrs(env);
        for app in APPS {
            let docs = overlay(env, app);
            let policy = named(&docs, "NetworkPolicy", &format!("{app}-allow-alb"));
            let sources: Vec<&str> = seq(&policy["spec"]["ingress"])
                .iter()
                .flat_map(|r| seq(&r["from"]))
                .map(|f| s(&f["ipBlock"]["cidr"]))
                .collect();
            assert_eq!(sources, alb_subnets, "{env}/{app}");
        }
    }
}

#[test]
fn the_alb_routes_api_to_api_app_and_everything_else_but_metrics_to_demo_app() {
    for env in ENVS {
        let api = overlay(env, "api-app");
        let demo = overlay(env, "demo-app");
        let (api_ing, demo_ing) = (one(&api, "Ingress"), one(&demo, "Ingress"));
        let ann = |i: &Value, k: &str| {
            i["metadata"]["annotations"][format!("{ALB}{k}").as_str()]
                .as_str()
                .map(str::to_owned)
        };
        let paths = |i: &Value| -> Vec<(String, String)> {
            seq(&seq(&i["spec"]["rules"])[0]["http"]["paths"])
                .iter()
                .map(|p| {
                    (
                        s(&p["path"]).to_owned(),
                        s(&p["backend"]["service"]["name"]).to_owned(),
                    )
                })
                .collect()
        };
        for i in [api_ing, demo_ing] {
            assert_eq!(s(&i["spec"]["ingressClassName"]), "alb");
            assert_eq!(ann(i, "group.name").as_deref(), Some("gitops-platform"));
            assert_eq!(ann(i, "target-type").as_deref(), Some("ip"));
            assert_eq!(
                ann(i, "target-group-attributes").as_deref(),
                Some("deregistration_delay.timeout_seconds=30")
            );
            // The certificate is the IngressClassParams' (tests/contract/cluster_facts.rs).
            assert_eq!(ann(i, "certificate-arn"), None, "{env}");
        }
        // Listener settings are "Exclusive" in an IngressGroup: both Ingresses must agree on them.
        for k in [
            "scheme",
            "listen-ports",
            "ssl-redirect",
            "ssl-policy",
            "load-balancer-attributes",
        ] {
            assert_eq!(
                ann(api_ing, k),
                ann(demo_ing, k),
                "{env}: {k} differs between the two Ingresses"
            );
        }
        assert_eq!(
            paths(api_ing),
            [("/api".to_owned(), "api-app".to_owned())],
            "{env}"
        );
        let order = |i: &Value| ann(i, "group.order").unwrap().parse::<i32>().unwrap();
        assert!(
            order(api_ing) < order(demo_ing),
            "{env}: /api must be evaluated before demo-app's /"
        );
        let demo_paths = paths(demo_ing);
        assert!(
            demo_paths.contains(&("/".to_owned(), "demo-app".to_owned())),
            "{env}: {demo_paths:?}"
        );
        let metrics = demo_paths
            .iter()
            .find(|(p, _)| p == "/metrics")
            .expect("/metrics is answered by the ALB");
        let action =
            ann(demo_ing, &format!("actions.{}", metrics.1)).expect("an action for /metrics");
        let action: serde_json::Value = serde_json::from_str(&action).unwrap();
        assert_eq!(
            action["type"], "fixed-response",
            "{env}: /metrics never reaches a pod"
        );
        assert!(
            demo_paths
                .iter()
                .all(|(p, svc)| p == "/metrics" || svc != "api-app"),
            "demo-app never routes to api-app"
        );
    }
}

#[test]
fn api_app_believes_forwarded_for_only_from_the_alb_subnets() {
    for env in ENVS {
        let docs = overlay(env, "api-app");
        let trusted: BTreeSet<String> = pod_env(&docs)
            .get("TRUSTED_PROXY_CIDRS")
            .cloned()
            .flatten()
            .unwrap_or_else(|| panic!("{env}: api-app sets TRUSTED_PROXY_CIDRS"))
            .split(',')
            .map(str::to_owned)
            .collect();
        let alb: BTreeSet<String> = crate::network::alb_subnet_cidrs(env).into_iter().collect();
        assert_eq!(
            trusted, alb,
            "{env}: a wider range lets a pod forge X-Forwarded-For and dodge the rate limits"
        );
    }
}

/// The Load Balancer Controller's pod webhook fails open, so a pod created before its Service's
/// `TargetGroupBinding` exists runs without the ALB readiness gate. Argo CD creates the Deployment
/// only after the Ingress and Service waves are healthy (an Ingress is healthy once reconciled).
#[test]
fn the_route_syncs_in_an_earlier_wave_than_the_pods() {
    for env in ENVS {
        for app in APPS {
            let docs = overlay(env, app);
            let deploy = sync_wave(one(&docs, "Deployment"));
            for kind in ["Ingress", "Service"] {
                let objs: Vec<_> = of_kind(&docs, kind).collect();
                assert!(!objs.is_empty(), "{env}/{app} has a {kind}");
                for o in objs {
                    assert!(
                        sync_wave(o) < deploy,
                        "{env}/{app}: {kind} {} syncs in wave {}, not before the Deployment's {deploy}",
                        s(&o["metadata"]["name"]),
                        sync_wave(o)
                    );
                }
            }
        }
    }
}
