//! What the access policy costs per dossier read: build the decision
//! entities, decide the dossier's five field classes, and each contact's
//! personal and sensitive classes (memoised by the contact's state), exactly
//! as `Dossiers::read_dossier` does before it decrypts anything.
//!
//!     cargo bench --bench policy [-- ITERATIONS]     (default 20,000 per case)
#![allow(clippy::unwrap_used, clippy::expect_used)] // a tool, not the server: a panic fails the run

use custos::domain::dossier::{Grade, Status};
use custos::domain::{Classification, Principal, PrincipalId, Purpose, Role};
use custos::policy::access::{DossierFacts, SubjectState};
use custos::policy::PolicySet;
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn principal(role: Role) -> Principal {
    Principal {
        id: PrincipalId::generate(),
        name: "bench".into(),
        roles: vec![role],
        department: "d".into(),
        region: "华东".into(),
        created_at: time::OffsetDateTime::UNIX_EPOCH,
        recipient: None,
        admin_pending: None,
        disabled_by: None,
    }
}

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(20_000);
    let policies = PolicySet::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("policies"))?;
    let consented = SubjectState { consents: ["marketing".to_owned()].into(), ..Default::default() };
    let plain = SubjectState::default();
    // (case, role, purpose, contact states)
    let cases: Vec<(&str, Role, &str, Vec<SubjectState>)> = vec![
        ("service, 2 contacts", Role::Service, "service_delivery", vec![plain.clone(); 2]),
        ("finance, 2 contacts", Role::Finance, "credit_assessment", vec![plain.clone(); 2]),
        ("sales marketing, 2 contacts (1 consented)", Role::Sales, "marketing", vec![consented.clone(), plain.clone()]),
        ("compliance dsr, 20 contacts", Role::Compliance, "dsr", vec![plain.clone(); 20]),
    ];
    println!("access decisions per dossier read, {n} reads per round, median of 7 rounds;");
    println!("warm: decisions for this principal and owner/region/grade/status already cached; cold: a new owner every read (every decision evaluated by Cedar)");
    for (name, role, purpose, contacts) in cases {
        for cold in [false, true] {
            let me = principal(role);
            let def = policies.purposes.get(&Purpose::parse(purpose).unwrap()).unwrap();
            let mut rounds = vec![];
            let mut evaluations = 0;
            for _ in 0..7 {
                let owners: Vec<PrincipalId> = (0..if cold { n } else { 1 }).map(|_| PrincipalId::generate()).collect();
                let t = Instant::now();
                for i in 0..n {
                    let owner = if cold {
                        &owners[i]
                    } else if role == Role::Sales {
                        &me.id
                    } else {
                        &owners[0]
                    };
                    let facts = DossierFacts { owner, region: "华东", grade: Grade::A, status: Status::Active };
                    let mut reader = policies.access.reader(&me, "dos_01jbench0000000000000000", facts, purpose, def);
                    for class in custos::policy::classes::FieldClasses::template().dossier_level() {
                        black_box(reader.decide(class, None));
                    }
                    for s in &contacts {
                        black_box(reader.decide(Classification::Personal, Some(s)));
                        black_box(reader.decide(Classification::Sensitive, Some(s)));
                    }
                    evaluations = reader.evaluations();
                }
                rounds.push(t.elapsed().as_secs_f64() * 1e6 / n as f64);
            }
            let us = median(rounds);
            println!(
                "  {name:<44} {:<5} {us:>7.1} µs per read ({:>8.0} reads/s; {evaluations} decisions per read)",
                if cold { "cold" } else { "warm" },
                1e6 / us,
            );
        }
    }
    Ok(())
}
