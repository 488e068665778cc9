//! The dossier use cases tested where they live: the memory store, the
//! shipped policies, the manual clock; no HTTP.
use crate::archive::testkit::{archive, caller, last_entry, sales_dossier};
use crate::archive::{ArchiveError, StatedPurpose};
use crate::audit::Outcome;
use crate::domain::Role;
use crate::store::{Cf, KvStore};

#[tokio::test]
async fn a_dossier_is_created_sealed_and_read_back_through_the_plan() {
    let (a, store) = archive();
    let (sales, made) = sales_dossier(&a).await;
    // Nothing personal in the clear anywhere in the store.
    for cf in [Cf::Dossiers, Cf::Versions, Cf::Subjects] {
        for row in store.scan(cf, b"", b"") {
            let (_, raw) = row.unwrap();
            assert!(!String::from_utf8_lossy(&raw).contains("13912345688"), "{cf:?} holds a phone in the clear");
        }
    }
    let view = a.dossiers().read_dossier(&sales, made.id.as_str(), None).await.unwrap();
    assert_eq!(view.document["contacts"][0]["phone"], "13912345688", "the owner sees the contact in clear");
    assert!(
        view.redactions.iter().any(|r| r.path == "/finance/bank_account"),
        "the bank account is not released for service delivery: {:?}",
        view.redactions
    );
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("dossier.read", Outcome::Allow));
    assert!(!e.body.reason.contains("13912345688"), "no value in the entry");
}

#[tokio::test]
async fn a_read_without_a_purpose_or_outside_the_policy_is_refused_and_audited() {
    let (a, store) = archive();
    let (sales, made) = sales_dossier(&a).await;

    let mut bare = sales.clone();
    bare.purpose = StatedPurpose::Missing;
    let refused = a.dossiers().read_dossier(&bare, made.id.as_str(), None).await;
    assert!(matches!(refused, Err(ArchiveError::BadRequest(_))), "{refused:?}");
    assert_eq!(last_entry(&store).body.outcome, Outcome::Deny);

    let finance = caller(&a, &[Role::Finance], "marketing").await;
    let refused = a.dossiers().read_dossier(&finance, made.id.as_str(), None).await;
    assert!(
        matches!(refused, Err(ArchiveError::Forbidden { denial: crate::archive::Denial::PurposeNotForRole(ref p), .. }) if p == "marketing"),
        "finance may not state marketing: {refused:?}"
    );
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("dossier.read", Outcome::Deny));
}
