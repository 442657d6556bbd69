//! `k8s/` against the code: the rendered overlays and Argo CD folders must match what the apps read,
//! serve and listen on, and the shape the platform promises (namespaces, replicas, sync policy).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use integration_tests::{kustomize, of_kind, read_text, repo_root, test_env};
use serde_yaml_ng::Value;

const ENVS: [&str; 2] = ["dev", "prod"];
const APPS: [&str; 2] = ["api-app", "demo-app"];
const REPO_URL: &str = "https://github.com/gitops-platform/gitops-platform.git";
/// The Docker Hub namespace the release workflow pushes to by default (`DOCKERHUB_NAMESPACE`).
const IMAGE_REPO_PREFIX: &str = "docker.io/gitopsplatform/";
const ALB: &str = "alb.ingress.kubernetes.io/";

fn overlay(env: &str, app: &str) -> Vec<Value> {
    kustomize(&format!("k8s/overlays/{env}/{app}"))
}

fn argocd(env: &str) -> Vec<Value> {
    kustomize(&format!("k8s/argocd/{env}"))
}

/// The local overlay's objects for one app (each app has its own namespace there too).
fn local(app: &str) -> Vec<Value> {
    let ns = format!("{app}-local");
    kustomize("k8s/overlays/local")
        .into_iter()
        .filter(|d| d["metadata"]["namespace"].as_str() == Some(ns.as_str()))
        .collect()
}

fn s(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v:?}"))
}

fn name(v: &Value) -> &str {
    s(&v["metadata"]["name"])
}

fn one<'a>(docs: &'a [Value], kind: &'a str) -> &'a Value {
    let found: Vec<_> = of_kind(docs, kind).collect();
    assert_eq!(
        found.len(),
        1,
        "expected exactly one {kind}, found {}",
        found.len()
    );
    found[0]
}

fn named<'a>(docs: &'a [Value], kind: &'a str, wanted: &str) -> &'a Value {
    of_kind(docs, kind)
        .find(|d| name(d) == wanted)
        .unwrap_or_else(|| panic!("no {kind} named {wanted}"))
}

fn seq(v: &Value) -> &[Value] {
    v.as_sequence().map_or(&[], Vec::as_slice)
}

/// The app's one container.
fn container(docs: &[Value]) -> &Value {
    let containers = seq(&one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]);
    assert_eq!(containers.len(), 1, "one container per pod");
    &containers[0]
}

fn default_port(app: &str) -> u16 {
    match app {
        "api-app" => api_app::config::DEFAULT_PORT,
        "demo-app" => demo_app::config::DEFAULT_PORT,
        _ => unreachable!("{app}"),
    }
}

fn env_var_names(app: &str) -> BTreeSet<String> {
    match app {
        "api-app" => api_app::config::env_var_names(),
        "demo-app" => demo_app::config::env_var_names(),
        _ => unreachable!("{app}"),
    }
    .into_iter()
    .collect()
}

/// The keys of the Secret called `secret` as this rendering produces it: an `ExternalSecret`'s
/// `secretKey`s in the clusters, a generated Secret's keys locally.
fn secret_keys(docs: &[Value], secret: &str) -> BTreeSet<String> {
    if let Some(es) =
        of_kind(docs, "ExternalSecret").find(|d| s(&d["spec"]["target"]["name"]) == secret)
    {
        return seq(&es["spec"]["data"])
            .iter()
            .map(|d| s(&d["secretKey"]).to_owned())
            .collect();
    }
    if let Some(secret) = of_kind(docs, "Secret").find(|d| name(d) == secret) {
        return keys(&secret["data"]);
    }
    panic!("nothing in this rendering produces Secret {secret}");
}

fn keys(map: &Value) -> BTreeSet<String> {
    map.as_mapping()
        .map(|m| m.keys().map(|k| s(k).to_owned()).collect())
        .unwrap_or_default()
}

