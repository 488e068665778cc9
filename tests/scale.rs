//! The scale benchmark (scripts/scale.sh) at a small size on the test
//! build's binaries: a smoke test, so the script and its tools never rot.
//! The figures it prints at this size mean nothing; that it runs end to end
//! (synthetic log, verification with the indexes, queries, incremental
//! verification, a server loaded over HTTP, its start-up and bytes on disk)
//! is what is checked.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic fails the run

mod common;

#[test]
fn the_scale_benchmark_runs_end_to_end_at_a_small_size() {
    let bin = std::path::PathBuf::from(common::custos_bin());
    let dir = bin.parent().unwrap();
    for tool in ["fill_audit", "audit_queries", "loadgen", "store_stats"] {
        assert!(dir.join("examples").join(tool).exists(), "cargo test builds the examples; {tool} is missing");
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let work = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/scale.sh"))
        .args(["120", "20000", "120", "40"])
        .env("CUSTOS_SCALE_BIN_DIR", dir)
        .env("CUSTOS_SCALE_PORT", port.to_string())
        .env("CUSTOS_SCALE_DIR", work.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "scale.sh failed:\n{stdout}\n{stderr}");
    for expected in [
        "uncompressed audit: 20000 entries",
        "zstd audit: 20000 entries",
        "audit log intact: 20000 entries",
        "audit indexes match the log",
        "| actor + deny |",
        "incremental verification from a checkpoint one day back: 54 entries",
        "ingest",
        "searches",
        "start-up on the filled directory",
        "dossiers: ",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}\n{stderr}");
    }
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0, "the work directory is removed");
}
