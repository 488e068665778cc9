//! Legal holds tested where they live: the memory store, the shipped
//! policies, the manual clock; no HTTP.
use super::{BatchState, ItemOutcome, Target};
use crate::archive::testkit::{archive, archive_with_clock, caller, last_entry, sales_dossier};
use crate::archive::{Archive, ArchiveError, Created, RedactionReason, RequestCtx};
use crate::audit::checkpoint::NoteVerifier;
use crate::audit::{AuditEntry, Outcome};
use crate::clock::ManualClock;
use crate::crypto::KeyRef;
use crate::domain::{Jurisdiction, Role};
use crate::store::{Cf, KvStore, MemStore};

#[tokio::test]
async fn a_hold_is_placed_sealed_listed_and_released_by_compliance_only() {
    let (a, store) = archive();
    let (sales, made) = sales_dossier(&a).await;
    let id = made.id.as_str();
    let cn = Jurisdiction::parse("CN").unwrap();

    let refused = a.retention().place_hold(&sales, id, "诉讼保全", "(2026)沪01民初123号", cn.clone()).await;
    assert!(matches!(refused, Err(ArchiveError::Forbidden { .. }) | Err(ArchiveError::BadRequest(_))), "{refused:?}");
    assert_eq!(last_entry(&store).body.outcome, Outcome::Deny);
    assert!(!a.retention().may_hold(&sales, &made.id), "the console offers no holds to sales");

    let officer = caller(&a, &[Role::Compliance], "legal_compliance").await;
    assert!(a.retention().may_hold(&officer, &made.id));
    let hold = a.retention().place_hold(&officer, id, "诉讼保全", "(2026)沪01民初123号", cn).await.unwrap();
    for row in store.scan(Cf::Disposition, b"", b"") {
        let (_, raw) = row.unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains("诉讼保全"), "the reason is sealed");
    }
    let listed = a.retention().list_holds(&officer, id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].hold_id.as_str(), listed[0].reason.as_str()), (hold.as_str(), "诉讼保全"));

    a.retention().release_hold(&officer, id, hold.as_str()).await.unwrap();
    assert!(a.retention().list_holds(&officer, id).await.unwrap().is_empty());
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("hold.list", Outcome::Allow));
}

/// The fixture dossier, closed and then three years and a day on: due
/// under the closed-customer rule (four eyes).
async fn due_for_destruction(a: &Archive, clock: &ManualClock) -> (RequestCtx, Created) {
    let (sales, made) = sales_dossier(a).await;
    a.retention().close_dossier(&sales, made.id.as_str(), a.now()).await.unwrap();
    clock.advance(time::Duration::days(3 * 365 + 2));
    (sales, made)
}

/// A contact's subject id, as the dossier's owner reads it.
async fn contact(a: &Archive, owner: &RequestCtx, made: &Created, n: usize) -> String {
    let view = a.dossiers().read_dossier(owner, made.id.as_str(), None).await.unwrap();
    view.document["contacts"][n]["subject_id"].as_str().unwrap().to_owned()
}

/// The entries of the log with `action`, oldest first.
fn entries(store: &MemStore, action: &str) -> Vec<AuditEntry> {
    let all = store.scan(Cf::Audit, b"", b"").map(|r| AuditEntry::decode(&r.unwrap().1).unwrap());
    all.filter(|e| e.body.action == action).collect()
}

