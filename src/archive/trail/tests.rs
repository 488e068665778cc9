//! The audit trail's reading side tested where it lives: the memory
//! store, the shipped policies, the manual clock; no HTTP.
use super::transparency::ProofVerdict;
use crate::archive::testkit::{archive, archive_with_clock, caller, ctx, last_entry, sales_dossier};
use crate::archive::{Archive, ArchiveError, RequestCtx};
use crate::audit::checkpoint::{Checkpoint, NoteVerifier};
use crate::audit::{entry_key, merkle, AuditEntry, AuditFilter, Outcome};
use crate::domain::Role;
use crate::store::{Cf, KvStore, MemStore, Op};
use time::Duration;

/// The entries a query answers, as (actor, action, outcome).
async fn query(a: &Archive, who: &RequestCtx, filter: AuditFilter) -> Vec<AuditEntry> {
    let page = a.audit_trail().query_audit(who, filter, 0, 1000).await.unwrap();
    assert_eq!(page.next_cursor, None, "one page holds them all");
    page.entries.into_iter().map(|(e, _)| e).collect()
}

/// The signed checkpoint the trail hands out, opened with its verifier key.
async fn signed_checkpoint(a: &Archive, who: &RequestCtx) -> Checkpoint {
    let note = a.audit_trail().checkpoint(who).await.unwrap();
    NoteVerifier::parse(&a.audit_trail().verifier_key()).unwrap().open_checkpoint(&note).unwrap()
}

/// The seq of the last entry with `action`.
fn seq_of(store: &MemStore, action: &str) -> u64 {
    let mut found = None;
    for row in store.scan(Cf::Audit, b"", b"") {
        let e = AuditEntry::decode(&row.unwrap().1).unwrap();
        if e.body.action == action {
            found = Some(e.seq);
        }
    }
    found.unwrap_or_else(|| panic!("no {action} entry"))
}

#[tokio::test]
async fn queries_filter_by_actor_action_outcome_and_time() {
    let (a, _, clock) = archive_with_clock();
    let start = a.now();
    let (sales, made) = sales_dossier(&a).await;
    let other = caller(&a, &[Role::Sales], "service_delivery").await;
    clock.advance(Duration::hours(1));
    let refused = a.dossiers().read_dossier(&other, made.id.as_str(), None).await;
    assert!(matches!(refused, Err(ArchiveError::Forbidden { .. })), "{refused:?}");
    clock.advance(Duration::hours(1));
    a.dossiers().read_dossier(&sales, made.id.as_str(), None).await.unwrap();
    let auditor = ctx(&[Role::Auditor]);

    let by_other =
        query(&a, &auditor, AuditFilter { actor: Some(other.principal.id.to_string()), ..Default::default() }).await;
    assert_eq!(by_other.len(), 1, "{by_other:?}");
    assert_eq!((by_other[0].body.action.as_str(), by_other[0].body.outcome), ("dossier.read", Outcome::Deny));

    let reads = AuditFilter { action: Some("dossier.read".into()), ..Default::default() };
    let all_reads = query(&a, &auditor, reads.clone()).await;
    assert_eq!(all_reads.len(), 2);
    let allowed = query(&a, &auditor, AuditFilter { outcome: Some(Outcome::Allow), ..reads.clone() }).await;
    assert_eq!(allowed.len(), 1);
    assert_eq!(allowed[0].body.actor, sales.principal.id.as_str());
    let denied = query(&a, &auditor, AuditFilter { outcome: Some(Outcome::Deny), ..Default::default() }).await;
    assert_eq!(denied.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![by_other[0].seq], "the one refusal");
    let created = query(
        &a,
        &auditor,
        AuditFilter {
            actor: Some(sales.principal.id.to_string()),
            action: Some("dossier.create".into()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].body.resource, made.id.as_str());

    // Time: the hour between the setup and the owner's read holds the refusal only.
    let window = AuditFilter {
        from: Some(start + Duration::minutes(30)),
        to: Some(start + Duration::minutes(90)),
        ..Default::default()
    };
    let in_window = query(&a, &auditor, window).await;
    assert_eq!(in_window.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![by_other[0].seq]);
    let before =
        query(&a, &auditor, AuditFilter { to: Some(start + Duration::minutes(30)), ..Default::default() }).await;
    assert!(!before.is_empty());
    assert!(before.iter().all(|e| e.time <= start + Duration::minutes(30)));
    assert!(before.iter().all(|e| e.body.outcome != Outcome::Deny));
    // Every query was itself recorded.
    let queries = query(&a, &auditor, AuditFilter { action: Some("audit.query".into()), ..Default::default() }).await;
    assert_eq!(queries.len(), 8, "seven queries before, and this one");
    assert!(queries.iter().all(|e| e.body.actor == auditor.principal.id.as_str()));
}

#[tokio::test]
async fn a_query_pages_with_a_cursor() {
    let (a, _) = archive();
    sales_dossier(&a).await;
    let officer = ctx(&[Role::Compliance]);
    let everything = query(&a, &officer, AuditFilter::default()).await;
    assert!(everything.len() >= 3);
    let (mut seen, mut cursor) = (Vec::new(), 0);
    loop {
        let page = a.audit_trail().query_audit(&officer, AuditFilter::default(), cursor, 2).await.unwrap();
        assert!(page.entries.len() <= 2);
        seen.extend(page.entries.iter().map(|(e, _)| e.seq));
        match page.next_cursor {
            Some(c) => cursor = c,
            None => break,
        }
    }
    // Each page's own entry is inside the log the next page reads.
    let first: Vec<u64> = everything.iter().map(|e| e.seq).collect();
    assert_eq!(seen[..first.len()], first[..]);
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "ascending, nothing twice");
}

