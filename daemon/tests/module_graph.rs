//! The daemon's top-level modules depend one way: no circle among them (issue 15,
//! item 5). Reads `daemon/src` and follows every `crate::<module>` path outside test
//! code; a circle fails the test with the modules in it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module → the top-level modules its code names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap();
            let first = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            let module = first.trim_end_matches(".rs").to_string();
            if module == "lib" || module == "main" || rel.ends_with("tests.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Test modules may reach anywhere.
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            let from = edges.entry(module.clone()).or_default();
            for (i, _) in code.match_indices("crate::") {
                let rest = &code[i + "crate::".len()..];
                let names: Vec<&str> = match rest.strip_prefix('{') {
                    Some(group) => group
                        .split('}')
                        .next()
                        .unwrap_or("")
                        .split(',')
                        .map(|p| p.trim().split("::").next().unwrap_or(""))
                        .collect(),
                    None => vec![rest
                        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .next()
                        .unwrap_or("")],
                };
                for name in names {
                    if !name.is_empty()
                        && name != module
                        && name.chars().all(|c| c.is_lowercase() || c == '_')
                    {
                        from.insert(name.to_string());
                    }
                }
            }
        }
    }
    edges
}

/// The modules `from` reaches, itself excluded unless through a circle.
fn reach(edges: &BTreeMap<String, BTreeSet<String>>, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<&str> = edges
        .get(from)
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    while let Some(m) = todo.pop() {
        if seen.insert(m.to_string()) {
            todo.extend(edges.get(m).into_iter().flatten().map(String::as_str));
        }
    }
    seen
}

#[test]
fn no_circle_among_the_daemons_modules() {
    let edges = graph();
    assert!(
        edges.contains_key("store") && edges.contains_key("server"),
        "{edges:?}"
    );
    let circles: Vec<String> = edges
        .keys()
        .filter(|m| reach(&edges, m).contains(*m))
        .cloned()
        .collect();
    assert!(
        circles.is_empty(),
        "modules in a circle: {circles:?}\n{edges:#?}"
    );
}

#[test]
fn the_store_knows_nothing_of_connections_or_admins() {
    let edges = graph();
    let store = &edges["store"];
    assert!(store.iter().all(|m| m == "ids"), "store/ names {store:?}");
}
