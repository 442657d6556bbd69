//! The registry: one namespace (`.github/registry.env`) that the release pushes to, the promotion and
//! the signature check verify, every overlay pins and the admission policy names, so a fork sets it
//! once; and Docker Hub pulls are authenticated: every pod that pulls from docker.io runs under a
//! service account with the `registry-pull` secret, which ESO writes from the Secrets Manager secret
//! Terraform creates for the env (anonymous pulls are rate-limited per NAT IP).

use std::path::{Path, PathBuf};
use std::process::Command;

use hcl::eval::{Context, Evaluate};
use integration_tests::facts::APPS;
use integration_tests::{kustomize, of_kind, read_text, repo_root};
use serde_yaml_ng::Value;

const PULL_SECRET: &str = "registry-pull";

/// `local.registry_secret_name` of the platform module for one env.
fn terraform_registry_secret(env: &str) -> String {
    let body: hcl::Body =
        hcl::from_str(&read_text("terraform/modules/platform-cluster/registry.tf")).unwrap();
    let expr = body
        .blocks()
        .filter(|b| b.identifier() == "locals")
        .flat_map(|b| b.body().attributes())
        .find(|a| a.key() == "registry_secret_name")
        .expect("local.registry_secret_name")
        .expr()
        .clone();
    let mut ctx = Context::new();
    ctx.declare_var("var", hcl::value!({ env = (env) }));
    expr.evaluate(&ctx).unwrap().as_str().unwrap().to_owned()
}

fn str_of(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v:?}"))
}

