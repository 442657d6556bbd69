//! The rollback and fast-path scripts on a scratch Git history: `scripts/rollback.sh` undoes the
//! deploy in effect (decided from the pins, never back to the seed) and nothing else, and ci.yml's
//! classifier, run from the base commit, lets only image-pin changes skip the full suite.

use std::path::{Path, PathBuf};
use std::process::Command;

use integration_tests::repo_root;

/// A throwaway repository with the scripts and two dev overlays pinned to tag "1".
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(name: &str) -> Self {
        Self::pinned(name, "1")
    }

    /// As the repository starts: both dev overlays on the seed tag no release carries.
    fn seeded(name: &str) -> Self {
        Self::pinned(name, "unreleased")
    }

    fn pinned(name: &str, tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("rollback-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("scripts")).unwrap();
        for script in [
            "lib.sh",
            "rollback.sh",
            "overlay-only.sh",
            "rolled-back-since.sh",
        ] {
            std::fs::copy(
                repo_root().join("scripts").join(script),
                dir.join("scripts").join(script),
            )
            .unwrap();
        }
        let scratch = Self { dir };
        scratch.git(&["init", "-q", "-b", "main"]);
        for app in ["api-app", "demo-app"] {
            scratch.write(
                &format!("k8s/overlays/dev/{app}/kustomization.yaml"),
                &format!(
                    "namespace: {app}-dev\n# the bump rewrites this block\nimages:\n  - name: {app}\n    newTag: \"{tag}\"\n# after the pins\nreplicas:\n  - name: {app}\n    count: 2\n"
                ),
            );
        }
        scratch.commit("initial");
        scratch
    }

    fn git(&self, args: &[&str]) -> String {
        integration_tests::git_in(&self.dir, args)
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.dir.join(rel)).unwrap()
    }

    fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
        self.git(&["rev-parse", "HEAD"]).trim().to_owned()
    }

    /// Deploys tag `tag` to both dev overlays, as the release bump PR's squash commit does.
    fn deploy(&self, tag: &str) -> String {
        for app in ["api-app", "demo-app"] {
            let rel = format!("k8s/overlays/dev/{app}/kustomization.yaml");
            let text = self.read(&rel);
            let pinned = text
                .lines()
                .find(|l| l.contains("newTag"))
                .unwrap()
                .to_owned();
            self.write(
                &rel,
                &text.replace(&pinned, &format!("    newTag: \"{tag}\"")),
            );
        }
        self.commit(&format!("deploy(dev): {tag} (#1)"))
    }

    fn run(&self, script: &str, args: &[&str]) -> (bool, String) {
        // The scripts compare YAML with PyYAML; the scratch repository has no .tools/venv of its own.
        let venv_python = repo_root().join(".tools/venv/bin/python");
        let mut cmd = Command::new(Path::new("scripts").join(script));
        if venv_python.exists() {
            cmd.env("GITOPS_PYTHON", venv_python);
        }
        integration_tests::run_for_text(cmd.args(args).current_dir(&self.dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn rollback_reverts_the_newest_deploy_still_in_effect_then_the_one_before() {
    let repo = Scratch::new("revert");
    let second = repo.deploy("2");
    let third = repo.deploy("3");
    repo.write("README.md", "unrelated\n");
    repo.commit("docs: unrelated change after the deploy");

    let (ok, out) = repo.run("rollback.sh", &["dev"]);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("commit={third}")), "{out}");
    assert!(
        repo.read("k8s/overlays/dev/api-app/kustomization.yaml")
            .contains("newTag: \"2\"")
    );
    // What the workflow's PR commits; the squash merge keeps "Reverts <sha>" in the message.
    repo.commit(&format!(
        "rollback(dev): deploy(dev): 3 (#2)\n\nReverts {third}"
    ));

    let (ok, out) = repo.run("rollback.sh", &["dev"]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("commit={second}")),
        "a second press goes one deploy further back: {out}"
    );
}

