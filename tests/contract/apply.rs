//! The path from a pull request to an applied cluster: a read-only plan per env on every PR, an
//! apply per env after the merge behind its GitHub environment, OIDC roles that Terraform
//! (bootstrap) creates with least privilege, and self-hosted runners inside each VPC, the only
//! network path to the private API endpoint that refreshing the Helm releases needs.

use std::collections::BTreeSet;

use hcl::eval::{Context, Evaluate};
use integration_tests::{read_text, read_yaml};
use serde_json::Value as Json;
use serde_yaml_ng::Value;

use crate::terraform::{
    attr_text, block, blocks_in, hcl_to_json, helm_release, locals_with, platform_locals,
};

use integration_tests::facts::ENVS;
const SUBJECT: &str = "repo:gitops-platform/gitops-platform";
const ACCOUNT: &str = "111122223333";

fn workflow(name: &str) -> Value {
    read_yaml(&format!(".github/workflows/{name}.yml")).remove(0)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        other => serde_yaml_ng::to_string(other).unwrap(),
    }
}

// ---------------------------------------------------------------------------------------------
// terraform/bootstrap, evaluated
// ---------------------------------------------------------------------------------------------

/// The bootstrap root's locals, with the variables at their defaults.
fn bootstrap_locals() -> serde_json::Map<String, Json> {
    let blocks = blocks_in("terraform/bootstrap");
    let default = |name: &str| {
        let var = block(&blocks, "variable", &[name]).body();
        hcl_to_json(
            &var.attributes()
                .find(|a| a.key() == "default")
                .unwrap()
                .expr()
                .evaluate(&Context::new())
                .unwrap(),
        )
    };
    let vars = serde_json::json!({
        "region": default("region"),
        "github_subject_prefix": default("github_subject_prefix"),
    });
    let resources = serde_json::json!({
        "aws_kms_key": { "state": { "arn": "arn:aws:kms:eu-west-1:111122223333:key/state" } },
    });
    let locals = locals_with(&blocks, &vars, resources.as_object().unwrap());
    locals
        .iter()
        .map(|(k, v)| (k.clone(), hcl_to_json(v)))
        .collect()
}

fn policy(locals: &serde_json::Map<String, Json>, key: &str, env: &str) -> Json {
    let encoded = locals
        .get(key)
        .unwrap_or_else(|| panic!("bootstrap local.{key} does not evaluate"))[env]
        .as_str()
        .unwrap()
        .to_owned();
    serde_json::from_str(&encoded).unwrap()
}

fn strings(v: &Json) -> Vec<String> {
    match v {
        Json::String(s) => vec![s.clone()],
        Json::Array(items) => items
            .iter()
            .map(|i| i.as_str().unwrap().to_owned())
            .collect(),
        other => panic!("expected a string or a list, got {other}"),
    }
}

#[test]
fn each_ci_role_trusts_only_its_own_trigger() {
    let locals = bootstrap_locals();
    for env in ENVS {
        for (mode, subjects) in [
            (
                "plan",
                vec![
                    format!("{SUBJECT}:pull_request"),
                    format!("{SUBJECT}:ref:refs/heads/main"),
                ],
            ),
            (
                "apply",
                vec![format!("{SUBJECT}:environment:terraform-{env}")],
            ),
        ] {
            let trust: Json =
                serde_json::from_str(locals["ci_trust"][env][mode].as_str().unwrap()).unwrap();
            let statements = trust["Statement"].as_array().unwrap();
            assert_eq!(statements.len(), 1, "{env} {mode}");
            let s = &statements[0];
            assert_eq!(s["Action"], "sts:AssumeRoleWithWebIdentity");
            assert_eq!(
                s["Principal"]["Federated"],
                format!("arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com")
            );
            assert_eq!(
                s["Condition"]["StringEquals"]["token.actions.githubusercontent.com:aud"],
                "sts.amazonaws.com"
            );
            let sub =
                strings(&s["Condition"]["StringLike"]["token.actions.githubusercontent.com:sub"]);
            assert_eq!(sub, subjects, "{env} {mode}: the exact subjects");
            assert!(
                sub.iter().all(|s| !s.contains('*')),
                "{env} {mode}: no wildcard subject"
            );
        }
    }
    // The role names are the ones the platform module grants access entries to.
    let ci = platform_locals("dev");
    let arns = hcl_to_json(&ci["ci_role_arns"]);
    assert_eq!(
        arns["plan"],
        format!("arn:aws:iam::{ACCOUNT}:role/gitops-dev-terraform-plan")
    );
    assert_eq!(
        arns["apply"],
        format!("arn:aws:iam::{ACCOUNT}:role/gitops-dev-terraform-apply")
    );
    let role = block(
        &blocks_in("terraform/bootstrap"),
        "resource",
        &["aws_iam_role", "ci"],
    )
    .body()
    .clone();
    assert_eq!(
        attr_text(&role, "name"),
        "\"gitops-${each.value.env}-terraform-${each.value.mode}\""
    );
}

