//! The first run: the overlays are seeded with a tag no release carries, dev gets a real digest from
//! the first release, prod from a promotion before its first sync; and a release never overwrites a
//! tag that is already published.

use integration_tests::{read_text, read_yaml};
use serde_yaml_ng::Value;

/// The seed tag: not of the release's forms (`1.0.<run_number>`, `sha-<short>`), so it never resolves
/// to something that looks like a release.
const SEED: &str = "unreleased";

#[test]
fn overlays_pin_a_digest_or_the_seed_never_a_tag_no_release_carries() {
    for env in ["dev", "prod"] {
        for app in ["api-app", "demo-app"] {
            let path = format!("k8s/overlays/{env}/{app}/kustomization.yaml");
            let k = &read_yaml(&path)[0];
            let images = k["images"].as_sequence().expect("images");
            assert_eq!(images.len(), 1, "{path}");
            let image = &images[0];
            let digest = image["digest"].as_str();
            let tag = image["newTag"].as_str();
            let pinned = digest.is_some_and(|d| d.starts_with("sha256:") && d.len() == 71);
            assert!(
                pinned || tag == Some(SEED),
                "{path}: pin a digest (release/promotion do) or carry the seed tag {SEED:?}, not {tag:?}"
            );
        }
    }
}

#[test]
fn the_first_run_releases_and_promotes_before_the_first_prod_sync() {
    let readme = read_text("terraform/README.md");
    let steps = readme
        .split("## From an empty AWS account")
        .nth(1)
        .expect("terraform/README.md has the first-run steps")
        .split("\n## ")
        .next()
        .unwrap();
    let at = |needle: &str| {
        steps
            .find(needle)
            .unwrap_or_else(|| panic!("the first-run steps must run `{needle}`"))
    };
    let release = at("gh workflow run release.yml");
    let bump = at("gh pr merge gitops/bump-dev");
    let promote = at("gh workflow run promote.yml");
    let promoted = at("gh pr merge gitops/promote-prod-");
    let sync = at("argocd app sync api-app-prod");
    assert!(
        release < bump && bump < promote && promote < promoted && promoted < sync,
        "order: release, merge the dev bump, promote, merge the promotion, then the first prod sync"
    );
}

fn release_build_steps() -> Vec<Value> {
    let release = &read_yaml(".github/workflows/release.yml")[0];
    release["jobs"]["build"]["steps"]
        .as_sequence()
        .unwrap()
        .clone()
}

#[test]
fn a_release_refuses_to_overwrite_a_published_tag() {
    let steps = release_build_steps();
    let position = |pred: &dyn Fn(&Value) -> bool| steps.iter().position(pred);
    let meta = position(&|s| s["id"].as_str() == Some("meta")).expect("metadata step");
    let push = position(&|s| s["id"].as_str() == Some("push")).expect("build-push step");
    let guard = position(&|s| {
        s["run"]
            .as_str()
            .is_some_and(|r| r.contains("scripts/published-digest.sh"))
            && s["env"]["TAGS"]
                .as_str()
                .is_some_and(|t| t.contains("steps.meta.outputs.tags"))
    })
    .expect("a step that checks every tag the release is about to push");
    assert!(
        meta < guard && guard < push,
        "the check runs after the tags are known and before the push"
    );
    // The guard itself is scripts/published-digest.sh (tests/contract/release.rs runs it).
    let script = integration_tests::read_text("scripts/published-digest.sh");
    assert!(script.contains("imagetools inspect"));
    assert!(script.contains("exit 1"), "an existing tag fails the job");
    // Not knowing is not "absent": only a registry's not-found lets the push go ahead.
    assert!(script.contains("not found"), "{script}");
}
