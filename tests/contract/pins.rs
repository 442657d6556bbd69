//! Every pin is exact and has a bot that updates it, and the table of pins is generated from the files
//! that hold them (`scripts/pins.py`), so a Dependabot bump never leaves a hand-written copy behind to
//! fail the build.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use integration_tests::{read_text, read_yaml, repo_root};
use serde_json::Value;

use crate::workflows::workflow_names;

/// `scripts/pins.py --json`, run with a Python that has `PyYAML`.
fn pins() -> Vec<Value> {
    let venv = repo_root().join(".tools/venv/bin/python");
    let python = if venv.exists() {
        venv
    } else {
        "python3".into()
    };
    let out = crate::pipeline::stdout_of(
        Command::new(python)
            .arg(repo_root().join("scripts/pins.py"))
            .arg("--json"),
    );
    serde_json::from_str(&out).unwrap()
}

fn of_kind<'a>(rows: &'a [Value], kind: &str) -> Vec<&'a Value> {
    rows.iter().filter(|r| r["kind"] == kind).collect()
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[test]
fn every_action_is_pinned_to_one_commit_with_its_version_everywhere() {
    let rows = pins();
    let actions = of_kind(&rows, "action");
    let mut seen: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for row in &actions {
        let name = row["name"].as_str().unwrap();
        let sha = row["pin"].as_str().unwrap();
        assert!(
            is_hex(sha, 40),
            "{name} is not pinned by a full commit SHA: {sha}"
        );
        let version = row["version"].as_str().unwrap_or_default();
        assert!(
            version.starts_with('v') && version.matches('.').count() == 2,
            "{name}@{sha} lacks its `# vX.Y.Z` comment"
        );
        assert_eq!(row["updated_by"], "Dependabot (github-actions)", "{name}");
        seen.entry(name).or_default().push(row);
    }
    for (name, pins) in seen {
        assert_eq!(
            pins.len(),
            1,
            "{name} is pinned to different commits or versions across the workflows: {pins:?}"
        );
    }
    // The generator saw every `uses:` line of every workflow.
    let generated: BTreeSet<(String, String)> = actions
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["pin"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for name in workflow_names() {
        for line in read_text(&format!(".github/workflows/{name}.yml")).lines() {
            let Some(spec) = line.trim().trim_start_matches("- ").strip_prefix("uses: ") else {
                continue;
            };
            if spec.starts_with("./") {
                continue;
            }
            let (action, rest) = spec.split_once('@').unwrap();
            let sha = rest.split_whitespace().next().unwrap();
            assert!(
                generated.contains(&(action.to_owned(), sha.to_owned())),
                "{name}.yml: {action}@{sha} is missing from scripts/pins.py"
            );
        }
    }
}

#[test]
fn every_image_is_pinned_by_tag_and_digest_and_kept_current_by_dependabot() {
    let rows = pins();
    let images = of_kind(&rows, "image");
    for row in &images {
        let name = row["name"].as_str().unwrap();
        let pin = row["pin"].as_str().unwrap_or_default();
        assert!(
            pin.strip_prefix("sha256:").is_some_and(|d| is_hex(d, 64)),
            "{name} ({:?}) is not pinned by digest",
            row["where"]
        );
        assert!(
            row["version"].is_string(),
            "{name}: a tag says what the digest is"
        );
        assert_eq!(
            row["updated_by"], "Dependabot (docker)",
            "{name} in {:?}: no Dependabot docker entry covers its directory",
            row["where"]
        );
    }
    let names: BTreeSet<&str> = images.iter().map(|r| r["name"].as_str().unwrap()).collect();
    for must in [
        "rust",
        "gcr.io/distroless/static-debian13",
        "docker.io/library/postgres",
        "rhysd/actionlint",
        "moby/buildkit",
        "docker/buildkit-syft-scanner",
    ] {
        assert!(
            names.contains(must),
            "scripts/pins.py finds {must}: {names:?}"
        );
    }
    // Workflows name no image of their own: they read .github/images/Dockerfile, which Dependabot reads.
    for name in workflow_names() {
        let text = read_text(&format!(".github/workflows/{name}.yml"));
        assert!(
            !text.contains("@sha256:"),
            "{name}.yml pins an image inline; put it in .github/images/Dockerfile"
        );
    }
}

#[test]
fn dependabot_groups_updates_so_a_bump_never_fights_a_contract_test() {
    let config = &read_yaml(".github/dependabot.yml")[0];
    let updates = config["updates"].as_sequence().unwrap();
    let root_docker = updates
        .iter()
        .find(|u| u["package-ecosystem"] == "docker" && u["directory"] == "/")
        .expect("the Dockerfile's images are updated");
    // rust-toolchain.toml names the toolchain (the contract test binds the two): the image's version
    // moves with it, by hand; Dependabot refreshes only its digest.
    let ignored = root_docker["ignore"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|i| i["dependency-name"] == "rust")
        .expect("rust's version updates are ignored");
    let types: BTreeSet<&str> = ignored["update-types"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    assert_eq!(
        types,
        BTreeSet::from([
            "version-update:semver-major",
            "version-update:semver-minor",
            "version-update:semver-patch"
        ])
    );
    // The toolchain image and the runtime base are separate PRs.
    let groups = root_docker["groups"].as_mapping().unwrap();
    let group_of = |image: &str| {
        groups
            .iter()
            .find(|(_, g)| {
                g["patterns"].as_sequence().unwrap().iter().any(|p| {
                    let p = p.as_str().unwrap();
                    p == image
                        || (p.starts_with('*')
                            && p.ends_with('*')
                            && image.contains(p.trim_matches('*')))
                })
            })
            .map(|(name, _)| name.as_str().unwrap().to_owned())
    };
    let rust = group_of("rust").expect("rust has a group");
    let distroless = group_of("gcr.io/distroless/static-debian13").expect("distroless has a group");
    assert_ne!(
        rust, distroless,
        "a distroless patch never waits on a toolchain"
    );
    // Terraform pins are Renovate's (renovate.json): one bot per pin.
    assert!(
        updates
            .iter()
            .all(|u| u["package-ecosystem"] != "terraform"),
        "Terraform stays out of Dependabot"
    );
    for u in updates {
        assert!(
            u["cooldown"]["default-days"]
                .as_u64()
                .is_some_and(|d| d >= 7),
            "{:?}: a cooldown lets a fresh release settle",
            u["package-ecosystem"]
        );
    }
}

#[test]
fn the_readme_points_to_the_generated_pin_table_and_copies_no_pin() {
    let readme = read_text(".github/README.md");
    let section = readme
        .split("## Pinned actions and images")
        .nth(1)
        .expect(".github/README.md has a section on pins")
        .split("\n## ")
        .next()
        .unwrap();
    assert!(section.contains("scripts/pins.py"), "{section}");
    let copied = section
        .split(|c: char| !c.is_ascii_hexdigit())
        .any(|w| w.len() >= 40);
    assert!(
        !copied,
        "the README copies a SHA or digest that Dependabot would leave behind"
    );
}