#[test]
fn the_plan_role_only_reads_and_no_ci_role_reads_a_secret_value() {
    let locals = bootstrap_locals();
    for env in ENVS {
        let plan = policy(&locals, "ci_plan_policy", env);
        for s in plan["Statement"].as_array().unwrap() {
            assert_eq!(s["Effect"], "Allow");
            for action in strings(&s["Action"]) {
                let verb = action.split_once(':').unwrap().1;
                assert!(
                    ["Describe", "Get", "List"]
                        .iter()
                        .any(|p| verb.starts_with(p))
                        || action == "kms:Decrypt",
                    "{env}: the plan role may only read, not {action}"
                );
            }
        }
        let apply = policy(&locals, "ci_apply_policy", env);
        for (role, doc) in [("plan", &plan), ("apply", &apply)] {
            let other = if env == "dev" { "prod" } else { "dev" };
            for s in doc["Statement"].as_array().unwrap() {
                let actions = strings(&s["Action"]);
                assert!(
                    !actions.iter().any(|a| a == "secretsmanager:GetSecretValue"
                        || a == "secretsmanager:*"
                        || a == "*"),
                    "{env} {role}: no CI role reads a secret value: {actions:?}"
                );
                // State: only this env's key, never the other env's.
                for r in strings(&s["Resource"]) {
                    if r.starts_with("arn:aws:s3:::") {
                        assert!(
                            !r.contains(&format!("/gitops/{other}/")),
                            "{env} {role}: {r}"
                        );
                        assert!(
                            r.ends_with("gitops-tfstate-111122223333")
                                || r.contains(&format!("/gitops/{env}/")),
                            "{env} {role}: {r}"
                        );
                    }
                    assert!(
                        !r.contains(&format!("gitops-{other}")),
                        "{env} {role}: reaches {other}: {r}"
                    );
                }
            }
        }
        // Apply may manage IAM only under the env's own names.
        let iam_writes: Vec<String> = apply["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| strings(&s["Action"]).iter().any(|a| a == "iam:*"))
            .flat_map(|s| strings(&s["Resource"]))
            .collect();
        assert_eq!(
            iam_writes,
            [
                format!("arn:aws:iam::{ACCOUNT}:role/gitops-{env}-*"),
                format!("arn:aws:iam::{ACCOUNT}:policy/gitops-{env}-*")
            ]
        );
    }
}

#[test]
fn the_plan_role_reads_exactly_the_helm_release_namespaces_and_apply_administers() {
    let main = blocks_in("terraform/modules/platform-cluster");
    let eks = block(&main, "module", &["eks"]).body();
    let entries = attr_text(eks, "access_entries");
    assert!(
        entries.contains("concat(var.cluster_admin_role_arns,[local.ci_role_arns.apply])"),
        "the apply role is a cluster admin: {entries}"
    );
    assert!(
        entries.contains("principal_arn=local.ci_role_arns.plan"),
        "{entries}"
    );
    assert!(
        entries.contains("AmazonEKSAdminViewPolicy"),
        "view access reads Helm's release Secrets"
    );
    assert!(
        entries
            .contains("access_scope={type=\"namespace\",namespaces=local.helm_release_namespaces}"),
        "only in the Helm release namespaces: {entries}"
    );
    assert!(
        !entries.contains("local.ci_role_arns.plan]"),
        "the plan role is never a cluster admin"
    );

    let declared: BTreeSet<String> =
        hcl_to_json(&platform_locals("dev")["helm_release_namespaces"])
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_owned())
            .collect();
    let releases: BTreeSet<String> = blocks_in("terraform/modules/cluster-addons")
        .iter()
        .filter(|b| b.identifier() == "resource" && b.labels()[0].as_str() == "helm_release")
        .map(|b| helm_release("dev", b.labels()[1].as_str()).0)
        .collect();
    assert_eq!(
        declared, releases,
        "the plan role's namespaces are exactly where the Helm releases live"
    );
}

