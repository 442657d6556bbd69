//! delivery-metrics' two workflow scripts against a fake `gh` and a scratch Git history:
//! `fetch-records.sh` reads every status that can fall in the window and main's files, and
//! refuses a bad DAYS before any arithmetic; `publish-history.sh` keeps one line a day on a
//! branch of its own.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use delivery_metrics::Records;
use integration_tests::repo_root;
use serde_json::{Value as Json, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// `gh api [--paginate] [-X METHOD] [-H …] [--jq EXPR] [--input -] PATH`: logs each call (and
/// its body) and answers from `responses/<METHOD PATH>`; no such file is a 404.
const FAKE_GH: &str = r#"#!/usr/bin/env bash
set -euo pipefail
[[ $1 == api ]] || exit 64
shift
method=GET jq_expr='' input='' path=''
while (($#)); do
  case $1 in
    --paginate) ;;
    -X) method=$2; shift ;;
    -H) shift ;;
    --jq) jq_expr=$2; shift ;;
    --input) input=$2; shift ;;
    *) path=$1 ;;
  esac
  shift
done
n=$(($(wc -l <"$FAKE/calls") + 1))
printf '%s %s\n' "$method" "$path" >>"$FAKE/calls"
if [[ -n $input ]]; then cat "$input" >"$FAKE/body-$n"; fi
response="$FAKE/responses/$(printf '%s %s' "$method" "$path" | tr -c 'A-Za-z0-9._-' '_')"
[[ -f $response ]] || { echo "gh: HTTP 404: Not Found ($method $path)" >&2; exit 1; }
if [[ -n $jq_expr ]]; then jq -r "$jq_expr" "$response"; else cat "$response"; fi
"#;

struct FakeGitHub {
    dir: PathBuf,
}

impl FakeGitHub {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("delivery-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["bin", "responses", "work"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let gh = dir.join("bin/gh");
        std::fs::write(&gh, FAKE_GH).unwrap();
        std::fs::set_permissions(&gh, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.join("calls"), "").unwrap();
        Self { dir }
    }

    fn respond(&self, method: &str, path: &str, body: &str) {
        let key: String = format!("{method} {path}")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        std::fs::write(self.dir.join("responses").join(key), body).unwrap();
    }

    fn forget(&self) {
        std::fs::write(self.dir.join("calls"), "").unwrap();
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("calls"))
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The JSON body sent with call number `n` (1-based, since the last `forget`).
    fn body(&self, n: usize) -> Json {
        serde_json::from_str(&std::fs::read_to_string(self.dir.join(format!("body-{n}"))).unwrap())
            .unwrap()
    }

    fn work(&self) -> PathBuf {
        self.dir.join("work")
    }

    /// Runs one of delivery-metrics' scripts in the work folder with the fake `gh` first on PATH.
    fn run(&self, script: &str, args: &[&str], vars: &[(&str, &str)]) -> Output {
        let path = format!(
            "{}:{}",
            self.dir.join("bin").display(),
            std::env::var("PATH").unwrap()
        );
        Command::new(repo_root().join("delivery-metrics").join(script))
            .args(args)
            .current_dir(self.work())
            .env_clear()
            .env("PATH", path)
            .env("HOME", &self.dir)
            .env("FAKE", &self.dir)
            .env("REPO", "gitops-platform/gitops-platform")
            .envs(vars.iter().copied())
            .output()
            .unwrap()
    }
}

fn git(dir: &Path, args: &[&str]) {
    integration_tests::git_in(dir, args);
}

fn commit(dir: &Path, files: &[&str], message: &str) {
    for file in files {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, message).unwrap();
        git(dir, &["add", file]);
    }
    git(dir, &["commit", "-q", "-m", message]);
}

fn stamp(at: OffsetDateTime) -> String {
    at.replace_nanosecond(0).unwrap().format(&Rfc3339).unwrap()
}

