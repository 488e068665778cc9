//! The incident register tested where it lives: the memory store, the
//! shipped policies, the manual clock; no HTTP.
use super::exports::{ExportState, NewExport};
use super::incidents::NewIncident;
use crate::archive::testkit::{archive, archive_with_clock, body, caller, ctx, last_entry, sales_dossier};
use crate::archive::{ArchiveError, StatedPurpose};
use crate::audit::Outcome;
use crate::domain::{Classification, DossierId, Jurisdiction, Purpose, Role};
use crate::store::{Cf, KvStore};

fn incident(now: time::OffsetDateTime) -> NewIncident {
    NewIncident {
        detected_at: now,
        aware_at: now,
        level: "major".into(),
        jurisdictions: vec![Jurisdiction::parse("CN").unwrap()],
        data_categories: vec![Classification::Personal],
        description: "备份磁带在运输途中丢失".into(),
        cause: "承运商交接失误".into(),
        consequences: None,
        measures: None,
        advice: None,
        contact: None,
        keys_compromised: Some(false),
    }
}

#[tokio::test]
async fn an_incident_is_recorded_sealed_with_its_deadlines_and_kept_from_other_roles() {
    let (a, store) = archive();
    let now = a.now();
    let refused = a.registers().create_incident(&ctx(&[Role::Service]), incident(now)).await;
    assert!(matches!(refused, Err(ArchiveError::Forbidden { .. })), "{refused:?}");
    assert_eq!(last_entry(&store).body.outcome, Outcome::Deny);

    let view = a.registers().create_incident(&ctx(&[Role::Compliance]), incident(now)).await.unwrap();
    assert_eq!(view.description.as_deref(), Some("备份磁带在运输途中丢失"));
    assert!(!view.deadlines.is_empty(), "a major incident in CN has reporting deadlines");
    for row in store.scan(Cf::Registers, b"", b"") {
        let (_, raw) = row.unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains("运输途中"), "the texts are sealed");
    }
    let seen = a.registers().list_incidents(&ctx(&[Role::Auditor])).await.unwrap();
    assert_eq!(seen.len(), 1, "the auditor reads the register");
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("incident.list", Outcome::Allow));
}

#[tokio::test]
async fn a_notice_past_the_gdpr_72_hours_asks_for_the_reasons_for_the_delay() {
    let (a, _, clock) = archive_with_clock();
    let officer = ctx(&[Role::Compliance]);
    let mut eu = incident(a.now());
    eu.jurisdictions = vec![Jurisdiction::parse("DE").unwrap()];
    let cn = a.registers().create_incident(&officer, incident(a.now())).await.unwrap();
    let de = a.registers().create_incident(&officer, eu).await.unwrap();
    clock.advance(time::Duration::hours(73));
    let wants_reasons =
        |d: &super::incidents::NoticeDraft| d.missing.iter().any(|m| m.starts_with("reasons_for_delay"));
    let draft = a.registers().incident_notice(&officer, &de.id).await.unwrap();
    assert!(wants_reasons(&draft), "the EU authority deadline passed unmet: {:?}", draft.missing);
    let draft = a.registers().incident_notice(&officer, &cn.id).await.unwrap();
    assert!(!wants_reasons(&draft), "no GDPR deadline applies to a CN-only incident: {:?}", draft.missing);
}

#[tokio::test]
async fn a_small_export_is_ready_at_once_and_downloaded_once_by_its_asker_under_its_purpose() {
    let (a, store) = archive();
    let (sales, made) = sales_dossier(&a).await;
    let other = caller(&a, &[Role::Sales], "service_delivery").await;
    let theirs = a.dossiers().create_dossier(&other, &body(other.principal.id.as_str())).await.unwrap();
    // Each dossier once: the edge (`web::commands`) parses and deduplicates the ids.
    let dossiers = [&made.id, &theirs.id].map(|d| DossierId::parse(&d.to_string()).unwrap()).to_vec();
    let wanted = NewExport { dossiers, subjects: vec![] };

    let x = a.registers().create_export(&sales, wanted).await.unwrap();
    assert_eq!((x.state, x.needs_approval), (ExportState::Ready, false));
    assert_eq!(x.dossiers.len(), 2);
    assert_eq!(x.valid_until, Some(a.now() + time::Duration::hours(24)));
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("export.create", Outcome::Allow));

    let refused = a.registers().export_content(&other, &x.id).await;
    assert!(
        matches!(refused, Err(ArchiveError::Forbidden { denial: crate::archive::Denial::NotTheAsker, .. })),
        "only the asker: {:?}",
        refused.err()
    );
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("export.download", Outcome::Deny));
    let mut elsewise = sales.clone();
    elsewise.purpose = StatedPurpose::Given(Purpose::parse("marketing").unwrap());
    let refused = a.registers().export_content(&elsewise, &x.id).await;
    assert!(matches!(refused, Err(ArchiveError::BadRequest(_))), "the purpose asked under: {:?}", refused.err());

    let content = a.registers().export_content(&sales, &x.id).await.unwrap();
    let items = content["dossiers"].as_array().unwrap();
    let of = |id: &DossierId| items.iter().find(|d| d["id"] == id.as_str()).unwrap();
    assert_eq!(of(&made.id)["dossier"]["contacts"][0]["phone"], "13912345688", "read with the asker's rights");
    assert!(of(&theirs.id)["refused"].is_string(), "another's customer is refused: {}", of(&theirs.id));
    assert!(of(&theirs.id).get("dossier").is_none());
    assert_eq!(a.registers().get_export(&sales, &x.id).await.unwrap().state, ExportState::Delivered);

    let again = a.registers().export_content(&sales, &x.id).await;
    assert!(matches!(again, Err(ArchiveError::Conflict(_))), "once: {:?}", again.err());
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("export.download", Outcome::Error));
}

