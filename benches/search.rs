//! The search index at scale: indexing rate, and query latency (p50, p99)
//! over an index of N dossiers built from the fixtures (each with its own
//! contacts' phone and email in the blind index).
//!
//!     cargo bench --bench search [-- DOSSIERS]      (default 100,000)
#![allow(clippy::unwrap_used, clippy::expect_used)] // a tool, not the server: a panic fails the run

use custos::search::{IndexDoc, SearchIndex};
use serde_json::Value;
use std::time::Instant;

fn text_of(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| text_of(x, out)),
        Value::Object(m) => m.values().for_each(|x| text_of(x, out)),
        _ => {}
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(100_000);
    let fixtures: Vec<Value> = serde_json::from_str(include_str!("../fixtures/dossiers.json"))?;
    let dir = tempfile::tempdir()?;
    let ix = SearchIndex::open(dir.path(), zeroize::Zeroizing::new([9u8; 32]))?;
    let t = Instant::now();
    for i in 0..n {
        let f = &fixtures[i % fixtures.len()];
        let mut text = Vec::new();
        for k in ["customer", "transport", "preferences", "remarks", "tags"] {
            text_of(&f[k], &mut text);
        }
        text.push(format!("批次{} lot{}", i % 1000, i % 1000));
        let doc = IndexDoc {
            id: format!("dos_{i:026}"),
            version: 1,
            grade: f["grade"].as_str().unwrap_or("A").to_owned(),
            region: f["customer"]["region"].as_str().unwrap_or_default().to_owned(),
            text: text.join("\n"),
            personal: vec![format!("139{i:08}"), format!("contact{i}@example.com"), format!("联系人{i}")],
        };
        ix.upsert(&doc)?;
    }
    ix.commit()?;
    let index_secs = t.elapsed().as_secs_f64();
    println!(
        "indexed {n} dossiers in {index_secs:.1} s: {:.0} dossiers/s (single writer, one commit)",
        n as f64 / index_secs
    );

    let queries: Vec<(&str, String, Option<&str>)> = vec![
        ("Chinese term", "电子产品".into(), None),
        ("Chinese term", "东南亚".into(), None),
        ("Chinese term + grade", "冷链".into(), Some("A")),
        ("Latin phrase", "cold chain".into(), None),
        ("blind: full phone", format!("139{:08}", n / 2), None),
        ("blind: email", format!("contact{}@example.com", n / 3), None),
    ];
    println!("query latency over {n} dossiers, top 20, 500 runs each:");
    for (what, q, grade) in &queries {
        let mut lat = Vec::with_capacity(500);
        let mut hits = 0;
        for _ in 0..500 {
            let t = Instant::now();
            hits = ix.search(q, *grade, None, 20)?.len();
            lat.push(t.elapsed().as_secs_f64() * 1e3);
        }
        lat.sort_by(|a, b| a.total_cmp(b));
        println!(
            "  {what:<22} {q:<26} p50 {:>6.2} ms  p99 {:>6.2} ms  ({hits} hits)",
            percentile(&lat, 0.5),
            percentile(&lat, 0.99)
        );
    }
    Ok(())
}