#[tokio::test]
async fn a_batch_is_proposed_by_one_officer_approved_by_another_and_destroys_under_a_signed_certificate() {
    let (a, store, clock) = archive_with_clock();
    let (sales, made) = due_for_destruction(&a, &clock).await;
    let did = made.id.clone();

    let refused = a.retention().propose_batch(&sales).await;
    assert!(matches!(refused, Err(ArchiveError::Forbidden { .. })), "{:?}", refused.err());
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("disposition.propose", Outcome::Deny));

    let proposer = caller(&a, &[Role::Compliance], "legal_compliance").await;
    let batch = a.retention().propose_batch(&proposer).await.unwrap();
    assert_eq!(batch.state, BatchState::Proposed);
    assert_eq!(batch.items.len(), 1);
    assert_eq!(
        (&batch.items[0].target, batch.items[0].rule.as_str()),
        (&Target::Dossier(did.clone()), "closed-customer")
    );
    let id = batch.batch_id.as_str();

    let refused = a.retention().approve_batch(&proposer, id).await;
    assert!(
        matches!(
            refused,
            Err(ArchiveError::Forbidden {
                denial: crate::archive::Denial::FourEyes(crate::archive::denial::FourEyes::BatchProposer),
                ..
            })
        ),
        "four eyes: {:?}",
        refused.err()
    );
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("disposition.approve", Outcome::Deny));
    assert_eq!(a.retention().get_batch(&proposer, id).await.unwrap().state, BatchState::Proposed);
    assert!(a.keyring().exists(&KeyRef::Dossier(did.clone())).unwrap(), "nothing destroyed yet");
    let refused = a.retention().approve_batch(&sales, id).await;
    assert!(matches!(refused, Err(ArchiveError::Forbidden { .. })), "{:?}", refused.err());

    let approver = caller(&a, &[Role::Compliance], "legal_compliance").await;
    let done = a.retention().approve_batch(&approver, id).await.unwrap();
    assert_eq!(done.state, BatchState::Done);
    assert_eq!(done.approved_by.as_ref(), Some(&approver.principal.id));
    let cert = done.certificate_id.clone().unwrap();
    assert!(matches!(done.results[0].outcome, ItemOutcome::Destroyed), "{:?}", done.results[0].outcome);
    assert!(done.results[0].keys_shredded.contains(&format!("d/{did}")));
    assert!(!a.keyring().exists(&KeyRef::Dossier(did.clone())).unwrap(), "the dossier's key is shredded");
    for sid in &made.subjects {
        assert!(!a.keyring().exists(&KeyRef::Subject(sid.clone())).unwrap(), "no other dossier names {sid}");
    }
    let prefix = crate::store::keys::versions_prefix(&did);
    assert_eq!(store.scan(Cf::Versions, &prefix, &prefix).count(), 0, "its versions are deleted");
    let destroyed = entries(&store, "dossier.destroy");
    assert_eq!(destroyed.len(), 1);
    assert_eq!(destroyed[0].body.actor, approver.principal.id.as_str(), "the approver answers for it");
    assert_eq!(last_entry(&store).body.action, "certificate.issue");

    let gone = a.dossiers().read_dossier(&sales, did.as_str(), None).await;
    assert!(matches!(gone, Err(ArchiveError::Gone { ref certificate }) if certificate == cert.as_str()), "{gone:?}");
    let again = a.retention().approve_batch(&approver, id).await;
    assert!(matches!(again, Err(ArchiveError::Conflict(_))), "{:?}", again.err());
    let nothing = a.retention().propose_batch(&proposer).await;
    assert!(matches!(nothing, Err(ArchiveError::Conflict(_))), "nothing is due any more: {:?}", nothing.err());

    // The certificate: ids only, signed with the log's key, read by an auditor.
    let auditor = caller(&a, &[Role::Auditor], "legal_compliance").await;
    let signed = a.retention().certificate(&auditor, cert.as_str()).await.unwrap();
    assert_eq!(signed.certificate.proposer.as_ref(), Some(&proposer.principal.id));
    assert_eq!(signed.certificate.approver.as_ref(), Some(&approver.principal.id));
    assert_eq!(signed.certificate.items[0].target, Target::Dossier(did.clone()));
    assert_eq!(signed.signature.verifier_key, a.audit_trail().verifier_key());
    let text =
        NoteVerifier::parse(&signed.signature.verifier_key).unwrap().open(&signed.signature.signed_note).unwrap();
    assert!(text.contains(did.as_str()) && text.contains(cert.as_str()), "{text}");
    assert!(!text.contains("XX科技") && !text.contains("13912345688"), "no content in a certificate");
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("certificate.read", Outcome::Allow));
}

#[tokio::test]
async fn a_hold_placed_after_the_proposal_keeps_its_dossier_from_destruction() {
    let (a, _, clock) = archive_with_clock();
    let (sales, made) = due_for_destruction(&a, &clock).await;
    let proposer = caller(&a, &[Role::Compliance], "legal_compliance").await;
    let batch = a.retention().propose_batch(&proposer).await.unwrap();
    let cn = Jurisdiction::parse("CN").unwrap();
    a.retention().place_hold(&proposer, made.id.as_str(), "诉讼保全", "(2029)沪01民初7号", cn).await.unwrap();

    let approver = caller(&a, &[Role::Compliance], "legal_compliance").await;
    let done = a.retention().approve_batch(&approver, batch.batch_id.as_str()).await.unwrap();
    assert!(
        matches!(&done.results[0].outcome, ItemOutcome::Skipped(why) if why.starts_with("under legal hold")),
        "{:?}",
        done.results[0].outcome
    );
    assert!(a.keyring().exists(&KeyRef::Dossier(made.id.clone())).unwrap());
    a.dossiers().read_dossier(&sales, made.id.as_str(), None).await.unwrap();
}

