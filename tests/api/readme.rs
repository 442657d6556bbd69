//! What the README tells a newcomer, checked against what they will find: the curl example works on
//! the task it creates and prints each answer on its own line, the `/metrics` list says which
//! series only PostgreSQL has, every prerequisite `make test` checks is named, and the licence the
//! README invites forks under is in the repository.

use std::process::Command;

use integration_tests::api::{API_KEY, spawn_app, store_kind};
use integration_tests::{read_text, repo_root};
use serde_json::Value;

/// The README's shell block that starts with `start`, up to its closing fence.
fn readme_block(start: &str) -> String {
    let readme = read_text("README.md");
    let from = readme
        .find(&format!("```sh\n{start}"))
        .unwrap_or_else(|| panic!("the README has a block starting {start:?}"));
    let body = &readme[from + "```sh\n".len()..];
    body[..body.find("```").expect("the block ends")].to_owned()
}

/// The README's row of the table whose first cell is `first`.
fn readme_row(first: &str) -> String {
    read_text("README.md")
        .lines()
        .find(|l| l.starts_with(&format!("| {first} |")))
        .unwrap_or_else(|| panic!("the README has a row for {first}"))
        .to_owned()
}

/// The `` `names` `` in `text`, without label sets (`store_errors_total{kind}` is `store_errors_total`).
fn quoted(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(|name| name.split('{').next().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn the_curl_example_changes_the_task_it_created_and_prints_each_answer_on_its_own_line() {
    let app = spawn_app().await;
    // A task from before, which the example must leave alone.
    let older = app.create_task("an older task").await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let admin = app.admin_address.trim_start_matches("http://").to_owned();
    let script = readme_block("c() {")
        .replace("localhost:8080", &address)
        .replace("localhost:9080", &admin)
        .replace("local-demo-key-not-a-secret", API_KEY);
    let out = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .output()
            .expect("bash runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<Value> = stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: one answer per line: {l}"))
        })
        .collect();
    let created: Vec<&Value> = answers
        .iter()
        .filter(|a| a["title"] == "Write the runbook")
        .collect();
    assert_eq!(created.len(), 2, "read, then patched: {stdout}");
    assert_eq!(created[1]["completed"], true, "{stdout}");
    let id = created[0]["id"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/api/tasks/{id}")).await.status(),
        404,
        "then deleted"
    );
    let older_now = app.task(older["id"].as_str().unwrap()).await;
    assert_eq!(older_now, older, "the older task is untouched");
}

#[tokio::test]
async fn every_series_the_metrics_row_lists_is_exported_and_the_postgres_ones_only_there() {
    let row = readme_row("`GET /metrics`");
    let (everywhere, postgres) = row
        .split_once("on PostgreSQL also")
        .expect("the row says which series only PostgreSQL has");
    let app = spawn_app().await;
    let page = app.metrics().await;
    let exported = |name: &str| page.lines().any(|l| l.starts_with(name));
    for name in quoted(everywhere).iter().filter(|n| n.contains('_')) {
        assert!(exported(name), "{name} is on every store's page:\n{page}");
    }
    for name in quoted(postgres).iter().filter(|n| n.contains('_')) {
        assert_eq!(
            exported(name),
            store_kind() == "postgres",
            "{name} on {}",
            store_kind()
        );
    }
}

#[test]
fn the_readme_names_every_prerequisite_make_test_checks() {
    let script = read_text("scripts/check-prerequisites.sh");
    let needed: Vec<&str> = script
        .lines()
        .filter_map(|l| l.trim_start().split_once("need \"").map(|(_, rest)| rest))
        .filter_map(|rest| rest.split([' ', '"']).next())
        .collect();
    assert!(needed.len() >= 8, "{needed:?}");
    // The make test row adds to the make demo row ("the same, plus").
    let rows = readme_row("`make demo`") + &readme_row("`make test`");
    for name in needed {
        assert!(
            rows.contains(&format!("`{name}`")),
            "the README's make demo and make test rows name `{name}`: {rows}"
        );
    }
}

#[test]
fn the_licence_cargo_toml_names_is_in_the_repository() {
    let manifest = read_text("Cargo.toml");
    assert!(manifest.contains("license = \"Apache-2.0\""), "{manifest}");
    let licence = std::fs::read_to_string(repo_root().join("LICENSE")).expect("a LICENSE file");
    assert!(
        licence.trim_start().starts_with("Apache License")
            && licence.contains("Version 2.0, January 2004"),
        "LICENSE is the Apache License 2.0"
    );
    assert!(
        licence.contains("END OF TERMS AND CONDITIONS"),
        "the whole licence"
    );
}

#[test]
fn make_test_ends_with_a_count_of_every_check_it_ran() {
    let script = read_text("scripts/test.sh");
    // Without the mode, running the script would run the whole suite: check before running it.
    assert!(
        script.contains("--summary"),
        "scripts/test.sh can print its summary alone"
    );
    for counting in [
        "scripts/check-rust.sh",
        "scripts/drills.sh",
        "scripts/e2e.sh",
    ] {
        assert!(
            read_text(counting).contains("CHECK_COUNTS"),
            "{counting} reports what it counted"
        );
    }
    let counts = std::env::temp_dir().join(format!("check-counts-{}", uuid::Uuid::new_v4()));
    std::fs::write(
        &counts,
        "640 Rust tests\n700 Schemathesis cases (memory store)\n3 shutdown-under-load drills\n14 browser steps\n",
    )
    .unwrap();
    let out = Command::new(repo_root().join("scripts/test.sh"))
        .arg("--summary")
        .arg(&counts)
        .arg("11")
        .output()
        .expect("scripts/test.sh runs");
    std::fs::remove_file(&counts).unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "summary: 1357 checks passed (640 Rust tests, 700 Schemathesis cases (memory store), \
         3 shutdown-under-load drills, 14 browser steps) in 11 stages\n"
    );
}
