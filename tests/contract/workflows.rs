//! `.github/workflows` and the Dockerfile against `k8s/` and the apps: the images the release
//! pushes are the ones the overlays deploy, the bump and promotion touch only their own
//! environment, and every workflow keeps the hygiene rules.

use std::collections::BTreeSet;

use integration_tests::facts::ENVS;
use integration_tests::k8s::{container, overlay, s, seq};
use integration_tests::{read_text, read_yaml, repo_root};
use serde_yaml_ng::Value;

const APPS: [(&str, u16); 2] = [
    ("api-app", api_app::config::DEFAULT_PORT),
    ("demo-app", demo_app::config::DEFAULT_PORT),
];

/// Every workflow in `.github/workflows`, by name: a new one is held to the hygiene rules at once.
/// GitHub runs `.yaml` files too; the project spells them `.yml`, and any other file there fails
/// here rather than escaping the rules.
pub(crate) fn workflow_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo_root().join(".github/workflows"))
        .expect(".github/workflows exists")
        .map(|e| {
            let name = e
                .expect("a directory entry")
                .file_name()
                .into_string()
                .unwrap();
            name.strip_suffix(".yml")
                .unwrap_or_else(|| panic!(".github/workflows/{name}: workflows are named *.yml"))
                .to_owned()
        })
        .collect();
    names.sort();
    names
}

/// The events a workflow's `on:` names, in any of its three forms (a name, a list, a mapping).
fn events(wf: &Value) -> Vec<String> {
    match &wf["on"] {
        Value::String(event) => vec![event.clone()],
        Value::Sequence(events) => events
            .iter()
            .filter_map(|e| e.as_str().map(str::to_owned))
            .collect(),
        Value::Mapping(events) => events
            .keys()
            .filter_map(|e| e.as_str().map(str::to_owned))
            .collect(),
        other => panic!("on: {other:?}"),
    }
}

pub(crate) fn workflow(name: &str) -> Value {
    read_yaml(&format!(".github/workflows/{name}.yml"))
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("{name}.yml is empty"))
}

pub(crate) fn jobs(wf: &Value) -> Vec<(String, &Value)> {
    wf["jobs"]
        .as_mapping()
        .expect("a workflow has jobs")
        .iter()
        .map(|(id, job)| (id.as_str().expect("job ids are strings").to_owned(), job))
        .collect()
}

pub(crate) fn steps(job: &Value) -> Vec<&Value> {
    job["steps"]
        .as_sequence()
        .map(|s| s.iter().collect())
        .unwrap_or_default()
}

/// The step whose `uses:` starts with `action` (e.g. `peter-evans/create-pull-request@`).
pub(crate) fn step_using<'a>(job: &'a Value, action: &str) -> &'a Value {
    steps(job)
        .into_iter()
        .find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with(action)))
        .unwrap_or_else(|| panic!("no step uses {action}"))
}

pub(crate) fn run_scripts(job: &Value) -> String {
    steps(job)
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

pub(crate) fn lines(value: &Value) -> BTreeSet<String> {
    value
        .as_str()
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn kustomization_paths(env: &str) -> BTreeSet<String> {
    APPS.iter()
        .map(|(app, _)| format!("k8s/overlays/{env}/{app}/kustomization.yaml"))
        .collect()
}

/// `docker.io/ns/app:tag@sha256:…` → `docker.io/ns/app`.
fn repository(image: &str) -> &str {
    let without_digest = image.split('@').next().unwrap_or(image);
    match without_digest.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => without_digest,
    }
}

fn release_job<'a>(release: &'a Value, id: &str) -> &'a Value {
    &release["jobs"][id]
}