#[tokio::test]
async fn an_erasure_shreds_the_persons_key_keeps_the_business_record_and_is_certified_once() {
    let (a, store) = archive();
    let (sales, made) = sales_dossier(&a).await;
    let zhang = contact(&a, &sales, &made, 0).await;
    let li = contact(&a, &sales, &made, 1).await;

    let refused = a.retention().erase_subject(&sales, &zhang, "objection").await;
    assert!(matches!(refused, Err(ArchiveError::Forbidden { .. })), "{:?}", refused.err());
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("subject.erase", Outcome::Deny));

    let officer = caller(&a, &[Role::Compliance], "dsr").await;
    let cert = a.retention().erase_subject(&officer, &zhang, "consent_withdrawn").await.unwrap();
    assert!(cert.starts_with("cert"), "{cert}");
    let sid = crate::domain::SubjectId::parse(&zhang).unwrap();
    assert!(!a.keyring().exists(&KeyRef::Subject(sid)).unwrap(), "the person's key is shredded");
    assert!(a.keyring().exists(&KeyRef::Dossier(made.id.clone())).unwrap(), "the dossier's is not");
    let asked = entries(&store, "subject.erase");
    let allowed = asked.iter().find(|e| e.body.outcome == Outcome::Allow).unwrap();
    assert!(allowed.body.reason.contains("ground: consent_withdrawn"), "{}", allowed.body.reason);
    assert_eq!(allowed.body.subjects, vec![zhang.clone()]);

    let view = a.dossiers().read_dossier(&sales, made.id.as_str(), None).await.unwrap();
    let erased: Vec<&str> =
        view.redactions.iter().filter(|r| r.reason == RedactionReason::Erased).map(|r| r.path.as_str()).collect();
    assert!(erased.contains(&"/contacts/0/phone"), "{erased:?}");
    assert!(erased.iter().all(|p| p.starts_with("/contacts/0/")), "only the erased person: {erased:?}");
    assert_ne!(view.document["contacts"][0]["phone"], "13912345688");
    assert_eq!(view.document["contacts"][1]["phone"], "13800138021");
    assert_eq!(view.document["customer"]["name"], "XX科技有限公司", "the business record stays");

    let again = a.retention().erase_subject(&officer, &zhang, "consent_withdrawn").await.unwrap();
    assert_eq!(again, cert, "erased once; asked again, the same certificate");
    assert_eq!(entries(&store, "certificate.issue").len(), 1);

    // A free-text ground may name the person: it is not stored.
    a.retention().erase_subject(&officer, &li, "李娜 asked by phone").await.unwrap();
    let for_li: Vec<AuditEntry> =
        entries(&store, "subject.erase").into_iter().filter(|e| e.body.resource == li).collect();
    assert_eq!(for_li.len(), 2, "the officer's request and its execution");
    assert!(
        for_li[0].body.reason.contains("ground: stated by the officer (free text not stored)"),
        "{}",
        for_li[0].body.reason
    );
    assert!(for_li.iter().all(|e| !e.body.reason.contains("李娜")));
}

#[tokio::test]
async fn an_erasure_blocked_by_a_hold_is_pending_and_carried_out_once_the_hold_is_released() {
    let (a, store) = archive();
    let (sales, made) = sales_dossier(&a).await;
    let zhang = contact(&a, &sales, &made, 0).await;
    let sid = crate::domain::SubjectId::parse(&zhang).unwrap();
    let holder = caller(&a, &[Role::Compliance], "legal_compliance").await;
    let cn = Jurisdiction::parse("CN").unwrap();
    let hold = a.retention().place_hold(&holder, made.id.as_str(), "诉讼保全", "(2026)沪01民初9号", cn).await.unwrap();

    let officer = caller(&a, &[Role::Compliance], "dsr").await;
    let blocked = a.retention().erase_subject(&officer, &zhang, "objection").await;
    assert!(matches!(blocked, Err(ArchiveError::Conflict(ref why)) if why.contains(hold.as_str())), "{blocked:?}");
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("subject.erase", Outcome::Deny));
    assert!(a.keyring().exists(&KeyRef::Subject(sid.clone())).unwrap(), "nothing erased under a hold");
    let pending = a.retention().pending_erasures().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].subject, sid);
    // The person stays restricted while the erasure waits (GDPR Art. 18(3)).
    let lifted = a.subjects().set_restriction(&officer, &zhang, false).await;
    assert!(matches!(lifted, Err(ArchiveError::Conflict(ref why)) if why.contains("pending")), "{lifted:?}");
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("subject.unrestrict", Outcome::Error));

    a.retention().release_hold(&holder, made.id.as_str(), hold.as_str()).await.unwrap();
    let report = a.retention().retention_sweep(false).await.unwrap();
    assert_eq!(report.erasures.len(), 1, "{report:?}");
    assert!(!a.keyring().exists(&KeyRef::Subject(sid)).unwrap(), "erased once nothing blocks it");
    assert!(a.retention().pending_erasures().unwrap().is_empty());
}

