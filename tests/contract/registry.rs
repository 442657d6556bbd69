//! Docker Hub pulls are authenticated: every pod that pulls from docker.io runs under a service
//! account with the `registry-pull` secret, which ESO writes from the Secrets Manager secret
//! Terraform creates for the env (anonymous pulls are rate-limited per NAT IP).

use hcl::eval::{Context, Evaluate};
use integration_tests::{kustomize, of_kind, read_text};
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
