//! The law checklist (docs/checklist.md) names, for each obligation, the
//! tests that prove it. This reads the table at run time and holds it to
//! what it says: every named test exists and is a test, a `covered` row
//! names at least one, every status is one of the four, and no row of the
//! checklist is lost. No server and no custos code: only files are read.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic fails the run

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The statuses a row may have (docs/checklist.md says what each means).
const STATUSES: [&str; 4] = ["covered", "partial", "missing", "pending"];

/// The first cell of every row the checklist must keep: the 34 rows of the
/// requirements checklist the project started from, then the rows issue 34
/// added.
const REQUIRED_ROWS: [&str; 42] = [
    "PIPL 4, 73",
    "PIPL 28",
    "PIPL 29–30",
    "PIPL 13; GDPR 6",
    "PIPL 14; GDPR 7(1)",
    "PIPL 15; GDPR 7(3)",
    "PIPL 16",
    "PIPL 17; NDSMR 21",
    "PIPL 19; GDPR 5(1)(e); GB/T 35273 §6.1",
    "PIPL 21; NDSMR 12",
    "PIPL 23",
    "PIPL 38–40; CAC Order 16/2024 Art 5",
    "PIPL 44–45; GDPR 15",
    "PIPL 45(3); NDSMR 25; GDPR 20",
    "PIPL 46; GDPR 16",
    "PIPL 47; NDSMR 24; GDPR 17",
    "GB/T 35273 §3.10",
    "GDPR 17(3)(b),(e)",
    "GDPR 18, 21",
    "PIPL 48, 50; GDPR 12(3)–(4)",
    "PIPL 24, 55; GDPR 22, 35",
    "PIPL 51",
    "GB/T 35273 §7.1, §6.2–6.3",
    "DSL 21, 27; NDSMR 5",
    "CSL 21(3)",
    "PIPL 52; CAC notice 18 Jul 2025",
    "PIPL 54; Compliance-Audit Measures 2025",
    "PIPL 55–56",
    "GDPR 30",
    "GDPR 5(1)(f), 5(2), 32",
    "GDPR 25",
    "GDPR 9",
    "PIPL 57; NDSMR 11; Incident Reporting Measures 2025",
    "GDPR 33–34; EDPB 9/2022",
    "PIPL 24 (added by issue 34)",
    "PIPL 52 (added by issue 34)",
    "DSL 21 (added by issue 34)",
    "NDSMR 27–33 (added by issue 34)",
    "MLPS level 3, 8.1.4.1 authentication (added by issue 34)",
    "MLPS level 3, 8.1.4.1 lockout (added by issue 34)",
    "MLPS level 3, 8.1.4.2 and 8.1.10 three-role separation (added by issue 34)",
    "Compliance-audit register: PIPL 54; Compliance-Audit Measures 2025 (added by issue 34)",
];

/// One row of the table: its first cell, the tests it names, its status
/// cell, and its line in the file (for the messages).
#[derive(Debug)]
struct Row {
    law: String,
    tests: Vec<String>,
    status: String,
    line: usize,
}

/// The rows of the one table in `text` whose header starts with
/// `| Law + article`: the cells split on `|`, the tests the backticked
/// `file.rs::…` names of the fourth column, the status the fifth.
fn rows(text: &str) -> Vec<Row> {
    let mut out = vec![];
    let mut in_table = false;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with("| Law + article") {
            in_table = true;
            continue;
        }
        if !in_table || line.starts_with("|---") {
            continue;
        }
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let cell = |n: usize| cells.get(n).copied().unwrap_or("");
        out.push(Row {
            law: cell(0).to_owned(),
            tests: backticked(cell(3)).into_iter().filter(|t| t.contains(".rs::")).collect(),
            status: cell(4).to_owned(),
            line: i + 1,
        });
    }
    out
}