/// A release queued before dev was rolled back carries the code the rollback undid: its bump must
/// not merge itself and redeploy that code minutes later. A release built after the rollback (the
/// fix) arms as usual; a plain `git revert` of a deploy counts as a rollback too.
#[test]
fn a_release_built_before_dev_was_rolled_back_is_held_one_built_after_is_not() {
    let repo = Scratch::new("held");
    repo.write("src.txt", "the bad change\n");
    repo.commit("feat: the bad change");
    let bad = repo.deploy("2");
    repo.write("README.md", "merged while the bad build ran\n");
    let in_flight = repo.commit("docs: merged before the rollback");
    let (ok, out) = repo.run("rollback.sh", &["dev"]);
    assert!(ok, "{out}");
    let rollback = repo.commit(&format!(
        "rollback(dev): deploy(dev): 2 (#3)\n\nReverts {bad}"
    ));

    let (ok, out) = repo.run("rolled-back-since.sh", &[&in_flight]);
    assert!(ok, "{out}");
    assert!(
        out.starts_with(&format!("{rollback} rollback(dev): deploy(dev): 2 (#3)")),
        "the in-flight release is held by the rollback: {out}"
    );

    repo.write("src.txt", "fixed\n");
    let fix = repo.commit("fix: the bad change");
    let (ok, out) = repo.run("rolled-back-since.sh", &[&fix]);
    assert!(ok, "{out}");
    assert!(out.trim().is_empty(), "the fix's release arms: {out}");

    let fixed = repo.deploy("3");
    let (ok, out) = repo.run("rolled-back-since.sh", &[&fix]);
    assert!(
        ok && out.trim().is_empty(),
        "a deploy is no rollback: {out}"
    );
    repo.git(&["revert", "--no-edit", &fixed]);
    let revert = repo.git(&["rev-parse", "HEAD"]).trim().to_owned();
    let (ok, out) = repo.run("rolled-back-since.sh", &[&fix]);
    assert!(ok, "{out}");
    assert!(
        out.starts_with(&revert),
        "a plain git revert holds it too: {out}"
    );

    let (ok, out) = repo.run(
        "rolled-back-since.sh",
        &["0123456789abcdef0123456789abcdef01234567"],
    );
    assert!(
        !ok,
        "a commit not in the history is an error, not a pass: {out}"
    );
}

#[test]
fn after_a_plain_git_revert_rollback_goes_one_deploy_further_back() {
    let repo = Scratch::new("plain-revert");
    let second = repo.deploy("2");
    let third = repo.deploy("3");
    // What the bump PR suggests: `git revert` of the merge, with git's own message.
    repo.git(&["revert", "--no-edit", &third]);
    assert!(
        repo.read("k8s/overlays/dev/api-app/kustomization.yaml")
            .contains("newTag: \"2\"")
    );

    let (ok, out) = repo.run("rollback.sh", &["dev"]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("commit={second}")),
        "the reverted deploy is not picked again: {out}"
    );
    for app in ["api-app", "demo-app"] {
        assert!(
            repo.read(&format!("k8s/overlays/dev/{app}/kustomization.yaml"))
                .contains("newTag: \"1\""),
            "{app} goes back to the pins before deploy 2"
        );
    }
    let staged = repo.git(&["diff", "--cached", "--name-only"]);
    assert_eq!(staged.lines().count(), 2, "both overlays change: {staged}");
}

#[test]
fn rollback_decides_by_pins_not_commit_messages() {
    let repo = Scratch::new("by-pins");
    repo.deploy("2");
    // A deploy whose message does not say so (a hand-merged PR, a squash with another title).
    let hand = repo.deploy("3");
    repo.git(&[
        "commit",
        "-q",
        "--amend",
        "-m",
        "Merge pull request #7 from someone/pins",
    ]);
    let hand_amended = repo.git(&["rev-parse", "HEAD"]).trim().to_owned();
    assert_ne!(hand, hand_amended);
    repo.write("k8s/overlays/dev/api-app/notes.txt", "unrelated\n");
    repo.commit("docs: a note next to the overlay");

    let (ok, out) = repo.run("rollback.sh", &["dev"]);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("commit={hand_amended}")), "{out}");
    assert!(
        repo.read("k8s/overlays/dev/demo-app/kustomization.yaml")
            .contains("newTag: \"2\"")
    );
}

#[test]
fn rollback_refuses_to_return_the_first_deploy_to_the_seed_tag() {
    let repo = Scratch::seeded("seed");
    let first = repo.deploy("1.0.1");
    let (ok, out) = repo.run("rollback.sh", &["dev"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&first) && out.contains("seed tag unreleased"),
        "{out}"
    );
    assert!(
        repo.git(&["status", "--porcelain"]).trim().is_empty(),
        "a refusal changes nothing"
    );

    // One deploy later, the first is a fine target again.
    let second = repo.deploy("1.0.2");
    let (ok, out) = repo.run("rollback.sh", &["dev"]);
    assert!(ok && out.contains(&format!("commit={second}")), "{out}");
}

#[test]
fn rollback_refuses_when_nothing_is_deployed_or_the_environment_is_unknown() {
    let repo = Scratch::new("refuse");
    let (ok, out) = repo.run("rollback.sh", &["dev"]);
    assert!(!ok && out.contains("no deploy(dev) commit"), "{out}");
    let (ok, out) = repo.run("rollback.sh", &["staging"]);
    assert!(!ok && out.contains("usage"), "{out}");
}

