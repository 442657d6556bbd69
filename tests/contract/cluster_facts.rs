//! No value copied by hand into Git: what exists only after `terraform apply` (the ACM certificate,
//! the WAF web ACL, the RDS endpoint and its RDS-named master secret) reaches the cluster from
//! Terraform, either through an object Terraform renders (the Load Balancer Controller's
//! `IngressClassParams`) or as Kustomize patches the Terraform-owned root Application hands to the
//! Application that needs them. Git keeps placeholders that fail closed, and nothing else.

use integration_tests::facts::ENVS;
use integration_tests::k8s::{argocd, render_with_patches};
use integration_tests::{files_under, kustomize, of_kind, read_text};
use serde_json::Value as Json;

use integration_tests::terraform::{
    PLATFORM, SAMPLE_CERTIFICATE_ARN, attr_text, block, blocks_in, helm_release, k8s_docs_as_json,
    local_expr, local_str, platform_locals, sample_database_endpoint,
};

/// The marker Git holds where Terraform hands in the value.
const FROM_TERRAFORM: &str = "SET-BY-TERRAFORM";

#[test]
fn nothing_in_k8s_waits_for_a_value_copied_by_hand() {
    let mut checked = 0;
    for ext in ["yaml", "md", "json"] {
        for f in files_under("k8s", ext) {
            checked += 1;
            let text = read_text(&f);
            for marker in ["REPLACE-WITH", ":000000000000:"] {
                assert!(
                    !text.contains(marker),
                    "{f}: {marker}: a value someone must copy in after an apply"
                );
            }
        }
    }
    assert!(checked > 20);
    for env in ENVS {
        for app in ["api-app", "demo-app"] {
            for ingress in of_kind(&kustomize(&format!("k8s/overlays/{env}/{app}")), "Ingress")
                .chain(of_kind(&argocd(env), "Ingress"))
            {
                let annotations = &ingress["metadata"]["annotations"];
                for key in ["certificate-arn", "wafv2-acl-arn", "wafv2-acl-name"] {
                    assert!(
                        annotations[format!("alb.ingress.kubernetes.io/{key}").as_str()].is_null(),
                        "{env}: Ingress {:?} names its own {key}; the IngressClassParams carry it",
                        ingress["metadata"]["name"]
                    );
                }
            }
        }
    }
}

/// The certificate and the web ACL: Terraform creates both, and the Load Balancer Controller's
/// release sets them on the parameters of the `IngressClass` every Ingress names.
#[test]
fn the_certificate_and_web_acl_reach_every_ingress_through_the_ingress_class() {
    let platform = blocks_in(PLATFORM);
    let cert = block(&platform, "resource", &["aws_acm_certificate", "alb"]).body();
    assert_eq!(attr_text(cert, "domain_name"), "local.public_hostname");
    assert_eq!(attr_text(cert, "validation_method"), "\"DNS\"");
    let validation = block(
        &platform,
        "resource",
        &["aws_route53_record", "certificate_validation"],
    )
    .body();
    assert_eq!(
        attr_text(validation, "zone_id"),
        "data.aws_route53_zone.public.zone_id",
        "validated in the zone the env root is given"
    );
    assert_eq!(
        attr_text(
            block(&platform, "output", &["certificate_arn"]).body(),
            "value"
        ),
        "aws_acm_certificate_validation.alb.certificate_arn",
        "the controller gets the ARN only once ACM has issued it"
    );
    assert_eq!(
        attr_text(
            block(&platform, "data", &["aws_route53_zone", "public"]).body(),
            "name"
        ),
        "var.dns_zone_name"
    );

    for env in ENVS {
        let locals = platform_locals(env);
        assert_eq!(
            local_str(&locals, "ingress_group"),
            "gitops-platform",
            "{env}"
        );
        let root: String = read_text(&format!("terraform/envs/{env}/main.tf"))
            .split_whitespace()
            .collect();
        for (var, output) in [
            ("certificate_arn", "certificate_arn"),
            ("web_acl_arn", "web_acl_arn"),
            ("dns_zone_name", ""),
        ] {
            let want = if output.is_empty() {
                format!("{var}=var.{var}")
            } else {
                format!("{var}=module.platform.{output}")
            };
            assert!(root.contains(&want), "envs/{env}: {want}");
        }

        let (_, values) = helm_release(env, "aws_load_balancer_controller");
        let class = values["ingressClass"].as_str().expect("ingressClass");
        assert_eq!(values["createIngressClassResource"], true);
        let params = &values["ingressClassParams"];
        assert_eq!(params["create"], true, "{env}");
        assert_eq!(params["name"], class, "{env}: the class's own parameters");
        assert_eq!(
            params["spec"]["certificateArn"],
            serde_json::json!([SAMPLE_CERTIFICATE_ARN]),
            "{env}: the certificate Terraform issued"
        );
        let acl = params["spec"]["wafv2AclArn"].as_str().unwrap();
        assert!(
            acl.contains(&format!(
                ":regional/webacl/{}/",
                local_str(&locals, "web_acl_name")
            )),
            "{env}: the web ACL Terraform created for this env: {acl}"
        );

        // Every Ingress of the one ALB (both apps' and Argo CD's webhook route) is of that class and
        // of the IngressGroup the DNS record looks the ALB up by.
        let mut ingresses = 0;
        for docs in [
            kustomize(&format!("k8s/overlays/{env}/api-app")),
            kustomize(&format!("k8s/overlays/{env}/demo-app")),
            argocd(env),
        ] {
            for i in of_kind(&docs, "Ingress") {
                ingresses += 1;
                assert_eq!(i["spec"]["ingressClassName"].as_str(), Some(class), "{env}");
                assert_eq!(
                    i["metadata"]["annotations"]["alb.ingress.kubernetes.io/group.name"].as_str(),
                    Some(local_str(&locals, "ingress_group").as_str()),
                    "{env}"
                );
            }
        }
        assert_eq!(ingresses, 3, "{env}: api-app, demo-app, the webhook");
    }
}