/// What `text` holds between pairs of backticks.
fn backticked(text: &str) -> Vec<String> {
    text.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

/// The files a name `file.rs::module::…::function` may be in: the file
/// itself (an inline module), then the modules' own files beside it
/// (`a/b.rs::c::f` → `a/b/c.rs`, `a/b/c/mod.rs`; from a `mod.rs`,
/// `lib.rs` or `main.rs`, `a/c.rs`, `a/c/mod.rs`).
fn candidates(root: &Path, file: &str, modules: &[&str]) -> Vec<PathBuf> {
    let path = root.join(file);
    let mut out = vec![path.clone()];
    if modules.is_empty() {
        return out;
    }
    let dir = path.parent().unwrap_or(root).to_path_buf();
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let base = if matches!(stem.as_str(), "mod" | "lib" | "main") { dir } else { dir.join(stem) };
    let nested = modules.iter().fold(base, |p, m| p.join(m));
    out.push(nested.with_extension("rs"));
    out.push(nested.join("mod.rs"));
    out
}

/// Whether `text` defines `function` as a test: `fn function(` (or `<`)
/// with `#[test]` or `#[tokio::test…]` among the attributes above it.
fn defines_test(text: &str, function: &str) -> bool {
    let lines: Vec<&str> = text.lines().collect();
    let sig = [format!("fn {function}("), format!("fn {function}<")];
    lines.iter().enumerate().any(|(i, line)| {
        if !sig.iter().any(|s| line.contains(s.as_str())) {
            return false;
        }
        lines[..i]
            .iter()
            .rev()
            .map(|l| l.trim())
            .take_while(|l| l.starts_with('#') || l.starts_with("//"))
            .any(|l| l.starts_with("#[test]") || l.starts_with("#[tokio::test"))
    })
}

/// Why `name` (`file.rs::…::function`) names no test under `root`, if it
/// does not.
fn missing_test(root: &Path, name: &str) -> Option<String> {
    let parts: Vec<&str> = name.split("::").collect();
    let (file, rest) = parts.split_first().unwrap();
    let Some((function, modules)) = rest.split_last() else {
        return Some("names no function after the file".into());
    };
    if !root.join(file).is_file() {
        return Some(format!("{file} is not a file of the project"));
    }
    let found = candidates(root, file, modules)
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .any(|text| defines_test(&text, function));
    let module = if modules.is_empty() { String::new() } else { format!(" or its module {}", modules.join("::")) };
    (!found).then(|| format!("no test `fn {function}` in {file}{module}"))
}

fn checklist() -> Vec<Row> {
    let text = std::fs::read_to_string(root().join("docs/checklist.md")).expect("docs/checklist.md");
    let rows = rows(&text);
    assert!(!rows.is_empty(), "docs/checklist.md holds no table with a `| Law + article` header");
    rows
}

/// Failures, one a line, or nothing.
fn report(what: &str, failures: &[String]) {
    assert!(failures.is_empty(), "docs/checklist.md: {what}:\n{}", failures.join("\n"));
}

#[test]
fn every_test_a_row_names_exists_and_is_a_test() {
    let root = root();
    let failures: Vec<String> = checklist()
        .iter()
        .flat_map(|row| {
            let root = &root;
            row.tests.iter().filter_map(move |name| {
                missing_test(root, name).map(|why| format!("line {} ({}): `{name}`: {why}", row.line, row.law))
            })
        })
        .collect();
    report("a named test does not exist", &failures);
}

#[test]
fn every_row_has_a_known_status_and_a_covered_row_names_its_tests() {
    let mut failures = vec![];
    for row in checklist() {
        let status = row.status.split(':').next().unwrap_or("").trim();
        if !STATUSES.contains(&status) {
            failures
                .push(format!("line {} ({}): status `{}` is not one of {STATUSES:?}", row.line, row.law, row.status));
        }
        if status == "covered" && row.tests.is_empty() {
            failures.push(format!("line {} ({}): covered, but names no test", row.line, row.law));
        }
        if matches!(status, "partial" | "missing" | "pending") && !row.status.contains(':') {
            failures.push(format!("line {} ({}): {status} without saying what is not tested", row.line, row.law));
        }
        if status == "pending" && !row.status.contains("being built in issue 34") {
            failures.push(format!("line {} ({}): pending without \"being built in issue 34\"", row.line, row.law));
        }
    }
    report("a row's status does not hold", &failures);
}

#[test]
fn no_row_of_the_checklist_is_lost() {
    let rows = checklist();
    let mut failures: Vec<String> =
        rows.iter().filter(|r| r.law.is_empty()).map(|r| format!("line {}: the row names no law", r.line)).collect();
    for law in REQUIRED_ROWS {
        if !rows.iter().any(|r| r.law == law) {
            failures.push(format!("the row `{law}` is gone"));
        }
    }
    if rows.len() < REQUIRED_ROWS.len() {
        failures.push(format!("{} rows, fewer than the {} it must keep", rows.len(), REQUIRED_ROWS.len()));
    }
    report("rows are lost", &failures);
}

/// The checks above can fail: a name that is not there, a helper that is
/// not a test, a module's own file, and a table missing its cells.
#[test]
fn the_resolver_finds_tests_in_files_and_modules_and_refuses_the_rest() {
    let root = root();
    assert_eq!(missing_test(&root, "tests/checklist.rs::no_row_of_the_checklist_is_lost"), None);
    assert_eq!(missing_test(&root, "tests/policy.rs::each_row_of_the_role_table"), None);
    let made_up = missing_test(&root, "tests/checklist.rs::no_such_test_anywhere").unwrap();
    assert!(made_up.contains("no test `fn no_such_test_anywhere`"), "{made_up}");
    let helper = missing_test(&root, "tests/checklist.rs::checklist").unwrap();
    assert!(helper.contains("no test `fn checklist`"), "a helper is not a test: {helper}");
    let no_file = missing_test(&root, "tests/no_such_file.rs::each_row_of_the_role_table").unwrap();
    assert!(no_file.contains("not a file"), "{no_file}");
    assert!(missing_test(&root, "tests/policy.rs").is_some(), "a file alone names no test");

    let file = "src/archive/backups/tests.rs";
    let function = "a_set_verifies_and_restores_into_a_fresh_store_with_the_same_dossiers_readable";
    assert_eq!(missing_test(&root, &format!("{file}::{function}")), None, "a test file of its own");
    assert_eq!(missing_test(&root, &format!("src/archive/backups/mod.rs::tests::{function}")), None, "by module");
    assert!(missing_test(&root, &format!("src/archive/mod.rs::dossiers::{function}")).is_some(), "another module");

    let table = "| Law + article | a | b | c | d |\n|---|---|---|---|---|\n| X 1 | o | b | `tests/a.rs::f`<br>`g` | covered |\n|  | o | b |  | missing |\nafter\n";
    let parsed = rows(table);
    assert_eq!(parsed.len(), 2, "{parsed:?}");
    assert_eq!((parsed[0].law.as_str(), parsed[0].tests.as_slice()), ("X 1", ["tests/a.rs::f".to_owned()].as_slice()));
    assert_eq!((parsed[1].law.as_str(), parsed[1].line), ("", 4));
}
