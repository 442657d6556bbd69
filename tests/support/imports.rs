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

/// `source` without its comments and its `#[cfg(test)]` items (a test module, and a test-only
/// method or impl anywhere in the file: everything the attribute applies to, up to the `;` or the
/// `}` that closes the item), so the code after a test-only helper still counts. Line breaks
/// outside the test items are kept.
pub fn production_code(source: &str) -> String {
    let code = without_comments(source);
    let mut kept = String::with_capacity(code.len());
    let mut rest = code.as_str();
    while let Some(at) = rest.find("#[cfg(test)]") {
        kept.push_str(&rest[..at]);
        rest = &rest[at + "#[cfg(test)]".len()..];
        rest = &rest[item_end(rest)..];
    }
    kept.push_str(rest);
    kept
}

/// The length of the string or character literal at the start of `code` (which starts with `"`,
/// `r"`, `r#"` or `'`), or 0 when it is not one (a lifetime, or an `r` that starts a name).
fn literal_len(code: &str) -> usize {
    let bytes = code.as_bytes();
    match bytes.first() {
        Some(b'"') => {
            let mut i = 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            (i + 1).min(bytes.len())
        }
        Some(b'r') => {
            let hashes = bytes[1..].iter().take_while(|&&b| b == b'#').count();
            if bytes.get(1 + hashes) != Some(&b'"') {
                return 0;
            }
            let close = format!("\"{}", "#".repeat(hashes));
            code[2 + hashes..]
                .find(&close)
                .map_or(code.len(), |at| 2 + hashes + at + close.len())
        }
        Some(b'\'') => {
            // '{' or '\'' or '\u{7b}'; anything else is a lifetime.
            if bytes.get(1) == Some(&b'\\') {
                code[2..].find('\'').map_or(0, |at| at + 3)
            } else {
                let width = code[1..].chars().next().map_or(0, char::len_utf8);
                if bytes.get(1 + width) == Some(&b'\'') {
                    width + 2
                } else {
                    0
                }
            }
        }
        _ => 0,
    }
}

/// The length of the literal that starts at byte `i` of `code`, or 0: an `r` that ends a name
/// (`for"`) does not start a raw string.
fn literal_at(code: &str, i: usize) -> usize {
    let name_before = code[..i]
        .chars()
        .next_back()
        .is_some_and(|c| c == '_' || c.is_alphanumeric());
    if code[i..].starts_with('r') && name_before {
        0
    } else {
        literal_len(&code[i..])
    }
}

/// `source` without `//` and `/* */` comments (literals kept whole, so a `//` in a URL stays).
fn without_comments(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < source.len() {
        let rest = &source[i..];
        let literal = literal_at(source, i);
        if literal > 0 {
            out.push_str(&rest[..literal]);
            i += literal;
        } else if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            let end = rest.find("*/").map_or(rest.len(), |at| at + 2);
            // Keep its line breaks, so line counts stay true.
            out.extend(rest[..end].chars().filter(|&c| c == '\n'));
            i += end;
        } else {
            let c = rest.chars().next().unwrap_or_default();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Where the item at the start of `code` (comments already removed) ends: the byte after its `;`
/// or its closing `}`, brackets inside literals not counted.
fn item_end(code: &str) -> usize {
    let mut depth = 0_usize;
    let mut i = 0;
    while i < code.len() {
        let literal = literal_at(code, i);
        if literal > 0 {
            i += literal;
            continue;
        }
        match code.as_bytes()[i] {
            b'[' | b'(' | b'{' => depth += 1,
            b']' | b')' => depth = depth.saturating_sub(1),
            b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            b';' if depth == 0 => return i + 1,
            _ => {}
        }
        i += 1;
    }
    code.len()
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