/// The patches a Terraform-installed root Application gives the Application `app` (Argo CD's
/// `spec.source.kustomize.patches`), after applying the root's own patch to that Application.
fn patches_from_root(env: &str, app: &str) -> Vec<Json> {
    let (_, values) = helm_release(env, "argocd_root_app");
    let root = values["applications"][format!("root-{env}").as_str()].clone();
    let root_patches = root["source"]["kustomize"]["patches"]
        .as_array()
        .expect("the root app carries the cluster facts as patches")
        .clone();
    let for_app: Vec<&Json> = root_patches
        .iter()
        .filter(|p| p["target"]["kind"] == "Application" && p["target"]["name"] == app)
        .collect();
    assert_eq!(for_app.len(), 1, "{env}: one patch for Application {app}");
    let ops: Json = serde_json::from_str(for_app[0]["patch"].as_str().unwrap()).unwrap();
    assert_eq!(ops[0]["op"], "add");
    assert_eq!(ops[0]["path"], "/spec/source/kustomize");
    // The Application in Git has no kustomize block of its own for this to overwrite.
    let git = k8s_docs_as_json(&argocd(env));
    let git_app = git
        .iter()
        .find(|d| d["kind"] == "Application" && d["metadata"]["name"] == app)
        .unwrap_or_else(|| panic!("{env}: Application {app}"));
    assert!(
        git_app["spec"]["source"]["kustomize"].is_null(),
        "{env}: {app}"
    );
    ops[0]["value"]["patches"].as_array().unwrap().clone()
}

/// api-app as Argo CD renders it in the cluster: Git's overlay plus what the root app hands in. The
/// endpoint and the RDS-named master secret are Terraform's; nothing of Git's placeholders is left.
#[test]
fn the_root_app_hands_api_app_the_database_it_can_only_know_after_an_apply() {
    for env in ENVS {
        let app = format!("api-app-{env}");
        let patches = patches_from_root(env, &app);
        let git = k8s_docs_as_json(&kustomize(&format!("k8s/overlays/{env}/api-app")));
        let live = k8s_docs_as_json(&render_with_patches(
            &format!("k8s/overlays/{env}/api-app"),
            &patches,
        ));
        let text = serde_json::to_string(&live).unwrap();
        assert!(
            !text.contains(FROM_TERRAFORM),
            "{env}: a {FROM_TERRAFORM} placeholder survives the root app's patches"
        );
        assert!(
            serde_json::to_string(&git)
                .unwrap()
                .contains(FROM_TERRAFORM),
            "{env}: Git holds the placeholders"
        );

        let url = |docs: &[Json]| -> String {
            docs.iter()
                .find(|d| {
                    d["kind"] == "ConfigMap"
                        && d["metadata"]["name"]
                            .as_str()
                            .unwrap()
                            .starts_with("api-app-config-")
                })
                .and_then(|c| c["data"]["DATABASE_URL"].as_str())
                .unwrap()
                .to_owned()
        };
        let endpoint = sample_database_endpoint(env);
        assert_eq!(
            url(&live),
            url(&git).replace(FROM_TERRAFORM, &endpoint),
            "{env}: the cluster's DATABASE_URL is Git's, with the instance's endpoint for its host"
        );
        let admin = live
            .iter()
            .find(|d| d["kind"] == "ExternalSecret" && d["metadata"]["name"] == "api-app-db-admin")
            .unwrap();
        for d in admin["spec"]["data"].as_array().unwrap() {
            let key = d["remoteRef"]["key"].as_str().unwrap();
            assert!(
                key.contains(":secret:rds!db-"),
                "{env}: the master secret RDS named: {key}"
            );
        }

        // Terraform feeds the root app exactly its own outputs.
        let root: String = read_text(&format!("terraform/envs/{env}/main.tf"))
            .split_whitespace()
            .collect();
        for var in ["database_url", "database_master_secret_arn"] {
            assert!(
                root.contains(&format!("{var}=module.platform.{var}")),
                "envs/{env}: {var}"
            );
        }
    }
    // The platform's URL is the one Git's has the shape of: same role, port, database and TLS settings.
    let platform = blocks_in(PLATFORM);
    let local = local_expr(&platform, "database_url").to_string();
    assert_eq!(
        local,
        "\"postgres://${local.database.app_user}@${local.database_serving.db_instance_address}:${local.database.port}/${local.database.name}?sslmode=verify-full&sslrootcert=${local.database.ca_bundle_file}\""
    );
    assert_eq!(
        attr_text(
            block(&platform, "output", &["database_url"]).body(),
            "value"
        ),
        "local.database_url"
    );
}
