//! The delivery record and its measurements must agree: Argo CD Notifications (terraform/) writes
//! the GitHub Deployments that delivery-metrics reads, for the Applications k8s/argocd defines; the
//! dev bump merges itself and prod never does; the drift job only reads; and the lead-time budget
//! in .github/README.md is the one the workflows and manifests set.

mod expr;
mod notifications;
pub(crate) mod scripts;

use std::collections::BTreeSet;

use delivery_metrics::records::{Commit, parse_pages};
use delivery_metrics::{EnvironmentMetrics, Records, Window, compute};
use integration_tests::{kustomize, of_kind, read_text, read_yaml};
use serde_json::Value as Json;
use serde_yaml_ng::Value;
use time::format_description::well_known::Rfc3339;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::workflows::{jobs, lines, run_scripts, step_using, steps, workflow};
use integration_tests::terraform::{helm_release, local_str, platform_locals};

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

/// A commit message a workflow writes, its `${{ … }}` expressions replaced by sample values.
fn written_by(message: &str, values: &[(&str, &str)]) -> delivery_metrics::records::Commit {
    let mut text = message.to_owned();
    for (expression, value) in values {
        text = text.replace(&format!("${{{{ {expression} }}}}"), value);
    }
    assert!(
        !text.contains("${{"),
        "an expression without a sample value: {text}"
    );
    serde_json::from_value(serde_json::json!({
        "sha": "f".repeat(40),
        // GitHub's squash merge keeps a one-commit PR's message and appends the PR number.
        "commit": {"message": text.replacen('\n', " (#7)\n", 1), "committer": {"date": "2026-11-23T10:00:00Z"}},
    }))
    .unwrap()
}

fn commit_message<'a>(wf: &'a Value, job: &str) -> &'a str {
    step_using(&wf["jobs"][job], "peter-evans/create-pull-request@")["with"]["commit-message"]
        .as_str()
        .unwrap_or_else(|| panic!("{job} writes a commit message"))
}

#[test]
fn delivery_metrics_reads_the_commits_the_workflows_write() {
    let (source, deploy) = ("a".repeat(40), "b".repeat(40));
    // rollback.yml: a rollback of dev names the deploy commit it reverts; not a change.
    let rollback = written_by(
        commit_message(&workflow("rollback"), "rollback"),
        &[
            ("inputs.environment", "dev"),
            (
                "steps.revert.outputs.subject",
                "deploy(dev): api-app and demo-app 1.0.7 (#6)",
            ),
            ("steps.revert.outputs.commit", &deploy),
        ],
    );
    assert!(rollback.rolls_back("dev") && !rollback.rolls_back("prod"));
    assert_eq!(rollback.reverts(), Some(deploy.as_str()));
    assert!(!rollback.is_change() && rollback.deploys_to().is_none());

    // release.yml's bump names the commit its images were built from.
    let bump = written_by(
        commit_message(&workflow("release"), "bump-dev"),
        &[("env.IMAGE_VERSION", "1.0.7"), ("github.sha", &source)],
    );
    assert_eq!(bump.deploys_to(), Some("dev"));
    assert_eq!(bump.image_source(), Some(source.as_str()));
    assert!(!bump.is_change());

    // promote.yml's promotion pins prod; its images are what dev ran (history::PROMOTED_FROM).
    let promote = written_by(
        commit_message(&workflow("promote"), "promote"),
        &[(
            "steps.promote.outputs.summary",
            "api-app@sha256:0123 demo-app@sha256:4567",
        )],
    );
    assert_eq!(promote.deploys_to(), Some("prod"));
    assert!(!promote.is_change());
    let commits = [promote, bump, written_by("api: a change\n", &[])];
    let mut commits = commits.to_vec();
    commits[1].sha.clone_from(&"b".repeat(40));
    commits[2].sha.clone_from(&source);
    assert_eq!(
        delivery_metrics::history::image_sources(&commits, "api-app", "prod")[0],
        Some(2),
        "prod runs the source dev's bump named"
    );
}

