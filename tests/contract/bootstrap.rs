//! The root Application has one spec: what Terraform's argocd-apps release renders is exactly
//! `k8s/argocd/<env>/root.yaml` and `bootstrap-project.yaml`, the files the root app then syncs.

use integration_tests::read_yaml;
use serde_json::{Map, Value, json};

use integration_tests::terraform::helm_release;

/// Spec fields charts/argocd-apps (2.0.x) renders; anything else in the values is silently dropped.
const APPLICATION_FIELDS: &[&str] = &[
    "project",
    "source",
    "sources",
    "destination",
    "syncPolicy",
    "revisionHistoryLimit",
    "ignoreDifferences",
    "info",
];
const PROJECT_FIELDS: &[&str] = &[
    "permitOnlyProjectScopedClusters",
    "description",
    "sourceRepos",
    "destinations",
    "destinationServiceAccounts",
    "clusterResourceWhitelist",
    "clusterResourceBlacklist",
    "namespaceResourceBlacklist",
    "namespaceResourceWhitelist",
    "orphanedResources",
    "roles",
    "syncWindows",
    "signatureKeys",
    "sourceNamespaces",
];

/// What the argocd-apps chart's template makes of one entry of `applications` or `projects`.
fn render(kind: &str, name: &str, item: &Value, spec_fields: &[&str]) -> Value {
    let item = item.as_object().expect("a chart item is a map");
    let mut metadata = Map::new();
    let mut spec = Map::new();
    metadata.insert("name".into(), json!(name));
    for (key, value) in item {
        match key.as_str() {
            "namespace" | "finalizers" => {
                metadata.insert(key.clone(), value.clone());
            }
            "additionalAnnotations" => {
                metadata.insert("annotations".into(), value.clone());
            }
            "additionalLabels" => {
                metadata.insert("labels".into(), value.clone());
            }
            field => {
                assert!(
                    spec_fields.contains(&field),
                    "{kind} {name}: the chart does not render `{field}`, so Helm and Git would differ"
                );
                spec.insert(key.clone(), value.clone());
            }
        }
    }
    json!({ "apiVersion": "argoproj.io/v1alpha1", "kind": kind, "metadata": metadata, "spec": spec })
}

fn git(path: &str) -> Value {
    let docs = read_yaml(path);
    assert_eq!(docs.len(), 1, "{path}: one object");
    serde_json::to_value(&docs[0]).unwrap()
}

#[test]
fn helm_installs_exactly_the_root_app_and_project_git_syncs() {
    for env in ["dev", "prod"] {
        let (namespace, values) = helm_release(env, "argocd_root_app");
        assert_eq!(namespace, "argocd");
        let apps = values["applications"].as_object().expect("applications");
        let projects = values["projects"].as_object().expect("projects");
        assert_eq!(
            apps.len(),
            1,
            "{env}: Helm installs the root Application only"
        );
        assert_eq!(projects.len(), 1, "{env}: and its project only");

        let (name, app) = apps.iter().next().unwrap();
        // Terraform adds one thing Git cannot hold: the cluster facts it hands the Applications the
        // root app syncs, as Kustomize patches (tests/contract/cluster_facts.rs). The rest is root.yaml.
        let mut app = app.clone();
        let facts = app["source"]
            .as_object_mut()
            .and_then(|source| source.remove("kustomize"))
            .expect("the root app's source carries the cluster facts");
        assert_eq!(
            facts.as_object().map(|k| k.keys().collect::<Vec<_>>()),
            Some(vec![&"patches".to_owned()]),
            "{env}: only patches are added"
        );
        assert_eq!(
            render("Application", name, &app, APPLICATION_FIELDS),
            git(&format!("k8s/argocd/{env}/root.yaml")),
            "{env}: Helm's root Application must be root.yaml (its one spec) plus the cluster facts"
        );
        let (name, project) = projects.iter().next().unwrap();
        assert_eq!(
            render("AppProject", name, project, PROJECT_FIELDS),
            git(&format!("k8s/argocd/{env}/bootstrap-project.yaml")),
            "{env}: Helm's project must equal bootstrap-project.yaml"
        );
        assert_eq!(
            app["project"],
            json!(name),
            "{env}: the root app lives in the project Helm creates with it"
        );
    }
}