#[tokio::test]
async fn a_bulk_export_waits_for_a_second_officer_and_expires_unread() {
    let (a, store, clock) = archive_with_clock();
    let asker = caller(&a, &[Role::Compliance], "legal_compliance").await;
    let many = NewExport { dossiers: (0..21).map(|_| DossierId::generate()).collect(), subjects: vec![] };
    let x = a.registers().create_export(&asker, many).await.unwrap();
    assert_eq!((x.state, x.needs_approval, x.valid_until), (ExportState::AwaitingApproval, true, None));
    let early = a.registers().export_content(&asker, &x.id).await;
    assert!(matches!(early, Err(ArchiveError::Conflict(_))), "{:?}", early.err());

    let own = a.registers().approve_export(&asker, &x.id).await;
    assert!(
        matches!(
            own,
            Err(ArchiveError::Forbidden {
                denial: crate::archive::Denial::FourEyes(crate::archive::denial::FourEyes::ExportAsker),
                ..
            })
        ),
        "not by the asker: {:?}",
        own.err()
    );
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("export.approve", Outcome::Deny));
    let sales = caller(&a, &[Role::Sales], "service_delivery").await;
    let refused = a.registers().approve_export(&sales, &x.id).await;
    assert!(matches!(refused, Err(ArchiveError::Forbidden { .. })), "{:?}", refused.err());
    assert_eq!(last_entry(&store).body.outcome, Outcome::Deny);

    let second = caller(&a, &[Role::Compliance], "legal_compliance").await;
    let ready = a.registers().approve_export(&second, &x.id).await.unwrap();
    assert_eq!(ready.state, ExportState::Ready);
    assert_eq!(ready.approved_by.as_deref(), Some(second.principal.id.as_str()));
    assert_eq!(ready.valid_until, Some(a.now() + time::Duration::hours(24)));
    let twice = a.registers().approve_export(&second, &x.id).await;
    assert!(matches!(twice, Err(ArchiveError::Conflict(_))), "{:?}", twice.err());

    clock.advance(time::Duration::hours(25));
    assert_eq!(a.registers().get_export(&asker, &x.id).await.unwrap().state, ExportState::Expired);
    let late = a.registers().export_content(&asker, &x.id).await;
    assert!(matches!(late, Err(ArchiveError::Conflict(ref why)) if why.contains("expired")), "{late:?}");
}

// An export of malformed ids or of nothing is refused at the edge, before
// the use case: `web::commands` tests `NewExport`'s conversion.

/// NDSMR Art. 25(1), GDPR Art. 12(6): a person's export answers only their
/// own verified, open access or portability request; the kind sets the scope.
#[tokio::test]
async fn a_persons_export_answers_only_their_own_verified_open_request_of_its_kind() {
    use super::requests::{Channel, NewRequest, RequestKind, Verification, VerificationMethod};
    use crate::archive::denial::RequestGap;
    use crate::archive::Denial;
    let (a, store) = archive();
    let (_, made) = sales_dossier(&a).await;
    let (person, other) = (made.subjects[0].to_string(), made.subjects[1].to_string());
    let officer = caller(&a, &[Role::Compliance], "dsr").await;
    let request = |sid: &str, kind: RequestKind, verified: bool| NewRequest {
        subject: sid.to_owned(),
        kind,
        purpose: None,
        received_at: a.now(),
        channel: Channel::Email,
        details: None,
        verification: verified.then(|| Verification {
            method: VerificationMethod::IdDocument,
            verified_by: officer.principal.id.clone(),
            note: None,
        }),
    };
    let gap_of = |r: Result<serde_json::Value, ArchiveError>| match r {
        Err(ArchiveError::Forbidden { denial: Denial::NoVerifiedRequest { gap, .. }, .. }) => gap,
        other => panic!("{other:?}"),
    };
    let registers = a.registers();
    assert_eq!(gap_of(registers.export_for_request(&officer, &person, None).await), RequestGap::Missing);
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("subject.export", Outcome::Deny));
    assert_eq!(e.body.subjects, [person.as_str()]);
    for (sid, kind, verified, want) in [
        (&person, RequestKind::Access, false, RequestGap::Unverified),
        (&other, RequestKind::Access, true, RequestGap::OtherPerson),
        (
            &person,
            RequestKind::Erasure,
            true,
            RequestGap::Kind { kind: "erasure".into(), wanted: "access, portability" },
        ),
    ] {
        let r = registers.create_request(&officer, request(sid, kind, verified)).await.unwrap();
        assert_eq!(gap_of(registers.export_for_request(&officer, &person, Some(&r.id)).await), want);
        assert!(last_entry(&store).body.reason.contains(&r.id), "the denial names the request");
    }
    for (kind, scope) in [(RequestKind::Access, "access"), (RequestKind::Portability, "portability")] {
        let r = registers.create_request(&officer, request(&person, kind, true)).await.unwrap();
        let export = registers.export_for_request(&officer, &person, Some(&r.id)).await.unwrap();
        assert_eq!(export["scope"], scope);
        assert_eq!(export["request"]["id"], r.id.as_str());
        let e = last_entry(&store);
        assert_eq!((e.body.action.as_str(), e.body.outcome), ("subject.export", Outcome::Allow));
        assert!(e.body.reason.contains(&format!("scope {scope}; for {scope} request {}", r.id)), "{}", e.body.reason);
    }
}
