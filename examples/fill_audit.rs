//! Writes a synthetic audit log of N realistic entries into a fresh data
//! directory, for measuring `custos audit verify` on a large log
//! (scripts/bench.sh).
//!
//!     cargo run --release --example fill_audit -- DIR N
#![allow(clippy::unwrap_used, clippy::expect_used)] // a tool, not the server: a panic fails the run

use custos::store::RocksStore;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = || anyhow::anyhow!("usage: fill_audit DIR N");
    let dir = args.next().ok_or_else(usage)?;
    let n: u64 = args.next().ok_or_else(usage)?.parse()?;
    let store = RocksStore::open(&custos::config::db_dir(std::path::Path::new(&dir)))?;
    let avg = custos::audit::synthetic::fill(&store, n)?;
    println!("wrote {n} entries ({avg} bytes each on average) to {dir}");
    Ok(())
}
