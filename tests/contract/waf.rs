//! The ALB's WAF: the web ACL Terraform creates for an env is the one its Ingresses attach, and
//! the env root decides whether it blocks (prod) or only counts (dev).

use integration_tests::{kustomize, of_kind};

use integration_tests::terraform::{EnvRoot, local_str, platform_locals};

/// The web ACL Terraform creates for an env is the one the env's ALB attaches: its ARN goes from
/// modules/platform-cluster to the Load Balancer Controller's `IngressClassParams` (every Ingress is
/// of that class; `tests/contract/cluster_facts.rs`), never through an annotation copied into Git.
#[test]
fn each_env_attaches_the_web_acl_terraform_creates_for_it() {
    let platform = integration_tests::terraform::blocks_in(integration_tests::terraform::PLATFORM);
    assert_eq!(
        integration_tests::terraform::attr_text(
            integration_tests::terraform::block(&platform, "output", &["web_acl_arn"]).body(),
            "value"
        ),
        "aws_wafv2_web_acl.alb.arn"
    );
    for env in ["dev", "prod"] {
        let locals = platform_locals(env);
        let acl_name = local_str(&locals, "web_acl_name");
        assert_eq!(acl_name, format!("gitops-{env}-alb"));
        let root: String = integration_tests::read_text(&format!("terraform/envs/{env}/main.tf"))
            .split_whitespace()
            .collect();
        assert!(
            root.contains("web_acl_arn=module.platform.web_acl_arn"),
            "envs/{env}: the add-ons get this env's web ACL"
        );
        let (_, values) =
            integration_tests::terraform::helm_release(env, "aws_load_balancer_controller");
        let arn = &values["ingressClassParams"]["spec"]["wafv2AclArn"];
        // The add-ons' var.web_acl_arn, unchanged (the harness supplies it; the env root passes
        // the platform's output, checked above and below).
        assert_eq!(
            *arn,
            integration_tests::terraform::addons_vars(env, &locals)["web_acl_arn"],
            "{env}: the IngressClassParams attach var.web_acl_arn"
        );
    }
    // The ACL behind that output: a regional one (an ALB cannot take a CloudFront ACL), named
    // for the env.
    let acl =
        integration_tests::terraform::block(&platform, "resource", &["aws_wafv2_web_acl", "alb"]);
    for (attr, value) in [("scope", "\"REGIONAL\""), ("name", "local.web_acl_name")] {
        assert_eq!(
            integration_tests::terraform::attr_text(acl.body(), attr),
            value,
            "aws_wafv2_web_acl.alb.{attr}"
        );
    }
}

#[test]
fn prod_blocks_and_dev_only_counts() {
    for (env, mode) in [("dev", "count"), ("prod", "block")] {
        let set = EnvRoot::load(env).module_arg("platform", "waf_mode");
        assert_eq!(set.as_str(), Some(mode), "{env}");
    }
}

/// The nested statements of a `statement { ... }` body, by their kind (`and_statement`, ...).
fn inner<'a>(body: &'a hcl::Body, kind: &str) -> Vec<&'a hcl::Body> {
    body.blocks()
        .filter(|b| b.identifier() == kind)
        .flat_map(|b| b.body().blocks().filter(|s| s.identifier() == "statement"))
        .map(hcl::Block::body)
        .collect()
}

