//! Legal holds tested where they live: the memory store, the shipped
//! policies, the manual clock; no HTTP.
use crate::archive::testkit::{archive, caller, last_entry, sales_dossier};
use crate::archive::ArchiveError;
use crate::audit::Outcome;
use crate::domain::{Jurisdiction, Role};
use crate::store::{Cf, KvStore};

#[tokio::test]
async fn a_hold_is_placed_sealed_listed_and_released_by_compliance_only() {
    let (a, store) = archive();
    let (sales, made) = sales_dossier(&a).await;
    let id = made.id.as_str();
    let cn = Jurisdiction::parse("CN").unwrap();

    let refused = a.retention().place_hold(&sales, id, "诉讼保全", "(2026)沪01民初123号", cn.clone()).await;
    assert!(matches!(refused, Err(ArchiveError::Forbidden(_)) | Err(ArchiveError::BadRequest(_))), "{refused:?}");
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
