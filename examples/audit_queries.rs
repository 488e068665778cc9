//! First-page latency of audit queries on a large log (scripts/scale.sh):
//! the query code the API runs (`GET /v1/audit/entries`), on a data
//! directory filled by `fill_audit` (the synthetic spread of
//! `custos::audit::synthetic`), for single filters common and rare and for
//! combinations, cold (first run after opening) and warm (median of 9).
//!
//!     cargo run --release --example audit_queries -- DIR
#![allow(clippy::unwrap_used, clippy::expect_used)] // a tool, not the server: a panic fails the run

use custos::audit::synthetic::{actor, dossier, subject, RARE_ACTOR};
use custos::audit::{AuditFilter, ChainHead, Outcome, HEAD_KEY};
use custos::store::{Cf, KvStore, RocksStore};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let dir = std::env::args().nth(1).ok_or_else(|| anyhow::anyhow!("usage: audit_queries DIR"))?;
    let store = RocksStore::open_read_only(&custos::config::db_dir(std::path::Path::new(&dir)))?;
    let head = store.get(Cf::System, HEAD_KEY)?.and_then(|b| ChainHead::decode(&b)).map_or(0, |h| h.next_seq);
    // "What did this employee read last March": a month, eight months ago.
    let now = custos::audit::AuditEntry::decode(&store.get(Cf::Audit, &(head - 1).to_be_bytes())?.unwrap())?.time;
    let month_from = now - time::Duration::days(245);
    let month_to = month_from + time::Duration::days(31);
    let f = |actor_: Option<String>, resource: Option<String>, action: Option<&str>, outcome: Option<Outcome>| {
        AuditFilter { actor: actor_, resource, action: action.map(str::to_owned), outcome, ..Default::default() }
    };
    let a = || Some(actor(17));
    let queries: Vec<(&str, AuditFilter)> = vec![
        ("actor (1 in 1,000 entries)", f(a(), None, None, None)),
        ("actor, rare (1 in 1,000,000)", f(Some(RARE_ACTOR.into()), None, None, None)),
        ("dossier (about 10 entries)", f(None, Some(dossier(4242)), None, None)),
        ("subject", AuditFilter { subject: Some(subject(8484)), ..Default::default() }),
        ("action, rare (dossier.destroy)", f(None, None, Some("dossier.destroy"), None)),
        ("outcome deny", f(None, None, None, Some(Outcome::Deny))),
        (
            "actor + last March",
            AuditFilter { actor: a(), from: Some(month_from), to: Some(month_to), ..Default::default() },
        ),
        ("actor + dossier.read + allow", f(a(), None, Some("dossier.read"), Some(Outcome::Allow))),
        ("actor + deny", f(a(), None, None, Some(Outcome::Deny))),
        ("actor + dossier (no match)", f(a(), Some(dossier(4242)), None, None)),
        ("rare actor + dossier.read", f(Some(RARE_ACTOR.into()), None, Some("dossier.read"), None)),
        ("dossier.destroy + deny", f(None, None, Some("dossier.destroy"), Some(Outcome::Deny))),
        ("dossier.update + error", f(None, None, Some("dossier.update"), Some(Outcome::Error))),
        ("no filter + last March", AuditFilter { from: Some(month_from), to: Some(month_to), ..Default::default() }),
    ];
    println!("{head} entries in {dir}; first page of 50 (the API's default), times in ms");
    println!("| query | entries on the page | more (cursor) | cold | warm (median of 9) |");
    println!("|---|---|---|---|---|");
    let mut worst = 0f64;
    for (name, filter) in &queries {
        let t = Instant::now();
        let page = custos::audit::query_page(&store, filter, 0, 50, head)?;
        let cold = t.elapsed().as_secs_f64() * 1e3;
        let mut warm = vec![];
        for _ in 0..9 {
            let t = Instant::now();
            custos::audit::query_page(&store, filter, 0, 50, head)?;
            warm.push(t.elapsed().as_secs_f64() * 1e3);
        }
        warm.sort_by(|x, y| x.total_cmp(y));
        worst = worst.max(cold).max(warm[4]);
        let more = if page.next_cursor.is_some() { "yes" } else { "no" };
        println!("| {name} | {} | {more} | {cold:.2} | {:.2} |", page.entries.len(), warm[4]);
    }
    println!("slowest first page: {worst:.2} ms");

    // The nightly check: from a checkpoint one day back (a year's log over
    // 365 days), the day's entries only.
    let day = (head / 365).max(1);
    let size = head - day;
    let root = custos::audit::merkle::root(&custos::audit::StoredTree(&store), size).map_err(anyhow::Error::msg)?;
    let trusted = custos::audit::checkpoint::Checkpoint { origin: "scale".into(), size, root, extensions: Vec::new() };
    let chain = store.get(Cf::System, HEAD_KEY)?.and_then(|b| ChainHead::decode(&b));
    let t = Instant::now();
    let r = custos::audit::incremental::verify_from(&store, &trusted, chain, |_| {})?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "incremental verification from a checkpoint one day back: {} entries in {secs:.3}s ({:.0} entries/s)",
        r.entries - r.from,
        (r.entries - r.from) as f64 / secs
    );
    Ok(())
}
