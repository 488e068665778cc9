//! The shape of the tree (docs/architecture.md), read from `src/` itself:
//! every room (a top-level module, and a folder or file inside `archive/`)
//! depends on the others without a circle; the pure rooms stay pure; the
//! web front ends share one edge and never call the store or check proofs;
//! no source file holds more than 500 lines of non-test code; no type has
//! more than 40 methods; and the services of `archive/` depend downwards
//! only, in the order docs/architecture.md gives.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic fails the run

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

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
    out.sort();
    out
}

/// Whether a file is test code as a whole: a test module in a file of its
/// own (`tests.rs`), or what the unit tests share (`testkit.rs`).
fn is_test_file(file: &Path) -> bool {
    file.file_stem().is_some_and(|s| s == "tests" || s == "testkit")
}

/// The code before a file's inline `#[cfg(test)]` module (`mod tests {`;
/// a `mod testkit;` declaration is not one).
fn non_test(text: &str) -> &str {
    let mut from = 0;
    while let Some(i) = text[from..].find("\n#[cfg(test)]\nmod ").map(|i| from + i) {
        let line = text[i + 1..].lines().nth(1).unwrap_or("");
        if line.trim_end().ends_with('{') {
            return &text[..i];
        }
        from = i + 1;
    }
    text
}

/// A file's module path: `src/archive/dossiers/create.rs` → archive,
/// dossiers, create; a `mod.rs` is its folder's module.
fn module_of(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src()).unwrap();
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_owned());
    }
    parts
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every module path the code names through `crate::`, `super::` or
/// `self::`, made absolute (the first two segments are enough to place it).
fn referenced(text: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut out = vec![];
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let starts_word = i == 0 || !is_ident(bytes[i - 1] as char) && bytes[i - 1] != b':';
        let base: Option<Vec<String>> = if !starts_word {
            None
        } else if rest.starts_with("crate::") {
            i += "crate::".len();
            Some(vec![])
        } else if rest.starts_with("self::") {
            i += "self::".len();
            Some(module.to_vec())
        } else if rest.starts_with("super::") {
            let mut m = module.to_vec();
            while text[i..].starts_with("super::") {
                m.pop();
                i += "super::".len();
            }
            Some(m)
        } else {
            None
        };
        let Some(base) = base else {
            i += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        };
        // `a::b::{c, d::e}` or `a::b`: the segments up to two deep.
        let mut heads = vec![base];
        let mut path = String::new();
        while i < text.len() {
            let c = text[i..].chars().next().unwrap();
            if is_ident(c) || c == ':' {
                path.push(c);
                i += 1;
            } else {
                break;
            }
        }
        let segs: Vec<String> = path.split("::").filter(|s| !s.is_empty()).map(str::to_owned).collect();
        heads[0].extend(segs);
        if text[i..].starts_with('{') {
            // Each item of a group: the first segment of each.
            let end = text[i..].find('}').map_or(text.len(), |e| i + e);
            let inner = &text[i + 1..end];
            let prefix = heads.pop().unwrap();
            for item in inner.split(',') {
                let first: String = item.trim().chars().take_while(|c| is_ident(*c)).collect();
                if !first.is_empty() && first != "self" {
                    let mut p = prefix.clone();
                    p.push(first);
                    heads.push(p);
                } else {
                    heads.push(prefix.clone());
                }
            }
            i = end;
        }
        out.extend(heads);
    }
    out
}

/// The rooms of `dir` (its folders and files, apart from `mod.rs`,
/// `lib.rs` and `main.rs`).
fn rooms_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            let name = p.file_name()?.to_string_lossy().into_owned();
            if p.is_dir() {
                Some(name)
            } else {
                let stem = name.strip_suffix(".rs")?;
                (!matches!(stem, "mod" | "lib" | "main" | "tests" | "testkit")).then(|| stem.to_owned())
            }
        })
        .collect()
}

/// Which rooms under `within` (a module path: `[]` for the top level) each
/// room's non-test code names.
fn graph(within: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let dir = within.iter().fold(src(), |d, s| d.join(s));
    let rooms = rooms_in(&dir);
    let mut deps: BTreeMap<String, BTreeSet<String>> = rooms.iter().map(|r| (r.clone(), BTreeSet::new())).collect();
    for file in sources(&dir).into_iter().filter(|f| !is_test_file(f)) {
        let module = module_of(&file);
        let Some(room) = module.get(within.len()).filter(|r| rooms.contains(*r)) else { continue };
        let text = std::fs::read_to_string(&file).unwrap();
        for path in referenced(non_test(&text), &module) {
            if path.len() > within.len() && path.iter().zip(within).all(|(a, b)| a == b) {
                let other = &path[within.len()];
                if other != room && rooms.contains(other) {
                    deps.get_mut(room).unwrap().insert(other.clone());
                }
            }
        }
    }
    deps
}