#[test]
fn every_docker_hub_pull_is_authenticated_with_the_envs_credential() {
    for env in ["dev", "prod"] {
        let remote = terraform_registry_secret(env);
        assert_eq!(remote, format!("gitops/dockerhub/{env}"));
        for app in ["api-app", "demo-app"] {
            let docs = kustomize(&format!("k8s/overlays/{env}/{app}"));
            for deployment in of_kind(&docs, "Deployment") {
                let pod = &deployment["spec"]["template"]["spec"];
                let pulls_docker_hub = pod["containers"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .any(|c| str_of(&c["image"]).starts_with("docker.io/"));
                assert!(
                    pulls_docker_hub,
                    "{env}/{app}: the app images come from Docker Hub"
                );
                let sa_name = str_of(&pod["serviceAccountName"]);
                let sa = of_kind(&docs, "ServiceAccount")
                    .find(|s| str_of(&s["metadata"]["name"]) == sa_name)
                    .unwrap_or_else(|| panic!("{env}/{app}: no ServiceAccount {sa_name}"));
                let secrets: Vec<&str> = sa["imagePullSecrets"]
                    .as_sequence()
                    .map(|s| s.iter().map(|r| str_of(&r["name"])).collect())
                    .unwrap_or_default();
                assert_eq!(
                    secrets,
                    [PULL_SECRET],
                    "{env}/{app}: {sa_name} pulls with the credential"
                );
            }

            let es = of_kind(&docs, "ExternalSecret")
                .find(|e| str_of(&e["metadata"]["name"]) == PULL_SECRET)
                .unwrap_or_else(|| panic!("{env}/{app}: no ExternalSecret {PULL_SECRET}"));
            let spec = &es["spec"];
            assert_eq!(
                str_of(&spec["secretStoreRef"]["name"]),
                "aws-secrets-manager"
            );
            assert_eq!(str_of(&spec["target"]["name"]), PULL_SECRET);
            assert_eq!(
                str_of(&spec["target"]["template"]["type"]),
                "kubernetes.io/dockerconfigjson",
                "{env}/{app}: kubelet reads only dockerconfigjson pull secrets"
            );
            let config = str_of(&spec["target"]["template"]["data"][".dockerconfigjson"]);
            assert!(
                config.contains("https://index.docker.io/v1/"),
                "{env}/{app}: the Docker Hub auth key"
            );
            let keys: Vec<(&str, &str, &str)> = spec["data"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|d| {
                    (
                        str_of(&d["secretKey"]),
                        str_of(&d["remoteRef"]["key"]),
                        str_of(&d["remoteRef"]["property"]),
                    )
                })
                .collect();
            assert_eq!(
                keys,
                [
                    ("username", remote.as_str(), "username"),
                    ("token", remote.as_str(), "token")
                ],
                "{env}/{app}: the credential comes from Terraform's {remote}"
            );
            for (key, _, _) in keys {
                assert!(
                    config.contains(&format!(".{key}")),
                    "{env}/{app}: the template uses {key}"
                );
            }
            assert_eq!(
                es["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"].as_str(),
                Some("-2"),
                "{env}/{app}: written before the pods pull (the bootstrap hook at -1 included)"
            );
        }
    }
}

/// `docker.io/<namespace>`, as `scripts/image-repository.sh` reads it from `.github/registry.env` for
/// the workflows: the tests read the one source through the same script.
pub(crate) fn registry_namespace() -> String {
    registry_namespace_in(&repo_root())
}

fn registry_namespace_in(root: &Path) -> String {
    crate::pipeline::stdout_of(&mut Command::new(root.join("scripts/image-repository.sh")))
        .trim()
        .to_owned()
}

/// Every place under `root` that names the registry namespace, with what it names: each overlay's
/// `images[].newName` and the admission policy's globs. All must agree with `.github/registry.env`.
fn namespace_copies(root: &Path) -> Vec<(String, String)> {
    let read = |rel: &str| -> Vec<Value> {
        let text = std::fs::read_to_string(root.join(rel)).unwrap();
        serde_yaml_ng::Deserializer::from_str(&text)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect()
    };
    let mut copies = Vec::new();
    for env in ["dev", "prod", "local"] {
        for app in APPS {
            let rel = format!("k8s/overlays/{env}/{app}/kustomization.yaml");
            for image in read(&rel)[0]["images"].as_sequence().unwrap() {
                copies.push((rel.clone(), str_of(&image["newName"]).to_owned()));
            }
        }
    }
    let rel = "k8s/admission/clusterimagepolicy.yaml";
    for policy in read(rel) {
        let keyless = policy["spec"]["authorities"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|a| a.get("keyless").is_some());
        for image in policy["spec"]["images"].as_sequence().unwrap() {
            if keyless {
                copies.push((rel.to_owned(), str_of(&image["glob"]).to_owned()));
            }
        }
    }
    copies
}

fn assert_one_namespace(root: &Path) {
    let registry = registry_namespace_in(root);
    let namespace = registry.trim_start_matches("docker.io/");
    for (file, named) in namespace_copies(root) {
        let ok = APPS.iter().any(|app| named == format!("{registry}/{app}"))
            || named == format!("index.docker.io/{namespace}/*");
        assert!(
            ok,
            "{file} names {named}, not the namespace {namespace} of .github/registry.env \
             (a fork runs scripts/set-registry-namespace.sh)"
        );
    }
}

#[test]
fn every_copy_of_the_registry_namespace_is_the_one_in_registry_env() {
    assert_one_namespace(&repo_root());
    // The workflows read it through the script, never from a variable or a literal of their own.
    for name in crate::workflows::workflow_names() {
        let text = read_text(&format!(".github/workflows/{name}.yml"));
        let namespace = registry_namespace();
        assert!(
            !text.contains("DOCKERHUB_NAMESPACE") && !text.contains(&format!("{namespace}/")),
            "{name}.yml must take the registry from scripts/image-repository.sh"
        );
    }
    for (name, job) in [("release", "build"), ("promote", "promote")] {
        let wf = crate::workflows::workflow(name);
        assert!(
            crate::workflows::run_scripts(&wf["jobs"][job]).contains("scripts/image-repository.sh"),
            "{name}.yml {job} reads the namespace from .github/registry.env"
        );
    }
}

/// A copy of the files that name the namespace, and the scripts that read and rewrite it.
fn fork_copy() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("registry-fork-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let copy = |rel: String| {
        let to = dir.join(&rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(repo_root().join(&rel), to).unwrap();
    };
    for script in ["image-repository.sh", "set-registry-namespace.sh"] {
        copy(format!("scripts/{script}"));
    }
    copy(".github/registry.env".to_owned());
    copy("k8s/admission/clusterimagepolicy.yaml".to_owned());
    for env in ["dev", "prod", "local"] {
        for app in APPS {
            copy(format!("k8s/overlays/{env}/{app}/kustomization.yaml"));
        }
    }
    dir
}

#[test]
fn a_fork_sets_its_namespace_with_one_command_and_every_copy_follows() {
    let dir = fork_copy();
    let run = |args: &[&str]| {
        let out = Command::new(dir.join("scripts/set-registry-namespace.sh"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = run(&["Not_A_Namespace"]);
    assert!(!ok && err.contains("usage"), "{err}");

    let (ok, err) = run(&["myfork42"]);
    assert!(ok, "{err}");
    assert_eq!(registry_namespace_in(&dir), "docker.io/myfork42");
    assert_one_namespace(&dir);
    // The first release's bump writes exactly what the overlays already name, so its PR passes.
    let copies = namespace_copies(&dir);
    assert!(
        copies
            .iter()
            .any(|(_, n)| n == "docker.io/myfork42/api-app")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