/// Every environment variable the rendered pod receives, with its value where the manifest holds it
/// (`None` for Downward API and Secret values).
fn pod_env(docs: &[Value]) -> BTreeMap<String, Option<String>> {
    let c = container(docs);
    let mut vars = BTreeMap::new();
    for source in seq(&c["envFrom"]) {
        if let Some(cm) = source["configMapRef"]["name"].as_str() {
            let data = &named(docs, "ConfigMap", cm)["data"];
            for (k, v) in data.as_mapping().expect("ConfigMap data") {
                vars.insert(s(k).to_owned(), Some(s(v).to_owned()));
            }
        } else if let Some(secret) = source["secretRef"]["name"].as_str() {
            vars.extend(secret_keys(docs, secret).into_iter().map(|k| (k, None)));
        } else {
            panic!("unexpected envFrom source {source:?}");
        }
    }
    for e in seq(&c["env"]) {
        vars.insert(
            s(&e["name"]).to_owned(),
            e["value"].as_str().map(str::to_owned),
        );
    }
    vars
}

fn all_renderings(app: &str) -> Vec<(String, Vec<Value>)> {
    let mut out: Vec<_> = ENVS
        .iter()
        .map(|env| ((*env).to_owned(), overlay(env, app)))
        .collect();
    out.push(("local".to_owned(), local(app)));
    out
}

#[test]
fn container_ports_are_the_apps_default_ports() {
    for app in APPS {
        for (env, docs) in all_renderings(app) {
            let ports = seq(&container(&docs)["ports"]);
            assert_eq!(ports.len(), 1, "{env}/{app}: one port");
            assert_eq!(s(&ports[0]["name"]), "http", "{env}/{app}: port name");
            assert_eq!(
                ports[0]["containerPort"].as_u64(),
                Some(u64::from(default_port(app))),
                "{env}/{app}"
            );
            let svc = one(&docs, "Service");
            assert_eq!(
                s(&seq(&svc["spec"]["ports"])[0]["targetPort"]),
                "http",
                "{env}/{app}: Service targetPort"
            );
            // Nothing sets PORT: the app listens on its default, which is what the manifests expose.
            assert!(
                !pod_env(&docs).contains_key("PORT"),
                "{env}/{app} must not override PORT"
            );
            // NetworkPolicies use numeric ports (the VPC CNI agent mishandles named ones): the same number.
            for policy in of_kind(&docs, "NetworkPolicy") {
                for rule in seq(&policy["spec"]["ingress"]) {
                    for port in seq(&rule["ports"]) {
                        assert_eq!(
                            port["port"].as_u64(),
                            Some(u64::from(default_port(app))),
                            "{env}/{app}: {}",
                            name(policy)
                        );
                    }
                }
            }
        }
    }
}

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
    let svc = one(&local("api-app"), "Service").clone();
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

