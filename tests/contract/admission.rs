//! Signed images enforced at admission: policy-controller (Terraform) refuses every pod in the app
//! namespaces whose image release.yml on main did not sign, with the registry namespace of
//! `.github/registry.env` and the identity of this repository's release workflow.

use std::collections::BTreeSet;

use integration_tests::facts::{APPS, ENVS, REPO_URL};
use integration_tests::k8s::{argocd, name, overlay, s, seq};
use integration_tests::{of_kind, read_yaml};
use serde_yaml_ng::Value;

use crate::registry::registry_namespace;
use integration_tests::terraform::helm_release;

const ISSUER: &str = "https://token.actions.githubusercontent.com";

/// The certificate subject release.yml's keyless signature carries.
fn release_identity() -> String {
    let repo = REPO_URL.trim_end_matches(".git");
    format!("{repo}/.github/workflows/release.yml@refs/heads/main")
}

fn policies() -> Vec<Value> {
    read_yaml("k8s/admission/clusterimagepolicy.yaml")
}

/// policy-controller's glob (pkg/apis/glob): `**` any characters, `*` any but `/`, whole string.
fn glob_matches(glob: &str, name: &str) -> bool {
    fn rec(g: &[u8], n: &[u8]) -> bool {
        match g {
            [] => n.is_empty(),
            [b'*', b'*', rest @ ..] => (0..=n.len()).any(|i| rec(rest, &n[i..])),
            [b'*', rest @ ..] => (0..=n.len())
                .take_while(|&i| i == 0 || n[i - 1] != b'/')
                .any(|i| rec(rest, &n[i..])),
            [c, rest @ ..] => n.first() == Some(c) && rec(rest, &n[1..]),
        }
    }
    rec(glob.as_bytes(), name.as_bytes())
}

/// The name policy-controller matches globs against: Docker Hub as `index.docker.io`, and for a
/// digest reference `repository@digest` (go-containerregistry drops a tag next to a digest).
fn reference_name(image: &str) -> String {
    let image = image.strip_prefix("docker.io/").map_or_else(
        || image.to_owned(),
        |rest| format!("index.docker.io/{rest}"),
    );
    match image.split_once('@') {
        Some((repo, digest)) => {
            let repo = match repo.rsplit_once(':') {
                Some((r, tag)) if !tag.contains('/') => r,
                _ => repo,
            };
            format!("{repo}@{digest}")
        }
        None => image,
    }
}