#[tokio::test]
async fn the_trail_is_read_by_compliance_and_auditors_and_a_refusal_is_audited() {
    let (a, store) = archive();
    sales_dossier(&a).await;
    for role in [Role::Compliance, Role::Auditor] {
        let reader = ctx(&[role]);
        a.audit_trail().query_audit(&reader, AuditFilter::default(), 0, 10).await.unwrap();
        let e = last_entry(&store);
        assert_eq!((e.body.action.as_str(), e.body.outcome), ("audit.query", Outcome::Allow), "{role:?}");
        assert_eq!(e.body.actor, reader.principal.id.as_str());
    }
    for role in [Role::Sales, Role::Service, Role::Finance, Role::Admin] {
        let reader = ctx(&[role]);
        let before = a.audit_head().next_seq;
        let refused = a.audit_trail().query_audit(&reader, AuditFilter::default(), 0, 10).await;
        assert!(matches!(refused, Err(ArchiveError::Forbidden { .. })), "{role:?}: {:?}", refused.err());
        assert_eq!(a.audit_head().next_seq, before + 1, "{role:?}: one entry, the refusal");
        let e = last_entry(&store);
        assert_eq!((e.body.action.as_str(), e.body.outcome), ("audit.query", Outcome::Deny), "{role:?}");
        assert_eq!(e.body.actor, reader.principal.id.as_str());
    }
    // Every reading door, not only the query.
    let sales = ctx(&[Role::Sales]);
    let trail = a.audit_trail();
    let refusals = [
        trail.audit_entry(&sales, 0).await.err(),
        trail.audit_activity(&sales, 7).await.err(),
        trail.checkpoint(&sales).await.err(),
        trail.inclusion_proof(&sales, 0, None).await.err(),
        trail.consistency_proof(&sales, 1, 2).await.err(),
        trail.list_alerts(&sales, 10).await.err(),
    ];
    for (n, r) in refusals.into_iter().enumerate() {
        assert!(matches!(r, Some(ArchiveError::Forbidden { .. })), "door {n}: {r:?}");
    }
    let denied =
        query(&a, &ctx(&[Role::Auditor]), AuditFilter { outcome: Some(Outcome::Deny), ..Default::default() }).await;
    assert_eq!(denied.len(), 4 + 6);
    assert!(denied.iter().all(|e| e.body.action == "audit.query"));
}