// ---------------------------------------------------------------------------------------------
// From Argo CD's Application states, through the notification triggers and templates, to the numbers
// ---------------------------------------------------------------------------------------------

/// A commit name of the timeline as a SHA: `a1` → `a1a1…` (40 hex digits).
fn sha(name: &str) -> String {
    name.repeat(40 / name.len())
}

/// The timeline's commit names replaced by SHAs: a string that is a name, and `{name}` in a message.
fn with_shas(value: &mut Json, names: &[String]) {
    match value {
        Json::String(s) => {
            if names.contains(s) {
                *s = sha(s);
            } else {
                for name in names {
                    *s = s.replace(&format!("{{{name}}}"), &sha(name));
                }
            }
        }
        Json::Array(items) => items.iter_mut().for_each(|i| with_shas(i, names)),
        Json::Object(fields) => fields.values_mut().for_each(|v| with_shas(v, names)),
        _ => {}
    }
}

/// The records Argo CD Notifications, configured by `values`, writes for tests/contract/delivery/
/// timeline.yaml, with main's commits as fetch-records.sh saves them.
fn records_written(values: &Json) -> Records {
    let yaml: Value =
        serde_yaml_ng::from_str(&read_text("tests/contract/delivery/timeline.yaml")).unwrap();
    let mut timeline = serde_json::to_value(yaml).unwrap();
    let names: Vec<String> = timeline["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    with_shas(&mut timeline, &names);

    let mut states: Vec<(OffsetDateTime, Json)> = Vec::new();
    for (name, snapshots) in timeline["applications"].as_object().unwrap() {
        for snapshot in snapshots.as_array().unwrap() {
            let at = snapshot["at"].as_str().unwrap();
            let mut app_status = snapshot.clone();
            app_status.as_object_mut().unwrap().remove("at");
            let app = serde_json::json!({
                "metadata": {"name": name, "namespace": "argocd"},
                "spec": {"source": {"repoURL": integration_tests::facts::REPO_URL, "targetRevision": "main"}},
                "status": app_status,
            });
            states.push((OffsetDateTime::parse(at, &Rfc3339).unwrap(), app));
        }
    }
    states.sort_by_key(|(at, _)| *at);
    let mut argocd = notifications::Notifications::from_values(values, "on-deployment-record");
    for (at, app) in &states {
        argocd.observe(app, *at);
    }

    let commits: Vec<Commit> = timeline["commits"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|c| {
            serde_json::from_value(serde_json::json!({
                "sha": c["name"], "files": c["files"].as_array().unwrap().iter()
                    .map(|f| serde_json::json!({"filename": f})).collect::<Vec<_>>(),
                "commit": {"message": c["message"], "committer": {"date": c["at"]}},
            }))
            .unwrap()
        })
        .collect();
    Records {
        deployments: parse_pages(&Json::Array(argocd.deployments).to_string()).unwrap(),
        statuses: parse_pages(&Json::Array(argocd.statuses).to_string()).unwrap(),
        commits,
    }
}

fn minutes(m: i64) -> Duration {
    Duration::minutes(m)
}

#[test]
fn argo_cd_records_this_platforms_failures_rollbacks_and_recoveries_and_they_measure_exactly() {
    for env in ENVS {
        let (_, values) = helm_release(env, "argocd");
        let records = records_written(&values);

        // What Argo CD writes: one line per deployment status, the deployment's commit by name.
        let name_of = |sha: &str| sha[..2].to_owned();
        let mut written: Vec<String> = records
            .statuses
            .iter()
            .map(|s| {
                let d = records
                    .deployments
                    .iter()
                    .find(|d| Some(d.id) == s.deployment_id())
                    .unwrap();
                let at = s.created_at.format(&Rfc3339).unwrap();
                format!("{} {} {:?} {at}", d.environment, name_of(&d.sha), s.state)
            })
            .collect();
        written.sort();
        assert_eq!(
            written,
            [
                // dev: a success only once the new pods are Healthy, never on the stale Healthy at
                // the sync's end; b2 goes Degraded; the stale Degraded when rollback.yml's e1
                // finishes syncing is not charged to it; b3's sync fails; f1 goes Degraded hours
                // after its rollout and recovers by itself (the success at 12:52).
                "api-app-dev b0 Success 2026-11-20T08:18:00Z",
                "api-app-dev b1 Success 2026-11-23T09:24:00Z",
                "api-app-dev b2 Failure 2026-11-23T10:32:00Z",
                "api-app-dev b3 Failure 2026-11-23T11:52:00Z",
                "api-app-dev e1 Success 2026-11-23T10:44:00Z",
                "api-app-dev f1 Failure 2026-11-23T12:40:00Z",
                "api-app-dev f1 Success 2026-11-23T12:14:00Z",
                "api-app-dev f1 Success 2026-11-23T12:52:00Z",
                // prod: the history rollback to c0, which was recorded before, is recorded again;
                // the failed sync of c1 (no sync result) is charged to c1 once, not to d1 and f2
                // as they land on main.
                "api-app-prod c0 Success 2026-11-20T09:13:00Z",
                "api-app-prod c0 Success 2026-11-23T13:53:00Z",
                "api-app-prod c1 Failure 2026-11-23T13:45:00Z",
                "api-app-prod c1 Failure 2026-11-23T14:31:00Z",
                "api-app-prod c1 Success 2026-11-23T13:34:00Z",
                "api-app-prod f2 Success 2026-11-23T15:04:00Z",
                // monitoring: nothing rolls out, so success is the health unchanged 2 minutes on.
                "monitoring-dev b0 Success 2026-11-20T08:18:00Z",
                "monitoring-dev f3 Success 2026-11-23T16:04:10Z",
            ],
            "{env}"
        );
        // The history rollback re-used c0's deployment, as GitHub's service does.
        assert_eq!(records.deployments.len(), 11, "{env}");

        let week = Window::new(
            datetime!(2026-11-22 0:00 UTC),
            datetime!(2026-11-29 0:00 UTC),
        )
        .unwrap();
        let names = ["api-app-dev", "api-app-prod", "monitoring-dev"].map(str::to_owned);
        let [dev, prod, monitoring] = <[_; 3]>::try_from(compute(&records, &week, &names)).unwrap();
        assert_eq!(
            dev,
            EnvironmentMetrics {
                environment: "api-app-dev".into(),
                // b1, rollback.yml's e1 and f1.
                deployments: 3,
                // a1 24 min (b1 went out at 09:24); a2 134 and a3 44 min, both carried by f1's
                // rollout at 12:14 (b3's image, whose sync failed, and b2's, rolled back); f1 itself
                // 4 min. The bots' b*/e1 commits are not changes.
                lead_time: Some(minutes(34)),
                changes: 4,
                // b2 (Degraded, rolled back), b3 (sync failed), f1 (Degraded later) of five.
                attempted: 5,
                failed: 3,
                // 10:32 → 10:44 (the rollback), 11:52 → 12:14, 12:40 → 12:52 (the recovery).
                time_to_restore: Some(minutes(12)),
                incidents: 3,
                unrestored: 0,
            },
            "{env}"
        );
        assert_eq!(dev.change_failure_rate(), Some(0.6));
        assert_eq!(
            prod,
            EnvironmentMetrics {
                environment: "api-app-prod".into(),
                // c1, the rollback to c0, f2.
                deployments: 3,
                // The promotion c1 carries dev's image built from a3 (a1 274, a2 214, a3 124 min)
                // and f1's component change (84 min); f2 itself 14 min. d1 (docs) is no change.
                lead_time: Some(minutes(124)),
                changes: 5,
                // c1 (replaced by the rollback) and c1 again (sync failed) of c1, c0, c1, f2.
                attempted: 4,
                failed: 2,
                // 13:34 (the bad version live) → 13:53, and 14:31 → 15:04.
                time_to_restore: Some(minutes(26)),
                incidents: 2,
                unrestored: 0,
            },
            "{env}"
        );
        assert_eq!(
            monitoring,
            EnvironmentMetrics {
                environment: "monitoring-dev".into(),
                deployments: 1,
                // f3 only: no other commit touches what monitoring-dev deploys.
                lead_time: Some(Duration::seconds(4 * 60 + 10)),
                changes: 1,
                attempted: 1,
                failed: 0,
                time_to_restore: None,
                incidents: 0,
                unrestored: 0,
            },
            "{env}"
        );
    }
}

#[test]
fn lead_time_knows_everything_each_application_deploys() {
    use delivery_metrics::applications::{self, APPLICATIONS};
    let mut listed: BTreeSet<&str> = APPLICATIONS
        .iter()
        .flat_map(|a| a.renders)
        .copied()
        .collect();
    let workspace = read_text("Cargo.toml");
    let context = read_text(".dockerignore");
    for env in ENVS {
        let docs = kustomize(&format!("k8s/argocd/{env}"));
        for application in of_kind(&docs, "Application") {
            let name = application["metadata"]["name"].as_str().unwrap();
            if name.starts_with("root-") {
                continue;
            }
            let (app, app_env) = applications::find(name)
                .unwrap_or_else(|| panic!("delivery-metrics' APPLICATIONS has no row for {name}"));
            assert_eq!(app_env, env);
            let overlay = format!("k8s/overlays/{env}/{}", app.app);
            assert_eq!(
                application["spec"]["source"]["path"].as_str(),
                Some(overlay.as_str()),
                "{name} deploys the overlay lead time assumes"
            );
            // The folders its kustomization pulls in, besides the overlay's own (and the folders in
            // it, such as dev's settings/: `touches` counts the overlay's whole folder).
            let inputs: BTreeSet<String> = integration_tests::k8s::kustomize_inputs(&overlay)
                .iter()
                .filter_map(|file| file.strip_suffix("kustomization.yaml"))
                .filter(|folder| !folder.starts_with(&format!("{overlay}/")))
                .map(str::to_owned)
                .collect();
            for input in &inputs {
                assert!(
                    app.renders.contains(&input.as_str()),
                    "{name} renders {input}: add it to its renders in delivery-metrics/src/applications.rs"
                );
                listed.remove(input.as_str());
            }

            // An app whose overlay pins an image: the image is built from its crate, the crates
            // it depends on, the workspace files and the Dockerfile, all in the build context.
            let pins_image = read_yaml(&format!("{overlay}/kustomization.yaml"))[0]["images"]
                .as_sequence()
                .is_some_and(|images| images.iter().any(|i| i["name"].as_str() == Some(app.app)));
            if !pins_image {
                assert!(app.image.is_empty(), "{name} has no image of its own");
                continue;
            }
            let manifest = read_text(&format!("{}/Cargo.toml", app.app));
            let crates = workspace
                .lines()
                .filter_map(|l| l.split_once(" = { path = \"")?.1.split_once('"'))
                .map(|(path, _)| path)
                .filter(|path| {
                    *path == app.app || manifest.contains(&format!("\n{path}.workspace = true"))
                });
            for needed in crates
                .map(|c| format!("{c}/"))
                .chain(["Cargo.toml", "Cargo.lock", "Dockerfile"].map(str::to_owned))
            {
                assert!(
                    app.image.contains(&needed.as_str()),
                    "{name}'s image is built from {needed}"
                );
            }
            for input in app.image {
                let entry = input.trim_end_matches('/');
                assert!(
                    *input == "Dockerfile" || context.lines().any(|l| l == format!("!{entry}")),
                    "{input} is not in the image's build context (.dockerignore)"
                );
            }
        }
    }
    assert!(
        listed.is_empty(),
        "no Application renders {listed:?} any more: drop it from applications.rs"
    );
}

/// Where publish-history.sh keeps the daily numbers, as a GitHub page of this repository.
fn history_url() -> String {
    let script = read_text("delivery-metrics/publish-history.sh");
    let value = |prefix: &str| -> String {
        script
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("publish-history.sh sets {prefix}"))
            .trim_end_matches('}')
            .to_owned()
    };
    format!(
        "{}/blob/{}/{}",
        integration_tests::facts::REPO_URL.trim_end_matches(".git"),
        value("branch=${BRANCH:-"),
        value("path=")
    )
}

