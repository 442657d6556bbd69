//! The import drawing of a crate: which of its modules uses which, read from the source (`crate::`,
//! `super::`, `self::` and child-module paths outside `#[cfg(test)]` code), plus the shared
//! `platform` crate as one node. `api-app/imports.dot` is this drawing for api-app
//! (`cargo run -q -p integration-tests --example imports > api-app/imports.dot` regenerates it),
//! and `tests/api/rooms.rs` checks that no crate has a circle.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

/// Module name -> the modules (and `platform`) it uses, for the crate whose sources are in `src`
/// (relative to the repository root). The crate root is `crate`.
pub type Graph = BTreeMap<String, BTreeSet<String>>;

/// The node the shared crate is drawn as.
pub const PLATFORM: &str = "platform";

/// The module a source file defines: `lib.rs` and `main.rs` are the root, `a/mod.rs` and `a.rs`
/// are `a`, `a/b.rs` is `a::b`.
fn module_of(rel: &Path) -> String {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    if parts.is_empty() {
        "crate".to_owned()
    } else {
        parts.join("::")
    }
}

/// `source` without its `#[cfg(test)]` items and its comments.
fn production_code(source: &str) -> String {
    let code = source.split("#[cfg(test)]").next().unwrap_or_default();
    code.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path in `code` that starts with `head` followed by `::` (and is not itself the tail of a
/// longer path), as the list of its segments after `head`; a group (`head::{a::b, c}`) gives one
/// path per member.
fn paths_after<'c>(code: &'c str, head: &str) -> Vec<Vec<&'c str>> {
    let needle = format!("{head}::");
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = code[from..].find(&needle) {
        let start = from + at;
        from = start + needle.len();
        let before = code[..start].chars().next_back();
        if before.is_some_and(|c| c == ':' || c == '_' || c.is_alphanumeric()) {
            continue;
        }
        found.extend(expand(&code[from..]));
    }
    found
}

/// The paths at the start of `rest`: one plain path, or each member of a `{...}` group.
fn expand(rest: &str) -> Vec<Vec<&str>> {
    let is_path = |c: char| c == ':' || c == '_' || c.is_alphanumeric();
    let end = rest.find(|c: char| !is_path(c)).unwrap_or(rest.len());
    let path: Vec<&str> = rest[..end].split("::").filter(|s| !s.is_empty()).collect();
    if !rest[end..].starts_with('{') {
        return vec![path];
    }
    let group = &rest[end + 1..];
    let mut members = Vec::new();
    let (mut depth, mut member_start) = (0_usize, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                members.push(&group[member_start..i]);
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                members.push(&group[member_start..i]);
                member_start = i + 1;
            }
            _ => {}
        }
    }
    members
        .into_iter()
        .flat_map(|member| expand(member.trim_start()))
        .map(|tail| path.iter().copied().chain(tail).collect())
        .collect()
}

/// The longest module of `modules` that `base` followed by `segments` names, if any.
fn resolve(modules: &BTreeSet<String>, base: &[&str], segments: &[&str]) -> Option<String> {
    (0..=segments.len()).rev().find_map(|n| {
        let path: Vec<&str> = base.iter().chain(&segments[..n]).copied().collect();
        let name = if path.is_empty() {
            "crate".to_owned()
        } else {
            path.join("::")
        };
        modules.contains(&name).then_some(name)
    })
}

/// The import graph of the crate whose sources are in `src` (relative to the repository root).
pub fn graph(src: &str) -> Graph {
    let root = crate::repo_root().join(src);
    let files = crate::files_under(src, "rs");
    let modules: BTreeSet<String> = files
        .iter()
        .map(|f| {
            module_of(
                crate::repo_root()
                    .join(f)
                    .strip_prefix(&root)
                    .expect("under src"),
            )
        })
        .collect();
    let mut graph = Graph::new();
    for file in &files {
        let this = module_of(
            crate::repo_root()
                .join(file)
                .strip_prefix(&root)
                .expect("under src"),
        );
        let code = production_code(&crate::read_text(file));
        let here: Vec<&str> = if this == "crate" {
            Vec::new()
        } else {
            this.split("::").collect()
        };
        let parent = &here[..here.len().saturating_sub(1)];
        let mut uses = BTreeSet::new();
        for head in ["crate", "$crate"] {
            for path in paths_after(&code, head) {
                uses.extend(resolve(&modules, &[], &path));
            }
        }
        for path in paths_after(&code, "super") {
            uses.extend(resolve(&modules, parent, &path));
        }
        for path in paths_after(&code, "self") {
            uses.extend(resolve(&modules, &here, &path));
        }
        // A child module named without a prefix, as a parent's `pub use child::Item` does.
        let children = modules.iter().filter_map(|m| {
            let rest = if here.is_empty() {
                Some(m.as_str())
            } else {
                m.strip_prefix(&format!("{this}::"))
            }?;
            (!rest.contains("::") && m != &this).then_some(rest)
        });
        for child in children {
            for path in paths_after(&code, child) {
                let mut full = vec![child];
                full.extend(path);
                uses.extend(resolve(&modules, &here, &full));
            }
        }
        if !paths_after(&code, PLATFORM).is_empty() {
            uses.insert(PLATFORM.to_owned());
        }
        uses.remove(&this);
        graph.entry(this).or_default().extend(uses);
    }
    graph
}

/// The first circle in `graph`, as the modules along it (the first repeated at the end).
pub fn find_circle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node.to_owned());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

/// `graph` as a Graphviz digraph: one box per module, grouped by folder, arrows from user to used.
pub fn dot(name: &str, graph: &Graph) -> String {
    let mut out = format!(
        "// The import drawing of {name}: generated by tests/support/imports.rs; regenerate with\n\
         // cargo run -q -p integration-tests --example imports > api-app/imports.dot\n\
         digraph \"{name}\" {{\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n"
    );
    let mut folders: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for module in graph.keys() {
        let folder = module.rsplit_once("::").map_or("", |(folder, _)| folder);
        folders.entry(folder).or_default().push(module);
    }
    for (i, (folder, members)) in folders.iter().enumerate() {
        let nodes = members.iter().fold(String::new(), |mut nodes, m| {
            let _ = write!(nodes, " \"{m}\";");
            nodes
        });
        if folder.is_empty() {
            let _ = writeln!(out, " {nodes}");
        } else {
            let _ = writeln!(
                out,
                "  subgraph cluster_{i} {{ label=\"{}/\";{nodes} }}",
                folder.replace("::", "/")
            );
        }
    }
    let _ = writeln!(out, "  \"{PLATFORM}\" [shape=component];");
    for (from, tos) in graph {
        for to in tos {
            let _ = writeln!(out, "  \"{from}\" -> \"{to}\";");
        }
    }
    out.push_str("}\n");
    out
}
