//! Consent tested where it lives: the memory store, the shipped policies,
//! the manual clock; no HTTP.
use crate::archive::testkit::{archive, caller, last_entry, sales_dossier};
use crate::archive::{ArchiveError, ConsentBasis, ConsentEventKind, NewConsent};
use crate::audit::Outcome;
use crate::domain::Role;
use crate::store::{Cf, KvStore};

#[tokio::test]
async fn consent_is_granted_with_sealed_evidence_withdrawn_and_its_history_audited() {
    let (a, store) = archive();
    let (sales, made) = sales_dossier(&a).await;
    let sid = made.subjects[0].to_string();
    let consent = NewConsent {
        purpose: "marketing".into(),
        basis: ConsentBasis::Consent,
        evidence: "电话录音 2026-12-01 10:02".into(),
        granted_at: a.now(),
        notice: None,
        recipient: None,
    };
    let granted = a.subjects().grant_consent(&sales, &sid, consent).await.unwrap();
    assert_eq!(granted.kind, ConsentEventKind::Grant);
    for row in store.scan(Cf::Subjects, b"", b"") {
        let (_, raw) = row.unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains("电话录音"), "the evidence is sealed");
    }
    a.subjects().withdraw_consent(&sales, &sid, "marketing").await.unwrap();
    let history = a.subjects().consent_history(&sales, &sid).await.unwrap();
    let kinds: Vec<ConsentEventKind> = history.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [ConsentEventKind::Grant, ConsentEventKind::Withdrawal]);
    assert_eq!(history[0].evidence.as_deref(), Some("电话录音 2026-12-01 10:02"));
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("consent.history", Outcome::Allow));
    assert_eq!(e.body.subjects, std::slice::from_ref(&sid));

    let auditor = caller(&a, &[Role::Auditor], "legal_compliance").await;
    let refused = a.subjects().withdraw_consent(&auditor, &sid, "marketing").await;
    assert!(matches!(refused, Err(ArchiveError::Forbidden { .. })), "{refused:?}");
}
