//! The kind job (.github/workflows/canary-kind.yml) can only run where there is a container engine; its
//! parts are checked here: the verdict script on Rollout statuses as Argo Rollouts v1.9 writes them
//! (`kind/*.json`, shaped on upstream's recorded fixture pkg/kubectl-argo-rollouts/info/testdata/canary
//! with the fields of pkg/apis/rollouts/v1alpha1 set for each case), the chart versions it installs,
//! the releases it makes, and the workflow's trigger and permissions.

use std::fmt::Write as _;
use std::process::Command;

use integration_tests::k8s::{container, local, one, render_with_patches, s, seq};
use integration_tests::terraform::{attr_text, block, blocks_in};
use integration_tests::{read_text, read_yaml, repo_root};

/// Runs scripts/kind/rollout-verdict.sh on a recorded Rollout: (exit code, the line it printed).
fn verdict(fixture: &str, stable_before: &str) -> (i32, String) {
    let json = std::fs::read(repo_root().join("tests/contract/kind").join(fixture)).unwrap();
    let mut child = Command::new(repo_root().join("scripts/kind/rollout-verdict.sh"))
        .arg(stable_before)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &json).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    )
}

/// Runs scripts/kind/NAME, which must succeed; its stdout.
fn script(name: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(repo_root().join("scripts/kind").join(name))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

const STABLE: &str = "5c7d9b8f4";
const CANARY: &str = "6d9f8c7b5";

#[test]
fn the_verdict_tells_a_promoted_release_from_an_aborted_one_and_waits_for_the_rest() {
    // Promoted: Healthy, the new hash is stable now.
    let (code, line) = verdict("promoted.json", STABLE);
    assert_eq!(
        (code, line.as_str()),
        (0, format!("promoted {CANARY}").as_str())
    );
    // Aborted by its analysis, the old stable still serving.
    let (code, line) = verdict("aborted.json", STABLE);
    assert_eq!(code, 10, "{line}");
    assert!(
        line.starts_with(&format!("aborted {CANARY}: RolloutAborted"))
            && line.contains("availability-slo-5xx-ratio"),
        "the reason names the metric that failed: {line}"
    );
    // Still deciding: between steps, or the controller has not seen the newest template (a Healthy
    // from before it must not count as the release's).
    for fixture in ["analysing.json", "not-observed.json"] {
        let (code, line) = verdict(fixture, STABLE);
        assert_eq!(code, 20, "{fixture}: {line}");
        assert!(line.starts_with("progressing"), "{fixture}: {line}");
    }
    // A Healthy Rollout still on the stable from before: the release has not started.
    let (code, _) = verdict("promoted.json", CANARY);
    assert_eq!(code, 20);
    // Degraded without an abort, or an abort that left another stable: neither verdict.
    let (code, line) = verdict("timed-out.json", STABLE);
    assert_eq!(code, 30, "{line}");
    let (code, line) = verdict("aborted.json", "0000000000");
    assert_eq!(code, 30, "{line}");
    assert!(line.contains("not 0000000000"), "{line}");
}

#[test]
fn kind_installs_the_charts_at_the_versions_terraform_pins() {
    let listed = String::from_utf8(script("versions.sh", &[])).unwrap();
    let addons = blocks_in("terraform/modules/cluster-addons");
    let mut expected = String::new();
    for release in ["argocd", "argo_rollouts", "kube_prometheus_stack"] {
        let body = block(&addons, "resource", &["helm_release", release]).body();
        let field = |key: &str| attr_text(body, key).trim_matches('"').to_owned();
        writeln!(
            expected,
            "{} {} {} {}",
            field("name"),
            field("repository"),
            field("chart"),
            field("version")
        )
        .unwrap();
    }
    assert_eq!(listed, expected);
    // Exact pins (Renovate moves them): the same chart in kind as in both clusters.
    for line in listed.lines() {
        let version = line.rsplit(' ').next().unwrap();
        assert!(
            version.split('.').count() == 3 && version.split('.').all(|p| p.parse::<u32>().is_ok()),
            "pinned exactly: {line}"
        );
    }
    // up.sh installs each chart versions.sh lists, and nothing at a version of its own.
    let up = read_text("scripts/kind/up.sh");
    // Read whole first, so that a failing versions.sh stops up.sh rather than leaving charts out.
    assert!(up.contains("charts=$(scripts/kind/versions.sh)"));
    assert!(up.contains(r#"done <<<"$charts""#));
    assert_eq!(
        up.matches("--version").count(),
        1,
        "one helm install, at the version versions.sh read"
    );
    assert!(up.contains(r#"--version "$version""#));
}

/// The two releases the job makes are what it says: the good one changes only the image, the bad one
/// also turns `INJECT_ERROR_PERCENT` on; both through the Application's kustomize source, as Argo CD
/// renders it, on the local overlay.
#[test]
fn the_jobs_releases_render_on_the_local_overlay_as_a_new_image_and_an_injected_failure() {
    let workflow = read_text(".github/workflows/canary-kind.yml");
    for (name, verdict) in [("good", "promoted"), ("bad", "aborted")] {
        assert!(
            workflow.contains(&format!(
                r#"{verdict} "$(scripts/kind/overrides.sh {name})""#
            )),
            "the job expects the {name} release to be {verdict}"
        );
    }
    let before = container(&local("api-app")).clone();
    let overlay = read_yaml("k8s/overlays/local/api-app/kustomization.yaml");
    for (name, injects) in [("good", false), ("bad", true)] {
        let kustomize: serde_json::Value =
            serde_json::from_slice(&script("overrides.sh", &[name])).unwrap();
        // Argo CD's `images` override is `kustomize edit set image NAME=IMAGE`, NAME an overlay entry,
        // and IMAGE a new one: a new template, so the Rollout releases it.
        let image = kustomize["images"][0].as_str().unwrap();
        let (entry, reference) = image.split_once('=').unwrap();
        assert!(
            seq(&overlay[0]["images"])
                .iter()
                .any(|i| s(&i["name"]) == entry),
            "{name}: {entry} is an image of the local overlay"
        );
        assert_ne!(s(&before["image"]), reference, "{name}: a new image");
        let tag = reference.rsplit_once(':').unwrap().1;
        assert!(
            workflow.contains(&format!(r#"docker tag "${{api}}:local" "${{api}}:{tag}""#)),
            "{name}: the job tags {reference} before loading it into kind"
        );
        let patches: Vec<serde_json::Value> =
            kustomize["patches"].as_array().cloned().unwrap_or_default();
        let docs = render_with_patches("k8s/overlays/local/api-app", &patches);
        let env: Vec<(String, String)> = seq(&container(&docs)["env"])
            .iter()
            .map(|e| (s(&e["name"]).to_owned(), s(&e["value"]).to_owned()))
            .collect();
        assert_eq!(
            env.iter()
                .any(|(k, v)| k == "INJECT_ERROR_PERCENT" && v.parse::<u8>().is_ok_and(|n| n > 0)),
            injects,
            "{name}: {env:?}"
        );
        // What the patch changes is the template of the Deployment the Rollout runs.
        assert_eq!(
            one(&docs, "Rollout")["spec"]["workloadRef"]["name"],
            "api-app"
        );
    }
    // The failure setting is api-app's own, and allowed where the local overlay runs (APP_ENV=local).
    let vars = integration_tests::k8s::pod_env(&local("api-app"));
    assert_eq!(
        vars.get("APP_ENV").cloned().flatten().as_deref(),
        Some("local")
    );
    assert!(integration_tests::facts::env_var_names("api-app").contains("INJECT_ERROR_PERCENT"));
}

#[test]
fn the_kind_job_runs_for_release_changes_with_read_only_rights_and_reports_its_times() {
    let wf = &read_yaml(".github/workflows/canary-kind.yml")[0];
    let paths: Vec<&str> = seq(&wf["on"]["pull_request"]["paths"])
        .iter()
        .map(s)
        .collect();
    for needed in [
        "k8s/**",
        "api-app/**",
        "demo-app/**",
        "platform/**",
        "Dockerfile",
        "scripts/kind/**",
        "terraform/modules/cluster-addons/**",
    ] {
        assert!(
            paths.contains(&needed),
            "the job runs when {needed} changes"
        );
    }
    // The overlay-only PRs (a bump, a promotion, a rollback) never wait for a cluster build: the
    // required check waits for every workflow the PR starts, and a rollback's budget is minutes.
    for excluded in ["!k8s/overlays/dev/**", "!k8s/overlays/prod/**"] {
        let at = paths.iter().position(|p| *p == excluded);
        assert!(
            at.is_some_and(|i| i > paths.iter().position(|p| *p == "k8s/**").unwrap()),
            "{excluded} must follow k8s/** to take effect"
        );
    }
    assert!(wf["on"]["pull_request_target"].is_null());
    let job = &wf["jobs"]["kind"];
    assert_eq!(
        serde_json::to_value(&job["permissions"]).unwrap(),
        serde_json::json!({"contents": "read"}),
        "the job reads the repository and nothing else"
    );
    let up = job["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|st| {
            st["run"]
                .as_str()
                .is_some_and(|r| r.contains("scripts/kind/up.sh"))
        })
        .unwrap();
    assert_eq!(
        up["env"]["REVISION"].as_str(),
        Some("${{ github.event.pull_request.head.sha }}"),
        "Argo CD syncs the pull request's own commit"
    );
    let checkout = job["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|st| {
            st["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/checkout@"))
        })
        .unwrap();
    assert_eq!(
        checkout["with"]["ref"], up["env"]["REVISION"],
        "the images are built from the commit whose manifests Argo CD syncs"
    );
    let text = read_text(".github/workflows/canary-kind.yml");
    // Every repository file a step names starts the job when it changes.
    let covered = |file: &str| {
        paths.iter().any(|p| match p.strip_suffix("/**") {
            Some(dir) => file == dir || file.starts_with(&format!("{dir}/")),
            None => *p == file,
        })
    };
    let named: std::collections::BTreeSet<&str> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || "/._-".contains(c)))
        .filter(|w| w.starts_with("scripts/") || w.starts_with("tools/"))
        .map(|w| w.trim_end_matches(['.', '/']))
        .collect();
    assert!(named.contains("tools/requirements.txt"), "{named:?}");
    for file in named {
        assert!(
            covered(file),
            "the job reads {file} but does not run when it changes"
        );
    }
    assert!(
        text.matches(">> \"$GITHUB_STEP_SUMMARY\"").count()
            + text.matches("tee -a \"$GITHUB_STEP_SUMMARY\"").count()
            >= 2
    );
}

/// The API suite's step asks readiness where kubelet does, on the pod's admin port (the public port
/// answers 404 for `/readyz`), and runs Schemathesis on the public port, both through one forward
/// to one pod, with the drills' Idempotency-Key hooks.
#[test]
fn the_api_suite_waits_for_readiness_on_the_admin_port_and_tests_the_public_one() {
    let wf = &read_yaml(".github/workflows/canary-kind.yml")[0];
    let run = seq(&wf["jobs"]["kind"]["steps"])
        .iter()
        .filter_map(|st| st["run"].as_str())
        .find(|r| r.contains("schemathesis") && r.contains("port-forward"))
        .expect("a step runs Schemathesis through a port-forward");
    let docs = local("api-app");
    let ports: std::collections::BTreeMap<&str, u64> = seq(&container(&docs)["ports"])
        .iter()
        .map(|p| (s(&p["name"]), p["containerPort"].as_u64().unwrap()))
        .collect();
    // `port-forward "$pod" LOCAL:REMOTE LOCAL:REMOTE`: which local port reaches which container port.
    let forward = run
        .lines()
        .find(|l| l.contains("port-forward"))
        .unwrap()
        .split_whitespace()
        .skip_while(|w| *w != "port-forward")
        .take_while(|w| !w.starts_with('>'))
        .collect::<Vec<_>>();
    assert_eq!(forward.len(), 4, "one pod, two ports: {forward:?}");
    assert_eq!(forward[1], r#""$pod""#, "one pod for both ports");
    let local_port = |container_port: u64| -> &str {
        forward[2..4]
            .iter()
            .find_map(|pair| {
                let (l, r) = pair.split_once(':').unwrap();
                (r.parse::<u64>().unwrap() == container_port).then_some(l)
            })
            .unwrap_or_else(|| panic!("container port {container_port} is forwarded: {forward:?}"))
    };
    let (public, admin) = (local_port(ports["http"]), local_port(ports["admin"]));
    assert!(
        run.contains(&format!("http://127.0.0.1:{admin}/readyz")),
        "readiness on the admin port: {run}"
    );
    assert!(
        !run.contains(&format!("http://127.0.0.1:{public}/readyz")),
        "the public port answers 404 for /readyz: {run}"
    );
    assert!(
        run.contains(&format!("http://127.0.0.1:{public}/api/openapi.json")),
        "the suite on the public port: {run}"
    );
    assert!(
        run.contains("SCHEMATHESIS_HOOKS=schemathesis_hooks")
            && run.contains("PYTHONPATH=scripts/drills"),
        "the drills' hooks: {run}"
    );
}
