//! Audit verification throughput, before and after, in one run on one log:
//! the single-threaded iterator path (`verify` over `scan`: one allocation per
//! key and value, decode and hash on one thread) against `verify_store` (two
//! threads, each reading half of the log with a raw iterator and readahead
//! and doing all the work for it: `src/audit/halves.rs`).
//!
//!     cargo bench --bench verify [-- ENTRIES]      (default 1,000,000)
#![allow(clippy::unwrap_used, clippy::expect_used)] // a tool, not the server: a panic fails the run

use custos::audit::{synthetic, verify, verify_store, ChainHead, HEAD_KEY};
use custos::store::{Cf, KvStore, RocksStore};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let n: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let store = RocksStore::open(dir.path())?;
    let avg = synthetic::fill(&store, n)?;
    let head = store.get(Cf::System, HEAD_KEY)?.and_then(|b| ChainHead::decode(&b));
    let runs = 7;
    let (mut single, mut pipelined) = (vec![], vec![]);
    for _ in 0..runs {
        let t = Instant::now();
        let r = verify(store.scan(Cf::Audit, b"", b""), head, |_| {})?;
        single.push(r.entries as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        let r = verify_store(&store, head, |_| {})?;
        pipelined.push(r.entries as f64 / t.elapsed().as_secs_f64());
    }
    let (a, b) = (median(single), median(pipelined));
    println!("audit verify, {n} entries of {avg} bytes, median of {runs} runs each, interleaved:");
    println!("  single thread, scan iterator : {a:>12.0} entries/s");
    println!("  two halves, raw iterators   : {b:>12.0} entries/s   ({:.2}x)", b / a);
    Ok(())
}
