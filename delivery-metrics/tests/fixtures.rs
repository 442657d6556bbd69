//! The metrics of recorded GitHub API responses (tests/fixtures/<case>/), number by number.
//!
//! Every case covers the week 2026-11-22 .. 2026-11-29. Each environment's first rollout ran
//! before it (the baseline), so each case also shows that history outside the window bounds the
//! lead time but is not counted. The commits are shaped as this repository's workflows write them
//! (`deploy(dev): … (<source sha>)` bumps, `deploy(prod): …` promotions, `rollback(dev): …`), with
//! the files each changed, as `fetch-records.sh` saves them.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use delivery_metrics::{EnvironmentMetrics, Records, Window, compute};
use time::Duration;
use time::macros::datetime;

fn fixture(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(case)
}

fn records(case: &str) -> Records {
    let dir = fixture(case);
    Records::load(
        &dir.join("deployments.json"),
        &dir.join("statuses.json"),
        &dir.join("commits.json"),
    )
    .unwrap()
}

fn week() -> Window {
    Window::new(
        datetime!(2026-11-22 0:00 UTC),
        datetime!(2026-11-29 0:00 UTC),
    )
    .unwrap()
}

fn metrics(case: &str, environments: &[&str]) -> Vec<EnvironmentMetrics> {
    let names: Vec<String> = environments.iter().map(|&e| e.to_owned()).collect();
    compute(&records(case), &week(), &names)
}

fn minutes(m: i64) -> Duration {
    Duration::minutes(m)
}

#[test]
fn normal_week_three_dev_deploys_and_one_prod_deploy() {
    let [dev, prod] =
        <[_; 2]>::try_from(metrics("normal", &["api-app-dev", "api-app-prod"])).unwrap();
    assert_eq!(
        dev,
        EnvironmentMetrics {
            environment: "api-app-dev".into(),
            deployments: 3,
            // The bump carries the code its image was built from (45 min), the manifest change
            // goes out by itself (20 min), the next bump (25 min). Neither the bots' bump commits
            // nor the docs commit, which dev does not deploy, are changes.
            lead_time: Some(minutes(25)),
            changes: 3,
            attempted: 3,
            failed: 0,
            time_to_restore: None,
            incidents: 0,
            unrestored: 0,
        }
    );
    assert!((dev.deployments_per_day(&week()) - 3.0 / 7.0).abs() < 1e-9);
    assert_eq!(dev.change_failure_rate(), Some(0.0));

    // The promotion carries what dev ran: two code changes (74 h and 22.25 h after they landed)
    // and the manifest change to the base (51 h): lead time runs from each change, not the bump.
    assert_eq!((prod.deployments, prod.changes), (1, 3));
    assert_eq!(prod.lead_time, Some(minutes(51 * 60)));
    assert_eq!(prod.change_failure_rate(), Some(0.0));
}

#[test]
fn without_a_filter_every_recorded_environment_is_reported_in_name_order() {
    let names: Vec<String> = metrics("normal", &[])
        .into_iter()
        .map(|m| m.environment)
        .collect();
    // `registry` is a GitHub Actions job's environment: the workflow names the Argo CD ones.
    assert_eq!(names, ["api-app-dev", "api-app-prod", "registry"]);
}

#[test]
fn a_failed_sync_is_a_failed_change_restored_by_the_next_good_deploy() {
    let [dev] = <[_; 1]>::try_from(metrics("failed-sync", &["api-app-dev"])).unwrap();
    assert_eq!(
        dev,
        EnvironmentMetrics {
            environment: "api-app-dev".into(),
            deployments: 1,
            // The failed bump's code reaches dev with the manifest fix: 80 and 10 minutes.
            lead_time: Some(minutes(45)),
            changes: 2,
            attempted: 2,
            failed: 1,
            time_to_restore: Some(minutes(30)),
            incidents: 1,
            unrestored: 0,
        }
    );
    assert_eq!(dev.change_failure_rate(), Some(0.5));
}

#[test]
fn a_rollback_commit_and_an_argo_cd_rollback_each_fail_the_deploy_they_replace() {
    let [dev, prod] =
        <[_; 2]>::try_from(metrics("rollback", &["api-app-dev", "api-app-prod"])).unwrap();
    // dev: rollback.yml's commit replaces the bad bump 25 minutes after it went live, and
    // delivers nothing new.
    assert_eq!(
        dev,
        EnvironmentMetrics {
            environment: "api-app-dev".into(),
            deployments: 2,
            lead_time: Some(minutes(20)),
            changes: 1,
            attempted: 2,
            failed: 1,
            time_to_restore: Some(minutes(25)),
            incidents: 1,
            unrestored: 0,
        }
    );
    // prod: Argo CD's history rollback re-deploys the baseline six minutes later; going back
    // delivers nothing new. The promotion carried the code dev ran when it was written.
    assert_eq!(
        prod,
        EnvironmentMetrics {
            environment: "api-app-prod".into(),
            deployments: 2,
            lead_time: Some(minutes(130)),
            changes: 1,
            attempted: 2,
            failed: 1,
            time_to_restore: Some(minutes(6)),
            incidents: 1,
            unrestored: 0,
        }
    );
}

