//! The shape of the tree (docs/architecture.md): the top-level modules
//! depend on each other without a circle, and no source file holds more
//! than 500 lines of non-test code.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic fails the run

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROOMS: [&str; 11] =
    ["api", "archive", "audit", "backup", "crypto", "domain", "jobs", "policy", "search", "store", "cli"];

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(sources(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}

/// The code before a file's `#[cfg(test)]` module.
fn non_test(text: &str) -> &str {
    text.find("\n#[cfg(test)]\nmod ").map_or(text, |i| &text[..i])
}

#[test]
fn rooms_depend_on_each_other_without_a_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut deps: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for room in ROOMS {
        let dir = src.join(room);
        let files = if dir.is_dir() { sources(&dir) } else { vec![src.join(format!("{room}.rs"))] };
        let entry = deps.entry(room).or_default();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for other in ROOMS {
                if other != room && non_test(&text).contains(&format!("crate::{other}::")) {
                    entry.insert(other);
                }
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit<'a>(
        n: &'a str,
        deps: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if done.contains(n) {
            return;
        }
        assert!(!path.contains(&n), "import circle: {} -> {n}", path.join(" -> "));
        path.push(n);
        for m in deps.get(n).into_iter().flatten() {
            visit(m, deps, path, done);
        }
        path.pop();
        done.insert(n);
    }
    let mut done = BTreeSet::new();
    for room in ROOMS {
        visit(room, &deps, &mut vec![], &mut done);
    }
    assert!(deps["domain"].is_empty(), "domain depends on nothing: {:?}", deps["domain"]);
    assert!(
        !deps["policy"].contains("archive") && !deps["policy"].contains("store"),
        "policy is pure: {:?}",
        deps["policy"]
    );
    assert!(!deps["archive"].contains("api"), "archive has no HTTP types");
}

#[test]
fn no_source_file_is_over_500_lines_of_code() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let long: Vec<String> = sources(&src)
        .into_iter()
        .filter_map(|f| {
            let n = non_test(&std::fs::read_to_string(&f).unwrap()).lines().count();
            (n > 500).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these: {long:?}");
}