/// A circle in `deps`, if there is one, as the rooms along it.
fn circle(deps: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        deps: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if done.contains(n) {
            return None;
        }
        if let Some(at) = path.iter().position(|p| p == n) {
            let mut c = path[at..].to_vec();
            c.push(n.to_owned());
            return Some(c);
        }
        path.push(n.to_owned());
        for m in deps.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, deps, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    deps.keys().find_map(|n| visit(n, deps, &mut vec![], &mut done))
}

#[test]
fn the_resolver_reads_crate_super_and_groups() {
    let module: Vec<String> = ["archive", "dossiers", "create"].iter().map(|s| s.to_string()).collect();
    let found = referenced(
        "use super::super::{records::X, codec};\nuse crate::store::keys;\nlet x = super::Plan; foo::crate::no",
        &module,
    );
    let s: Vec<String> = found.iter().map(|p| p.join("::")).collect();
    assert!(s.contains(&"archive::records".to_owned()), "{s:?}");
    assert!(s.contains(&"archive::codec".to_owned()), "{s:?}");
    assert!(s.contains(&"store::keys".to_owned()), "{s:?}");
    assert!(s.contains(&"archive::dossiers::Plan".to_owned()), "{s:?}");
    let mut g = BTreeMap::new();
    g.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    g.insert("b".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(circle(&g), Some(vec!["a".to_owned(), "b".to_owned(), "a".to_owned()]));
}

#[test]
fn rooms_depend_on_each_other_without_a_circle() {
    let top = graph(&[]);
    for room in ["api", "archive", "audit", "console", "domain", "policy", "store", "web", "server", "config"] {
        assert!(top.contains_key(room), "room {room} is read from src/: {:?}", top.keys());
    }
    assert_eq!(circle(&top), None, "an import circle between top-level rooms");
    let archive = graph(&["archive"]);
    assert_eq!(circle(&archive), None, "an import circle inside archive/");
}

#[test]
fn pure_rooms_stay_pure_and_the_front_ends_share_one_edge() {
    let top = graph(&[]);
    let deps = |r: &str| top[r].clone();
    assert!(deps("domain").is_empty(), "domain depends on nothing: {:?}", deps("domain"));
    for (room, never) in [
        ("policy", &["archive", "store", "crypto", "web", "api", "console"][..]),
        ("archive", &["api", "console", "web", "server", "cli"]),
        ("store", &["archive", "audit", "crypto", "policy", "web"]),
        ("web", &["api", "console", "server"]),
        ("api", &["console", "store", "crypto"]),
        ("console", &["api", "store", "crypto"]),
    ] {
        for n in never {
            assert!(!deps(room).contains(*n), "{room} must not depend on {n}: {:?}", deps(room));
        }
    }
    // Views render; they never check a proof or a signature themselves.
    for file in sources(&src().join("console")) {
        let text = std::fs::read_to_string(&file).unwrap();
        for forbidden in ["audit::merkle", "audit::checkpoint", "merkle::verify", "NoteVerifier"] {
            assert!(!non_test(&text).contains(forbidden), "{} names {forbidden}", file.display());
        }
    }
}

#[test]
fn no_source_file_is_over_500_lines_of_code() {
    let long: Vec<String> = sources(&src())
        .into_iter()
        .filter_map(|f| {
            let n = non_test(&std::fs::read_to_string(&f).unwrap()).lines().count();
            (n > 500).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these: {long:?}");
}

#[test]
fn masking_is_decided_in_policy_masking_only() {
    // A masked value is made by `policy::masking`; a use case or a view
    // never writes its own stars.
    for room in ["archive", "api", "console", "web"] {
        for file in sources(&src().join(room)) {
            let text = std::fs::read_to_string(&file).unwrap();
            assert!(!non_test(&text).contains("\"***\""), "{} writes a mask of its own", file.display());
        }
    }
}

/// The methods of each type's inherent `impl` blocks in `src/` (non-test
/// code), by type name.
fn methods_per_type() -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for file in sources(&src()).into_iter().filter(|f| !is_test_file(f)) {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut within: Option<String> = None;
        for line in non_test(&text).lines() {
            if let Some(rest) = line.strip_prefix("impl").filter(|r| r.ends_with(" {") && !r.contains(" for ")) {
                // `impl Name {`, `impl<T> Name<T> {`
                let rest = rest.trim_end_matches(" {");
                let rest =
                    if rest.starts_with('<') { &rest[rest.find("> ").map_or(rest.len(), |i| i + 2)..] } else { rest };
                let name: String = rest.trim_start().chars().take_while(|c| is_ident(*c)).collect();
                within = (!name.is_empty()).then_some(name);
            } else if line == "}" {
                within = None;
            } else if let Some(ty) = &within {
                let l = line.strip_prefix("    ").unwrap_or("");
                let l = l.strip_prefix("pub ").or_else(|| l.strip_prefix("pub(crate) ")).unwrap_or(l);
                let l =
                    l.strip_prefix("pub(super) ").or_else(|| l.strip_prefix("pub(in crate::archive) ")).unwrap_or(l);
                let l = l.strip_prefix("const ").unwrap_or(l);
                let l = l.strip_prefix("async ").unwrap_or(l);
                if l.starts_with("fn ") {
                    *counts.entry(ty.clone()).or_insert(0) += 1;
                }
            }
        }
    }
    counts
}

#[test]
fn no_type_has_more_than_forty_methods() {
    let counts = methods_per_type();
    for ty in [
        "Gate",
        "Identity",
        "AuditTrail",
        "Vault",
        "Indexer",
        "Backups",
        "Dossiers",
        "Documents",
        "Governance",
        "Customers",
        "Subjects",
        "Retention",
        "Registers",
        "Archive",
    ] {
        assert!(counts.get(ty).is_some_and(|n| *n > 0), "the service {ty} is counted: {counts:?}");
    }
    for (ty, n) in &counts {
        assert!(*n <= 40, "{ty} has {n} methods (at most 40): split it into services with their own state");
    }
}

#[test]
fn services_depend_downwards_only() {
    let g = graph(&["archive"]);
    let rooms: BTreeSet<&str> = g.keys().map(String::as_str).collect();
    // The services of archive/, lowest first (docs/architecture.md,
    // "Services"); each may use the rooms of its own layer and those below,
    // never one above.
    let layers: [&[&str]; 14] = [
        &["context", "denial", "records", "certificates", "interaction_records", "kept"],
        &["gate"],
        &["vault"],
        &["identity"],
        &["trail"],
        &["index"],
        &["backups", "witness", "standby"],
        &["dossiers"],
        &["documents"],
        &["governance", "oversight"],
        &["customers"],
        &["subjects"],
        &["retention"],
        &["registers"],
    ];
    let mut allowed: BTreeSet<String> = BTreeSet::new();
    for layer in layers {
        allowed.extend(layer.iter().map(|r| (*r).to_owned()));
        for room in layer {
            let deps = g.get(*room).unwrap_or_else(|| panic!("room {room} is read from src/archive: {:?}", g.keys()));
            let upward: Vec<&String> = deps.iter().filter(|d| !allowed.contains(*d)).collect();
            assert!(upward.is_empty(), "{room} depends on {upward:?}, above it");
        }
    }
    let placed: BTreeSet<&str> = layers.iter().flat_map(|l| l.iter().copied()).collect();
    let unplaced: Vec<&&str> = rooms.iter().filter(|r| !placed.contains(**r)).collect();
    assert!(unplaced.is_empty(), "place these rooms in the order: {unplaced:?}");
}

/// The console builds no command the API takes as a body: each one it
/// posts is read from its form into the API's DTO and converted by the
/// same `TryFrom` in `web/commands.rs`, so a form cannot skip a check the
/// API makes (a struct literal of such a command in `console/` would).
#[test]
fn the_console_builds_commands_only_through_the_apis_bodies() {
    let commands = std::fs::read_to_string(src().join("web/commands.rs")).unwrap();
    let built: Vec<&str> = commands
        .lines()
        .filter_map(|l| l.strip_prefix("impl TryFrom<"))
        .filter_map(|l| l.split(" for ").nth(1))
        .map(|t| t.trim_end_matches(" {"))
        .collect();
    assert!(built.len() >= 6, "web/commands.rs converts {built:?}");
    for file in sources(&src().join("console")) {
        let text = std::fs::read_to_string(&file).unwrap();
        for command in &built {
            let literal = format!("{command} {{");
            assert!(
                !non_test(&text).contains(&literal),
                "{} builds {command} by hand: read the form as its DTO (Page::command)",
                file.display()
            );
        }
    }
}
