//! Mutation testing's wiring: `.cargo/mutants.toml` judges every mutant with every workspace
//! member's tests, pull requests run the mutants of their own lines, and the weekly run's shards
//! cover the whole tree.

use integration_tests::{files_under, read_text, read_yaml};

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

#[test]
fn code_that_runs_only_against_postgres_is_judged_with_the_api_suite_on_postgres() {
    let config = read_text(".cargo/mutants.toml");
    let args = toml_list(&config, "additional_cargo_args");
    assert!(
        args.contains(&"--test=postgres".to_owned()),
        "the postgres suite is in the test command: {args:?}"
    );
    let script = read_text("scripts/mutants.sh");
    let list_start = script
        .find("postgres_files=(")
        .expect("scripts/mutants.sh names the postgres pass's files");
    let list_end = list_start + script[list_start..].find(')').unwrap();
    let mut listed: Vec<&str> = script[list_start + "postgres_files=(".len()..list_end]
        .split_whitespace()
        .collect();
    listed.sort_unstable();
    // The files that use a PostgreSQL client or the store's connection pools (the pool metrics),
    // and the PostgreSQL store's own module (its batcher speaks to the database through them):
    // their code never runs on the in-memory store.
    let uses_postgres: Vec<String> = ["api-app/src", "platform/src", "demo-app/src"]
        .iter()
        .flat_map(|dir| files_under(dir, "rs"))
        .filter(|path| {
            let text = read_text(path);
            text.contains("tokio_postgres")
                || text.contains("deadpool_postgres")
                || text.contains("pool::Pools")
                || path.starts_with("api-app/src/tasks/store/postgres/")
        })
        .collect();
    assert_eq!(listed, uses_postgres);
    assert!(
        script.contains("exec scripts/with-postgres.sh")
            && script.contains(r#"pass postgres postgres "${postgres_args[@]}""#),
        "the postgres pass runs the API suite on PostgreSQL (TEST_STORE=postgres)"
    );
    // cargo-mutants 27.1 builds its baseline with the mutated packages only, where tests/'s suites
    // do not exist: the script runs the unmutated suite itself before skipping that baseline.
    let baseline = script.find(r#""${suite[@]}""#);
    let skip = script.find("--baseline=skip");
    assert!(
        matches!((baseline, skip), (Some(b), Some(s)) if b < s),
        "the unmutated suite runs before cargo-mutants is told to skip its baseline"
    );
}
