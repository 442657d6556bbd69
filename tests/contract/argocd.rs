//! Argo CD: each environment's Applications, `AppProject` and sync policy deploy exactly the
//! overlays of that environment, into the namespaces and replica counts the platform promises.

use std::collections::BTreeSet;

use integration_tests::facts::{APPS, ENVS, REPO_URL};
use integration_tests::k8s::{
    argocd, kustomize_inputs, name, named, one, overlay, s, seq, sync_wave,
};
use integration_tests::{kustomize, of_kind, read_yaml, repo_relative, repo_root};
use serde_yaml_ng::Value;

/// What runs in one cluster's `argocd` namespace: what terraform/ installs (the root Application
/// and its project, from root.yaml and bootstrap-project.yaml) plus everything the root app syncs.
pub(crate) fn installed(env: &str) -> Vec<Value> {
    let mut docs = read_yaml(&format!("k8s/argocd/{env}/root.yaml"));
    docs.extend(read_yaml(&format!(
        "k8s/argocd/{env}/bootstrap-project.yaml"
    )));
    docs.extend(argocd(env));
    docs
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
            // The Rollout runs the pods; the Deployment holds only the template (canary.rs).
            assert_eq!(
                one(&docs, "Rollout")["spec"]["replicas"].as_u64(),
                Some(replicas),
                "{env}/{app}"
            );
        }
    }
}

