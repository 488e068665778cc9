//! The recipients register tested where it lives: the memory store, the
//! shipped policies, the manual clock; no HTTP.
use super::{NewAttestation, NewRecipient, RecipientRole};
use crate::archive::testkit::{archive_with_clock, ctx, last_entry};
use crate::archive::ArchiveError;
use crate::audit::Outcome;
use crate::domain::{Classification, Jurisdiction, Role};
use crate::store::{Cf, KvStore};

fn carrier(now: time::OffsetDateTime) -> NewRecipient {
    NewRecipient {
        name: "顺达物流有限公司".into(),
        role: RecipientRole::Processor,
        purposes: vec!["service_delivery".into()],
        classes: vec![Classification::Internal, Classification::Personal],
        country: Jurisdiction::parse("CN").unwrap(),
        term_from: now,
        term_until: now + time::Duration::days(30),
        contract: "HT-2026-017".into(),
    }
}

#[tokio::test]
async fn a_deletion_is_attested_once_after_the_term_sealed_and_shown_to_compliance_only() {
    let (a, store, clock) = archive_with_clock();
    let officer = ctx(&[Role::Compliance]);
    let g = a.governance();
    let refused = g.create_recipient(&ctx(&[Role::Sales]), carrier(a.now())).await;
    assert!(matches!(refused, Err(ArchiveError::Forbidden { .. })), "{refused:?}");
    assert_eq!(last_entry(&store).body.outcome, Outcome::Deny);

    let r = g.create_recipient(&officer, carrier(a.now())).await.unwrap();
    let statement = "已按合同第7条删除全部客户联系人数据";
    let attest = || NewAttestation { deleted_at: a.now(), method: "secure erase".into(), statement: statement.into() };
    let early = g.attest_deletion(&officer, &r.id, attest()).await;
    assert!(matches!(early, Err(ArchiveError::Conflict(_))), "not before the term ends: {early:?}");

    clock.advance(time::Duration::days(31));
    let done = g.attest_deletion(&officer, &r.id, attest()).await.unwrap();
    assert_eq!(done.attestation.unwrap().statement.as_deref(), Some(statement));
    for row in store.scan(Cf::Registers, b"", b"") {
        let (_, raw) = row.unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains("合同第7条"), "the statement is sealed");
    }
    let again = g.attest_deletion(&officer, &r.id, attest()).await;
    assert!(matches!(again, Err(ArchiveError::Conflict(_))), "attested once: {again:?}");

    let seen = g.get_recipient(&ctx(&[Role::Auditor]), &r.id).await.unwrap();
    assert_eq!(seen.attestation.unwrap().statement, None, "an auditor sees that it was attested, not the text");
}