/// Every container image of a rendered overlay (Deployments and hook Jobs, init containers too).
fn images(docs: &[Value]) -> BTreeSet<String> {
    docs.iter()
        .filter_map(|d| {
            let spec = &d["spec"]["template"]["spec"];
            spec.as_mapping().map(|_| spec)
        })
        .flat_map(|pod| {
            seq(&pod["containers"])
                .iter()
                .chain(seq(&pod["initContainers"]))
                .map(|c| s(&c["image"]).to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_release_policy_names_the_registry_namespace_and_release_yml_on_main() {
    let namespace = registry_namespace();
    let all = policies();
    let signed: Vec<&Value> = all
        .iter()
        .filter(|p| {
            seq(&p["spec"]["authorities"])
                .iter()
                .any(|a| a.get("keyless").is_some())
        })
        .collect();
    let [policy] = signed[..] else {
        panic!("exactly one policy demands the release signature: {signed:?}");
    };
    let globs: Vec<&str> = seq(&policy["spec"]["images"])
        .iter()
        .map(|i| s(&i["glob"]))
        .collect();
    let expected = format!(
        "index.docker.io/{}/*",
        namespace.trim_start_matches("docker.io/")
    );
    assert_eq!(
        globs,
        [expected.as_str()],
        "the namespace of .github/registry.env"
    );
    let authorities = seq(&policy["spec"]["authorities"]);
    assert_eq!(authorities.len(), 1, "one authority: the release workflow");
    let authority = &authorities[0];
    let identities: Vec<(&str, &str)> = seq(&authority["keyless"]["identities"])
        .iter()
        .map(|i| (s(&i["issuer"]), s(&i["subject"])))
        .collect();
    assert_eq!(identities, [(ISSUER, release_identity().as_str())]);
    assert_eq!(
        authority["signatureFormat"].as_str(),
        Some("bundle"),
        "cosign 3 signs Sigstore bundles"
    );
    assert!(
        policy["spec"]
            .get("mode")
            .is_none_or(|m| m.as_str() == Some("enforce"))
    );
}

#[test]
fn every_image_the_apps_run_meets_exactly_the_policy_meant_for_it() {
    let namespace = registry_namespace();
    let ours = format!(
        "index.docker.io/{}/",
        namespace.trim_start_matches("docker.io/")
    );
    let policies = policies();
    for env in ENVS {
        for app in APPS {
            for image in images(&overlay(env, app)) {
                let reference = reference_name(&image);
                let matching: Vec<&Value> = policies
                    .iter()
                    .filter(|p| {
                        seq(&p["spec"]["images"])
                            .iter()
                            .any(|i| glob_matches(s(&i["glob"]), &reference))
                    })
                    .collect();
                // no-match-policy: deny would refuse an image no policy names.
                assert!(
                    !matching.is_empty(),
                    "{env}/{app}: no policy admits {image}"
                );
                let passes_unsigned = matching.iter().any(|p| {
                    seq(&p["spec"]["authorities"])
                        .iter()
                        .any(|a| a["static"]["action"].as_str() == Some("pass"))
                });
                if reference.starts_with(&ours) {
                    assert!(!passes_unsigned, "{env}/{app}: {image} must be signed");
                } else {
                    assert!(
                        reference.contains("@sha256:"),
                        "{env}/{app}: {image} passes unsigned only when pinned by digest"
                    );
                }
            }
        }
    }
    // The globs are the ones policy-controller compiles, not looser.
    assert!(glob_matches(
        "index.docker.io/ns/*",
        "index.docker.io/ns/api-app@sha256:ab"
    ));
    assert!(!glob_matches(
        "index.docker.io/ns/*",
        "index.docker.io/ns/a/b"
    ));
    assert!(!glob_matches(
        "index.docker.io/library/postgres@*",
        "index.docker.io/library/postgres:17"
    ));
}

#[test]
fn both_clusters_sync_the_policies_and_install_the_enforcing_controller() {
    let wanted: BTreeSet<String> = policies().iter().map(|p| name(p).to_owned()).collect();
    for env in ENVS {
        let docs = argocd(env);
        let synced: BTreeSet<String> = of_kind(&docs, "ClusterImagePolicy")
            .map(|p| name(p).to_owned())
            .collect();
        assert_eq!(
            synced, wanted,
            "{env}: the root Application syncs k8s/admission"
        );
        let installed = crate::argocd::installed(env);
        let project = of_kind(&installed, "AppProject")
            .find(|p| name(p) == format!("bootstrap-{env}"))
            .expect("the bootstrap project");
        assert!(
            seq(&project["spec"]["clusterResourceWhitelist"])
                .iter()
                .any(|r| {
                    r["group"].as_str() == Some("policy.sigstore.dev")
                        && r["kind"].as_str() == Some("ClusterImagePolicy")
                }),
            "{env}: the bootstrap project may sync ClusterImagePolicy"
        );

        let (namespace, values) = helm_release(env, "policy_controller");
        assert_eq!(namespace, "cosign-system");
        let webhook = &values["webhook"];
        assert_eq!(webhook["failurePolicy"], "Fail", "{env}: fail closed");
        assert_eq!(webhook["configData"]["no-match-policy"], "deny");
        assert!(webhook["replicaCount"].as_u64().is_some_and(|n| n >= 2));
        // The enforced namespaces are exactly where the app Applications deploy.
        let destinations: BTreeSet<String> = of_kind(&docs, "Application")
            .filter(|a| {
                let path = s(&a["spec"]["source"]["path"]);
                APPS.iter()
                    .any(|app| path == format!("k8s/overlays/{env}/{app}"))
            })
            .map(|a| s(&a["spec"]["destination"]["namespace"]).to_owned())
            .collect();
        let expr = &webhook["namespaceSelector"]["matchExpressions"][0];
        assert_eq!(expr["key"], "kubernetes.io/metadata.name");
        assert_eq!(expr["operator"], "In");
        let selected: BTreeSet<String> = expr["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(selected, destinations, "{env}");
    }
    let admission = integration_tests::read_text("terraform/modules/cluster-addons/admission.tf");
    let version = admission
        .lines()
        .find_map(|l| l.trim().strip_prefix("version"))
        .and_then(|v| v.split('"').nth(1))
        .expect("the chart version");
    assert!(
        version.split('.').count() == 3 && version.split('.').all(|p| p.parse::<u32>().is_ok()),
        "policy-controller's chart is pinned exactly: {version}"
    );
}
