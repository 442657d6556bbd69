//! The rooms themselves: no crate has an import circle, no source file grows past what one idea
//! needs, and the committed drawing of api-app's imports is the one its code makes.

use integration_tests::imports::{dot, find_circle, graph};
use integration_tests::{files_under, read_text};

/// The crates whose rooms are checked.
const CRATES: [&str; 3] = ["api-app/src", "platform/src", "demo-app/src"];

#[test]
fn no_crate_has_an_import_circle() {
    for src in CRATES {
        let graph = graph(src);
        assert!(graph.len() > 5, "{src}: the modules are found: {graph:?}");
        assert_eq!(find_circle(&graph), None, "{src} has an import circle");
    }
}

#[test]
fn the_circle_finder_finds_a_circle() {
    let mut graph = integration_tests::imports::Graph::new();
    graph.entry("a".into()).or_default().insert("b".into());
    graph.entry("b".into()).or_default().insert("c".into());
    assert_eq!(find_circle(&graph), None);
    graph.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        find_circle(&graph),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}

#[test]
fn the_feature_rooms_use_platform_and_the_store_port_and_nothing_above_them() {
    let graph = graph("api-app/src");
    let uses = |module: &str| graph.get(module).cloned().unwrap_or_default();
    // The store port is the bottom of the tasks room: it knows the model, never a backend or a route.
    for module in uses("tasks::store::port") {
        assert!(
            module.starts_with("tasks::") && !module.starts_with("tasks::store::")
                || module == "tasks::store::migrate"
                || module == "platform",
            "the store port uses {module}"
        );
    }
    // Handlers reach the stores only through the port.
    for room in ["tasks::routes", "health", "stats", "info"] {
        for module in uses(room) {
            assert!(
                !["tasks::store::memory", "tasks::store::postgres"].contains(&module.as_str()),
                "{room} uses {module}, not the port"
            );
        }
    }
    // No room reaches up into the route table, the start-up or the configuration.
    for (module, used) in &graph {
        for top in ["routes", "startup", "config"] {
            assert!(
                !used.contains(top) || ["startup", "crate"].contains(&module.as_str()),
                "{module} uses {top}"
            );
        }
    }
}

#[test]
fn no_source_file_holds_more_than_one_rooms_worth_of_code() {
    for src in CRATES {
        for file in files_under(src, "rs") {
            let text = read_text(&file);
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            let lines = code.lines().count();
            assert!(lines <= 450, "{file}: {lines} lines before its tests");
        }
    }
}

#[test]
fn the_committed_import_drawing_of_api_app_is_current() {
    let drawn = dot("api-app", &graph("api-app/src"));
    assert_eq!(
        read_text("api-app/imports.dot"),
        drawn,
        "regenerate it: cargo run -q -p integration-tests --example imports > api-app/imports.dot"
    );
}
