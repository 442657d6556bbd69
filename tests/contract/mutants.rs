//! Mutation testing's wiring: `.cargo/mutants.toml` judges every mutant with every workspace
//! member's tests, pull requests run the mutants of their own lines, and the weekly run's shards
//! cover the whole tree.

use integration_tests::{read_text, read_yaml};

/// The quoted strings of a one-line TOML array `key = ["a", "b"]`.
fn toml_list(text: &str, key: &str) -> Vec<String> {
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{key} =")))
        .unwrap_or_else(|| panic!("{key} is set"));
    line.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_workspace_member_judges_every_mutant_and_only_tests_is_never_mutated() {
    let config = read_text(".cargo/mutants.toml");
    let members = toml_list(&read_text("Cargo.toml"), "members");
    let mut tested = toml_list(&config, "test_package");
    let members_as_packages: Vec<String> = members
        .iter()
        // The one member left out of the mutation run (named in exclude_globs, with its reason).
        .filter(|m| *m != "delivery-metrics")
        .map(|m| {
            if m == "tests" {
                "integration-tests".to_owned()
            } else {
                m.clone()
            }
        })
        .collect();
    tested.sort();
    let mut expected = members_as_packages;
    expected.sort();
    assert_eq!(tested, expected);
    assert_eq!(
        toml_list(&config, "exclude_globs"),
        ["tests/**", "delivery-metrics/**"]
    );
    assert!(config.contains("test_tool = \"nextest\""), "{config}");
}

#[test]
fn pull_requests_run_their_own_mutants_and_the_weekly_shards_cover_the_rest() {
    let wf = read_yaml(".github/workflows/mutants.yml")
        .into_iter()
        .next()
        .unwrap();
    let on = &wf["on"];
    assert!(on.get("pull_request").is_some() && on.get("schedule").is_some());
    let run = |job: &str| -> String {
        wf["jobs"][job]["steps"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|s| s["run"].as_str())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(run("in-diff").contains("scripts/mutants.sh --in-diff"));
    let shards: Vec<u64> = wf["jobs"]["full"]["strategy"]["matrix"]["shard"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|s| s.as_u64().unwrap())
        .collect();
    let n = shards.len() as u64;
    assert_eq!(shards, (0..n).collect::<Vec<_>>(), "shards 0..{n}");
    assert!(
        run("full").contains(&format!("--shard \"${{SHARD}}/{n}\"")),
        "the denominator is the matrix size: {}",
        run("full")
    );
    for (id, job) in wf["jobs"].as_mapping().unwrap() {
        assert_eq!(
            job["permissions"],
            serde_yaml_ng::from_str::<serde_yaml_ng::Value>("contents: read").unwrap(),
            "{id:?} reads the repository and nothing more"
        );
    }
}