#[test]
fn release_pushes_the_images_the_overlays_deploy() {
    let release = workflow("release");
    let build = release_job(&release, "build");
    let matrix: Vec<&str> = build["strategy"]["matrix"]["app"]
        .as_sequence()
        .expect("build is a matrix over the apps")
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(matrix, APPS.map(|(app, _)| app));

    // The repository comes from the one registry source, through the script, per matrix app.
    let registry_step = steps(build)
        .into_iter()
        .find(|st| st["id"].as_str() == Some("registry"))
        .expect("build has a registry step");
    assert!(
        registry_step["run"]
            .as_str()
            .is_some_and(|r| r.contains(r#"scripts/image-repository.sh "$APP""#)),
        "{registry_step:?}"
    );
    assert_eq!(
        registry_step["env"]["APP"].as_str(),
        Some("${{ matrix.app }}")
    );
    let images = step_using(build, "docker/metadata-action@")["with"]["images"]
        .as_str()
        .expect("metadata-action names the image");
    assert_eq!(images, "${{ steps.registry.outputs.repository }}");
    let registry = crate::registry::registry_namespace();
    for (app, _) in APPS {
        let pushed = format!("{registry}/{app}");
        for env in ENVS {
            let docs = overlay(env, app);
            let deployed = s(&container(&docs)["image"]);
            assert_eq!(
                repository(deployed),
                pushed,
                "{env} deploys {deployed}, the release pushes {pushed}"
            );
        }
    }
}

#[test]
fn release_builds_each_app_from_the_shared_dockerfile_for_both_architectures() {
    let release = workflow("release");
    let push = &step_using(release_job(&release, "build"), "docker/build-push-action@")["with"];
    assert_eq!(push["file"].as_str(), Some("Dockerfile"));
    assert_eq!(push["context"].as_str(), Some("."));
    assert_eq!(push["platforms"].as_str(), Some("linux/amd64,linux/arm64"));
    assert_eq!(push["push"].as_bool(), Some(true));
    assert_eq!(push["provenance"].as_str(), Some("mode=max"));
    let args = lines(&push["build-args"]);
    assert!(
        args.iter().any(|a| *a == "APP=${{ matrix.app }}"),
        "the matrix app picks what the Dockerfile builds: {args:?}"
    );
    assert!(args.iter().any(|a| a.starts_with("GIT_SHA=")));
    assert!(args.iter().any(|a| a.starts_with("BUILD_TIME=")));

    let tags = lines(
        &step_using(release_job(&release, "build"), "docker/metadata-action@")["with"]["tags"],
    );
    assert!(tags.contains("type=raw,value=${{ env.IMAGE_VERSION }}"));
    assert!(tags.contains("type=sha,prefix=sha-,format=short"));
    assert_eq!(
        release["env"]["IMAGE_VERSION"].as_str(),
        Some("1.0.${{ github.run_number }}")
    );
}

#[test]
fn release_never_triggers_itself_through_the_bump_pr() {
    let release = workflow("release");
    let ignored: Vec<&str> = release["on"]["push"]["paths-ignore"]
        .as_sequence()
        .expect("release.yml ignores non-app paths")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        ignored.contains(&"k8s/**"),
        "k8s/** must not start a release"
    );
    assert_eq!(release["on"]["push"]["branches"][0].as_str(), Some("main"));
}

#[test]
fn bump_job_edits_exactly_the_dev_overlays() {
    let release = workflow("release");
    let bump = release_job(&release, "bump-dev");
    let pr = &step_using(bump, "peter-evans/create-pull-request@")["with"];
    assert_eq!(lines(&pr["add-paths"]), kustomization_paths("dev"));

    // Before any pin is written, the guard against a re-run of an older release.
    let runs: Vec<&str> = seq(&bump["steps"])
        .iter()
        .filter_map(|st| st["run"].as_str())
        .collect();
    let guard = runs
        .iter()
        .position(|r| r.contains(r#"scripts/newer-release.sh "$RUN_NUMBER""#))
        .expect("bump-dev runs scripts/newer-release.sh");
    let edit = runs
        .iter()
        .position(|r| r.contains("kustomize edit set image"))
        .unwrap();
    assert!(
        guard < edit,
        "the guard runs before the overlays are edited"
    );
    let guard_step = seq(&bump["steps"])
        .iter()
        .find(|st| st["run"].as_str() == Some(runs[guard]))
        .unwrap();
    assert_eq!(
        guard_step["env"]["RUN_NUMBER"].as_str(),
        Some("${{ github.run_number }}")
    );
    assert_eq!(
        bump["permissions"]["actions"].as_str(),
        Some("read"),
        "listing the release runs needs actions: read"
    );

    let script = run_scripts(bump);
    assert!(script.contains("kustomize edit set image"));
    assert!(script.contains(r#"cd "k8s/overlays/dev/${app}""#));
    assert!(script.contains(&format!(
        "for app in {}; do",
        APPS.map(|(a, _)| a).join(" ")
    )));
    assert!(
        !script.contains("overlays/prod"),
        "the dev bump never touches prod"
    );
    assert_eq!(
        bump["concurrency"]["group"].as_str(),
        Some("gitops-bump-dev")
    );
    assert_eq!(
        bump["concurrency"]["cancel-in-progress"].as_bool(),
        Some(false)
    );

    for path in kustomization_paths("dev") {
        let app = path.split('/').nth(3).unwrap();
        let kustomization = &read_yaml(&path)[0];
        assert!(
            kustomization["images"]
                .as_sequence()
                .is_some_and(|images| images.iter().any(|i| i["name"].as_str() == Some(app))),
            "{path} has an images entry named {app} for kustomize edit set image"
        );
    }
}

#[test]
fn promotion_copies_dev_into_the_prod_overlays_only_after_approval() {
    let promote = workflow("promote");
    let job = &promote["jobs"]["promote"];
    assert_eq!(job["environment"].as_str(), Some("production"));
    let pr = &step_using(job, "peter-evans/create-pull-request@")["with"];
    assert_eq!(lines(&pr["add-paths"]), kustomization_paths("prod"));

    let script = run_scripts(job);
    assert!(script.contains(r#"cd "k8s/overlays/prod/${app}""#));
    assert!(script.contains(r#""k8s/overlays/dev/${app}/kustomization.yaml""#));
    assert!(
        script.contains(r#"scripts/verify-signature.sh "${repo}@${digest}""#),
        "prod pins only what release.yml on main signed"
    );

    let input = &promote["on"]["workflow_dispatch"]["inputs"]["app"];
    assert_eq!(input["default"].as_str(), Some("both"));
    let options: Vec<&str> = input["options"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(options, ["both", "api-app", "demo-app"]);
    // A pending promotion of one app is never cancelled by a press for another.
    assert_eq!(
        promote["concurrency"]["group"].as_str(),
        Some("gitops-promote-prod-${{ inputs.app }}")
    );
}

#[test]
fn workflows_start_without_permissions_and_never_use_pull_request_target() {
    for name in &workflow_names() {
        let wf = workflow(name);
        let top = &wf["permissions"];
        let empty = top
            .as_mapping()
            .is_some_and(serde_yaml_ng::Mapping::is_empty);
        let read_only = top
            .as_mapping()
            .is_some_and(|m| m.len() == 1 && top["contents"].as_str() == Some("read"));
        assert!(
            empty || read_only,
            "{name}.yml: top-level permissions are {top:?}"
        );
        let events = events(&wf);
        assert!(!events.is_empty(), "{name}.yml: its events are read");
        assert!(
            !events.iter().any(|e| e == "pull_request_target"),
            "{name}.yml uses pull_request_target"
        );
        for (id, job) in jobs(&wf) {
            assert!(
                job.get("permissions").is_some(),
                "{name}.yml: job {id} states its permissions"
            );
        }
    }
}

/// The jobs that open pull requests write only with the GitHub App's token: its pushes start the
/// PR's checks and the gitops/** ruleset admits only the App. Their own token only reads, so no
/// other step of theirs (an action, a script) can write to the repository, and a missing App stops
/// them at once with the variable's name rather than falling back.
#[test]
fn jobs_that_open_prs_write_only_with_the_apps_token() {
    let mut seen = 0;
    for name in &workflow_names() {
        for (id, job) in jobs(&workflow(name)) {
            let all = steps(job);
            let Some(token) = all.iter().position(|s| {
                s["uses"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("actions/create-github-app-token@"))
            }) else {
                continue;
            };
            seen += 1;
            let what = format!("{name}.yml {id}");
            for permission in ["contents", "pull-requests"] {
                assert_ne!(
                    job["permissions"][permission].as_str(),
                    Some("write"),
                    "{what}: its own token writes {permission}"
                );
            }
            assert!(
                all[token].get("if").is_none(),
                "{what}: the App token is optional"
            );
            assert!(
                all[..token].iter().any(|s| s["run"]
                    .as_str()
                    .is_some_and(|r| r.contains("GITOPS_APP_CLIENT_ID is not set"))),
                "{what}: a missing App is named before anything runs"
            );
            let text = serde_yaml_ng::to_string(job).unwrap();
            assert!(
                !text.contains("|| github.token"),
                "{what}: falls back to GITHUB_TOKEN"
            );
        }
    }
    assert!(seen >= 4, "bump-dev, promote, rollback and terraform-lock");
}

#[test]
fn every_job_has_a_timeout() {
    for name in &workflow_names() {
        for (id, job) in jobs(&workflow(name)) {
            // A job that calls a reusable workflow cannot set one; the called jobs do.
            if job.get("uses").is_some() {
                continue;
            }
            assert!(
                job["timeout-minutes"].as_u64().is_some(),
                "{name}.yml: job {id} has no timeout-minutes"
            );
        }
    }
}

#[test]
fn checkouts_never_persist_credentials() {
    for name in &workflow_names() {
        for (id, job) in jobs(&workflow(name)) {
            for step in steps(job) {
                if step["uses"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("actions/checkout@"))
                {
                    assert_eq!(
                        step["with"]["persist-credentials"].as_bool(),
                        Some(false),
                        "{name}.yml: checkout in {id} persists credentials"
                    );
                }
            }
        }
    }
}

#[test]
fn run_blocks_take_values_only_through_env() {
    for name in &workflow_names() {
        for (id, job) in jobs(&workflow(name)) {
            let script = run_scripts(job);
            assert!(
                !script.contains("${{"),
                "{name}.yml: a run: block in {id} interpolates an expression; pass it via env:"
            );
        }
    }
}

#[test]
fn publishing_jobs_restore_no_toolchain_caches() {
    for name in ["release", "promote"] {
        for (id, job) in jobs(&workflow(name)) {
            for step in steps(job) {
                let uses = step["uses"].as_str().unwrap_or_default();
                assert!(
                    !uses.starts_with("Swatinem/rust-cache@")
                        && !uses.starts_with("actions/cache@"),
                    "{name}.yml: {id} restores a cache ({uses})"
                );
                if uses.starts_with("docker/setup-buildx-action@") {
                    assert_eq!(step["with"]["cache-binary"].as_bool(), Some(false));
                }
            }
        }
    }
}

#[test]
fn the_dockerfile_builds_either_app_static_and_nonroot_on_the_pinned_toolchain() {
    let toolchain = read_text("rust-toolchain.toml");
    let channel = toolchain
        .lines()
        .find_map(|l| l.strip_prefix("channel = "))
        .expect("rust-toolchain.toml pins a channel")
        .trim_matches('"');
    let dockerfile = read_text("Dockerfile");
    let has = |needle: &str| dockerfile.lines().any(|l| l.trim() == needle);
    assert!(
        has("ARG APP"),
        "APP has no default: a build must say which app"
    );
    for (app, _) in APPS {
        assert!(
            dockerfile.contains(&format!("{app}|")) || dockerfile.contains(&format!("|{app})")),
            "the Dockerfile accepts APP={app}"
        );
    }
    assert!(has(r#"ENTRYPOINT ["/app"]"#));
    assert!(has("COPY --from=builder /out/app /app"));
    assert!(has("USER 65532:65532"));
    assert!(
        dockerfile.contains(&format!("FROM --platform=$BUILDPLATFORM rust:{channel}-")),
        "the Dockerfile builds on the build platform with Rust {channel}"
    );
    assert!(dockerfile.contains("gcr.io/distroless/static-debian13:nonroot@sha256:"));
    assert!(dockerfile.contains("--package \"$APP\""));
    assert!(
        !dockerfile.contains(":latest"),
        "the Dockerfile never uses :latest"
    );
    assert!(repo_root().join(".dockerignore").is_file());
}

/// Every concurrency group a workflow or its jobs join, as written.
fn concurrency_groups(name: &str) -> Vec<String> {
    let wf = workflow(name);
    std::iter::once(&wf)
        .chain(jobs(&wf).into_iter().map(|(_, job)| job))
        .filter_map(|v| v["concurrency"]["group"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn nothing_that_restores_service_waits_on_or_is_cancelled_by_a_release_or_promotion() {
    // GitHub keeps one pending run per group and replaces it with the next: a rollback sharing a
    // group with the bump or the promotion could be cancelled by it, or wait for its approval.
    let rollback = workflow("rollback");
    assert_eq!(
        rollback["concurrency"]["group"].as_str(),
        Some("gitops-rollback-${{ inputs.environment }}")
    );
    assert_eq!(
        rollback["concurrency"]["cancel-in-progress"].as_bool(),
        Some(false)
    );
    for (id, job) in jobs(&rollback) {
        assert!(
            job.get("concurrency").is_none(),
            "rollback.yml {id} joins no other group"
        );
    }
    for other in ["release", "promote", "ci"] {
        for group in concurrency_groups(other) {
            assert!(
                !group.contains("rollback"),
                "{other}.yml joins the rollback group {group}"
            );
        }
    }

    // While dev rolls back, the open bump PR (the build being rolled back, or one built with it)
    // must not merge itself.
    let job = &rollback["jobs"]["rollback"];
    let hold = steps(job)
        .into_iter()
        .find(|s| {
            s["run"]
                .as_str()
                .is_some_and(|r| r.contains("--disable-auto"))
        })
        .expect("rollback.yml disarms the bump PR's auto-merge");
    assert!(
        hold["if"]
            .as_str()
            .is_some_and(|c| c.contains("inputs.environment == 'dev'"))
    );
    assert!(
        hold["run"]
            .as_str()
            .unwrap()
            .contains("--head gitops/bump-dev"),
        "it finds the PR release.yml opens"
    );
    // Disarmed before the rollback is chosen: an armed bump could merge in between, leaving the
    // rollback in conflict or chosen from a stale main.
    let all = steps(job);
    let at = |pred: &dyn Fn(&Value) -> bool| all.iter().position(|s| pred(s)).unwrap();
    let disarm = at(&|s| {
        s["run"]
            .as_str()
            .is_some_and(|r| r.contains("--disable-auto"))
    });
    let choose = at(&|s| {
        s["run"]
            .as_str()
            .is_some_and(|r| r.contains("scripts/rollback.sh"))
    });
    assert!(
        disarm < choose,
        "the bump PR is held before the rollback is chosen"
    );
    let rollback_branch = step_using(job, "peter-evans/create-pull-request@")["with"]["branch"]
        .as_str()
        .unwrap()
        .replace("${{ inputs.environment }}", "dev");
    let release = workflow("release");
    let bump = step_using(
        &release["jobs"]["bump-dev"],
        "peter-evans/create-pull-request@",
    );
    assert_eq!(bump["with"]["branch"].as_str(), Some("gitops/bump-dev"));
    // And a release does not arm its bump while that rollback PR is still open.
    let release_hold = steps(&release["jobs"]["bump-dev"])
        .into_iter()
        .find(|s| s["id"].as_str() == Some("hold"))
        .expect("bump-dev decides a hold");
    assert!(
        release_hold["run"]
            .as_str()
            .unwrap()
            .contains(&format!("--head {rollback_branch} --state open")),
        "the hold looks for an open {rollback_branch} PR"
    );
}

#[test]
fn a_rerun_of_the_release_still_arms_the_bump_prs_auto_merge() {
    let release = workflow("release");
    let bump = &release["jobs"]["bump-dev"];
    let all = steps(bump);
    let at = |what: &str, pred: &dyn Fn(&Value) -> bool| {
        all.iter()
            .position(|s| pred(s))
            .unwrap_or_else(|| panic!("bump-dev {what}"))
    };
    let merge = at("arms auto-merge", &|s| {
        s["run"].as_str().is_some_and(|r| r.contains("gh pr merge"))
    });
    // create-pull-request reports `none` when a re-run finds the PR as it left it.
    assert_eq!(
        all[merge]["if"].as_str(),
        Some("steps.pr.outputs.pull-request-number != '' && steps.hold.outputs.rollback == ''"),
        "armed whenever the PR exists, whatever the operation, unless dev was rolled back since"
    );
    // The hold is decided before, from this release's commit, on the whole history of main.
    let hold = at("decides the hold", &|s| s["id"].as_str() == Some("hold"));
    assert!(
        all[hold]["run"]
            .as_str()
            .is_some_and(|r| r.contains("scripts/rolled-back-since.sh \"$SHA\"")),
        "the hold asks scripts/rolled-back-since.sh"
    );
    assert_eq!(all[hold]["env"]["SHA"].as_str(), Some("${{ github.sha }}"));
    assert!(hold < merge);
    assert_eq!(
        step_using(bump, "actions/checkout@")["with"]["fetch-depth"].as_u64(),
        Some(0),
        "the history since the release's commit"
    );
}

#[test]
fn only_tested_images_are_signed_and_only_signed_ones_are_deployed() {
    let release = workflow("release");
    let needs = |job: &str| -> BTreeSet<String> {
        let n = &release["jobs"][job]["needs"];
        n.as_sequence().map_or_else(
            || n.as_str().into_iter().map(str::to_owned).collect(),
            |s| {
                s.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            },
        )
    };
    assert_eq!(needs("smoke-arm64"), BTreeSet::from(["build".to_owned()]));
    assert_eq!(
        needs("sign"),
        BTreeSet::from(["build".to_owned(), "smoke-arm64".to_owned()])
    );
    assert_eq!(needs("bump-dev"), BTreeSet::from(["sign".to_owned()]));
    assert_eq!(
        release["jobs"]["smoke-arm64"]["runs-on"].as_str(),
        Some("ubuntu-24.04-arm"),
        "arm64 runs natively, not emulated"
    );

    // In build: the amd64 smoke run comes after the push and before the artifact sign reads.
    let build = &release["jobs"]["build"];
    let build_steps = steps(build);
    let at = |pred: &dyn Fn(&Value) -> bool| build_steps.iter().position(|s| pred(s)).unwrap();
    let push = at(&|s| s["id"].as_str() == Some("push"));
    let smoke = at(&|s| {
        s["run"]
            .as_str()
            .is_some_and(|r| r.contains("scripts/smoke-image.sh") && r.contains("linux/amd64"))
    });
    let upload = at(&|s| {
        s["uses"]
            .as_str()
            .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
    });
    assert!(push < smoke && smoke < upload);
    assert!(run_scripts(&release["jobs"]["smoke-arm64"]).contains("linux/arm64"));
    for (id, job) in jobs(&release) {
        let signs = run_scripts(job).contains("cosign sign");
        assert_eq!(signs, id == "sign", "only the sign job signs ({id})");
        let oidc = job["permissions"]["id-token"].as_str() == Some("write");
        assert_eq!(
            oidc,
            id == "sign",
            "only the sign job holds id-token: write ({id})"
        );
    }
    let sign = run_scripts(&release["jobs"]["sign"]);
    assert!(
        sign.find("cosign sign").unwrap() < sign.find("scripts/verify-signature.sh").unwrap(),
        "the signature is verified as the clusters will, right after signing"
    );
}

#[test]
fn the_release_build_reads_only_caches_and_builders_no_test_job_can_write() {
    let release = workflow("release");
    for id in ["warm-cache", "build"] {
        let job = &release["jobs"][id];
        let build = &step_using(job, "docker/build-push-action@")["with"];
        for key in ["cache-from", "cache-to"] {
            let cache = build[key].as_str().unwrap();
            assert!(
                cache.starts_with(
                    "type=registry,ref=${{ steps.registry.outputs.repository }}:buildcache"
                ),
                "{id} {key}: only jobs holding the registry token write the cache: {cache}"
            );
        }
        assert_eq!(job["environment"].as_str(), Some("registry"));
        let buildx = &step_using(job, "docker/setup-buildx-action@")["with"];
        assert_eq!(
            buildx["driver-opts"].as_str(),
            Some("image=${{ steps.images.outputs.buildkit }}"),
            "{id}: BuildKit pinned"
        );
        let images = run_scripts(job);
        assert!(
            images.contains(r#"echo "buildkit=$(scripts/pinned-image.sh buildkit)""#),
            "{id}: BuildKit comes from .github/images/Dockerfile"
        );
    }
    let build = &release["jobs"]["build"];
    let push = &step_using(build, "docker/build-push-action@")["with"];
    // The generator goes in `sbom`: build-push-action lets that input take precedence and drops
    // an sbom entry of `attests` beside it, so BuildKit would run its default, unpinned scanner.
    assert_eq!(
        push["sbom"].as_str(),
        Some("generator=${{ steps.images.outputs.sbom }}"),
        "the SBOM scanner pinned"
    );
    assert!(
        push["attests"].is_null(),
        "attests beside sbom: its sbom entry is dropped"
    );
    assert!(run_scripts(build).contains(r#"echo "sbom=$(scripts/pinned-image.sh sbom-scanner)""#));
    // Each of those stages resolves to a reference pinned by tag and digest.
    for stage in ["buildkit", "sbom-scanner", "actionlint"] {
        let out = std::process::Command::new(repo_root().join("scripts/pinned-image.sh"))
            .arg(stage)
            .output()
            .unwrap();
        let image = String::from_utf8(out.stdout).unwrap();
        assert!(
            out.status.success() && image.contains("@sha256:"),
            "{stage}: {image}"
        );
    }
    // No workflow restores BuildKit's gha cache, which any job on main may write.
    for name in workflow_names() {
        let text = read_text(&format!(".github/workflows/{name}.yml"));
        assert!(
            !text.contains("type=gha"),
            "{name}.yml uses the gha build cache"
        );
    }
    // The Dockerfile uses BuildKit's built-in frontend (pinned with BuildKit), not a floating one.
    let dockerfile = read_text("Dockerfile");
    assert!(
        !dockerfile.lines().any(|l| l.starts_with("# syntax=")),
        "no `# syntax=` frontend image that floats"
    );
}