/// `vpc_cidr` as set in `terraform/envs/<env>/main.tf` (inside the platform module call).
fn terraform_vpc_cidr(env: &str) -> String {
    let body: hcl::Body =
        hcl::from_str(&read_text(&format!("terraform/envs/{env}/main.tf"))).unwrap();
    body.blocks()
        .flat_map(|b| b.body().attributes())
        .find(|a| a.key() == "vpc_cidr")
        .and_then(|a| match a.expr() {
            hcl::Expression::String(cidr) => Some(cidr.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no literal vpc_cidr in terraform/envs/{env}/main.tf"))
}

#[test]
fn the_alb_may_reach_the_pods_from_the_envs_vpc_only() {
    for env in ENVS {
        let cidr = terraform_vpc_cidr(env);
        for app in APPS {
            let docs = overlay(env, app);
            let policy = named(&docs, "NetworkPolicy", &format!("{app}-allow-alb"));
            let sources: Vec<&str> = seq(&policy["spec"]["ingress"])
                .iter()
                .flat_map(|r| seq(&r["from"]))
                .map(|f| s(&f["ipBlock"]["cidr"]))
                .collect();
            assert_eq!(sources, [cidr.as_str()], "{env}/{app}");
        }
    }
}

#[test]
fn probes_use_the_platform_probe_paths_on_the_named_port() {
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
                assert_eq!(s(&get["port"]), "http", "{env}/{app} {probe} port");
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
        }
    }
}

/// Starts the real app on a free port and asks it for every path the manifests probe.
#[tokio::test]
async fn every_probe_path_is_a_route_the_app_serves() {
    let local_vars = test_env(&[("LOG_FORMAT", "json"), ("RUST_LOG", "error")]);

    let api_config = api_app::config::Config::from_vars(local_vars.clone()).unwrap();
    let api = api_app::startup::Application::build(api_config)
        .await
        .unwrap();
    let demo_config = demo_app::config::Config::from_vars(local_vars).unwrap();
    let demo = demo_app::startup::Application::build(demo_config)
        .await
        .unwrap();
    let ports = [("api-app", api.port()), ("demo-app", demo.port())];
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
fn every_env_var_in_a_manifest_is_one_the_app_reads() {
    for app in APPS {
        let reads = env_var_names(app);
        for (env, docs) in all_renderings(app) {
            for var in pod_env(&docs).keys() {
                assert!(
                    reads.contains(var),
                    "{env}/{app} sets {var}, which {app} never reads ({reads:?})"
                );
            }
        }
    }
}

#[test]
fn every_overlays_settings_parse_with_the_apps_own_config() {
    for app in APPS {
        for (env, docs) in all_renderings(app) {
            let vars: Vec<(String, String)> = pod_env(&docs)
                .into_iter()
                // Secrets and Downward API values come from the cluster; stand in valid ones.
                .map(|(k, v)| (k, v.unwrap_or_else(|| "a-valid-stand-in-value-0123456789".to_owned())))
                .collect();
            let app_env = vars
                .iter()
                .find(|(k, _)| k == "APP_ENV")
                .map(|(_, v)| v.clone());
            assert_eq!(
                app_env.as_deref(),
                Some(env.as_str()),
                "{env}/{app}: APP_ENV"
            );
            let parsed = match app {
                "api-app" => api_app::config::Config::from_vars(vars).map(|_| ()),
                _ => demo_app::config::Config::from_vars(vars).map(|_| ()),
            };
            assert!(parsed.is_ok(), "{env}/{app}: {:?}", parsed.err());
        }
    }
}

#[test]
fn api_app_reads_the_secret_the_external_secret_writes() {
    for env in ENVS {
        let docs = overlay(env, "api-app");
        let es = one(&docs, "ExternalSecret");
        let target = s(&es["spec"]["target"]["name"]);
        let from: Vec<&str> = seq(&container(&docs)["envFrom"])
            .iter()
            .filter_map(|e| e["secretRef"]["name"].as_str())
            .collect();
        assert_eq!(from, [target], "{env}: envFrom secretRef");
        // Rotation reaches the pods only if Reloader watches that same Secret.
        let reload = &one(&docs, "Deployment")["metadata"]["annotations"]["secret.reloader.stakater.com/reload"];
        assert_eq!(s(reload), target, "{env}: Reloader annotation");
    }
}

#[test]
fn the_secret_holds_exactly_the_keys_api_app_reads_as_secrets() {
    let wanted: BTreeSet<String> = api_app::config::SECRET_VARS
        .iter()
        .map(|k| (*k).to_owned())
        .collect();
    for env in ENVS {
        let docs = overlay(env, "api-app");
        let es = one(&docs, "ExternalSecret");
        assert_eq!(s(&es["apiVersion"]), "external-secrets.io/v1");
        assert_eq!(s(&es["spec"]["refreshInterval"]), "1h");
        assert_eq!(
            s(&es["spec"]["secretStoreRef"]["kind"]),
            "ClusterSecretStore"
        );
        assert_eq!(
            s(&es["spec"]["secretStoreRef"]["name"]),
            "aws-secrets-manager"
        );
        assert_eq!(
            es["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"].as_str(),
            Some("-1"),
            "before the pods"
        );
        assert_eq!(
            secret_keys(&docs, s(&es["spec"]["target"]["name"])),
            wanted,
            "{env}"
        );
        for d in seq(&es["spec"]["data"]) {
            assert_eq!(
                s(&d["remoteRef"]["key"]),
                format!("gitops/demo-api/{env}"),
                "{env}: Secrets Manager key"
            );
            assert_eq!(
                s(&d["remoteRef"]["property"]),
                s(&d["secretKey"]),
                "{env}: JSON property"
            );
        }
    }
    let local = local("api-app");
    let secret_name = seq(&container(&local)["envFrom"])
        .iter()
        .find_map(|e| e["secretRef"]["name"].as_str())
        .unwrap();
    assert_eq!(secret_keys(&local, secret_name), wanted, "local");
}

#[test]
fn the_cluster_secret_store_serves_api_app_from_eu_west_1_with_the_controllers_identity() {
    for env in ENVS {
        let docs = argocd(env);
        let store = one(&docs, "ClusterSecretStore");
        assert_eq!(name(store), "aws-secrets-manager");
        let aws = &store["spec"]["provider"]["aws"];
        assert_eq!(s(&aws["service"]), "SecretsManager");
        assert_eq!(s(&aws["region"]), "eu-west-1");
        assert!(
            aws["auth"].is_null(),
            "{env}: no auth block, ESO's Pod Identity is the identity"
        );
        let allowed: Vec<&str> = seq(&store["spec"]["conditions"])
            .iter()
            .flat_map(|c| seq(&c["namespaces"]).iter().map(s))
            .collect();
        assert_eq!(
            allowed,
            [format!("api-app-{env}")],
            "{env}: only api-app may read the store"
        );
        let wave: i64 = s(&store["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
            .parse()
            .unwrap();
        assert!(wave < 0, "{env}: the store syncs before the Applications");
    }
}

#[test]
fn overlays_use_the_exact_namespaces_and_replica_counts() {
    for (env, replicas) in [("dev", 2), ("prod", 3)] {
        for app in APPS {
            let docs = overlay(env, app);
            let ns = format!("{app}-{env}");
            for d in &docs {
                assert_eq!(
                    d["metadata"]["namespace"].as_str(),
                    Some(ns.as_str()),
                    "{env}/{app}: {}",
                    name(d)
                );
            }
            assert_eq!(
                one(&docs, "Deployment")["spec"]["replicas"].as_u64(),
                Some(replicas),
                "{env}/{app}"
            );
        }
    }
}

#[test]
fn overlay_images_are_the_ones_the_release_workflow_pushes() {
    for app in APPS {
        for (env, docs) in all_renderings(app) {
            let image = s(&container(&docs)["image"]);
            let repo = format!("{IMAGE_REPO_PREFIX}{app}");
            let pin = image
                .strip_prefix(repo.as_str())
                .unwrap_or_else(|| panic!("{env}/{app}: {image} is not {repo}"));
            let pinned = pin
                .strip_prefix('@')
                .is_some_and(|d| d.starts_with("sha256:"))
                || pin
                    .strip_prefix(':')
                    .is_some_and(|t| !t.is_empty() && t != "latest");
            assert!(
                pinned,
                "{env}/{app}: {image} must be pinned to a tag or digest, never latest"
            );
        }
    }
}

#[test]
fn every_argocd_application_path_exists_and_renders() {
    for env in ENVS {
        let docs = argocd(env);
        let apps: Vec<&Value> = of_kind(&docs, "Application").collect();
        let names: BTreeSet<&str> = apps.iter().map(|a| name(a)).collect();
        assert_eq!(
            names,
            [
                format!("api-app-{env}"),
                format!("demo-app-{env}"),
                format!("root-{env}")
            ]
            .iter()
            .map(String::as_str)
            .collect()
        );
        for a in apps {
            let src = &a["spec"]["source"];
            assert_eq!(s(&src["repoURL"]), REPO_URL, "{}", name(a));
            assert_eq!(s(&src["targetRevision"]), "main", "{}", name(a));
            assert_eq!(
                s(&a["spec"]["project"]),
                format!("platform-{env}"),
                "{}: never the default project",
                name(a)
            );
            let path = s(&src["path"]);
            assert!(
                repo_root().join(path).join("kustomization.yaml").is_file(),
                "{}: {path} has no kustomization",
                name(a)
            );
            assert!(
                !kustomize(path).is_empty(),
                "{}: {path} renders nothing",
                name(a)
            );
            assert_eq!(
                s(&a["spec"]["destination"]["server"]),
                "https://kubernetes.default.svc"
            );
            assert_eq!(s(&a["metadata"]["namespace"]), "argocd");
            assert_eq!(
                seq(&a["metadata"]["finalizers"])
                    .iter()
                    .map(s)
                    .collect::<Vec<_>>(),
                ["resources-finalizer.argocd.argoproj.io"]
            );
            assert!(
                a["spec"]["syncPolicy"]["retry"]["backoff"].is_mapping(),
                "{}: retry with backoff",
                name(a)
            );
            assert!(
                a["metadata"]["annotations"]["argocd.argoproj.io/manifest-generate-paths"]
                    .is_string(),
                "{}",
                name(a)
            );
        }
        let root = named(&docs, "Application", &format!("root-{env}"));
        assert_eq!(
            s(&root["spec"]["source"]["path"]),
            format!("k8s/argocd/{env}"),
            "the root app syncs its own folder"
        );
        for app in APPS {
            let a = named(&docs, "Application", &format!("{app}-{env}"));
            assert_eq!(
                s(&a["spec"]["source"]["path"]),
                format!("k8s/overlays/{env}/{app}")
            );
            assert_eq!(
                s(&a["spec"]["destination"]["namespace"]),
                format!("{app}-{env}")
            );
        }
    }
}

#[test]
fn dev_applications_sync_automatically_and_prod_only_by_hand() {
    for env in ENVS {
        let docs = argocd(env);
        for app in APPS {
            let a = named(&docs, "Application", &format!("{app}-{env}"));
            let automated = &a["spec"]["syncPolicy"]["automated"];
            if env == "dev" {
                assert_eq!(automated["prune"].as_bool(), Some(true), "{app}-dev prune");
                assert_eq!(
                    automated["selfHeal"].as_bool(),
                    Some(true),
                    "{app}-dev selfHeal"
                );
            } else {
                assert!(
                    automated.is_null(),
                    "{app}-prod must have no automated block"
                );
            }
        }
    }
}

#[test]
fn applications_create_their_namespace_under_pod_security_restricted() {
    for env in ENVS {
        let docs = argocd(env);
        for app in APPS {
            let a = named(&docs, "Application", &format!("{app}-{env}"));
            let options: Vec<&str> = seq(&a["spec"]["syncPolicy"]["syncOptions"])
                .iter()
                .map(s)
                .collect();
            assert!(
                options.contains(&"CreateNamespace=true"),
                "{app}-{env}: {options:?}"
            );
            let labels = &a["spec"]["syncPolicy"]["managedNamespaceMetadata"]["labels"];
            assert_eq!(
                labels["pod-security.kubernetes.io/enforce"].as_str(),
                Some("restricted"),
                "{app}-{env}"
            );
        }
    }
}

#[test]
fn each_app_project_permits_exactly_what_its_applications_deploy() {
    for env in ENVS {
        let docs = argocd(env);
        let project = one(&docs, "AppProject");
        assert_eq!(name(project), format!("platform-{env}"));
        let spec = &project["spec"];
        assert_eq!(
            seq(&spec["sourceRepos"]).iter().map(s).collect::<Vec<_>>(),
            [REPO_URL]
        );
        let listed = |key: &str| -> BTreeSet<(String, String)> {
            seq(&spec[key])
                .iter()
                .map(|r| (s(&r["group"]).to_owned(), s(&r["kind"]).to_owned()))
                .collect()
        };
        let (namespaced, cluster) = (
            listed("namespaceResourceWhitelist"),
            listed("clusterResourceWhitelist"),
        );
        let destinations: BTreeSet<&str> = seq(&spec["destinations"])
            .iter()
            .map(|d| s(&d["namespace"]))
            .collect();

        let mut deployed: Vec<Value> = docs.clone();
        for app in APPS {
            deployed.extend(overlay(env, app));
        }
        for d in &deployed {
            let api = s(&d["apiVersion"]);
            let group = api.rsplit_once('/').map_or("", |(g, _)| g).to_owned();
            let gk = (group, s(&d["kind"]).to_owned());
            match d["metadata"]["namespace"].as_str() {
                Some(ns) => {
                    assert!(
                        namespaced.contains(&gk),
                        "{env}: project does not permit {gk:?}"
                    );
                    assert!(
                        destinations.contains(ns),
                        "{env}: project does not permit namespace {ns}"
                    );
                }
                None => assert!(
                    cluster.contains(&gk),
                    "{env}: project does not permit cluster-scoped {gk:?}"
                ),
            }
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
            let cert = ann(i, "certificate-arn").unwrap();
            assert!(
                cert.starts_with("arn:aws:acm:eu-west-1:") && cert.to_lowercase().contains(env),
                "{env}: {cert}"
            );
        }
        // Listener settings are "Exclusive" in an IngressGroup: both Ingresses must agree on them.
        for k in [
            "scheme",
            "listen-ports",
            "ssl-redirect",
            "ssl-policy",
            "certificate-arn",
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
            assert_eq!((grace, pre_stop), (35, 10), "{env}/{app}");
            assert_eq!(
                (secs("SHUTDOWN_DRAIN_SECS"), secs("SHUTDOWN_TIMEOUT_SECS")),
                (2, 15),
                "{env}/{app}"
            );
            assert!(
                pre_stop + secs("SHUTDOWN_DRAIN_SECS") + secs("SHUTDOWN_TIMEOUT_SECS") < grace,
                "{env}/{app}"
            );
        }
    }
}

#[test]
fn every_pod_runs_non_root_read_only_without_capabilities_or_a_token() {
    for app in APPS {
        for (env, docs) in all_renderings(app) {
            let pod = &one(&docs, "Deployment")["spec"]["template"]["spec"];
            let psc = &pod["securityContext"];
            assert_eq!(psc["runAsNonRoot"].as_bool(), Some(true), "{env}/{app}");
            assert_eq!(psc["runAsUser"].as_u64(), Some(65532), "{env}/{app}");
            assert_eq!(
                s(&psc["seccompProfile"]["type"]),
                "RuntimeDefault",
                "{env}/{app}"
            );
            assert_eq!(
                pod["automountServiceAccountToken"].as_bool(),
                Some(false),
                "{env}/{app}"
            );
            let sa = named(&docs, "ServiceAccount", s(&pod["serviceAccountName"]));
            assert_eq!(
                sa["automountServiceAccountToken"].as_bool(),
                Some(false),
                "{env}/{app}"
            );
            let csc = &container(&docs)["securityContext"];
            assert_eq!(
                csc["readOnlyRootFilesystem"].as_bool(),
                Some(true),
                "{env}/{app}"
            );
            assert_eq!(
                csc["allowPrivilegeEscalation"].as_bool(),
                Some(false),
                "{env}/{app}"
            );
            assert_eq!(
                seq(&csc["capabilities"]["drop"])
                    .iter()
                    .map(s)
                    .collect::<Vec<_>>(),
                ["ALL"],
                "{env}/{app}"
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

#[test]
fn secret_rotation_restarts_pods_without_argo_cd_undoing_it() {
    // Reloader stamps an annotation on the pod template (annotations strategy, set in terraform)...
    let addons = read_text("terraform/modules/cluster-addons/main.tf");
    assert!(
        addons.contains(r#"reloadStrategy = "annotations""#),
        "Reloader must use the annotations strategy"
    );
    for env in ["dev", "prod"] {
        let docs = overlay(env, "api-app");
        let deployment = one(&docs, "Deployment");
        let watched =
            s(&deployment["metadata"]["annotations"]["secret.reloader.stakater.com/reload"]);
        let target = s(&one(&docs, "ExternalSecret")["spec"]["target"]["name"]);
        assert_eq!(
            watched, target,
            "{env}: Reloader watches the secret the pods read"
        );
        // ...and the Application ignores exactly that annotation, so self-heal keeps the restart.
        let apps = argocd(env);
        let app = named(&apps, "Application", &format!("api-app-{env}"));
        let ignored: Vec<&str> = seq(&app["spec"]["ignoreDifferences"])
            .iter()
            .filter(|d| s(&d["kind"]) == "Deployment" && s(&d["name"]) == name(deployment))
            .flat_map(|d| seq(&d["jqPathExpressions"]).iter().map(s))
            .collect();
        assert_eq!(
            ignored,
            [r#".spec.template.metadata.annotations."reloader.stakater.com/last-reloaded-from""#],
            "{env}"
        );
        let options: Vec<&str> = seq(&app["spec"]["syncPolicy"]["syncOptions"])
            .iter()
            .map(s)
            .collect();
        assert!(
            options.contains(&"RespectIgnoreDifferences=true"),
            "{env}: {options:?}"
        );
    }
}
