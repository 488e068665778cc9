//! The recipients register tested where it lives: the memory store, the
//! shipped policies, the manual clock; no HTTP.
use super::{NewAssessment, NewAttestation, NewRecipient, ProcessingKind, RecipientRole};
use crate::archive::testkit::{archive_with_clock, ctx, last_entry};
use crate::archive::{ArchiveError, Denial};
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
        assessment: None,
    }
}

/// An impact assessment of `kinds` for `purposes`, dated today.
fn assessment(now: time::OffsetDateTime, purposes: &[&str], kinds: &[ProcessingKind]) -> NewAssessment {
    NewAssessment {
        purposes: purposes.iter().map(|p| (*p).to_owned()).collect(),
        data_categories: vec![Classification::Personal],
        processing: kinds.to_vec(),
        conducted_on: now.date(),
        conclusion: "acceptable with the contract's measures".into(),
        report: b"PIA".to_vec(),
        report_type: "text/plain".into(),
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

    // Entrustment waits for its impact assessment (PIPL Art. 55(3)).
    let unassessed = g.create_recipient(&officer, carrier(a.now())).await;
    assert!(
        matches!(
            unassessed,
            Err(ArchiveError::Forbidden { denial: Denial::ProcessingNotAssessed(ProcessingKind::Entrustment), .. })
        ),
        "{unassessed:?}"
    );
    let provision = g
        .create_assessment(
            &officer,
            assessment(a.now(), &["service_delivery"], &[ProcessingKind::ProvisionToThirdParty]),
        )
        .await
        .unwrap();
    let entrustment = g
        .create_assessment(&officer, assessment(a.now(), &["service_delivery"], &[ProcessingKind::Entrustment]))
        .await
        .unwrap();
    let mut named = carrier(a.now());
    named.assessment = Some(provision.id);
    let wrong = g.create_recipient(&officer, named.clone()).await;
    assert!(
        matches!(&wrong, Err(ArchiveError::Invalid(e)) if e[0].path == "/assessment" && e[0].message.contains("entrustment")),
        "{wrong:?}"
    );
    named.assessment = Some(entrustment.id.clone());
    let r = g.create_recipient(&officer, named).await.unwrap();
    assert_eq!(r.assessment.as_deref(), Some(entrustment.id.as_str()));
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

#[tokio::test]
async fn the_persons_on_record_make_an_officer_required_once_and_the_officer_is_recorded_sealed() {
    use super::NewOfficer;
    use crate::archive::testkit::{archive_with_policy, sales_dossier};
    let settings = crate::archive::Settings { key_cache: 64, ..Default::default() };
    let (a, store, clock) = archive_with_policy(settings, |p| p.officer.threshold = 2);
    let g = a.governance();
    let officer = ctx(&[Role::Compliance]);

    // Below the threshold: counted, no alert.
    assert!(g.check_officer().await.unwrap().is_none());
    assert_eq!(g.officer_status(&officer).await.unwrap().persons, 0);
    let (_, made) = sales_dossier(&a).await;
    let (_, more) = sales_dossier(&a).await;
    let persons = (made.subjects.len() + more.subjects.len()) as u64;
    assert!(persons >= 2, "the fixture names contacts");
    assert!(g.check_officer().await.unwrap().is_none(), "counted once a day");
    clock.advance(time::Duration::days(1));
    let alert = g.check_officer().await.unwrap().expect("the threshold is reached with no officer reported");
    assert_eq!((alert.rule.as_str(), alert.count, alert.threshold), ("officer_required", persons, 2));
    let status = g.officer_status(&officer).await.unwrap();
    assert_eq!((status.persons, status.required, status.reported), (persons, true, false));
    // Crossed on Wednesday 2 December 2026: thirty working days later.
    assert_eq!((status.crossed_on.as_deref(), status.report_due.as_deref()), (Some("2026-12-02"), Some("2027-01-13")));
    clock.advance(time::Duration::days(1));
    assert!(g.check_officer().await.unwrap().is_none(), "raised once");

    // Compliance names the officer, then records the report; others may not.
    let name = "王敏";
    let new = |reported_on| NewOfficer {
        name: name.into(),
        contact: "pipo@example.com".into(),
        appointed_on: a.now().date(),
        reported_on,
    };
    let refused = g.record_officer(&ctx(&[Role::Sales]), new(None)).await;
    assert!(matches!(refused, Err(ArchiveError::Forbidden { .. })), "{refused:?}");
    let first = g.record_officer(&officer, new(None)).await.unwrap();
    assert_eq!((first.n, first.name.as_deref()), (1, Some(name)));
    let future = g.record_officer(&officer, new(Some(a.now().date() + time::Duration::days(3)))).await;
    assert!(matches!(future, Err(ArchiveError::Invalid(ref e)) if e[0].path == "/reported_on"), "{future:?}");
    let second = g.record_officer(&officer, new(Some(a.now().date()))).await.unwrap();
    assert_eq!(second.n, 2);
    let status = g.officer_status(&officer).await.unwrap();
    assert!(status.reported && status.history.len() == 2, "{status:?}");
    let seen = g.officer_status(&ctx(&[Role::Auditor])).await.unwrap();
    assert_eq!((seen.officer.unwrap().name, seen.history.len()), (None, 2), "an auditor sees that, not who");
    for row in store.scan(Cf::Registers, b"", b"") {
        let (_, raw) = row.unwrap();
        let raw = String::from_utf8_lossy(&raw);
        assert!(!raw.contains(name) && !raw.contains("pipo@example.com"), "the name and contact are sealed");
    }

    // Reported: no alert. A new officer named and not reported raises it again, once.
    clock.advance(time::Duration::days(1));
    assert!(g.check_officer().await.unwrap().is_none(), "an officer is reported");
    let third = g.record_officer(&officer, new(None)).await.unwrap();
    assert_eq!(third.n, 3);
    clock.advance(time::Duration::days(1));
    let again = g.check_officer().await.unwrap().expect("the new officer is not reported");
    assert_eq!(again.rule, "officer_required");
    clock.advance(time::Duration::days(1));
    assert!(g.check_officer().await.unwrap().is_none(), "raised once for the new officer");
}