#[test]
fn the_dashboard_has_a_delivery_row_and_links_the_published_history() {
    let dashboard: Json =
        serde_json::from_str(&read_text("k8s/base/monitoring/dashboard.json")).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    let row = panels
        .iter()
        .position(|p| {
            p["type"] == "row"
                && p["title"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("Delivery"))
        })
        .expect("a Delivery row");
    let below: Vec<&Json> = panels[row + 1..]
        .iter()
        .take_while(|p| p["type"] != "row")
        .collect();
    let exprs: Vec<&str> = below
        .iter()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .map(|t| t["expr"].as_str().unwrap())
        .collect();
    for metric in ["argocd_app_sync_total", "argocd_app_info"] {
        assert!(
            exprs
                .iter()
                .any(|e| e.contains(&format!("{metric}{{name=\"$namespace\""))),
            "the Delivery row reads {metric} of the Application named like the namespace: {exprs:?}"
        );
    }
    let url = history_url();
    assert!(
        below.iter().any(|p| p["options"]["content"]
            .as_str()
            .is_some_and(|c| c.contains(&url))),
        "the Delivery row links {url}"
    );
    assert!(
        dashboard["links"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["url"] == url.as_str()),
        "the dashboard's links name {url}"
    );
    // The Application is named like the namespace the dashboard selects (k8s/argocd).
    for env in ENVS {
        for app in of_kind(&kustomize(&format!("k8s/argocd/{env}")), "Application") {
            let namespace = app["spec"]["destination"]["namespace"].as_str();
            if let Some(namespace) = namespace.filter(|n| n.ends_with(&format!("-{env}"))) {
                assert_eq!(app["metadata"]["name"].as_str(), Some(namespace));
            }
        }
    }
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
                    integration_tests::terraform::ACCOUNT
                )
                .as_str()
            )
        );
        integration_tests::terraform::assert_reads_secrets_only(
            &statements[0],
            "deployment records",
        );
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
    // A history rollback re-deploys one of the last revisionHistoryLimit revisions: their
    // deployments' statuses are read too.
    for env in ENVS {
        for app in of_kind(&kustomize(&format!("k8s/argocd/{env}")), "Application") {
            assert_eq!(
                app["spec"]["revisionHistoryLimit"].as_u64(),
                wf["env"]["HISTORY"].as_u64(),
                "{env}: HISTORY is the Applications' revisionHistoryLimit"
            );
        }
    }

    let job = &wf["jobs"]["metrics"];
    let permissions = job["permissions"].as_mapping().unwrap();
    assert_eq!(permissions.len(), 2, "read-only: {permissions:?}");
    assert_eq!(job["permissions"]["deployments"].as_str(), Some("read"));
    assert_eq!(job["permissions"]["contents"].as_str(), Some("read"));
    assert_eq!(
        step_using(job, "actions/checkout@")["with"]["fetch-depth"].as_u64(),
        Some(0),
        "lead time follows images back through main's whole history"
    );
    let script = run_scripts(job);
    for needle in [
        "delivery-metrics/fetch-records.sh records",
        "-p delivery-metrics",
        "--days \"$DAYS\"",
        "$GITHUB_STEP_SUMMARY",
    ] {
        assert!(script.contains(needle), "the workflow runs {needle}");
    }
    // inputs.days reaches the shell only through the scripts that check it first.
    let all = read_text(".github/workflows/delivery-metrics.yml");
    assert!(
        !all.contains("$(("),
        "no shell arithmetic in the workflow itself"
    );
    assert_eq!(
        job["env"]["DAYS"].as_str(),
        Some("${{ inputs.days || 30 }}")
    );
    assert!(
        wf["on"]["schedule"]
            .as_sequence()
            .is_some_and(|s| !s.is_empty())
    );

    // The published history: only the scheduled window, written by a job that runs no cargo.
    let history = &wf["jobs"]["history"];
    assert_eq!(history["needs"].as_str(), Some("metrics"));
    assert_eq!(
        history["if"].as_str(),
        Some("github.event_name == 'schedule'")
    );
    let permissions = history["permissions"].as_mapping().unwrap();
    assert_eq!(permissions.len(), 1, "{permissions:?}");
    assert_eq!(history["permissions"]["contents"].as_str(), Some("write"));
    let script = run_scripts(history);
    assert_eq!(
        script.trim(),
        "delivery-metrics/publish-history.sh metrics.json"
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

    // A release is a canary: its weight steps, its analysis, then every pod.
    let release = ["api-app", "demo-app"]
        .iter()
        .map(|app| crate::restore_budget::release_s("dev", app))
        .max()
        .unwrap();
    let row = budget_row("Rollout");
    assert!(row.contains(&format!("about **{release} s**")), "{row}");
}