#[tokio::test]
async fn the_chain_and_an_entrys_proof_verify_until_its_stored_bytes_change() {
    let (a, store) = archive();
    let (_, made) = sales_dossier(&a).await;
    let other = caller(&a, &[Role::Sales], "service_delivery").await;
    let _ = a.dossiers().read_dossier(&other, made.id.as_str(), None).await;
    let refusal = seq_of(&store, "dossier.read");
    let officer = ctx(&[Role::Compliance]);

    let report = crate::audit::verify_store(store.as_ref(), Some(a.audit_head()), |_| {}).unwrap();
    assert_eq!(report.entries, a.audit_head().next_seq);
    let (entry, _, raw) = a.audit_trail().audit_entry(&officer, refusal).await.unwrap();
    assert_eq!(entry.body.outcome, Outcome::Deny);
    let verdict = a.audit_trail().entry_proof_verdict(&officer, refusal, &raw).await.unwrap();
    assert!(matches!(verdict, ProofVerdict::Verified { .. }), "{verdict:?}");

    // Someone with access to the store turns the refusal into an allow.
    let mut forged = entry.clone();
    forged.body.outcome = Outcome::Allow;
    store.write(&[Op::Put(Cf::Audit, entry_key(refusal).to_vec(), forged.encode())], true).unwrap();

    let broken = crate::audit::verify_store(store.as_ref(), Some(a.audit_head()), |_| {});
    assert!(broken.is_err(), "the chain no longer verifies");
    let (read_back, _, raw) = a.audit_trail().audit_entry(&officer, refusal).await.unwrap();
    assert_eq!(read_back.body.outcome, Outcome::Allow, "the trail hands out what is stored");
    let verdict = a.audit_trail().entry_proof_verdict(&officer, refusal, &raw).await.unwrap();
    assert!(matches!(verdict, ProofVerdict::Fails { .. }), "the signed tree does not hold it: {verdict:?}");
}

#[tokio::test]
async fn inclusion_and_consistency_proofs_check_out_against_signed_checkpoints() {
    let (a, store) = archive();
    let (sales, made) = sales_dossier(&a).await;
    let officer = ctx(&[Role::Compliance]);
    let old = signed_checkpoint(&a, &officer).await;
    assert_eq!(old.size, a.audit_head().next_seq, "the checkpoint holds its own request's entry");
    for _ in 0..5 {
        a.dossiers().read_dossier(&sales, made.id.as_str(), None).await.unwrap();
    }
    let new = signed_checkpoint(&a, &officer).await;
    assert!(new.size > old.size);

    let proof = a.audit_trail().consistency_proof(&officer, old.size, new.size).await.unwrap();
    assert!(merkle::verify_consistency(old.size, new.size, &proof, &old.root, &new.root));
    assert!(!merkle::verify_consistency(old.size, new.size, &proof, &new.root, &new.root), "a wrong old root fails");

    let seq = seq_of(&store, "dossier.create");
    let (_, _, raw) = a.audit_trail().audit_entry(&officer, seq).await.unwrap();
    for cp in [&old, &new] {
        let p = a.audit_trail().inclusion_proof(&officer, seq, Some(cp.size)).await.unwrap();
        assert_eq!((p.leaf_index, p.tree_size), (seq, cp.size));
        assert!(merkle::verify_inclusion(seq, cp.size, &merkle::leaf_hash(&raw), &p.hashes, &cp.root));
        assert!(!merkle::verify_inclusion(seq + 1, cp.size, &merkle::leaf_hash(&raw), &p.hashes, &cp.root));
        let (_, _, other) = a.audit_trail().audit_entry(&officer, seq + 1).await.unwrap();
        assert!(!merkle::verify_inclusion(seq, cp.size, &merkle::leaf_hash(&other), &p.hashes, &cp.root));
    }
    let e = last_entry(&store);
    assert_eq!(
        (e.body.action.as_str(), e.body.resource.as_str()),
        ("audit.query", format!("audit/{}", seq + 1).as_str())
    );

    // Sizes the log cannot prove are refused, not answered.
    let now = a.audit_head().next_seq;
    let r = a.audit_trail().inclusion_proof(&officer, seq, Some(now + 10)).await;
    assert!(matches!(r, Err(ArchiveError::NotFound(_))), "{r:?}");
    // ... and audited as what they were: an error, not an allowed read.
    let e = last_entry(&store);
    assert_eq!((e.body.resource.as_str(), e.body.outcome), ("audit/proofs", Outcome::Error));
    let r = a.audit_trail().inclusion_proof(&officer, old.size, Some(old.size)).await;
    assert!(matches!(r, Err(ArchiveError::BadRequest(_))), "{r:?}");
    let r = a.audit_trail().consistency_proof(&officer, 0, old.size).await;
    assert!(matches!(r, Err(ArchiveError::BadRequest(_))), "{r:?}");
    let r = a.audit_trail().consistency_proof(&officer, new.size, old.size).await;
    assert!(matches!(r, Err(ArchiveError::BadRequest(_))), "{r:?}");
}