#[test]
fn several_deploys_of_one_commit_are_one_deployment() {
    let [dev, prod] =
        <[_; 2]>::try_from(metrics("redeploy", &["api-app-dev", "api-app-prod"])).unwrap();
    assert_eq!((dev.deployments, dev.attempted, dev.failed), (1, 1, 0));
    assert_eq!((dev.changes, dev.lead_time), (1, Some(minutes(10))));
    assert_eq!(
        (prod.deployments, prod.lead_time),
        (1, Some(minutes(23 * 60)))
    );
}

#[test]
fn a_commit_of_code_and_manifests_is_delivered_with_its_image_not_its_manifest() {
    // C (10:00) changes api-app's code and its Deployment. Its own sync (10:05) rolls out the
    // manifest with the previous image; the bump that pins the image built from C does at 10:45.
    let [dev] = <[_; 1]>::try_from(metrics("code-and-manifests", &["api-app-dev"])).unwrap();
    assert_eq!((dev.changes, dev.lead_time), (1, Some(minutes(45))));
}

#[test]
fn no_deployments_means_zero_and_no_rates() {
    assert!(metrics("none", &[]).is_empty());
    let [dev] = <[_; 1]>::try_from(metrics("none", &["api-app-dev"])).unwrap();
    assert_eq!(
        dev,
        EnvironmentMetrics {
            environment: "api-app-dev".into(),
            deployments: 0,
            lead_time: None,
            changes: 0,
            attempted: 0,
            failed: 0,
            time_to_restore: None,
            incidents: 0,
            unrestored: 0,
        }
    );
    assert_eq!(dev.change_failure_rate(), None);
}

#[test]
fn a_deploy_that_never_recovers_is_an_unrestored_incident() {
    // The failed-sync case cut off before the fix: the failure is still open at the window's end.
    let window = Window::new(
        datetime!(2026-11-22 0:00 UTC),
        datetime!(2026-11-23 10:30 UTC),
    )
    .unwrap();
    let mut records = records("failed-sync");
    records
        .statuses
        .retain(|s| s.created_at < datetime!(2026-11-23 10:30 UTC));
    let [dev] = <[_; 1]>::try_from(compute(&records, &window, &["api-app-dev".into()])).unwrap();
    assert_eq!((dev.deployments, dev.attempted, dev.failed), (0, 1, 1));
    assert_eq!(
        (dev.incidents, dev.unrestored, dev.time_to_restore),
        (1, 1, None)
    );
}

/// Runs the binary on one case's three files over the fixtures' week, plus `extra` arguments.
fn run_on(case: &str, extra: &[&str]) -> std::process::Output {
    let dir = fixture(case);
    let file = |name: &str| dir.join(name).display().to_string();
    Command::new(env!("CARGO_BIN_EXE_delivery-metrics"))
        .args(["--deployments", &file("deployments.json")])
        .args(["--statuses", &file("statuses.json")])
        .args(["--commits", &file("commits.json")])
        .args(["--until", "2026-11-29T00:00:00Z", "--days", "7"])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn the_binary_prints_the_markdown_table_for_the_job_summary() {
    let out = run_on(
        "rollback",
        &[
            "--environment",
            "api-app-dev",
            "--environment",
            "api-app-prod",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.starts_with("## Delivery metrics, 2026-11-22 to 2026-11-29 (7 days)\n"));
    assert!(
        table.contains(
            "| api-app-dev | 2 | 0.29 | 20.0 min (1 commit) | 50% (1 of 2) | 25.0 min (1 incident) |\n"
        ),
        "{table}"
    );
    assert!(
        table.contains(
            "| api-app-prod | 2 | 0.29 | 2.2 h (1 commit) | 50% (1 of 2) | 6.0 min (1 incident) |\n"
        ),
        "{table}"
    );
}

#[test]
fn the_binary_prints_json_with_minutes_and_nulls() {
    let out = run_on(
        "none",
        &["--environment", "api-app-dev", "--format", "json"],
    );
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let dev = &json["environments"][0];
    assert_eq!(dev["environment"], "api-app-dev");
    assert_eq!(dev["deployments"], 0);
    assert!(dev["lead_time_minutes"].is_null());
    assert!(dev["change_failure_rate"].is_null());
    assert_eq!(json["since"], "2026-11-22T00:00:00Z");
}

#[test]
fn a_file_that_is_not_an_api_response_is_named_in_one_line() {
    // A later --commits replaces the case's: Cargo.toml is not JSON at all.
    let out = run_on(
        "normal",
        &[
            "--commits",
            concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let first = stderr.lines().next().unwrap();
    assert!(
        first.starts_with("delivery-metrics: ")
            && first.contains("Cargo.toml is not a saved GitHub API response"),
        "{stderr}"
    );
}
