//! Bytes on disk per column family of a stopped server's data directory
//! (memtables flushed first), and per audit entry and per dossier version
//! (scripts/scale.sh).
//!
//!     cargo run --release --example store_stats -- DIR
#![allow(clippy::unwrap_used, clippy::expect_used)] // a tool, not the server: a panic fails the run

use custos::audit::{ChainHead, HEAD_KEY};
use custos::store::{Cf, KvStore, RocksStore};

fn main() -> anyhow::Result<()> {
    let dir = std::env::args().nth(1).ok_or_else(|| anyhow::anyhow!("usage: store_stats DIR"))?;
    let store = RocksStore::open(&custos::config::db_dir(std::path::Path::new(&dir)))?;
    let entries = store.get(Cf::System, HEAD_KEY)?.and_then(|b| ChainHead::decode(&b)).map_or(0, |h| h.next_seq);
    let sizes = store.sizes()?;
    let of = |cf: Cf| sizes.iter().find(|(c, _, _)| *c == cf).map_or((0, 0), |(_, b, k)| (*b, *k));
    println!("| column family | bytes | keys (estimate) |");
    println!("|---|---|---|");
    for (cf, bytes, keys) in &sizes {
        if *bytes > 0 {
            println!("| {} | {bytes} | {keys} |", cf.name());
        }
    }
    let audit: u64 = [Cf::Audit, Cf::Merkle, Cf::AuditIndex].iter().map(|c| of(*c).0).sum();
    if entries > 0 {
        println!(
            "audit: {entries} entries, {:.1} bytes each with their tree nodes and index rows (entry {:.1}, tree {:.1}, index {:.1})",
            audit as f64 / entries as f64,
            of(Cf::Audit).0 as f64 / entries as f64,
            of(Cf::Merkle).0 as f64 / entries as f64,
            of(Cf::AuditIndex).0 as f64 / entries as f64,
        );
    }
    let (versions_bytes, versions) = of(Cf::Versions);
    if versions > 0 {
        let rest: u64 = [Cf::Dossiers, Cf::Subjects, Cf::Keys, Cf::Documents].iter().map(|c| of(*c).0).sum();
        println!(
            "dossiers: {versions} versions, {:.0} bytes each sealed, {:.0} with the dossier, subject and key records",
            versions_bytes as f64 / versions as f64,
            (versions_bytes + rest) as f64 / versions as f64
        );
    }
    Ok(())
}
