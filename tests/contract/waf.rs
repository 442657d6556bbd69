//! The ALB's WAF: the web ACL Terraform creates for an env is the one its Ingresses attach, and
//! the env root decides whether it blocks (prod) or only counts (dev).

use integration_tests::{kustomize, of_kind};

use crate::terraform::{EnvRoot, local_str, platform_locals};

const ANNOTATION: &str = "alb.ingress.kubernetes.io/wafv2-acl-arn";

/// Every Ingress of the env's apps (they share one ALB through one Ingress group) and the web
/// ACL ARN each one names.
fn acl_arns(env: &str) -> Vec<(String, String)> {
    ["api-app", "demo-app"]
        .iter()
        .flat_map(|app| {
            let docs = kustomize(&format!("k8s/overlays/{env}/{app}"));
            of_kind(&docs, "Ingress")
                .map(|ingress| {
                    let name = ingress["metadata"]["name"].as_str().unwrap().to_owned();
                    let arn = ingress["metadata"]["annotations"][ANNOTATION]
                        .as_str()
                        .unwrap_or_else(|| panic!("{env}/{name}: no {ANNOTATION}"))
                        .to_owned();
                    (name, arn)
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn each_env_attaches_the_web_acl_terraform_creates_for_it() {
    for env in ["dev", "prod"] {
        let locals = platform_locals(env);
        let acl_name = local_str(&locals, "web_acl_name");
        assert_eq!(acl_name, format!("gitops-{env}-alb"));
        let region = EnvRoot::load(env).module_arg("platform", "region");
        let region = region.as_str().unwrap();

        let arns = acl_arns(env);
        assert_eq!(
            arns.len(),
            2,
            "{env}: api-app and demo-app Ingresses: {arns:?}"
        );
        let first = &arns[0].1;
        assert!(
            arns.iter().all(|(_, arn)| arn == first),
            "{env}: one ALB, one web ACL: {arns:?}"
        );
        // arn:aws:wafv2:<region>:<account>:regional/webacl/<name>/<id>
        let parts: Vec<&str> = first.splitn(6, ':').collect();
        assert_eq!(parts[..3], ["arn", "aws", "wafv2"], "{first}");
        assert_eq!(
            parts[3], region,
            "{env}: the web ACL is in the cluster's region"
        );
        let resource: Vec<&str> = parts[5].split('/').collect();
        assert_eq!(resource[..2], ["regional", "webacl"], "{first}");
        assert_eq!(
            resource[2], acl_name,
            "{env}: the Ingress names Terraform's web ACL"
        );
        assert_eq!(resource.len(), 4, "{first}");
    }
}

#[test]
fn prod_blocks_and_dev_only_counts() {
    for (env, mode) in [("dev", "count"), ("prod", "block")] {
        let set = EnvRoot::load(env).module_arg("platform", "waf_mode");
        assert_eq!(set.as_str(), Some(mode), "{env}");
    }
}