#[test]
fn the_readme_outcomes_table_names_each_metric_and_what_it_is_measured_from() {
    let readme = read_text("README.md");
    let table: Vec<&str> = readme
        .lines()
        .skip_while(|l| !l.starts_with("## Outcomes"))
        .filter(|l| l.starts_with("| "))
        .collect();
    let row = |outcome: &str| -> &str {
        table
            .iter()
            .find(|l| l.starts_with(&format!("| {outcome}")))
            .unwrap_or_else(|| panic!("README's outcomes table has a row for {outcome}"))
    };
    for (outcome, metric, from) in [
        (
            "Deployments several times a day",
            "**Deployment frequency**",
            "`success` records",
        ),
        ("Lead time", "**Lead time for changes**", "commit on `main`"),
        (
            "Change failure rate",
            "**Change failure rate**",
            "`failure` records",
        ),
        ("Restore", "**Time to restore** (DORA)", "`failure` record"),
    ] {
        let row = row(outcome);
        for needle in [metric, from, "delivery-metrics"] {
            assert!(row.contains(needle), "{outcome}: {needle} in {row}");
        }
    }
    // Restore: the promise is the span from the merge, computed by restore_budget.rs; the DORA
    // time to restore also holds detection and review. Both are named, with the budget's number.
    let restore = row("Restore");
    let budget = format!(
        "**Restore after the merge** (the promise): from the rollback reaching Git (dev: its PR merges itself) until only the good version serves: **{} s** for dev",
        crate::restore_budget::after_merge_s("dev")
    );
    assert!(
        restore.contains(&budget),
        "expected {budget:?} in {restore}"
    );
    assert!(restore.contains("detection") && restore.contains("review"));
    assert!(row("Infrastructure drift").contains("terraform-drift"));
    // The published history, on the branch publish-history.sh writes.
    let history = history_url();
    let relative = &history[history.find("/blob/").unwrap()..];
    assert!(
        readme.contains(&format!("(../..{relative})")),
        "README links the history: {relative}"
    );
    for workflow_file in ["delivery-metrics.yml", "terraform-drift.yml"] {
        assert!(
            read_yaml(&format!(".github/workflows/{workflow_file}")).len() == 1,
            "{workflow_file} exists"
        );
    }
}