#[test]
fn every_argocd_application_path_exists_and_renders() {
    for env in ENVS {
        let docs = installed(env);
        let apps: Vec<&Value> = of_kind(&docs, "Application").collect();
        let names: BTreeSet<&str> = apps.iter().map(|a| name(a)).collect();
        assert_eq!(
            names,
            [
                format!("api-app-{env}"),
                format!("demo-app-{env}"),
                format!("monitoring-{env}"),
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
            // The root app alone is in the bootstrap project; workloads can never reach argocd.
            let project = if name(a) == format!("root-{env}") {
                "bootstrap"
            } else {
                "platform"
            };
            assert_eq!(
                s(&a["spec"]["project"]),
                format!("{project}-{env}"),
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
            // Deleting a workload Application deletes what it deployed; deleting the root app (a
            // replaced Helm release) must orphan the Applications, never cascade to every workload.
            let finalizers: Vec<&str> = seq(&a["metadata"]["finalizers"]).iter().map(s).collect();
            if name(a) == format!("root-{env}") {
                assert!(finalizers.is_empty(), "{}: {finalizers:?}", name(a));
            } else {
                assert_eq!(
                    finalizers,
                    ["resources-finalizer.argocd.argoproj.io"],
                    "{}",
                    name(a)
                );
            }
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
            "the root app syncs its env's Argo CD folder"
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
    type Kinds = BTreeSet<(String, String)>;
    for env in ENVS {
        let docs = installed(env);
        let projects: BTreeSet<&str> = of_kind(&docs, "AppProject").map(name).collect();
        assert_eq!(
            projects,
            BTreeSet::from([
                format!("bootstrap-{env}").as_str(),
                format!("platform-{env}").as_str()
            ]),
            "{env}: one project for the root app, one for the workloads"
        );
        for project in of_kind(&docs, "AppProject") {
            let spec = &project["spec"];
            let pname = name(project);
            assert_eq!(
                seq(&spec["sourceRepos"]).iter().map(s).collect::<Vec<_>>(),
                [REPO_URL]
            );
            let listed = |key: &str| -> Kinds {
                seq(&spec[key])
                    .iter()
                    .map(|r| (s(&r["group"]).to_owned(), s(&r["kind"]).to_owned()))
                    .collect()
            };
            let destinations: BTreeSet<String> = seq(&spec["destinations"])
                .iter()
                .inspect(|d| assert_eq!(s(&d["server"]), "https://kubernetes.default.svc"))
                .map(|d| s(&d["namespace"]).to_owned())
                .collect();

            // What this project's Applications actually deploy, rendered from their sources.
            let (mut namespaced, mut cluster, mut deployed_namespaces) =
                (Kinds::new(), Kinds::new(), BTreeSet::<String>::new());
            let apps: Vec<&Value> = of_kind(&docs, "Application")
                .filter(|a| s(&a["spec"]["project"]) == pname)
                .collect();
            assert!(!apps.is_empty(), "{pname}: no Application uses it");
            for a in apps {
                deployed_namespaces.insert(s(&a["spec"]["destination"]["namespace"]).to_owned());
                if seq(&a["spec"]["syncPolicy"]["syncOptions"])
                    .iter()
                    .any(|o| s(o) == "CreateNamespace=true")
                {
                    cluster.insert((String::new(), "Namespace".to_owned()));
                }
                for d in kustomize(s(&a["spec"]["source"]["path"])) {
                    let api = s(&d["apiVersion"]);
                    let group = api.rsplit_once('/').map_or("", |(g, _)| g).to_owned();
                    let gk = (group, s(&d["kind"]).to_owned());
                    match d["metadata"]["namespace"].as_str() {
                        Some(ns) => {
                            namespaced.insert(gk);
                            deployed_namespaces.insert(ns.to_owned());
                        }
                        None => {
                            cluster.insert(gk);
                        }
                    }
                }
            }
            // Both directions: everything deployed is permitted, and nothing more is permitted.
            assert_eq!(
                listed("namespaceResourceWhitelist"),
                namespaced,
                "{pname}: namespaced kinds"
            );
            assert_eq!(
                listed("clusterResourceWhitelist"),
                cluster,
                "{pname}: cluster-scoped kinds"
            );
            assert_eq!(
                destinations, deployed_namespaces,
                "{pname}: destination namespaces"
            );
        }
    }
}

/// Alerts are not a release: the monitoring Application syncs by itself in every environment, so
/// prod's rules and routing are live without a person remembering to press Sync.
#[test]
fn monitoring_syncs_automatically_in_every_environment() {
    for env in ENVS {
        let docs = argocd(env);
        let a = named(&docs, "Application", &format!("monitoring-{env}"));
        let automated = &a["spec"]["syncPolicy"]["automated"];
        assert_eq!(
            automated["selfHeal"].as_bool(),
            Some(true),
            "monitoring-{env}: automated with selfHeal"
        );
        assert_eq!(
            automated["prune"].as_bool(),
            Some(true),
            "monitoring-{env}: a rule removed from Git leaves the cluster too"
        );
    }
}

/// The root Application and its project have exactly one owner, terraform/ (Helm): the root app's
/// own folder does not list them, so Argo CD never syncs them as well. Two owners meant a replaced
/// Helm release deleted the root app, whose finalizer then deleted every Application.
#[test]
fn the_root_app_and_its_project_have_one_owner() {
    for env in ENVS {
        let synced = argocd(env);
        for (kind, name_) in [
            ("Application", format!("root-{env}")),
            ("AppProject", format!("bootstrap-{env}")),
        ] {
            assert!(
                !of_kind(&synced, kind).any(|d| name(d) == name_),
                "{env}: the root app syncs {kind} {name_}, which terraform/ installs: two owners"
            );
        }
        let (_, values) = integration_tests::terraform::helm_release(env, "argocd_root_app");
        assert!(
            values["applications"][format!("root-{env}").as_str()].is_object(),
            "{env}: terraform/ installs root-{env}"
        );
        assert!(
            values["projects"][format!("bootstrap-{env}").as_str()].is_object(),
            "{env}: terraform/ installs bootstrap-{env}"
        );
    }
}

/// Argo CD renders an Application again only when a commit changes a file under one of its
/// `manifest-generate-paths` (relative to its source path, or to the repository with a leading
/// `/`); for any other commit it reuses what it rendered before. So every file the Application's
/// kustomization reads must lie under one of them, or a change to it never reaches the cluster
/// (the root apps once listed only `.`, and missed `k8s/admission` and the ALB component).
#[test]
fn every_application_renders_again_when_a_file_it_reads_changes() {
    for env in ENVS {
        let docs = installed(env);
        let applications: Vec<&Value> = of_kind(&docs, "Application").collect();
        assert!(applications.len() > APPS.len(), "{env}: the root app too");
        for a in applications {
            let source = s(&a["spec"]["source"]["path"]);
            let watched: Vec<String> =
                s(&a["metadata"]["annotations"]["argocd.argoproj.io/manifest-generate-paths"])
                    .split(';')
                    .map(|p| match p.strip_prefix('/') {
                        Some(from_root) => repo_root().join(from_root),
                        None => repo_root().join(source).join(p),
                    })
                    .map(|p| repo_relative(&p))
                    .collect();
            let read = kustomize_inputs(source);
            for file in &read {
                assert!(
                    watched
                        .iter()
                        .any(|w| w.is_empty() || file.starts_with(&format!("{w}/"))),
                    "{}: reads {file}, under none of its manifest-generate-paths {watched:?}",
                    name(a)
                );
            }
        }
    }
}

/// Within one Argo CD folder, an `ExternalSecret` syncs in a later wave than the store it reads:
/// in one wave Argo CD orders these kinds by name, and one applied before its store is Degraded,
/// which fails the sync.
#[test]
fn every_external_secret_syncs_after_the_store_it_reads() {
    for env in ENVS {
        let docs = argocd(env);
        let mut checked = 0;
        for secret in of_kind(&docs, "ExternalSecret") {
            let store_ref = &secret["spec"]["secretStoreRef"];
            let store = named(&docs, s(&store_ref["kind"]), s(&store_ref["name"]));
            assert!(
                sync_wave(store) < sync_wave(secret),
                "{env}: ExternalSecret {} (wave {}) must sync after {} {} (wave {})",
                name(secret),
                sync_wave(secret),
                s(&store_ref["kind"]),
                name(store),
                sync_wave(store)
            );
            checked += 1;
        }
        assert!(
            checked > 0,
            "{env}: the webhook's ExternalSecret is checked"
        );
    }
}
