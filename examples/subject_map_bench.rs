//! The subject map's costs on a large log (docs/performance.md): the first
//! build over the whole log, a checkpoint's share (taking in the entries
//! since the last one and computing the root), and an access report's
//! evidence for one person (the map proof, the person's entries through the
//! subject index and an inclusion proof for each).
//!
//!     cargo run --release --example fill_audit -- DIR 10000000
//!     cargo run --release --example subject_map_bench -- DIR [TAIL]
//!
//! TAIL (default 60000: a minute at 1,000 entries/s) is the number of
//! entries a checkpoint takes in.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a tool, not the server: a panic fails the run

use custos::audit::subject_map::{self, SubjectMap};
use custos::audit::{merkle, AuditFilter, ChainHead, StoredTree, HEAD_KEY};
use custos::store::{Cf, KvStore, Op, RocksStore};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args.first().ok_or_else(|| anyhow::anyhow!("usage: subject_map_bench DIR [TAIL]"))?;
    let tail: u64 = args.get(1).map(|t| t.parse()).transpose()?.unwrap_or(60_000);
    let store = RocksStore::open(&custos::config::db_dir(std::path::Path::new(dir)))?;
    let n = store.get(Cf::System, HEAD_KEY)?.and_then(|b| ChainHead::decode(&b)).map_or(0, |h| h.next_seq);
    anyhow::ensure!(n > tail, "the log has {n} entries, fewer than the tail {tail}");

    // The first build: what a data directory from before the map pays once
    // (a map an earlier run stored is forgotten first).
    store.write(&[Op::Delete(Cf::System, custos::store::keys::SUBJECT_MAP_HEAD.to_vec())], true)?;
    let t = Instant::now();
    let mut map = SubjectMap::load(&store, "bench")?;
    map.advance(&store, n - tail)?;
    let build = t.elapsed().as_secs_f64();
    let t = Instant::now();
    map.root();
    let first_root = t.elapsed().as_secs_f64();
    println!(
        "log of {n} entries, {} people: first build to {} in {build:.1}s, its root in {first_root:.2}s",
        map.people(),
        n - tail
    );

    // A checkpoint: the tail taken in and the root computed again.
    let t = Instant::now();
    map.advance(&store, n)?;
    let take_in = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let root = map.root();
    let root_secs = t.elapsed().as_secs_f64();
    println!(
        "checkpoint after {tail} new entries: {:.0} ms ({:.0} ms taking them in, {:.0} ms for the root)",
        (take_in + root_secs) * 1e3,
        take_in * 1e3,
        root_secs * 1e3
    );
    let t = Instant::now();
    let again = SubjectMap::load(&store, "bench")?;
    println!("loading the stored map at start-up: {:.2}s", t.elapsed().as_secs_f64());
    drop(again);

    // Reports for a few people: the map proof, the entries, the proofs.
    let mut proofs = Vec::new();
    let mut evidence = Vec::new();
    let mut sizes = Vec::new();
    for i in [3u64, 1_000, 250_001, 999_998, 1_500_000] {
        let sid = custos::audit::synthetic::subject(i);
        let t = Instant::now();
        let (key, value, proof) = map.prove(&sid);
        proofs.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(subject_map::verify(&root, &key, &proof), Ok(value));
        let t = Instant::now();
        let filter = AuditFilter { subject: Some(sid), ..Default::default() };
        let mut seqs = Vec::new();
        custos::audit::for_each_match(&store, &filter, n, |e| seqs.push(e.seq))?;
        for &seq in &seqs {
            merkle::inclusion_proof(&StoredTree(&store), seq, n).map_err(anyhow::Error::msg)?;
        }
        evidence.push(t.elapsed().as_secs_f64() * 1e3);
        sizes.push(seqs.len());
        assert_eq!(value.map_or(0, |v| v.count), seqs.len() as u64);
    }
    println!(
        "access report evidence (5 people, {:?} entries each): map proof median {:.0} ms, entries and inclusion proofs median {:.1} ms",
        sizes,
        median(proofs),
        median(evidence)
    );
    Ok(())
}
