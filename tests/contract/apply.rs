//! The path from a pull request to an applied cluster: a read-only plan per env on every PR, an
//! apply per env after the merge behind its GitHub environment, OIDC roles that Terraform
//! (bootstrap) creates with least privilege, and just-in-time runners inside each VPC (a plan pool
//! and an apply pool), the only network path to the private API endpoint the Helm releases need.

use std::collections::{BTreeMap, BTreeSet};

use integration_tests::{read_text, read_yaml};
use serde_json::Value as Json;
use serde_yaml_ng::Value;

use crate::iam::{Doc, render};
use integration_tests::terraform::{
    attr_text, block, blocks_in, hcl_to_json, helm_release, platform_locals,
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
// terraform/bootstrap, rendered (tests/contract/iam.rs)
// ---------------------------------------------------------------------------------------------

/// The documents of one CI role, by policy name (`trust`, `terraform-read`, `terraform-apply`).
fn ci_docs(docs: &[Doc], env: &str, mode: &str) -> BTreeMap<String, Json> {
    let owner = format!("gitops-{env}-terraform-{mode}");
    docs.iter()
        .filter(|d| d.owner == owner)
        .map(|d| (d.name.clone(), d.json.clone()))
        .collect()
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

fn allow_statements(doc: &Json) -> Vec<Json> {
    doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .cloned()
        .collect()
}

#[test]
fn each_ci_role_trusts_only_its_own_trigger() {
    let (docs, _) = render();
    for env in ENVS {
        // Prod's plan reads prod, and a pull request's code runs with it: only a job a reviewer let
        // into terraform-prod-plan may assume it, never any pull request's.
        let pull_requests = if env == "prod" {
            format!("{SUBJECT}:environment:terraform-prod-plan")
        } else {
            format!("{SUBJECT}:pull_request")
        };
        for (mode, subjects) in [
            (
                "plan",
                vec![pull_requests, format!("{SUBJECT}:ref:refs/heads/main")],
            ),
            (
                "apply",
                vec![format!("{SUBJECT}:environment:terraform-{env}")],
            ),
        ] {
            let trust = &ci_docs(&docs, env, mode)["trust"];
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

/// Verbs that only read. `kms:Decrypt` (of the state) is the plan role's one other action.
const READ_VERBS: &[&str] = &["Describe", "Get", "List", "BatchGet"];

pub(crate) fn is_read(action: &str) -> bool {
    let verb = action.split_once(':').map_or(action, |(_, v)| v);
    READ_VERBS.iter().any(|p| verb.starts_with(p))
}

#[test]
fn the_plan_role_only_reads_and_no_ci_role_reads_a_secret_value() {
    let (docs, _) = render();
    for env in ENVS {
        let plan = ci_docs(&docs, env, "plan");
        assert_eq!(
            plan.keys().collect::<Vec<_>>(),
            ["terraform-read", "trust"],
            "{env}: the plan role has the read policy and nothing else"
        );
        for s in allow_statements(&plan["terraform-read"]) {
            for action in strings(&s["Action"]) {
                assert!(
                    is_read(&action) || action == "kms:Decrypt",
                    "{env}: the plan role may only read, not {action}"
                );
                // A read of data, not metadata, only where the statement names its one resource.
                if ["s3:GetObject", "kms:Decrypt", "ssm:GetParameter"].contains(&action.as_str()) {
                    assert!(
                        strings(&s["Resource"]).iter().all(|r| r != "*"),
                        "{env}: {action} on *"
                    );
                }
            }
        }
        let apply = ci_docs(&docs, env, "apply");
        let other = if env == "dev" { "prod" } else { "dev" };
        for (role, policies) in [("plan", &plan), ("apply", &apply)] {
            for (name, doc) in policies.iter().filter(|(n, _)| *n != "trust") {
                for s in allow_statements(doc) {
                    let actions = strings(&s["Action"]);
                    assert!(
                        !actions.iter().any(|a| a == "secretsmanager:GetSecretValue"
                            || a.starts_with("secretsmanager:Get*")
                            || a == "secretsmanager:*"
                            || a == "*"),
                        "{env} {role} {name}: no CI role reads a secret value: {actions:?}"
                    );
                    // State: only this env's key, never the other env's.
                    for r in strings(&s["Resource"]) {
                        if r.starts_with("arn:aws:s3:::") {
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
        }
        // Apply may write IAM only under the env's own names (and the services' linked roles).
        for s in allow_statements(&apply["terraform-apply"]) {
            if strings(&s["Action"])
                .iter()
                .any(|a| a.starts_with("iam:") && !is_read(a))
            {
                for r in strings(&s["Resource"]) {
                    assert!(
                        [
                            format!("arn:aws:iam::{ACCOUNT}:role/gitops-{env}-*"),
                            format!("arn:aws:iam::{ACCOUNT}:policy/gitops-{env}-*"),
                            format!("arn:aws:iam::{ACCOUNT}:instance-profile/gitops-{env}-*"),
                            format!("arn:aws:iam::{ACCOUNT}:role/aws-service-role/*"),
                        ]
                        .contains(&r),
                        "{env}: IAM writes on {r}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_plan_role_views_the_helm_release_namespaces_without_secrets_and_apply_administers() {
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
    // Pull requests' code runs with the plan role: view without Secrets (no AdminView, no Admin).
    assert!(
        entries.contains("cluster-access-policy/AmazonEKSViewPolicy\""),
        "the plan role views without Secrets: {entries}"
    );
    assert!(
        !entries.contains("AmazonEKSAdminViewPolicy") && !entries.contains("AmazonEKSEditPolicy"),
        "no policy that reads Secrets: {entries}"
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
    // ...which works because Helm keeps its release records in ConfigMaps, which view may read.
    for env in ENVS {
        let root = blocks_in(&format!("terraform/envs/{env}"));
        let helm = block(&root, "provider", &["helm"]).body();
        assert_eq!(attr_text(helm, "helm_driver"), "\"configmap\"", "{env}");
    }

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

/// The `runs-on` of a job that must land on one env's runner pool.
fn runs_on_pool(runs_on: &str, env: &str, mode: &str) -> bool {
    runs_on
        == format!(
            "codebuild-gitops-{env}-ci-{mode}-${{{{ github.run_id }}}}-${{{{ github.run_attempt }}}}"
        )
}

#[test]
fn plans_and_applies_run_on_separate_just_in_time_runners_inside_the_vpc() {
    let platform = blocks_in("terraform/modules/platform-cluster");
    // The cluster admits each pool's security group on 443, and nothing CIDR-wide.
    let eks = block(&platform, "module", &["eks"]).body();
    let rules = attr_text(eks, "security_group_additional_rules");
    for part in [
        "formode,sginaws_security_group.ci_runner:",
        "from_port=443",
        "to_port=443",
        "type=\"ingress\"",
        "source_security_group_id=sg.id",
    ] {
        assert!(
            rules.contains(part),
            "cluster SG admits the runners on 443: {rules}"
        );
    }
    assert!(!rules.contains("cidr_blocks"), "no CIDR-wide rule: {rules}");

    // Two pools, each its own project, service role and security group, inside the VPC.
    let pools = hcl_to_json(&platform_locals("dev")["ci_runner_pools"]);
    assert_eq!(
        pools.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["apply", "plan"]
    );
    let project = block(
        &platform,
        "resource",
        &["aws_codebuild_project", "ci_runner"],
    )
    .body();
    assert_eq!(attr_text(project, "for_each"), "local.ci_runner_pools");
    assert_eq!(
        attr_text(project, "service_role"),
        "aws_iam_role.ci_runner[each.key].arn"
    );
    let vpc = project
        .blocks()
        .find(|b| b.identifier() == "vpc_config")
        .expect("vpc_config")
        .body();
    assert_eq!(attr_text(vpc, "vpc_id"), "module.vpc.vpc_id");
    assert_eq!(attr_text(vpc, "subnets"), "module.vpc.private_subnets");
    assert_eq!(
        attr_text(vpc, "security_group_ids"),
        "[aws_security_group.ci_runner[each.key].id]"
    );
    let env_block = project
        .blocks()
        .find(|b| b.identifier() == "environment")
        .unwrap()
        .body();
    assert_eq!(attr_text(env_block, "privileged_mode"), "false");
    for (kind, name) in [
        ("aws_iam_role", "ci_runner"),
        ("aws_security_group", "ci_runner"),
        ("aws_codebuild_webhook", "ci_runner"),
    ] {
        assert_eq!(
            attr_text(
                block(&platform, "resource", &[kind, name]).body(),
                "for_each"
            ),
            "local.ci_runner_pools",
            "{kind}"
        );
    }
    let egress = block(
        &platform,
        "resource",
        &["aws_vpc_security_group_egress_rule", "ci_runner_https"],
    )
    .body();
    assert_eq!(attr_text(egress, "from_port"), "443");
    assert_eq!(attr_text(egress, "to_port"), "443");

    // The webhook starts a runner only for a queued job of the Terraform workflows; apply for main only.
    let webhook = block(
        &platform,
        "resource",
        &["aws_codebuild_webhook", "ci_runner"],
    )
    .body();
    let filters = webhook
        .blocks()
        .find(|b| b.identifier() == "filter_group")
        .unwrap()
        .body();
    let filter_text: String = hcl::to_string(filters)
        .unwrap()
        .split_whitespace()
        .collect();
    for part in [
        "type=\"EVENT\"pattern=\"WORKFLOW_JOB_QUEUED\"",
        "type=\"WORKFLOW_NAME\"pattern=each.value.workflows",
        "type=\"HEAD_REF\"",
    ] {
        assert!(filter_text.contains(part), "webhook filter: {filter_text}");
    }
    assert_eq!(pools["plan"]["workflows"], "^(terraform|terraform-drift)$");
    assert_eq!(pools["apply"]["workflows"], "^terraform$");
    assert_eq!(pools["apply"]["head_ref"], "^refs/heads/main$");
    assert_eq!(pools["plan"]["head_ref"], Json::Null);
}

#[test]
fn the_terraform_jobs_ask_for_their_envs_pool_and_no_self_hosted_runner() {
    let job = &workflow("terraform-env")["jobs"]["terraform"];
    assert_eq!(
        text(&job["runs-on"]),
        "codebuild-gitops-${{ inputs.env }}-ci-${{ inputs.apply && 'apply' || 'plan' }}-${{ github.run_id }}-${{ github.run_attempt }}"
    );
    for env in ENVS {
        for mode in ["plan", "apply"] {
            let label = text(&job["runs-on"])
                .replace("${{ inputs.env }}", env)
                .replace("${{ inputs.apply && 'apply' || 'plan' }}", mode);
            assert!(runs_on_pool(&label, env, mode), "{label}");
            let projects = hcl_to_json(&platform_locals(env)["ci_runner_projects"]);
            assert_eq!(
                projects[mode],
                format!("gitops-{env}-ci-{mode}"),
                "{env} {mode}: the project the label names"
            );
        }
    }
    let drift = text(&workflow("terraform-drift")["jobs"]["plan"]["runs-on"]);
    assert!(
        drift.contains("format('codebuild-gitops-{0}-ci-plan-{1}-{2}', matrix.env, github.run_id, github.run_attempt)"),
        "the drift plan uses the plan pool: {drift}"
    );
    for name in ["terraform", "terraform-env", "terraform-drift"] {
        let raw = read_text(&format!(".github/workflows/{name}.yml"));
        assert!(
            !raw.contains("self-hosted"),
            "{name}.yml still names a self-hosted runner"
        );
    }
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
    // The static job installs checkov and cloudsplaining from these pins and runs this script:
    // a change to any of them is checked here before it reaches main.
    let text_of_workflow = read_text(".github/workflows/terraform.yml");
    for read in [
        "tools/requirements.txt",
        "tools/constraints.txt",
        "scripts/check-terraform.sh",
    ] {
        assert!(
            text_of_workflow.contains(read),
            "terraform.yml reads {read}"
        );
        assert!(
            prs.contains(&read.to_owned()),
            "a change to {read} runs terraform.yml"
        );
    }
    assert!(
        prs.contains(&"scripts/check-iam.py".to_owned()),
        "check-terraform.sh runs it"
    );
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
        // The environment each job runs in is the one its role trusts (above).
        let (plan_environment, apply_environment) = if env == "prod" {
            ("terraform-prod-plan", "terraform-prod")
        } else {
            ("", "terraform-dev")
        };
        let runs_in = |job: &Value| job["with"].get("environment").map(text).unwrap_or_default();
        assert_eq!(runs_in(plan), plan_environment, "plan {env}");
        assert_eq!(runs_in(apply), apply_environment, "apply {env}");
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
        "${{ inputs.environment }}",
        "each job runs in the environment its caller names, the only one its role trusts"
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

#[test]
fn every_job_in_an_environment_first_checks_it_with_the_one_settings_script() {
    // How the environments are protected is .github/github-settings.json's business
    // (tests/contract/github_settings.rs); here: an apply, or prod's plan, runs only after the one
    // script found the environment whose tokens its role trusts still protected as that file says.
    let wf = workflow("terraform-env");
    let guard = &wf["jobs"]["protection"];
    assert_eq!(text(&guard["if"]), "inputs.environment != ''");
    assert_eq!(
        text(&guard["runs-on"]),
        "ubuntu-24.04",
        "not on the runner it protects"
    );
    assert_eq!(
        guard["permissions"],
        serde_yaml_ng::from_str::<Value>("{contents: read, actions: read}").unwrap(),
        "reading the environment needs Actions: read, and nothing more"
    );
    let check = guard["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| {
            s["run"].as_str().is_some_and(|r| {
                r.contains("scripts/github-settings.sh check --environment \"$ENVIRONMENT\"")
            })
        })
        .expect("a step runs scripts/github-settings.sh check --environment");
    assert_eq!(
        text(&check["env"]["ENVIRONMENT"]),
        "${{ inputs.environment }}"
    );
    let job = &wf["jobs"]["terraform"];
    assert_eq!(text(&job["needs"]), "protection");
    // The whole expression: a gate that merely contains both conditions could still run after a
    // failed check (`always() || ...`). The protection job runs for every job in an environment;
    // only dev's plan, in none, finds it skipped, and an apply in none never runs.
    assert_eq!(
        text(&job["if"]),
        "${{ !cancelled() && (needs.protection.result == 'success' || (inputs.environment == '' && !inputs.apply && needs.protection.result == 'skipped')) }}",
        "no job in an environment runs without the check"
    );
    assert_eq!(
        text(&job["environment"]),
        "${{ inputs.environment }}",
        "the environment checked is the one the job runs in"
    );
}

/// A prod apply follows its approval with no pause, so the approver cannot have read that exact
/// plan: one that deletes or replaces anything stops before the apply and names the list by a
/// digest; a run started by hand with that digest applies exactly that list. The guard step is run
/// as it is, against a stand-in `terraform` that shows a sample plan.
#[test]
fn a_prod_apply_deletes_or_replaces_only_the_list_its_digest_names() {
    let env = workflow("terraform-env");
    let input = &env["on"]["workflow_call"]["inputs"]["allow-destroy"];
    assert_eq!(text(&input["default"]), "");
    let steps = env["jobs"]["terraform"]["steps"].as_sequence().unwrap();
    let at = |pred: &dyn Fn(&Value) -> bool| steps.iter().position(pred);
    let plan = at(&|s| text(&s["run"]).contains("-out=tfplan")).expect("the plan step");
    let apply = at(&|s| text(&s["run"]).contains("apply -no-color tfplan")).expect("the apply");
    let guard = at(&|s| text(&s["run"]).contains("show -json tfplan")).expect("the guard step");
    assert!(
        plan < guard && guard < apply,
        "planned, judged, then applied"
    );
    assert_eq!(
        text(&steps[guard]["if"]),
        "inputs.apply && inputs.allow-destroy != '*'"
    );
    assert_eq!(
        text(&steps[guard]["env"]["ALLOW_DESTROY"]),
        "${{ inputs.allow-destroy }}"
    );
    let run = text(&steps[guard]["run"]);

    // The stand-in `terraform show -json` prints the sample plan; the step writes its own copy to
    // $RUNNER_TEMP/plan.json, so the sample has another name.
    let tools = crate::pipeline::FakeTools::new("destroy-guard");
    let sample = tools.path().join("sample-plan.json");
    tools.tool("terraform", &format!("cat '{}'", sample.display()));
    let path = format!(
        "{}:{}",
        tools.path().display(),
        std::env::var("PATH").unwrap()
    );
    let summary = tools.path().join("summary.md");
    let guard_with = |changes: &str, allow: &str| {
        std::fs::write(&sample, format!(r#"{{"resource_changes": [{changes}]}}"#)).unwrap();
        let _ = std::fs::remove_file(&summary);
        // As GitHub runs a `run:` block: bash -eo pipefail.
        let out = std::process::Command::new("bash")
            .args(["-eo", "pipefail", "-c", &run])
            .env("PATH", &path)
            .env("ENV_DIR", "terraform/envs/prod")
            .env("RUNNER_TEMP", tools.path())
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("ALLOW_DESTROY", allow)
            .output()
            .unwrap();
        let page = std::fs::read_to_string(&summary).unwrap_or_default();
        (out.status.success(), page)
    };
    let change = |address: &str, actions: &str| {
        format!(r#"{{"address": "{address}", "change": {{"actions": {actions}}}}}"#)
    };
    let harmless = [
        change("aws_eks_cluster.this", r#"["update"]"#),
        change("aws_s3_bucket.new", r#"["create"]"#),
    ]
    .join(",");
    let doomed = format!(
        "{harmless},{},{}",
        change("aws_db_instance.this", r#"["delete", "create"]"#),
        change("aws_security_group.old", r#"["delete"]"#)
    );
    assert!(guard_with(&harmless, "").0, "updates and creates apply");
    let (applied, page) = guard_with(&doomed, "");
    assert!(!applied, "a deletion stops the apply");
    assert!(
        page.contains("delete+create aws_db_instance.this"),
        "{page}"
    );
    assert!(page.contains("delete aws_security_group.old"), "{page}");
    assert!(!page.contains("aws_eks_cluster"), "{page}");
    let digest = page
        .split("allow-destroy: ")
        .nth(1)
        .map(str::trim)
        .expect("the digest on the run's page")
        .to_owned();
    assert!(guard_with(&doomed, &digest).0, "exactly the list it names");
    let grown = format!("{doomed},{}", change("aws_iam_role.x", r#"["delete"]"#));
    assert!(
        !guard_with(&grown, &digest).0,
        "a plan that changed since stops again"
    );

    let terraform = workflow("terraform");
    let dispatch = &terraform["on"]["workflow_dispatch"]["inputs"]["allow-destroy"];
    assert_eq!(text(&dispatch["default"]), "");
    assert_eq!(
        text(&terraform["jobs"]["apply-prod"]["with"]["allow-destroy"]),
        "${{ github.event_name == 'workflow_dispatch' && inputs.allow-destroy != '*' && inputs.allow-destroy || '' }}",
        "prod: only a run started by hand, and never with dev's `*`"
    );
}
