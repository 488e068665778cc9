//! The incident register tested where it lives: the memory store, the
//! shipped policies, the manual clock; no HTTP.
use super::incidents::NewIncident;
use crate::archive::testkit::{archive, archive_with_clock, ctx, last_entry};
use crate::archive::ArchiveError;
use crate::audit::Outcome;
use crate::domain::{Classification, Jurisdiction, Role};
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
    assert!(matches!(refused, Err(ArchiveError::Forbidden(_))), "{refused:?}");
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
