//! Verified promotion: `scripts/verified-in-dev.sh` lets promote.yml offer prod only a digest whose dev
//! release completed its canary, by dev's deployment records (never by what a person typed), and says
//! why it refuses any other. Run on a scratch Git history with delivery-metrics' fake `gh`
//! answering GitHub's deployments API as Argo CD Notifications fills it
//! (terraform/modules/cluster-addons).

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use integration_tests::{read_yaml, repo_root};

use crate::delivery::scripts::{FAKE_GH, response_file};
use serde_json::json;

const GOOD: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const ABORTED: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const RUNNING: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";
const NEVER: &str = "sha256:4444444444444444444444444444444444444444444444444444444444444444";
const REPO: &str = "gitops-platform/gitops-platform";

struct Dev {
    dir: PathBuf,
}

impl Dev {
    /// A scratch repository with the script and api-app's dev overlay, and a fake GitHub.
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("promotion-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["repo/scripts", "bin", "responses"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        for script in ["lib.sh", "verified-in-dev.sh"] {
            std::fs::copy(
                repo_root().join("scripts").join(script),
                dir.join("repo/scripts").join(script),
            )
            .unwrap();
        }
        std::fs::write(dir.join("bin/gh"), FAKE_GH).unwrap();
        std::fs::set_permissions(dir.join("bin/gh"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        std::fs::write(dir.join("calls"), "").unwrap();
        let dev = Self { dir };
        dev.git(&["init", "-q", "-b", "main"]);
        dev
    }

    fn repo(&self) -> PathBuf {
        self.dir.join("repo")
    }

    fn git(&self, args: &[&str]) -> String {
        integration_tests::git_in(&self.repo(), args)
    }

    /// Commits api-app's dev overlay pinning `digest`, as the release's bump PR does; its sha.
    fn pin(&self, digest: &str) -> String {
        let path = self
            .repo()
            .join("k8s/overlays/dev/api-app/kustomization.yaml");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            path,
            format!(
                "namespace: api-app-dev\nimages:\n  - name: api-app\n    newName: docker.io/gitopsplatform/api-app\n    digest: {digest}\n"
            ),
        )
        .unwrap();
        self.commit(&format!("deploy(dev): api-app@{digest}"))
    }

    fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"]).trim().to_owned()
    }

    fn respond(&self, path: &str, body: &serde_json::Value) {
        std::fs::write(
            self.dir.join("responses").join(response_file("GET", path)),
            body.to_string(),
        )
        .unwrap();
    }

    /// api-app-dev's deployment records, newest first: (id, sha, statuses newest first).
    fn records(&self, records: &[(u64, &str, serde_json::Value)]) {
        self.respond(
            &format!("repos/{REPO}/deployments?environment=api-app-dev&per_page=100"),
            &json!(
                records
                    .iter()
                    .map(|(id, sha, _)| json!({"id": id, "sha": sha, "environment": "api-app-dev", "created_at": "2026-12-01T10:00:00Z"}))
                    .collect::<Vec<_>>()
            ),
        );
        for (id, _, statuses) in records {
            self.respond(
                &format!("repos/{REPO}/deployments/{id}/statuses?per_page=100"),
                statuses,
            );
        }
    }

    fn verify(&self, digest: &str) -> (bool, String) {
        let venv_python = repo_root().join(".tools/venv/bin/python");
        let mut cmd = Command::new(Path::new("scripts/verified-in-dev.sh"));
        if venv_python.exists() {
            cmd.env("GITOPS_PYTHON", venv_python);
        }
        let path = format!(
            "{}:{}",
            self.dir.join("bin").display(),
            std::env::var("PATH").unwrap()
        );
        integration_tests::run_for_text(
            cmd.args(["api-app", digest])
                .current_dir(self.repo())
                .env("PATH", path)
                .env("FAKE", &self.dir)
                .env("GITHUB_REPOSITORY", REPO),
        )
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn status(state: &str, description: &str) -> serde_json::Value {
    json!({"state": state, "description": description, "created_at": "2026-12-01T10:05:00Z"})
}

#[test]
fn only_a_digest_whose_dev_canary_completed_is_offered_to_prod_and_every_refusal_says_why() {
    let dev = Dev::new("verdicts");
    let good = dev.pin(GOOD);
    // A later commit that changes nothing of the pins still deploys the same digest.
    let good_again = dev.commit("docs: unrelated");
    let aborted = dev.pin(ABORTED);
    let running = dev.pin(RUNNING);
    dev.records(&[
        (40, &running, json!([])),
        (
            30,
            &aborted,
            json!([
                status("failure", "api-app-dev: synced, then Degraded"),
                status(
                    "success",
                    "api-app-dev runs abcdef0: Healthy after the sync"
                )
            ]),
        ),
        // Replaced since by newer deploys: GitHub marks it inactive; its success still counts.
        (
            20,
            &good_again,
            json!([
                status("inactive", ""),
                status(
                    "success",
                    "api-app-dev runs 1234567: Healthy after the sync"
                )
            ]),
        ),
        (10, &good, json!([status("success", "Healthy")])),
    ]);

    let (ok, out) = dev.verify(GOOD);
    assert!(ok, "{out}");
    assert!(
        out.contains("deployment 20") && out.contains("completed its canary"),
        "the newest record of the digest is the evidence: {out}"
    );

    let (ok, out) = dev.verify(ABORTED);
    assert!(!ok, "an aborted canary is never promoted: {out}");
    assert!(
        out.contains("failed") && out.contains("aborted canary") && out.contains(ABORTED),
        "{out}"
    );

    let (ok, out) = dev.verify(RUNNING);
    assert!(!ok, "{out}");
    assert!(out.contains("has not finished"), "{out}");

    let (ok, out) = dev.verify(NEVER);
    assert!(!ok, "{out}");
    assert!(out.contains("dev never ran it"), "{out}");
    assert_eq!(
        out.lines().count(),
        1,
        "a refusal is one line saying why: {out}"
    );

    // Replaced before it finished: no outcome but inactive.
    let dev = Dev::new("replaced");
    let sha = dev.pin(GOOD);
    dev.records(&[(7, &sha, json!([status("inactive", "")]))]);
    let (ok, out) = dev.verify(GOOD);
    assert!(
        !ok && out.contains("replaced it before its rollout finished"),
        "{out}"
    );

    // GitHub not answering is a refusal that says so, never "dev never ran it".
    let dev = Dev::new("unanswered");
    let sha = dev.pin(GOOD);
    let (ok, out) = dev.verify(GOOD);
    assert!(
        !ok && out.contains("cannot read dev's deployment records"),
        "{out}"
    );
    dev.respond(
        &format!("repos/{REPO}/deployments?environment=api-app-dev&per_page=100"),
        &json!([{"id": 5, "sha": sha, "environment": "api-app-dev", "created_at": "2026-12-01T10:00:00Z"}]),
    );
    let (ok, out) = dev.verify(GOOD);
    assert!(
        !ok && out.contains("cannot read the statuses of api-app-dev deployment 5"),
        "{out}"
    );
}

#[test]
fn promote_yml_verifies_every_digest_it_writes_in_dev_with_the_records_it_may_read() {
    let wf = &read_yaml(".github/workflows/promote.yml")[0];
    let job = &wf["jobs"]["promote"];
    assert_eq!(
        job["permissions"]["deployments"].as_str(),
        Some("read"),
        "the job reads dev's deployment records, and writes none"
    );
    let steps = job["steps"].as_sequence().unwrap();
    let checkout = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/checkout@"))
        })
        .unwrap();
    assert_eq!(
        checkout["with"]["fetch-depth"].as_u64(),
        Some(0),
        "every commit a record names must be in the checkout"
    );
    let step = steps
        .iter()
        .find(|s| s["id"].as_str() == Some("promote"))
        .unwrap();
    let run = step["run"].as_str().unwrap();
    let verify = run
        .find(r#"scripts/verified-in-dev.sh "$app" "$digest""#)
        .expect("promote.yml verifies the digest in dev");
    let write = run.find("kustomize edit set image").unwrap();
    assert!(
        verify < write,
        "the digest is verified before it is written to prod"
    );
    assert!(
        step["env"]["GH_TOKEN"].as_str() == Some("${{ github.token }}"),
        "gh reads the records with the job's own token"
    );
}
