//! Writes a synthetic audit log of N realistic entries (with their Merkle
//! nodes and index rows) into a fresh data directory, for measuring
//! verification, queries and bytes on disk on a large log
//! (scripts/bench.sh, scripts/scale.sh).
//!
//!     cargo run --release --example fill_audit -- DIR N [--no-compression]
#![allow(clippy::unwrap_used, clippy::expect_used)] // a tool, not the server: a panic fails the run

use custos::store::{AuditCompression, RocksStore};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || anyhow::anyhow!("usage: fill_audit DIR N [--no-compression]");
    let dir = args.first().ok_or_else(usage)?;
    let n: u64 = args.get(1).ok_or_else(usage)?.parse()?;
    let compression =
        if args.iter().any(|a| a == "--no-compression") { AuditCompression::None } else { AuditCompression::Zstd };
    let started = std::time::Instant::now();
    let store = RocksStore::open_with(&custos::config::db_dir(std::path::Path::new(dir)), compression)?;
    let avg = custos::audit::synthetic::fill(&store, n)?;
    drop(store);
    let secs = started.elapsed().as_secs_f64();
    println!(
        "wrote {n} entries ({avg} bytes each on average, {compression:?}) to {dir} in {secs:.1}s ({:.0}/s)",
        n as f64 / secs
    );
    Ok(())
}