#[test]
fn the_runners_inside_the_vpc_reach_the_private_endpoint() {
    let platform = blocks_in("terraform/modules/platform-cluster");
    let eks = block(&platform, "module", &["eks"]).body();
    let rules = attr_text(eks, "security_group_additional_rules");
    for part in [
        "from_port=443",
        "to_port=443",
        "type=\"ingress\"",
        "source_security_group_id=aws_security_group.ci_runner.id",
    ] {
        assert!(
            rules.contains(part),
            "cluster SG admits the runners on 443: {rules}"
        );
    }
    assert!(!rules.contains("cidr_blocks"), "no CIDR-wide rule: {rules}");
    let sg = block(&platform, "resource", &["aws_security_group", "ci_runner"]).body();
    assert_eq!(attr_text(sg, "vpc_id"), "module.vpc.vpc_id");
    let egress = block(
        &platform,
        "resource",
        &["aws_vpc_security_group_egress_rule", "ci_runner_https"],
    )
    .body();
    assert_eq!(attr_text(egress, "from_port"), "443");
    assert_eq!(attr_text(egress, "to_port"), "443");

    // The labels the module hands out are the ones the workflow asks for.
    let outputs = block(&platform, "output", &["ci_runner"]).body();
    assert!(attr_text(outputs, "value").contains("labels=\"self-hosted,linux,x64,${local.name}\""));
    let job = &workflow("terraform-env")["jobs"]["terraform"];
    let runs_on: Vec<String> = job["runs-on"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(text)
        .collect();
    assert_eq!(
        runs_on,
        ["self-hosted", "linux", "x64", "gitops-${{ inputs.env }}"]
    );
}

#[test]
fn every_pr_plans_each_env_and_main_applies_dev_then_prod_behind_reviewers() {
    let wf = workflow("terraform");
    let prs: Vec<String> = wf["on"]["pull_request"]["paths"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(text)
        .collect();
    assert!(prs.contains(&"terraform/**".to_owned()));
    for env in ENVS {
        let upper = env.to_uppercase();
        let plan = &wf["jobs"][format!("plan-{env}").as_str()];
        let apply = &wf["jobs"][format!("apply-{env}").as_str()];
        for (job, mode, is_apply) in [(plan, "PLAN", false), (apply, "APPLY", true)] {
            assert_eq!(text(&job["uses"]), "./.github/workflows/terraform-env.yml");
            let with = &job["with"];
            assert_eq!(text(&with["env"]), env);
            assert_eq!(with["apply"].as_bool(), Some(is_apply));
            assert_eq!(
                text(&with["role-arn"]),
                format!("${{{{ vars.AWS_{mode}_ROLE_ARN_{upper} }}}}")
            );
            // The required input the plan used to miss.
            assert_eq!(
                text(&with["admin-role-arns"]),
                format!("${{{{ vars.CLUSTER_ADMIN_ROLE_ARNS_{upper} }}}}")
            );
            assert!(
                text(&with["public-access-cidrs"])
                    .contains(&format!("vars.ENDPOINT_PUBLIC_ACCESS_CIDRS_{upper}"))
            );
            assert_eq!(text(&job["permissions"]["id-token"]), "write");
        }
        let plan_if = text(&plan["if"]);
        assert!(
            plan_if.contains("github.event_name == 'pull_request'"),
            "{plan_if}"
        );
        assert!(
            plan_if.contains("github.event.pull_request.head.repo.full_name == github.repository"),
            "fork PRs never reach a runner or a role: {plan_if}"
        );
        let apply_if = text(&apply["if"]);
        assert!(
            apply_if.contains("github.ref == 'refs/heads/main'")
                && apply_if.contains("!= 'pull_request'"),
            "{apply_if}"
        );
    }
    assert_eq!(
        text(&wf["jobs"]["apply-prod"]["needs"]),
        "apply-dev",
        "prod applies after dev"
    );

    let job = &workflow("terraform-env")["jobs"]["terraform"];
    assert_eq!(
        text(&job["environment"]),
        "${{ inputs.apply && format('terraform-{0}', inputs.env) || '' }}",
        "apply runs in terraform-<env>, the only environment its role trusts"
    );
    assert_eq!(
        text(&job["env"]["TF_VAR_cluster_admin_role_arns"]),
        "${{ inputs.admin-role-arns }}"
    );
    let steps = job["steps"].as_sequence().unwrap();
    let apply_step = steps
        .iter()
        .find(|s| {
            s["run"]
                .as_str()
                .is_some_and(|r| r.contains("apply -no-color tfplan"))
        })
        .expect("an apply of the saved plan");
    assert_eq!(text(&apply_step["if"]), "inputs.apply");
    let plan_step = steps
        .iter()
        .find(|s| s["run"].as_str().is_some_and(|r| r.contains(" plan ")))
        .unwrap();
    assert!(
        text(&plan_step["run"]).contains("-lock=false"),
        "the read-only plan takes no lock"
    );
}

#[test]
fn the_docs_name_every_variable_and_environment_the_terraform_workflows_use() {
    let readme = read_text(".github/README.md");
    for name in ["terraform", "terraform-env"] {
        let text = read_text(&format!(".github/workflows/{name}.yml"));
        for var in text.split("vars.").skip(1) {
            let var: String = var
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                readme.contains(&format!("`{var}`"))
                    || readme.contains(&format!(
                        "`{}`",
                        var.trim_end_matches("_DEV").trim_end_matches("_PROD")
                    ))
                    || readme.contains(&var.replace("_DEV", "_<ENV>").replace("_PROD", "_<ENV>")),
                ".github/README.md does not document vars.{var} ({name}.yml)"
            );
        }
    }
    for env in ["terraform-dev", "terraform-prod"] {
        assert!(
            readme.contains(&format!("`{env}`")),
            ".github/README.md must describe environment {env}"
        );
    }
    let tf = read_text("terraform/README.md");
    for command in [
        "terraform -chdir=terraform/bootstrap apply",
        "apply -target=module.platform",
        "gh workflow run terraform.yml --ref main",
    ] {
        assert!(
            tf.contains(command),
            "terraform/README.md's first-run steps must run `{command}`"
        );
    }
}