#[test]
fn fetch_records_reads_every_status_a_rollback_can_add_and_mains_files() {
    let gh = FakeGitHub::new("fetch");
    let work = gh.work();
    git(&work, &["init", "-q", "-b", "main"]);
    commit(
        &work,
        &["api-app/src/store.rs"],
        "api: tasks keep their order (#40)",
    );
    commit(
        &work,
        &[
            "k8s/overlays/dev/api-app/kustomization.yaml",
            "k8s/overlays/dev/demo-app/kustomization.yaml",
        ],
        "deploy(dev): api-app and demo-app 1.0.41 (#41)",
    );

    // A 7-day window reads from 14 days back. Deployments 5 (in the window), then 4 and 3
    // (HISTORY=2 before it; 3 received its newest status from a history rollback, so its
    // updated_at says nothing of it), not 2 and 1.
    let now = OffsetDateTime::now_utc();
    let ages = [(1, 60), (2, 40), (3, 30), (4, 20), (5, 2)];
    let deployments: Vec<Json> = ages
        .iter()
        .map(|&(id, days)| {
            let at = stamp(now - Duration::days(days));
            json!({"id": id, "sha": "a".repeat(40), "environment": "api-app-dev", "created_at": at, "updated_at": at})
        })
        .collect();
    // Two pages, as `gh api --paginate` prints them.
    gh.respond(
        "GET",
        "repos/gitops-platform/gitops-platform/deployments?environment=api-app-dev&per_page=100",
        &format!(
            "{}{}",
            Json::Array(deployments[3..].to_vec()),
            Json::Array(deployments[..3].to_vec())
        ),
    );
    for (id, _) in ages {
        gh.respond(
            "GET",
            &format!(
                "repos/gitops-platform/gitops-platform/deployments/{id}/statuses?per_page=100"
            ),
            &json!([{"state": "success", "created_at": stamp(now - Duration::days(1)),
                "deployment_url": format!("https://api.github.com/repos/o/r/deployments/{id}")}])
            .to_string(),
        );
    }

    let out = gh.run(
        "fetch-records.sh",
        &["records"],
        &[
            ("DAYS", "7"),
            ("HISTORY", "2"),
            ("ENVIRONMENTS", "api-app-dev"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let asked: Vec<String> = gh
        .calls()
        .into_iter()
        .filter(|c| c.contains("/statuses"))
        .collect();
    assert_eq!(
        asked,
        [5, 4, 3].map(|id| format!(
            "GET repos/gitops-platform/gitops-platform/deployments/{id}/statuses?per_page=100"
        ))
    );

    let dir = work.join("records");
    let records = Records::load(
        &dir.join("deployments.json"),
        &dir.join("statuses.json"),
        &dir.join("commits.json"),
    )
    .unwrap();
    assert_eq!(records.deployments.len(), 5);
    assert_eq!(records.statuses.len(), 3);
    let [deploy, change] = <[_; 2]>::try_from(records.commits).unwrap();
    assert_eq!(deploy.deploys_to(), Some("dev"));
    let files = |c: &delivery_metrics::records::Commit| -> Vec<String> {
        c.files
            .iter()
            .flatten()
            .map(|f| f.filename.clone())
            .collect()
    };
    assert_eq!(
        files(&deploy),
        [
            "k8s/overlays/dev/api-app/kustomization.yaml",
            "k8s/overlays/dev/demo-app/kustomization.yaml"
        ]
    );
    assert_eq!(change.subject(), "api: tasks keep their order (#40)");
    assert_eq!(files(&change), ["api-app/src/store.rs"]);
    assert!(now - change.commit.committer.date < Duration::minutes(5));
}

#[test]
fn fetch_records_refuses_a_bad_days_before_any_arithmetic() {
    let gh = FakeGitHub::new("days");
    let planted = gh.dir.join("planted");
    for days in [
        format!("a[$(touch {})]", planted.display()),
        "0".to_owned(),
        "3661".to_owned(),
        "7 days".to_owned(),
        String::new(),
    ] {
        let out = gh.run(
            "fetch-records.sh",
            &["records"],
            &[
                ("DAYS", &days),
                ("HISTORY", "10"),
                ("ENVIRONMENTS", "api-app-dev"),
            ],
        );
        assert_eq!(out.status.code(), Some(2), "DAYS={days:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .starts_with("fetch-records: DAYS must be a whole number of days from 1 to 3660"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!planted.exists(), "DAYS={days:?} ran a command");
        assert!(
            gh.calls().is_empty(),
            "nothing is fetched for DAYS={days:?}"
        );
    }
}

#[test]
fn publish_history_keeps_one_line_a_day_on_a_branch_of_its_own() {
    let gh = FakeGitHub::new("publish");
    let repo = "repos/gitops-platform/gitops-platform";
    let day = |until: &str, deployments: u32| {
        json!({"since": "2026-10-24T06:41:00Z", "until": until,
               "environments": [{"environment": "api-app-dev", "deployments": deployments}]})
    };
    let metrics = gh.work().join("metrics.json");
    gh.respond("POST", &format!("{repo}/git/trees"), r#"{"sha":"t1"}"#);
    gh.respond("POST", &format!("{repo}/git/commits"), r#"{"sha":"c1"}"#);
    gh.respond("POST", &format!("{repo}/git/refs"), "{}");
    gh.respond(
        "PATCH",
        &format!("{repo}/git/refs/heads/delivery-metrics-history"),
        "{}",
    );

    // First run: no branch yet, so a commit with no parent and a new ref.
    std::fs::write(&metrics, day("2026-11-23T06:41:00Z", 3).to_string()).unwrap();
    let out = gh.run("publish-history.sh", &["metrics.json"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = gh.calls();
    assert_eq!(
        calls[1..],
        [
            format!("POST {repo}/git/trees"),
            format!("POST {repo}/git/commits"),
            format!("POST {repo}/git/refs"),
        ]
    );
    let first = format!("{}\n", day("2026-11-23T06:41:00Z", 3));
    assert_eq!(gh.body(2)["tree"][0]["content"], first.as_str());
    assert_eq!(gh.body(2)["tree"][0]["path"], "history.jsonl");
    assert_eq!(gh.body(3)["parents"], json!([]));
    assert_eq!(gh.body(4)["ref"], "refs/heads/delivery-metrics-history");

    // The next day appends, and a re-run that day replaces its line; the ref moves forward only.
    gh.respond(
        "GET",
        &format!("{repo}/git/ref/heads/delivery-metrics-history"),
        r#"{"object":{"sha":"c1"}}"#,
    );
    gh.respond(
        "GET",
        &format!("{repo}/contents/history.jsonl?ref=delivery-metrics-history"),
        &format!("{}{}\n", first, day("2026-11-24T06:41:00Z", 4)),
    );
    std::fs::write(&metrics, day("2026-11-24T09:00:00Z", 5).to_string()).unwrap();
    gh.forget();
    let out = gh.run("publish-history.sh", &["metrics.json"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        gh.body(3)["tree"][0]["content"],
        format!("{}{}\n", first, day("2026-11-24T09:00:00Z", 5)).as_str()
    );
    assert_eq!(gh.body(4)["parents"], json!(["c1"]));
    assert_eq!(gh.body(5), json!({"sha": "c1", "force": false}));

    // Anything but delivery-metrics' JSON is refused before a call.
    std::fs::write(&metrics, r#"{"message":"Not Found"}"#).unwrap();
    gh.forget();
    let out = gh.run("publish-history.sh", &["metrics.json"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(gh.calls().is_empty());
}