/// GitHub push payloads are routinely larger than the common rule set's 8 KB body limit. Prod must
/// still block oversized bodies everywhere else, and let exactly `POST <webhook path>` through, the
/// one route Argo CD authenticates by the payload's signature.
#[test]
fn the_body_size_limit_exempts_exactly_post_to_the_github_webhook() {
    let platform = integration_tests::terraform::blocks_in(integration_tests::terraform::PLATFORM);
    let acl =
        integration_tests::terraform::block(&platform, "resource", &["aws_wafv2_web_acl", "alb"])
            .body();
    let locals = platform_locals("prod");
    let label = local_str(&locals, "body_size_label");
    assert_eq!(local_str(&locals, "github_webhook_path"), "/api/webhook");

    // Inside the common rule set the size rule only counts (and labels).
    let managed = integration_tests::terraform::attr_text(
        acl.blocks()
            .find(|b| b.identifier() == "dynamic")
            .expect("the managed rule groups")
            .body(),
        "for_each",
    );
    assert_eq!(managed, "local.waf_managed_rule_groups");
    let text: String = hcl::to_string(acl).unwrap().split_whitespace().collect();
    assert!(
        text.contains("dynamic\"rule_action_override\"")
            && text.contains("[local.body_size_rule]")
            && text.contains("action_to_use{count{}}"),
        "SizeRestrictions_BODY is overridden to count inside AWSManagedRulesCommonRuleSet"
    );
    assert_eq!(
        local_str(&locals, "body_size_rule"),
        "SizeRestrictions_BODY"
    );

    // After it, a rule blocks on its label unless the request is POST to exactly the webhook path.
    let rule = acl
        .blocks()
        .filter(|b| b.identifier() == "rule")
        .find(|b| {
            integration_tests::terraform::attr_text(b.body(), "name")
                == "\"body-size-except-github-webhook\""
        })
        .expect("rule body-size-except-github-webhook")
        .body();
    let priority: u32 = integration_tests::terraform::attr_text(rule, "priority")
        .parse()
        .unwrap();
    let common: u32 = integration_tests::terraform::hcl_to_json(&locals["waf_managed_rule_groups"])
        ["AWSManagedRulesCommonRuleSet"]
        .as_u64()
        .unwrap()
        .try_into()
        .unwrap();
    assert!(
        priority > common,
        "evaluated after the common rule set labels the request"
    );
    let action = hcl::to_string(
        rule.blocks()
            .find(|b| b.identifier() == "action")
            .unwrap()
            .body(),
    )
    .unwrap();
    assert!(
        action.contains("local.waf_blocks ? [1] : []") && action.contains("\"block\""),
        "it blocks wherever the web ACL blocks (prod)"
    );
    let statement = rule
        .blocks()
        .find(|b| b.identifier() == "statement")
        .unwrap()
        .body();
    let both = inner(statement, "and_statement");
    assert_eq!(both.len(), 2, "label AND NOT exemption");
    let text =
        |b: &hcl::Body| -> String { hcl::to_string(b).unwrap().split_whitespace().collect() };
    assert!(
        text(both[0]).contains("key=local.body_size_label")
            && label.ends_with(":SizeRestrictions_Body"),
        "matches the size rule's label"
    );
    let exemption = inner(both[1], "not_statement");
    assert_eq!(exemption.len(), 1);
    let matches = inner(exemption[0], "and_statement");
    assert_eq!(matches.len(), 2, "method AND path");
    let m = text(matches[0]);
    assert!(
        m.contains("search_string=\"POST\"")
            && m.contains("method{}")
            && m.contains("positional_constraint=\"EXACTLY\"")
    );
    let p = text(matches[1]);
    assert!(
        p.contains("search_string=local.github_webhook_path")
            && p.contains("uri_path{}")
            && p.contains("positional_constraint=\"EXACTLY\""),
        "exactly the path, not a prefix: {p}"
    );
}

/// The exempted path and method are exactly what the ALB routes to Argo CD's webhook receiver.
#[test]
fn the_exempted_request_is_the_one_the_alb_routes_to_argo_cds_webhook() {
    let path = local_str(&platform_locals("prod"), "github_webhook_path");
    for env in ["dev", "prod"] {
        let docs = kustomize(&format!("k8s/argocd/{env}"));
        let ingress = of_kind(&docs, "Ingress")
            .find(|i| i["metadata"]["name"].as_str() == Some("argocd-webhook"))
            .expect("Ingress argocd-webhook");
        let route = &ingress["spec"]["rules"][0]["http"]["paths"][0];
        assert_eq!(route["path"].as_str(), Some(path.as_str()), "{env}");
        assert_eq!(route["pathType"].as_str(), Some("Exact"), "{env}");
        let conditions = ingress["metadata"]["annotations"]
            ["alb.ingress.kubernetes.io/conditions.argocd-server"]
            .as_str()
            .unwrap();
        assert!(conditions.contains("\"POST\""), "{env}: POST only");
    }
}
