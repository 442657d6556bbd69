//! The release pipeline's scripts, run here with stand-ins for the tools only GitHub's runners have
//! (docker, cosign, gh): the re-run guard, the signature check, the one required check, and the
//! smoke test against the real binaries.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use integration_tests::{RealBinary, repo_root};

/// A temporary directory of stand-in executables, put first on PATH for a script.
pub(crate) struct FakeTools {
    dir: PathBuf,
}

impl FakeTools {
    pub(crate) fn new(name: &str) -> Self {
        // Tests run in parallel, some with the same stand-ins: every instance gets its own folder.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("fake-tools-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir }
    }

    /// Adds an executable `name` with this bash body.
    pub(crate) fn tool(&self, name: &str, body: &str) -> &Self {
        use std::os::unix::fs::PermissionsExt as _;
        let path = self.dir.join(name);
        std::fs::write(
            &path,
            format!("#!/usr/bin/env bash\nset -euo pipefail\n{body}\n"),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        self
    }

    pub(crate) fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Runs `scripts/<script>` with the stand-ins first on PATH; (success, stdout, stderr).
    pub(crate) fn run(
        &self,
        script: &str,
        args: &[&str],
        env: &[(&str, &str)],
        stdin: &str,
    ) -> (bool, String, String) {
        self.run_in(&repo_root(), script, args, env, stdin)
    }

    /// [`Self::run`] on the copy of the repository at `root` (scripts read their files relative
    /// to their own folder).
    pub(crate) fn run_in(
        &self,
        root: &std::path::Path,
        script: &str,
        args: &[&str],
        env: &[(&str, &str)],
        stdin: &str,
    ) -> (bool, String, String) {
        use std::io::Write as _;
        let path = format!(
            "{}:{}",
            self.dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut child = Command::new(root.join("scripts").join(script))
            .args(args)
            .env("PATH", path)
            .env("FAKE_DIR", &self.dir)
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub(crate) fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for FakeTools {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `cmd`, which must succeed, and returns its stdout (its stderr in the failure message).
pub(crate) fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// `docker buildx imagetools inspect REF`: the digest `$FAKE_DIR/registry` lists for REF, or not found.
fn fake_registry(published: &[(&str, &str)]) -> FakeTools {
    let tools = FakeTools::new("registry");
    let listing = published
        .iter()
        .map(|(r, d)| format!("{r} {d}"))
        .collect::<Vec<_>>()
        .join("\n");
    tools.file("registry", &listing);
    tools.tool(
        "docker",
        r#"ref=$4
[[ $ref == *unreachable* ]] && { echo "dial tcp: connection refused" >&2; exit 1; }
digest=$(awk -v r="$ref" '$1 == r {print $2}' "$FAKE_DIR/registry")
[[ -n $digest ]] || { echo "ERROR: $ref: not found" >&2; exit 1; }
echo "$digest""#,
    );
    tools
}

#[test]
fn a_release_pushes_new_tags_and_a_rerun_of_the_same_commit_reuses_its_image() {
    let tags = "docker.io/ns/api-app:1.0.7\ndocker.io/ns/api-app:sha-1234567\n";

    let tools = fake_registry(&[]);
    let (ok, out, err) = tools.run("published-digest.sh", &[], &[], tags);
    assert!(
        ok && out.trim() == "digest=",
        "nothing published: build and push\n{err}"
    );

    // The first attempt pushed both tags, then failed to sign: the re-run goes on with that image.
    let tools = fake_registry(&[
        ("docker.io/ns/api-app:1.0.7", A),
        ("docker.io/ns/api-app:sha-1234567", A),
    ]);
    let (ok, out, err) = tools.run("published-digest.sh", &[], &[], tags);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), format!("digest={A}"));
}

/// `gh run list …`: the JSON of `$FAKE_DIR/runs` when asked for the newest successful release run
/// on main, a failure when that file is absent (the API did not answer).
fn fake_runs(runs: Option<&str>) -> FakeTools {
    let tools = FakeTools::new("runs");
    if let Some(runs) = runs {
        tools.file("runs", runs);
    }
    tools.tool(
        "gh",
        r#"[[ "$*" == "run list --workflow release.yml --branch main --status success --limit 1 --json number" ]] ||
  { echo "unexpected: gh $*" >&2; exit 3; }
[[ -f $FAKE_DIR/runs ]] || { echo "HTTP 502" >&2; exit 1; }
cat "$FAKE_DIR/runs""#,
    );
    tools
}

#[test]
fn a_rerun_of_an_old_release_never_pins_dev_behind_a_newer_one() {
    // The newest successful release is this run itself (a re-run), an older one, or none yet.
    for runs in [r#"[{"number":7}]"#, r#"[{"number":6}]"#, "[]"] {
        let (ok, _, err) = fake_runs(Some(runs)).run("newer-release.sh", &["7"], &[], "");
        assert!(ok, "{runs}: {err}");
    }
    // Run 8 released after run 7 failed at its bump: re-running 7's bump would roll dev back.
    let (ok, _, err) =
        fake_runs(Some(r#"[{"number":8}]"#)).run("newer-release.sh", &["7"], &[], "");
    assert!(!ok, "a newer release deployed dev");
    assert!(
        err.contains("release run 8") && err.contains("(7)") && err.lines().count() == 1,
        "{err}"
    );
    // Not knowing is refusing.
    let (ok, _, err) = fake_runs(None).run("newer-release.sh", &["7"], &[], "");
    assert!(!ok && err.contains("cannot list"), "{err}");
    let (ok, _, err) = fake_runs(Some("<html>")).run("newer-release.sh", &["7"], &[], "");
    assert!(!ok && err.contains("cannot read"), "{err}");
    let (ok, _, _) = fake_runs(Some("[]")).run("newer-release.sh", &["seven"], &[], "");
    assert!(!ok, "a run number is a number");
}

#[test]
fn a_release_never_moves_a_tag_nor_guesses_when_the_registry_does_not_answer() {
    let tags = "docker.io/ns/api-app:1.0.7\ndocker.io/ns/api-app:sha-1234567\n";
    for published in [
        // Another build holds one of the tags.
        vec![("docker.io/ns/api-app:1.0.7", A)],
        // The two tags name different images.
        vec![
            ("docker.io/ns/api-app:1.0.7", A),
            ("docker.io/ns/api-app:sha-1234567", B),
        ],
    ] {
        let tools = fake_registry(&published);
        let (ok, out, err) = tools.run("published-digest.sh", &[], &[], tags);
        assert!(!ok, "{published:?}: {out}");
        assert!(err.contains("never moves a tag"), "{err}");
    }
    let tools = fake_registry(&[]);
    let (ok, _, err) = tools.run(
        "published-digest.sh",
        &[],
        &[],
        "docker.io/ns/unreachable:1.0.7\n",
    );
    assert!(!ok && err.contains("cannot tell"), "{err}");
}

/// `cosign verify ...`: logs its arguments, and refuses images whose digest `$FAKE_DIR/unsigned` lists.
fn fake_cosign(unsigned: &[&str]) -> FakeTools {
    let tools = FakeTools::new("cosign");
    tools.file("unsigned", &unsigned.join("\n"));
    tools.file("cosign.log", "");
    tools.tool(
        "cosign",
        r#"echo "$*" >> "$FAKE_DIR/cosign.log"
image=${*: -1}
if grep -qxF "${image#*@}" "$FAKE_DIR/unsigned"; then echo "Error: no matching signatures" >&2; exit 1; fi
echo '[{"critical": {}}]'"#,
    );
    tools
}

#[test]
fn the_signature_check_verifies_each_digest_against_release_yml_on_main() {
    let tools = fake_cosign(&[B]);
    let env = [("GITHUB_REPOSITORY", "someone/fork")];
    let (ok, out, err) = tools.run(
        "verify-signature.sh",
        &[&format!("docker.io/ns/api-app@{A}")],
        &env,
        "",
    );
    assert!(ok, "{out}{err}");
    let log = std::fs::read_to_string(tools.path().join("cosign.log")).unwrap();
    assert_eq!(
        log.trim(),
        format!(
            "verify --certificate-identity https://github.com/someone/fork/.github/workflows/release.yml@refs/heads/main \
             --certificate-oidc-issuer https://token.actions.githubusercontent.com docker.io/ns/api-app@{A}"
        )
    );

    let (ok, _, err) = tools.run(
        "verify-signature.sh",
        &[&format!("docker.io/ns/api-app@{B}")],
        &env,
        "",
    );
    assert!(!ok && err.contains("no valid signature"), "{err}");
    let (ok, _, err) = tools.run(
        "verify-signature.sh",
        &["docker.io/ns/api-app:1.0.7"],
        &env,
        "",
    );
    assert!(!ok && err.contains("by digest"), "{err}");
    let (ok, _, err) = tools.run("verify-signature.sh", &[&format!("x@{A}")], &[], "");
    assert!(!ok && err.contains("GITHUB_REPOSITORY"), "{err}");
}

#[test]
fn the_signature_check_covers_every_overlay_pin_and_only_the_seed_is_exempt() {
    // Today's overlays carry the seed (no release yet): nothing to verify, and nothing refused.
    let tools = fake_cosign(&[]);
    let python = repo_root().join(".tools/venv/bin/python");
    let python = python.to_str().unwrap();
    let env = [
        ("GITHUB_REPOSITORY", "someone/fork"),
        ("GITOPS_PYTHON", python),
    ];
    let (ok, out, err) = tools.run(
        "verify-signature.sh",
        &["--overlays", "dev", "prod"],
        &env,
        "",
    );
    assert!(ok, "{out}{err}");
    let seeds = out.lines().filter(|l| l.contains("still the seed")).count();
    let signed = out.lines().filter(|l| l.contains("signed by")).count();
    assert_eq!(
        seeds + signed,
        4,
        "every pin of both apps in dev and prod is judged: {out}"
    );

    // A copy of the repository whose overlays pin released images: each digest goes to cosign,
    // an unsigned one and a bare tag are refused.
    let repository = std::process::Command::new(repo_root().join("scripts/image-repository.sh"))
        .output()
        .unwrap();
    let namespace = String::from_utf8(repository.stdout).unwrap();
    let copy = tools.path().join("repo");
    for file in [
        "scripts/verify-signature.sh",
        "scripts/lib.sh",
        "scripts/image-repository.sh",
        ".github/registry.env",
    ] {
        std::fs::create_dir_all(copy.join(file).parent().unwrap()).unwrap();
        std::fs::copy(repo_root().join(file), copy.join(file)).unwrap();
    }
    let pin = |env: &str, app: &str, pin: &str| {
        let dir = copy.join(format!("k8s/overlays/{env}/{app}"));
        std::fs::create_dir_all(&dir).unwrap();
        let image = format!("{}/{app}", namespace.trim());
        std::fs::write(
            dir.join("kustomization.yaml"),
            format!("images:\n  - name: {app}\n    newName: {image}\n{pin}\n"),
        )
        .unwrap();
    };
    let run = |envs: &[&str]| {
        std::fs::write(tools.path().join("cosign.log"), "").unwrap();
        let args: Vec<&str> = std::iter::once("--overlays")
            .chain(envs.iter().copied())
            .collect();
        let result = tools.run_in(&copy, "verify-signature.sh", &args, &env, "");
        let log = std::fs::read_to_string(tools.path().join("cosign.log")).unwrap();
        (result, log)
    };
    pin("dev", "api-app", &format!("    digest: {A}"));
    pin("dev", "demo-app", "    newTag: unreleased");
    let ((ok, out, err), log) = run(&["dev"]);
    assert!(ok, "{out}{err}");
    assert!(
        log.contains(&format!("api-app@{A}")),
        "the digest is verified: {log}"
    );
    assert_eq!(log.lines().count(), 1, "the seed is not: {log}");

    pin("prod", "api-app", &format!("    digest: {B}"));
    pin("prod", "demo-app", "    newTag: unreleased");
    tools.file("unsigned", B);
    let ((ok, _, err), log) = run(&["prod"]);
    assert!(
        !ok && err.contains("no valid signature"),
        "an unsigned digest: {err}"
    );
    assert!(log.contains(&format!("api-app@{B}")), "{log}");

    pin("prod", "api-app", &format!("    digest: {A}"));
    pin("prod", "demo-app", "    newTag: 1.0.7");
    let ((ok, _, err), _) = run(&["prod"]);
    assert!(!ok && err.contains("without a digest"), "a bare tag: {err}");
}

/// ci.yml's `needs` for a change: every job with its result, and the classifier's outputs.
fn needs(results: &[(&str, &str)], overlay_only: bool, overlays: bool) -> String {
    let mut jobs: BTreeMap<&str, serde_json::Value> = results
        .iter()
        .map(|(job, result)| (*job, serde_json::json!({"result": result, "outputs": {}})))
        .collect();
    jobs.insert(
        "changes",
        serde_json::json!({"result": "success", "outputs": {
            "overlay-only": overlay_only.to_string(),
            "overlays": overlays.to_string(),
            "dependencies": "false",
            "prod-pins": "false",
        }}),
    );
    serde_json::to_string(&jobs).unwrap()
}

const FULL: [(&str, &str); 6] = [
    ("bundle", "skipped"),
    ("signatures", "skipped"),
    ("test", "success"),
    ("coverage", "success"),
    ("cargo-deny", "success"),
    ("actionlint", "success"),
];

/// An overlay-only change: the bundle checks and the signatures must pass; the suite may skip.
const BUMP: [(&str, &str); 6] = [
    ("bundle", "success"),
    ("signatures", "success"),
    ("test", "skipped"),
    ("coverage", "skipped"),
    ("cargo-deny", "skipped"),
    ("actionlint", "skipped"),
];

#[test]
fn the_required_check_demands_the_jobs_the_change_needs() {
    let tools = FakeTools::new("required-needs");
    let with = |base: &[(&'static str, &'static str)], job: &'static str, result: &'static str| {
        let mut jobs = base.to_vec();
        jobs.iter_mut().find(|(j, _)| *j == job).unwrap().1 = result;
        jobs
    };
    // (jobs, overlay-only, overlays changed, the problem it must report or None)
    let cases = [
        (FULL.to_vec(), false, false, None),
        // A code change whose tests were skipped (the path a bot PR takes) is not green.
        (
            with(&FULL, "test", "skipped"),
            false,
            false,
            Some("test: skipped"),
        ),
        (
            with(&FULL, "bundle", "failure"),
            false,
            false,
            Some("bundle: failure"),
        ),
        (BUMP.to_vec(), true, true, None),
        (
            with(&BUMP, "signatures", "failure"),
            true,
            true,
            Some("signatures: failure"),
        ),
        (
            with(&BUMP, "signatures", "skipped"),
            true,
            true,
            Some("signatures: skipped"),
        ),
    ];
    for (jobs, overlay_only, overlays, problem) in cases {
        let needs = needs(&jobs, overlay_only, overlays);
        let (ok, _, err) = tools.run(
            "required-checks.sh",
            &[],
            &[("NEEDS", &needs), ("EVENT", "push")],
            "",
        );
        match problem {
            None => assert!(ok, "{jobs:?}: {err}"),
            Some(problem) => assert!(!ok && err.contains(problem), "{jobs:?}: {err}"),
        }
    }
}

#[test]
fn the_required_check_waits_for_every_other_workflow_on_the_pull_request() {
    let head = "0123456789abcdef0123456789abcdef01234567";
    let run_with = |responses: &[&str]| {
        let tools = FakeTools::new("required-others");
        for (i, response) in responses.iter().enumerate() {
            tools.file(&format!("gh-{i}"), response);
        }
        // `gh api ... --jq ...`: the next canned answer (the last one repeats), already filtered.
        tools.tool(
            "gh",
            r#"n=$(cat "$FAKE_DIR/gh-count" 2>/dev/null || echo 0)
[[ -f $FAKE_DIR/gh-$n ]] || n=$((n - 1))
echo $((n + 1)) > "$FAKE_DIR/gh-count"
echo "$*" >> "$FAKE_DIR/gh.log"
cat "$FAKE_DIR/gh-$n""#,
        );
        let out = tools.run(
            "required-checks.sh",
            &[],
            &[
                ("NEEDS", &needs(&FULL, false, false)),
                ("EVENT", "pull_request"),
                ("HEAD_SHA", head),
                ("GITHUB_REPOSITORY", "someone/fork"),
                ("GITHUB_RUN_ID", "42"),
                ("REQUIRED_POLL_SECONDS", "0"),
            ],
            "",
        );
        let log = std::fs::read_to_string(tools.path().join("gh.log")).unwrap_or_default();
        (out, log)
    };
    let check = |name: &str, status: &str, conclusion: &str, run: u32| {
        format!(
            r#"{{"name":"{name}","status":"{status}","conclusion":{conclusion},"details_url":"https://github.com/someone/fork/actions/runs/{run}/job/1"}}"#
        )
    };
    // Its own run (42) is never waited for; terraform (run 7) is, until it completes.
    let own = check("make test", "in_progress", "null", 42);
    let pending = format!(
        "{own}\n{}",
        check(
            "fmt, validate, tflint, test, checkov",
            "in_progress",
            "null",
            7
        )
    );
    let passed = format!(
        "{own}\n{}",
        check(
            "fmt, validate, tflint, test, checkov",
            "completed",
            "\"success\"",
            7
        )
    );
    let failed = format!(
        "{own}\n{}",
        check(
            "mutants of the changed lines",
            "completed",
            "\"failure\"",
            8
        )
    );

    let ((ok, out, err), log) = run_with(&[&pending, &pending, &passed]);
    assert!(ok, "{out}{err}");
    assert_eq!(
        log.lines().count(),
        3,
        "it polled until terraform finished: {log}"
    );
    assert!(
        log.contains(&format!("repos/someone/fork/commits/{head}/check-runs")),
        "{log}"
    );

    let ((ok, _, err), _) = run_with(&[&failed]);
    assert!(
        !ok && err.contains("mutants of the changed lines: failure"),
        "{err}"
    );
}

#[test]
fn the_smoke_test_passes_the_real_apps_and_refuses_another_commit() {
    let commit = platform::build_info!().commit;
    for app in ["api-app", "demo-app"] {
        let server = RealBinary::spawn(app, &[("APP_ENV", "local")]);
        let tools = FakeTools::new("smoke");
        let (url, admin) = (server.address.clone(), server.admin_address.clone());
        let (ok, out, err) = tools.run("smoke-image.sh", &[app, commit, &url, &admin], &[], "");
        assert!(ok, "{app}: {out}{err}");
        let (ok, _, err) = tools.run("smoke-image.sh", &[app, "0000000", &url, &admin], &[], "");
        assert!(
            !ok && err.contains("expected '0000000'"),
            "{app}: a build of another commit is refused: {err}"
        );
    }
}

#[test]
fn prod_pins_change_only_through_the_approved_promotion_or_rollback_branches() {
    let tools = FakeTools::new("required-prod");
    // No other workflow runs on the commit: the check-runs answer is empty.
    tools.file("gh-answer", "");
    tools.tool("gh", r#"cat "$FAKE_DIR/gh-answer""#);
    let mut needs: serde_json::Value = serde_json::from_str(&needs(&BUMP, true, true)).unwrap();
    needs["changes"]["outputs"]["prod-pins"] = "true".into();
    let needs = needs.to_string();
    let run = |repo: &str, branch: &str| {
        tools.run(
            "required-checks.sh",
            &[],
            &[
                ("NEEDS", &needs),
                ("EVENT", "pull_request"),
                ("HEAD_SHA", "0123456789abcdef0123456789abcdef01234567"),
                ("HEAD_REF", branch),
                ("HEAD_REPO", repo),
                ("GITHUB_REPOSITORY", "someone/fork"),
                ("GITHUB_RUN_ID", "42"),
                ("REQUIRED_POLL_SECONDS", "0"),
            ],
            "",
        )
    };
    // The branches promote.yml and rollback.yml push, after the production environment's approval.
    let branch_of = |wf: &str, job: &str| {
        let wf = crate::workflows::workflow(wf);
        crate::workflows::step_using(&wf["jobs"][job], "peter-evans/create-pull-request@")["with"]
            ["branch"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        branch_of("promote", "promote"),
        "gitops/promote-prod-${{ inputs.app }}"
    );
    assert_eq!(
        branch_of("rollback", "rollback"),
        "gitops/rollback-${{ inputs.environment }}"
    );
    for branch in [
        "gitops/promote-prod-both",
        "gitops/promote-prod-api-app",
        "gitops/rollback-prod",
    ] {
        let (ok, out, err) = run("someone/fork", branch);
        assert!(ok, "{branch}: {out}{err}");
    }
    // A hand-written pin, or the same branch name from another repository (no ruleset guards it).
    for (repo, branch) in [
        ("someone/fork", "fix-prod-quickly"),
        ("someone/fork", "gitops/bump-dev"),
        ("attacker/fork", "gitops/promote-prod-both"),
    ] {
        let (ok, _, err) = run(repo, branch);
        assert!(
            !ok && err.contains("only through promote.yml or rollback.yml"),
            "{repo}:{branch}: {err}"
        );
    }
}