/// What is due from the kept facts, and from a scan of every dossier and
/// person (as `compute_due` read them before the facts were kept): the same
/// findings, in the same order, and the same stale dossiers.
fn due_as_read_again(a: &Archive) {
    use crate::archive::records::{DossierMeta, SUBJECTS};
    let r = a.retention();
    let now = a.now();
    let due = r.compute_due(now, Some(r.stale_after)).unwrap();
    let live: Vec<DossierMeta> =
        r.dossiers.all_dossiers().unwrap().into_iter().filter(|d| d.destroyed.is_none()).collect();
    let dossiers: Vec<_> = live.iter().map(|d| r.dossier_facts(d).unwrap()).collect();
    let mut contacts = Vec::new();
    for s in SUBJECTS.values(r.store.as_ref()) {
        let s = s.unwrap();
        if s.erased.is_none() {
            let links = r.linked_dossiers(&s.id).unwrap();
            let theirs: Vec<DossierMeta> = live.iter().filter(|d| links.contains(&d.id)).cloned().collect();
            contacts.push(r.contact_facts(&s, &theirs).unwrap());
        }
    }
    let scanned = crate::policy::retention::due(&r.policy.retention, &dossiers, contacts, now);
    let kept: Vec<_> =
        due.items.iter().map(|i| (i.item.target.clone(), i.item.rule.clone(), i.blocked_by.clone())).collect();
    let scan: Vec<_> = scanned.into_iter().map(|f| (f.target, f.rule, f.blocked_by)).collect();
    assert_eq!(kept, scan);
    let stale: Vec<_> = live.iter().filter(|d| d.updated_at + r.stale_after <= now).map(|d| d.id.clone()).collect();
    assert_eq!(due.stale, stale);
}

#[tokio::test]
async fn the_kept_facts_are_what_reading_every_dossier_and_person_again_gives_after_each_change() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(crate::store::RocksStore::open(&dir.path().join("db")).unwrap());
    let clock = std::sync::Arc::new(ManualClock::new(time::macros::datetime!(2026-12-01 09:00 UTC)));
    let a = Archive::open(
        store.clone(),
        crate::crypto::MasterKey::generate(),
        crate::policy::PolicySet::embedded().unwrap(),
        clock.clone(),
        std::sync::Arc::new(crate::metrics::Metrics::default()),
        crate::archive::Settings { key_cache: 64, ..Default::default() },
    )
    .unwrap();
    let (sales, kept) = sales_dossier(&a).await;
    due_as_read_again(&a);
    // A person whose last consent is withdrawn: an erasure rule can apply.
    let withdrawn = kept.subjects.last().unwrap().to_string();
    let consent = crate::archive::NewConsent {
        purpose: "marketing".into(),
        basis: crate::archive::ConsentBasis::Consent,
        evidence: "电话录音".into(),
        granted_at: a.now(),
        notice: None,
        recipient: None,
    };
    a.subjects().grant_consent(&sales, &withdrawn, consent).await.unwrap();
    due_as_read_again(&a);
    a.subjects().withdraw_consent(&sales, &withdrawn, "marketing").await.unwrap();
    due_as_read_again(&a);
    let (_, made) = due_for_destruction(&a, &clock).await;
    due_as_read_again(&a);
    let due = a.retention().compute_due(a.now(), None).unwrap();
    assert!(due.items.iter().any(|i| i.item.target == Target::Dossier(made.id.clone())), "closed and past 3 years");

    let officer = caller(&a, &[Role::Compliance], "legal_compliance").await;
    let cn = Jurisdiction::parse("CN").unwrap();
    let hold = a.retention().place_hold(&officer, made.id.as_str(), "诉讼保全", "(2029)沪01民初1号", cn).await.unwrap();
    due_as_read_again(&a);
    let due = a.retention().compute_due(a.now(), None).unwrap();
    let item = due.items.iter().find(|i| i.item.target == Target::Dossier(made.id.clone())).unwrap();
    assert_eq!(item.blocked_by, vec![hold.to_string()], "the hold is read from the log");
    a.retention().release_hold(&officer, made.id.as_str(), hold.as_str()).await.unwrap();
    due_as_read_again(&a);

    // A person erased, another dossier's contact: their row goes.
    let dsr = caller(&a, &[Role::Compliance], "dsr").await;
    let zhang = contact(&a, &sales, &kept, 0).await;
    a.retention().erase_subject(&dsr, &zhang, "objection").await.unwrap();
    due_as_read_again(&a);

    // The due dossier destroyed by four eyes: its row goes.
    let batch = a.retention().propose_batch(&officer).await.unwrap();
    let approver = caller(&a, &[Role::Compliance], "legal_compliance").await;
    a.retention().approve_batch(&approver, batch.batch_id.as_str()).await.unwrap();
    due_as_read_again(&a);
    let due = a.retention().compute_due(a.now(), None).unwrap();
    assert!(due.items.iter().all(|i| i.item.target != Target::Dossier(made.id.clone())), "destroyed");
    assert_eq!(a.retention().facts.full_reads(), 1, "every change was read again by itself");
}
