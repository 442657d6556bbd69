//! Argo CD: each environment's Applications, `AppProject` and sync policy deploy exactly the
//! overlays of that environment, into the namespaces and replica counts the platform promises.

use std::collections::BTreeSet;

use integration_tests::facts::{APPS, ENVS, REPO_URL};
use integration_tests::k8s::{argocd, name, named, one, overlay, s, seq};
use integration_tests::{kustomize, of_kind, repo_root};
use serde_yaml_ng::Value;

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