#[test]
fn only_image_pin_changes_take_the_fast_path() {
    let repo = Scratch::new("fast-path");
    let base = repo.git(&["rev-parse", "HEAD"]).trim().to_owned();
    let pinned = repo.deploy("2");
    assert_eq!(
        repo.run("overlay-only.sh", &[&base, &pinned]).1.trim(),
        "true"
    );

    let rel = "k8s/overlays/dev/api-app/kustomization.yaml";
    repo.write(
        rel,
        &repo
            .read(rel)
            .replace("namespace: api-app-dev", "namespace: kube-system"),
    );
    let moved = repo.commit("deploy(dev): sneak a namespace change in");
    assert_eq!(
        repo.run("overlay-only.sh", &[&pinned, &moved]).1.trim(),
        "false",
        "a non-image field is a real change"
    );

    repo.write("api-app/src/main.rs", "fn main() {}\n");
    let code = repo.commit("code");
    assert_eq!(
        repo.run("overlay-only.sh", &[&moved, &code]).1.trim(),
        "false",
        "code takes the full suite"
    );
}

/// ci.yml: the fast path and the full suite are two sides of one switch, and the fast side still
/// renders, validates and runs the contract tests.
#[test]
fn ci_runs_exactly_one_of_the_full_suite_and_the_bundle_checks() {
    let ci = &integration_tests::read_yaml(".github/workflows/ci.yml")[0];
    let jobs = &ci["jobs"];
    let classify = jobs["changes"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find_map(|s| s["run"].as_str())
        .unwrap();
    assert!(
        classify.contains("scripts/overlay-only.sh"),
        "the classifier is the tested script"
    );
    for full in ["test", "coverage"] {
        let cond = jobs[full]["if"].as_str().unwrap();
        assert!(
            cond.contains("!cancelled()")
                && cond.contains("needs.changes.outputs.overlay-only != 'true'"),
            "{full}: runs unless overlay-only, and also when the classifier failed: {cond}"
        );
    }
    assert_eq!(
        jobs["bundle"]["if"].as_str(),
        Some("needs.changes.outputs.overlay-only == 'true'")
    );
    let runs: Vec<_> = jobs["bundle"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect();
    assert!(
        runs.iter().any(|r| r.contains("scripts/check-k8s.sh")),
        "bundle: render and validate"
    );
    assert!(
        runs.iter().any(|r| r.contains("--test contract")),
        "bundle: the contract tests (restore budget included)"
    );
}

/// Runs ci.yml's classify step, as written in the workflow, on the scratch history: checked out at
/// `head`, the PR's base at `base`. Returns its outputs.
fn classify(repo: &Scratch, base: &str, head: &str) -> std::collections::BTreeMap<String, String> {
    let ci = &integration_tests::read_yaml(".github/workflows/ci.yml")[0];
    let step = ci["jobs"]["changes"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["id"].as_str() == Some("classify"))
        .expect("ci.yml's changes job has a classify step");
    let script = step["run"].as_str().unwrap();
    let temp = repo.dir.join(".runner-temp");
    let _ = std::fs::remove_dir_all(&temp);
    repo.git(&["worktree", "prune"]);
    std::fs::create_dir_all(&temp).unwrap();
    let output = temp.join("output");
    repo.git(&["checkout", "-q", head]);
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(&repo.dir)
        .env("EVENT", "pull_request")
        .env("BASE", base)
        .env("HEAD", head)
        .env("RUNNER_TEMP", &temp)
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", temp.join("summary"))
        .env("GITOPS_PYTHON", repo_root().join(".tools/venv/bin/python"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(output)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn a_pull_request_cannot_change_its_own_classification() {
    let repo = Scratch::new("classify");
    repo.write(".gitignore", ".runner-temp/\n");
    let base = repo.commit("ignore the runner's temp");

    let pinned = repo.deploy("2");
    let outputs = classify(&repo, &base, &pinned);
    assert_eq!(outputs["overlay-only"], "true", "{outputs:?}");
    assert_eq!(outputs["overlays"], "true");
    assert_eq!(outputs["dependencies"], "false");
    assert_eq!(
        outputs["prod-pins"], "false",
        "a dev bump moves no prod pin"
    );

    // A prod pin (as a promotion writes it): the required check then asks where it came from.
    repo.write(
        "k8s/overlays/prod/api-app/kustomization.yaml",
        "namespace: api-app-prod\nimages:\n  - name: api-app\n    digest: sha256:aa\n",
    );
    let promoted = repo.commit("deploy(prod): api-app");
    assert_eq!(classify(&repo, &pinned, &promoted)["prod-pins"], "true");

    // The PR rewrites the classifier to wave itself through, and changes code and the lockfile.
    repo.git(&["checkout", "-q", &base]);
    repo.write(
        "scripts/overlay-only.sh",
        "#!/usr/bin/env bash\necho true\n",
    );
    repo.write("api-app/src/main.rs", "fn main() {}\n");
    repo.write("Cargo.lock", "# changed\n");
    let sneaky = repo.commit("deploy(dev): trust me");
    let outputs = classify(&repo, &base, &sneaky);
    assert_eq!(
        outputs["overlay-only"], "false",
        "the base commit's classifier judges the PR, not the PR's own"
    );
    assert_eq!(outputs["overlays"], "false");
    assert_eq!(outputs["dependencies"], "true");
}
