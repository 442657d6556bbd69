//! The delivery record and its measurements must agree: Argo CD Notifications (terraform/) writes
//! the GitHub Deployments that delivery-metrics reads, for the Applications k8s/argocd defines; the
//! dev bump merges itself and prod never does; the drift job only reads; and the lead-time budget
//! in .github/README.md is the one the workflows and manifests set.

use std::collections::BTreeSet;

use delivery_metrics::{REVERT_PREFIX, ROLLBACK_PREFIX};
use integration_tests::{kustomize, of_kind, read_text, read_yaml};
use serde_json::Value as Json;
use serde_yaml_ng::Value;

use crate::terraform::{helm_release, local_str, platform_locals};
use crate::workflows::{jobs, lines, run_scripts, step_using, steps, workflow};

use integration_tests::facts::ENVS;

/// The Argo CD config map entry `key` (a YAML string in the chart values) parsed.
fn notifications_entry(values: &Json, section: &str, key: &str) -> Value {
    let text = values["notifications"][section][key]
        .as_str()
        .unwrap_or_else(|| panic!("notifications.{section}.\"{key}\" is set"));
    serde_yaml_ng::from_str(text).unwrap()
}

/// The Applications each cluster's root app deploys (not the root apps themselves).
fn applications(env: &str) -> BTreeSet<String> {
    let docs = kustomize(&format!("k8s/argocd/{env}"));
    of_kind(&docs, "Application")
        .filter_map(|a| a["metadata"]["name"].as_str())
        .filter(|name| !name.starts_with("root-"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_sync_is_recorded_as_a_github_deployment_of_the_application() {
    for env in ENVS {
        let (_, values) = helm_release(env, "argocd");
        assert_eq!(values["notifications"]["enabled"], true);
        let service = notifications_entry(&values, "notifiers", "service.github");
        for (field, key) in [
            ("appID", "$github-appID"),
            ("installationID", "$github-installationID"),
            ("privateKey", "$github-privateKey"),
        ] {
            assert_eq!(
                service[field].as_str(),
                Some(key),
                "{env}: {field} comes from the Secret"
            );
        }

        let triggers = notifications_entry(&values, "triggers", "trigger.on-deployment-record");
        let conditions = triggers.as_sequence().expect("a list of conditions");
        let sent: BTreeSet<&str> = conditions
            .iter()
            .flat_map(|c| {
                c["send"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .filter_map(Value::as_str)
            })
            .collect();
        assert_eq!(
            sent,
            BTreeSet::from(["deployment-record-failure", "deployment-record-success"])
        );
        let phases = |template: &str| -> String {
            conditions
                .iter()
                .filter(|c| c["send"][0].as_str() == Some(template))
                .map(|c| c["when"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
                .join(" | ")
        };
        assert!(phases("deployment-record-success").contains("'Healthy'"));
        let failures = phases("deployment-record-failure");
        for case in ["'Failed'", "'Error'", "'Degraded'"] {
            assert!(
                failures.contains(case),
                "{env}: a {case} sync is recorded as a failure"
            );
        }

        for (template, state) in [
            ("template.deployment-record-success", "success"),
            ("template.deployment-record-failure", "failure"),
        ] {
            let t = notifications_entry(&values, "templates", template);
            let deployment = &t["github"]["deployment"];
            assert_eq!(deployment["state"].as_str(), Some(state));
            // delivery-metrics groups by environment: one per Application.
            assert_eq!(
                deployment["environment"].as_str(),
                Some("{{.app.metadata.name}}")
            );
            // A rollback deploys an older commit; GitHub's auto_merge would refuse it.
            assert_eq!(deployment["autoMerge"].as_bool(), Some(false));
            assert_eq!(
                deployment["requiredContexts"].as_sequence().map(Vec::len),
                Some(0)
            );
        }

        let subscriptions = values["notifications"]["subscriptions"]
            .as_array()
            .expect("global subscriptions");
        assert!(
            subscriptions
                .iter()
                .any(|s| s["recipients"] == serde_json::json!(["github"])
                    && s["triggers"] == serde_json::json!(["on-deployment-record"])
                    && s.get("selector").is_none()),
            "{env}: every Application is subscribed, with no annotation to forget"
        );
    }
}

#[test]
fn rollbacks_are_marked_the_way_delivery_metrics_reads_them() {
    let (_, values) = helm_release("dev", "argocd");
    let success = notifications_entry(&values, "templates", "template.deployment-record-success");
    let message = success["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("\n{ROLLBACK_PREFIX}: ")),
        "the success message starts with {ROLLBACK_PREFIX:?} for a rollback:\n{message}"
    );
    // The Go template's string literal for git revert's subject, quote escaped.
    let go_literal = format!("\"{}\"", REVERT_PREFIX.replace('"', "\\\""));
    assert!(
        message.contains(&format!("hasPrefix {go_literal}")),
        "the template recognises a revert the way delivery-metrics does: {go_literal}"
    );
}

#[test]
fn the_github_app_reaches_argo_cd_only_through_external_secrets() {
    for env in ENVS {
        let platform = platform_locals(env);
        let secret = local_str(&platform, "deployment_records_secret_name");
        assert_eq!(secret, format!("gitops/argocd-notifications/{env}"));

        let (_, values) = helm_release(env, "argocd");
        let secret_name = values["notifications"]["secret"]["name"].as_str().unwrap();
        assert_eq!(values["notifications"]["secret"]["create"], false);
        let objects = values["extraObjects"].as_array().expect("extraObjects");
        let external = objects
            .iter()
            .find(|o| o["kind"] == "ExternalSecret")
            .expect("an ExternalSecret writes the notifications Secret");
        assert_eq!(external["metadata"]["namespace"], "argocd");
        assert_eq!(
            external["spec"]["target"]["name"].as_str(),
            Some(secret_name)
        );
        let keys: BTreeSet<(&str, &str)> = external["spec"]["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                assert_eq!(d["remoteRef"]["key"].as_str(), Some(secret.as_str()));
                (
                    d["secretKey"].as_str().unwrap(),
                    d["remoteRef"]["property"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            keys,
            BTreeSet::from([
                ("github-appID", "appID"),
                ("github-installationID", "installationID"),
                ("github-privateKey", "privateKey"),
            ])
        );
        let store = &external["spec"]["secretStoreRef"];
        assert!(
            objects.iter().any(|o| o["kind"] == store["kind"]
                && o["metadata"]["name"] == store["name"]
                && o["metadata"]["namespace"] == "argocd"),
            "{env}: the store is namespaced to argocd, not a cluster-wide door"
        );

        // Encrypted with the key whose policy lets ESO decrypt exactly its secrets (secret.tf).
        let terraform = read_text("terraform/modules/platform-cluster/deployment-records.tf");
        assert!(terraform.contains("kms_key_id              = aws_kms_key.api_secret.arn"));
        let key_policy = read_text("terraform/modules/platform-cluster/secret.tf");
        assert!(
            key_policy.contains("local.deployment_records_secret_arn_pattern]"),
            "the key policy's SecretARN condition names the deployment records secret"
        );

        // ESO's role may read that one secret, nothing near it.
        let policy: Json =
            serde_json::from_str(&local_str(&platform, "deployment_records_secret_policy"))
                .unwrap();
        let statements = policy["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 1);
        assert_eq!(
            statements[0]["Resource"].as_str(),
            Some(
                format!(
                    "arn:aws:secretsmanager:eu-west-1:{}:secret:{secret}-??????",
                    crate::terraform::ACCOUNT
                )
                .as_str()
            )
        );
        crate::terraform::assert_reads_secrets_only(&statements[0], "deployment records");
    }
}

#[test]
fn the_metrics_workflow_measures_every_argo_cd_application() {
    let wf = workflow("delivery-metrics");
    let listed: BTreeSet<String> = wf["env"]["ENVIRONMENTS"]
        .as_str()
        .expect("ENVIRONMENTS names the GitHub environments")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let defined: BTreeSet<String> = ENVS.iter().flat_map(|env| applications(env)).collect();
    assert_eq!(
        listed, defined,
        "one GitHub environment per Argo CD Application"
    );

    let job = &wf["jobs"]["metrics"];
    let permissions = job["permissions"].as_mapping().unwrap();
    assert_eq!(permissions.len(), 2, "read-only: {permissions:?}");
    assert_eq!(job["permissions"]["deployments"].as_str(), Some("read"));
    assert_eq!(job["permissions"]["contents"].as_str(), Some("read"));
    let script = run_scripts(job);
    for needle in [
        "repos/${REPO}/deployments?environment=",
        "/statuses?per_page=100",
        "repos/${REPO}/commits?sha=",
        "-p delivery-metrics",
        "$GITHUB_STEP_SUMMARY",
    ] {
        assert!(script.contains(needle), "the workflow runs {needle}");
    }
    assert!(
        wf["on"]["schedule"]
            .as_sequence()
            .is_some_and(|s| !s.is_empty())
    );
}

#[test]
fn the_dev_bump_merges_itself_and_prod_promotion_never_does() {
    let release = workflow("release");
    let bump = &release["jobs"]["bump-dev"];
    let pr = step_using(bump, "peter-evans/create-pull-request@");
    let merge = steps(bump)
        .into_iter()
        .find(|s| s["run"].as_str().is_some_and(|r| r.contains("gh pr merge")))
        .expect("bump-dev enables auto-merge");
    let command = merge["run"].as_str().unwrap();
    for flag in ["--auto", "--squash", "--match-head-commit \"$HEAD_SHA\""] {
        assert!(command.contains(flag), "gh pr merge {flag}");
    }
    let id = pr["id"].as_str().expect("the PR step has an id");
    assert_eq!(
        merge["env"]["HEAD_SHA"].as_str(),
        Some(format!("${{{{ steps.{id}.outputs.pull-request-head-sha }}}}").as_str()),
        "auto-merge is pinned to the commit the job pushed"
    );

    let promote = workflow("promote");
    for (id, job) in jobs(&promote) {
        let script = run_scripts(job);
        assert!(
            !script.contains("gh pr merge") && !script.contains("--auto"),
            "promote.yml {id} must leave the merge to people"
        );
    }
}

#[test]
fn images_compile_while_the_tests_run_into_the_cache_build_pushes_from() {
    let release = workflow("release");
    let build = &release["jobs"]["build"];
    let warm = &release["jobs"]["warm-cache"];
    let needs: BTreeSet<&str> = build["needs"]
        .as_sequence()
        .expect("build needs a list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(needs, BTreeSet::from(["test", "warm-cache"]));
    assert!(
        warm.get("needs").is_none(),
        "warm-cache starts with the tests"
    );
    assert_eq!(warm["strategy"]["matrix"], build["strategy"]["matrix"]);

    let pushed = &step_using(build, "docker/build-push-action@")["with"];
    let cached = &step_using(warm, "docker/build-push-action@")["with"];
    assert_eq!(
        cached["push"].as_bool(),
        Some(false),
        "nothing untested is pushed"
    );
    for key in ["context", "file", "platforms", "cache-from"] {
        assert_eq!(
            cached[key], pushed[key],
            "warm-cache and build differ in {key}"
        );
    }
    // Any difference in build args misses the cache.
    assert_eq!(lines(&cached["build-args"]), lines(&pushed["build-args"]));
    assert!(
        cached["cache-to"]
            .as_str()
            .is_some_and(|c| c.contains("mode=max")
                && c.contains(
                    pushed["cache-from"]
                        .as_str()
                        .unwrap()
                        .trim_start_matches("type=gha,")
                )),
        "warm-cache writes the scope build reads"
    );
}

#[test]
fn drift_detection_plans_read_only_and_reports_in_one_issue() {
    let drift = workflow("terraform-drift");
    let plan = &drift["jobs"]["plan"];
    let script = run_scripts(plan);
    assert!(script.contains("plan -lock=false -no-color -detailed-exitcode"));
    let all = read_text(".github/workflows/terraform-drift.yml");
    assert!(
        !all.contains("terraform apply")
            && !all.contains("-auto-approve")
            && !all.contains(" apply "),
        "the drift workflow never applies"
    );

    // The same read-only roles, inputs and in-VPC runners as terraform.yml's plans.
    let include = drift["jobs"]["plan"]["strategy"]["matrix"]["include"]
        .as_sequence()
        .unwrap();
    let terraform = workflow("terraform");
    for env in ["dev", "prod"] {
        let row = include
            .iter()
            .find(|i| i["env"].as_str() == Some(env))
            .unwrap_or_else(|| panic!("the drift matrix covers {env}"));
        let with = &terraform["jobs"][format!("plan-{env}")]["with"];
        for (key, input) in [
            ("role", "role-arn"),
            ("admin-role-arns", "admin-role-arns"),
            ("public-access-cidrs", "public-access-cidrs"),
        ] {
            assert_eq!(
                row[key], with[input],
                "{env}: drift's {key} is the plan's {input}"
            );
        }
    }
    // The same just-in-time plan pool inside the env's VPC as terraform-env.yml's plans
    // (tests/contract/apply.rs holds both to the CodeBuild projects).
    let runs_on = drift["jobs"]["plan"]["runs-on"].as_str().unwrap();
    assert!(
        runs_on.contains("'codebuild-gitops-{0}-ci-plan-{1}-{2}', matrix.env, github.run_id"),
        "drift plans on the env's plan pool: {runs_on}"
    );

    let permissions = |job: &str| -> BTreeSet<String> {
        drift["jobs"][job]["permissions"]
            .as_mapping()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{}: {}", k.as_str().unwrap(), v.as_str().unwrap()))
            .collect()
    };
    assert_eq!(
        permissions("plan"),
        BTreeSet::from(["contents: read".to_owned(), "id-token: write".to_owned()])
    );
    assert_eq!(
        permissions("report"),
        BTreeSet::from(["issues: write".to_owned()])
    );

    let report = run_scripts(&drift["jobs"]["report"]);
    assert!(report.contains(r#"gh issue list --label "$LABEL" --state open"#));
    assert!(report.contains("gh issue edit") && report.contains("gh issue create"));
    assert_eq!(
        drift["jobs"]["report"]["env"]["LABEL"].as_str(),
        Some("terraform-drift")
    );
}

// ---------------------------------------------------------------------------------------------
// The lead-time budget in .github/README.md
// ---------------------------------------------------------------------------------------------

/// The budget row whose first cell is `term`.
fn budget_row(term: &str) -> String {
    read_text(".github/README.md")
        .lines()
        .find(|l| l.starts_with(&format!("| {term} |")))
        .unwrap_or_else(|| panic!(".github/README.md has a budget row for {term}"))
        .to_owned()
}

fn timeout(wf: &str, job: &str) -> u64 {
    workflow(wf)["jobs"][job]["timeout-minutes"]
        .as_u64()
        .unwrap_or_else(|| panic!("{wf}.yml {job} has a timeout"))
}

#[test]
fn the_lead_time_budget_is_the_one_the_workflows_set() {
    let check = |term: &str, expected: String| {
        let row = budget_row(term);
        assert!(
            row.contains(&expected),
            "{term}: expected {expected:?} in\n{row}"
        );
    };
    check(
        "Tests",
        format!("at most **{} min**", timeout("ci", "test")),
    );
    let build = timeout("release", "build").max(timeout("release", "warm-cache"));
    check("Build, push, sign", format!("at most **{build} min**"));
    check(
        "Bump PR",
        format!("at most **{} min**", timeout("release", "bump-dev")),
    );
    check(
        "Bump checks",
        format!("at most **{} min**", timeout("ci", "test")),
    );
    assert!(
        workflow("ci")["on"].get("pull_request").is_some(),
        "the bump PR's checks are ci.yml's pull_request run"
    );
}

#[test]
fn the_sync_and_rollout_budget_is_the_one_the_manifests_set() {
    // The same arithmetic as the restore budget (restore_budget.rs), so the two tables agree.
    let (_, values) = helm_release("dev", "argocd");
    let row = budget_row("Argo CD sync");
    let poll = crate::restore_budget::poll_s(&values);
    assert!(row.contains(&format!("at most **{poll} s**")), "{row}");

    let rollout = ["api-app", "demo-app"]
        .iter()
        .map(|app| crate::restore_budget::rollout_s("dev", app))
        .max()
        .unwrap();
    let row = budget_row("Rollout");
    assert!(row.contains(&format!("about **{rollout} s**")), "{row}");
}

#[test]
fn the_readme_outcomes_table_names_where_each_number_is_read() {
    let readme = read_text("README.md");
    let table: Vec<&str> = readme
        .lines()
        .skip_while(|l| !l.starts_with("## Outcomes"))
        .filter(|l| l.starts_with("| "))
        .collect();
    for (outcome, source) in [
        ("Deployments several times a day", "delivery-metrics"),
        ("Lead time", "delivery-metrics"),
        ("Change failure rate", "delivery-metrics"),
        ("Restore", "delivery-metrics"),
        ("Infrastructure drift", "terraform-drift"),
    ] {
        let row = table
            .iter()
            .find(|l| l.contains(outcome))
            .unwrap_or_else(|| panic!("README's outcomes table has a row for {outcome}"));
        assert!(
            row.contains(source),
            "{outcome} is read from {source}: {row}"
        );
    }
    for workflow_file in ["delivery-metrics.yml", "terraform-drift.yml"] {
        assert!(
            read_yaml(&format!(".github/workflows/{workflow_file}")).len() == 1,
            "{workflow_file} exists"
        );
    }
}
