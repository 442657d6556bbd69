//! Provider packages are verified, not trusted: every Terraform root commits a `.terraform.lock.hcl`
//! with hashes for each platform that runs Terraform, and one workflow is where those hashes come
//! from (`terraform providers lock` against the registry, then a PR). Nobody types a hash.

use std::collections::{BTreeMap, BTreeSet};

use integration_tests::{read_text, read_yaml, repo_root};

use crate::providers::required_providers;

const WORKFLOW: &str = ".github/workflows/terraform-lock.yml";
/// CI runners, Graviton runners and Apple-silicon laptops.
const PLATFORMS: [&str; 3] = ["linux_amd64", "linux_arm64", "darwin_arm64"];

/// Every root module: a directory that pins providers exactly and is applied on its own.
fn roots() -> Vec<String> {
    let mut roots = vec!["terraform/bootstrap".to_owned()];
    let mut envs: Vec<String> = std::fs::read_dir(repo_root().join("terraform/envs"))
        .unwrap()
        .map(|e| {
            format!(
                "terraform/envs/{}",
                e.unwrap().file_name().to_string_lossy()
            )
        })
        .collect();
    envs.sort();
    roots.extend(envs);
    roots
}

#[test]
fn lock_files_are_committed_not_ignored() {
    for ignore in [".gitignore", "terraform/.gitignore"] {
        let text = read_text(ignore);
        let hit: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#'))
            .filter(|l| l.contains("lock.hcl") || *l == "*.hcl")
            .collect();
        assert!(
            hit.is_empty(),
            "{ignore} ignores the lock files the roots must commit: {hit:?}"
        );
    }
}

#[test]
fn one_workflow_locks_every_root_for_every_platform_and_proposes_a_pr() {
    let wf = &read_yaml(WORKFLOW)[0];
    let steps = wf["jobs"]["lock"]["steps"]
        .as_sequence()
        .expect("jobs.lock.steps");
    let script: String = steps
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(script.contains("providers lock"), "{WORKFLOW}: {script}");
    for p in PLATFORMS {
        assert!(
            script.contains(&format!("-platform={p}")),
            "{WORKFLOW}: hashes for {p}"
        );
    }
    let pr = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("peter-evans/create-pull-request@"))
        })
        .expect("a step that opens the PR");
    let paths: BTreeSet<&str> = pr["with"]["add-paths"]
        .as_str()
        .expect("add-paths")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    for root in roots() {
        assert!(
            script.contains(&root),
            "{WORKFLOW} must lock {root} (every root)"
        );
        let lock = format!("{root}/.terraform.lock.hcl");
        assert!(
            paths.contains(lock.as_str()),
            "{WORKFLOW}: the PR adds {lock}"
        );
    }
    // Weekly and on every provider bump, so a lock file never lags versions.tf for long.
    let on = &wf["on"];
    assert!(
        on["schedule"].is_sequence(),
        "{WORKFLOW}: runs on a schedule"
    );
    assert!(
        on["push"]["paths"].as_sequence().is_some_and(|p| p
            .iter()
            .any(|p| p.as_str() == Some("terraform/**/versions.tf"))),
        "{WORKFLOW}: runs when a versions.tf changes"
    );
}

/// A lock file's providers: version and hashes by provider type (`aws`, `helm`, ...).
fn locked(text: &str, path: &str) -> BTreeMap<String, (String, Vec<String>)> {
    let body: hcl::Body =
        hcl::from_str(text).unwrap_or_else(|e| panic!("{path} is not valid HCL: {e}"));
    body.blocks()
        .filter(|b| b.identifier() == "provider")
        .map(|b| {
            let address = b.labels()[0].as_str();
            let name = address.rsplit('/').next().unwrap().to_owned();
            let attr = |k: &str| {
                b.body()
                    .attributes()
                    .find(|a| a.key() == k)
                    .map(|a| a.expr().clone())
            };
            let version = attr("version")
                .map(|v| v.to_string().trim_matches('"').to_owned())
                .unwrap_or_default();
            let hashes = match attr("hashes") {
                Some(hcl::Expression::Array(items)) => items
                    .iter()
                    .map(|h| h.to_string().trim_matches('"').to_owned())
                    .collect(),
                _ => Vec::new(),
            };
            (name, (version, hashes))
        })
        .collect()
}

#[test]
fn committed_lock_files_cover_every_pinned_provider_on_every_platform() {
    let present: Vec<String> = roots()
        .into_iter()
        .filter(|r| repo_root().join(r).join(".terraform.lock.hcl").is_file())
        .collect();
    // The workflow writes them all in one PR: once any root has one, every root must.
    if !present.is_empty() {
        assert_eq!(present, roots(), "every root commits its lock file");
    }
    for root in present {
        let path = format!("{root}/.terraform.lock.hcl");
        let locked = locked(&read_text(&path), &path);
        let pinned = required_providers(&root);
        assert_eq!(
            locked.keys().collect::<BTreeSet<_>>(),
            pinned.keys().collect::<BTreeSet<_>>(),
            "{path}: exactly the providers {root}/versions.tf pins"
        );
        for (name, (version, hashes)) in &locked {
            assert_eq!(
                version, &pinned[name],
                "{path}: {name} at the pinned version"
            );
            let h1 = hashes.iter().filter(|h| h.starts_with("h1:")).count();
            assert!(
                h1 >= PLATFORMS.len(),
                "{path}: {name} needs an h1: hash per platform ({PLATFORMS:?}), has {h1}"
            );
            assert!(
                hashes.iter().any(|h| h.starts_with("zh:")),
                "{path}: {name} keeps the registry's zh: checksums"
            );
        }
    }
}

#[test]
fn a_lock_file_is_read_as_terraform_writes_it() {
    let sample = r#"
provider "registry.terraform.io/hashicorp/aws" {
  version     = "6.28.0"
  constraints = "6.28.0"
  hashes = [
    "h1:a=",
    "h1:b=",
    "h1:c=",
    "zh:00",
  ]
}
"#;
    let parsed = locked(sample, "sample");
    let (version, hashes) = &parsed["aws"];
    assert_eq!(version, "6.28.0");
    assert_eq!(hashes.len(), 4);
    assert_eq!(hashes[3], "zh:00");
}
