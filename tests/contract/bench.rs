//! The benchmark's wiring: `.github/workflows/bench.yml` runs `scripts/bench.sh --check` on every
//! pull request that touches Rust, the script compares against `bench/ratios.json` with a 15 %
//! tolerance, and that file holds every row of the performance table, each with its target, from
//! the same run as `bench/RESULTS.md`.

use api_app::tasks::store::LIST_BY_OFFSET;
use integration_tests::read_text;
use serde_json::Value;

use crate::workflows::{jobs, run_scripts, workflow};

/// The recorded values the check reads, as the script names it.
const RECORDED: &str = "bench/ratios.json";

/// The performance table of issue 22: each ratio's key in [`RECORDED`] and its target (the health
/// rows twice: by requests per second, and by requests per CPU second of the server).
const TABLE: [(&str, f64); 7] = [
    ("health_vs_actix", 0.9),
    ("health_vs_express", 15.0),
    ("health_per_cpu_vs_actix", 0.9),
    ("health_per_cpu_vs_express", 15.0),
    ("list_vs_pgbench", 0.6),
    ("create_vs_pgbench_insert", 0.5),
    ("last_page_vs_first_page", 0.8),
];
/// RSS under load on PostgreSQL, at most this many MiB.
const RSS_CEILING_MIB: f64 = 32.0;

fn recorded() -> Value {
    serde_json::from_str(&read_text(RECORDED)).expect("bench/ratios.json is JSON")
}

#[test]
fn pull_requests_touching_rust_run_the_benchmark_check_without_permissions() {
    let wf = workflow("bench");
    assert!(
        wf["permissions"]
            .as_mapping()
            .is_some_and(serde_yaml_ng::Mapping::is_empty),
        "bench.yml starts with `permissions: {{}}`"
    );
    let paths: Vec<&str> = wf["on"]["pull_request"]["paths"]
        .as_sequence()
        .expect("bench.yml runs on pull requests, filtered by path")
        .iter()
        .filter_map(serde_yaml_ng::Value::as_str)
        .collect();
    for path in [
        "**/*.rs",
        "**/Cargo.toml",
        "Cargo.lock",
        "scripts/bench.sh",
        // The helpers it sources.
        "scripts/lib.sh",
        RECORDED,
        ".github/workflows/bench.yml",
    ] {
        assert!(paths.contains(&path), "bench.yml runs when {path} changes");
    }
    let checking: Vec<String> = jobs(&wf)
        .into_iter()
        .filter(|(_, job)| run_scripts(job).contains("scripts/bench.sh --check"))
        .map(|(id, _)| id)
        .collect();
    assert_eq!(checking.len(), 1, "one job runs the check: {checking:?}");
}

#[test]
fn the_script_compares_against_the_recorded_file_with_a_fifteen_percent_tolerance() {
    let script = read_text("scripts/bench.sh");
    assert!(
        script.contains(&format!("RECORDED={RECORDED}")),
        "scripts/bench.sh reads {RECORDED}"
    );
    assert!(
        script.contains("TOLERANCE=${BENCH_TOLERANCE:-0.15}"),
        "the default tolerance is 15 %"
    );
    assert_eq!(recorded()["tolerance"].as_f64(), Some(0.15));
    // Every row the file holds is one the script writes, so --check never looks for a missing key.
    for (key, _) in TABLE {
        assert!(
            script.contains(&format!("\"{key}\": row(")),
            "scripts/bench.sh writes {key}"
        );
    }
}

#[test]
fn the_recorded_file_holds_every_row_of_the_table_with_its_target_from_one_run() {
    let doc = recorded();
    let ratios = doc["ratios"]
        .as_object()
        .expect("ratios.json has its ratios");
    let mut keys: Vec<&str> = ratios.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected: Vec<&str> = TABLE.iter().map(|(k, _)| *k).collect();
    expected.sort_unstable();
    assert_eq!(keys, expected);
    let results = read_text("bench/RESULTS.md");
    for (key, target) in TABLE {
        let row = &ratios[key];
        assert_eq!(row["target"].as_f64(), Some(target), "{key}'s target");
        let (ratio, app, peer) = (
            row["ratio"].as_f64().unwrap(),
            row["app"].as_f64().unwrap(),
            row["peer"].as_f64().unwrap(),
        );
        assert!(app > 0.0 && peer > 0.0, "{key}: measured rates");
        assert!(
            (ratio - app / peer).abs() < 0.006,
            "{key}: the ratio {ratio} is app / peer ({app} / {peer})"
        );
        assert!(
            results.contains(&format!("**{ratio:.2}×**")),
            "RESULTS.md shows {key} = {ratio:.2} from the same run"
        );
    }
    let rss = &doc["rss_under_load_mib"];
    assert_eq!(rss["max"].as_f64(), Some(RSS_CEILING_MIB));
    assert!(
        rss["value"].as_f64().is_some_and(|v| v > 0.0),
        "RSS was measured"
    );
    assert!(
        results.contains(&doc["recorded_at"].as_str().unwrap().to_string()),
        "RESULTS.md and ratios.json come from the same run"
    );
}

/// `text` with every run of whitespace made one space.
fn squeezed(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn pgbench_runs_the_page_statement_the_store_sends() {
    let script = read_text("scripts/bench.sh");
    let page: usize = script
        .lines()
        .find_map(|l| l.strip_prefix("PAGE="))
        .expect("scripts/bench.sh sets PAGE")
        .parse()
        .unwrap();
    let sql = script
        .lines()
        .find_map(|l| l.strip_prefix("LIST_SQL=\""))
        .and_then(|l| l.strip_suffix(";\""))
        .expect("scripts/bench.sh sets LIST_SQL")
        .replace("$((PAGE + 1))", &(page + 1).to_string());
    // The store asks for one row more than the page, from offset 0.
    let sent = LIST_BY_OFFSET
        .replace("$1", &(page + 1).to_string())
        .replace("$2", "0");
    assert_eq!(squeezed(&sql), squeezed(&sent));
}
