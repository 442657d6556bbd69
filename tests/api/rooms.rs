//! The rooms themselves: no crate has an import circle, no source file grows past what one idea
//! needs, and the committed drawing of api-app's imports is the one its code makes.

use integration_tests::imports::{dot, find_circle, graph, production_code};
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
    // Handlers reach the stores only through the port. The backends' modules are private, so
    // the import drawing would show a handler naming one through `store`'s re-export as an edge to
    // `tasks::store`, like any use of the port: the check is by the backends' names instead.
    // Outside the store room, only `store::open_in_background` chooses one.
    let mut files = 0;
    for file in files_under("api-app/src", "rs") {
        if file.starts_with("api-app/src/tasks/store/") {
            continue;
        }
        files += 1;
        let code = production_code(&read_text(&file));
        for backend in ["InMemoryTaskStore", "PgTaskStore"] {
            assert!(
                !code.contains(backend),
                "{file} names {backend}, not the port"
            );
        }
    }
    assert!(files > 10, "the handlers' files are found: {files}");
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
            let lines = production_code(&text).lines().count();
            assert!(lines <= 450, "{file}: {lines} lines outside its tests");
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

#[test]
fn production_code_leaves_out_every_test_item_and_nothing_else() {
    let source = r#"use crate::a;
impl Store {
    #[cfg(test)]
    fn len(&self) -> usize { self.items.len() }
    fn get(&self) { let brace = '{'; let url = "http://x/{"; crate::b::f(); }
}
/* a comment: crate::c::g(); */
#[cfg(test)]
use crate::d;
#[cfg(test)]
impl NewTask {
    fn for_tests() -> Self { Self::from(r"}}") }
}
// #[cfg(test)]
fn after() { crate::e::h(); }
#[cfg(test)]
mod tests {
    use crate::f;
}
"#;
    let code = production_code(source);
    for kept in [
        "crate::a",
        "fn get",
        "'{'",
        "\"http://x/{\"",
        "crate::b::f()",
        "crate::e::h()",
    ] {
        assert!(code.contains(kept), "{kept} is production code:\n{code}");
    }
    for left_out in [
        "fn len",
        "crate::c",
        "crate::d",
        "for_tests",
        "crate::f",
        "#[cfg(test)]",
    ] {
        assert!(
            !code.contains(left_out),
            "{left_out} is test code or a comment:\n{code}"
        );
    }
    assert_eq!(
        code.lines().count(),
        11,
        "the lines of the production items are kept:\n{code}"
    );
}
