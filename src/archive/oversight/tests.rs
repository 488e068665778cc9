//! The data grades and the compliance-audit register tested where they
//! live: the memory store, the shipped policies (tweaked), the manual
//! clock; no HTTP.
use super::{Conductor, DecisionState, EngagementCompletion, EngagementState, FindingState, NewEngagement};
use super::{NewFinding, NewGradeDecision, Severity};
use crate::archive::testkit::{archive_with_clock, archive_with_policy, ctx, last_entry};
use crate::archive::{ArchiveError, Denial};
use crate::audit::Outcome;
use crate::domain::{CreditCode, CreditCodeError, Role};
use crate::policy::audits::EngagementKind;
use crate::policy::data_grades::Level;
use crate::store::{Cf, KvStore};

fn decision(set: &str, level: Level, on: time::Date) -> NewGradeDecision {
    NewGradeDecision {
        set: set.into(),
        level,
        decided_on: on,
        decided_by: "数据安全委员会 (data-security committee)".into(),
        reasoning: "routes of one company's customers, below the sector catalogue's scale".into(),
    }
}

#[tokio::test]
async fn a_grade_is_decided_at_the_policys_level_by_compliance_and_read_by_the_auditor() {
    let (a, store, _) = archive_with_clock();
    let o = a.oversight();
    let officer = ctx(&[Role::Compliance]);
    let today = a.now().date();
    let v = o.data_grades(&ctx(&[Role::Auditor])).await.unwrap();
    assert!(v.sets.iter().all(|s| s.decision_state == DecisionState::Undecided), "nothing decided yet");
    assert!(v
        .sets
        .iter()
        .any(|s| s.set.id == "transport_demand" && s.set.fields.contains(&"/transport/routes".into())));

    let wrong = o.decide_grade(&officer, decision("transport_demand", Level::Important, today)).await;
    assert!(matches!(wrong, Err(ArchiveError::Invalid(ref e)) if e[0].path == "/level"), "{wrong:?}");
    let unknown = o.decide_grade(&officer, decision("everything", Level::General, today)).await;
    assert!(matches!(unknown, Err(ArchiveError::Invalid(ref e)) if e[0].path == "/set"), "{unknown:?}");
    let later = o.decide_grade(&officer, decision("transport_demand", Level::General, today.next_day().unwrap())).await;
    assert!(matches!(later, Err(ArchiveError::Invalid(ref e)) if e[0].path == "/decided_on"), "{later:?}");
    assert_eq!(last_entry(&store).body.outcome, Outcome::Error, "a refused decision is audited");
    let auditor = o.decide_grade(&ctx(&[Role::Auditor]), decision("transport_demand", Level::General, today)).await;
    assert!(matches!(auditor, Err(ArchiveError::Forbidden { .. })), "the auditor reads only: {auditor:?}");

    let d = o.decide_grade(&officer, decision("transport_demand", Level::General, today)).await.unwrap();
    assert_eq!((d.set.as_str(), d.level), ("transport_demand", Level::General));
    let v = o.data_grades(&ctx(&[Role::Auditor])).await.unwrap();
    let set = v.sets.iter().find(|s| s.set.id == "transport_demand").unwrap();
    assert_eq!((set.decision_state, set.decisions.len()), (DecisionState::Decided, 1));
    assert_eq!(set.decisions[0].reasoning, d.reasoning, "the auditor sees why");
    for row in store.scan(Cf::Registers, b"dg/", b"dg0") {
        let raw = String::from_utf8_lossy(&row.unwrap().1).into_owned();
        assert!(!raw.contains("数据安全委员会") && !raw.contains("catalogue's scale"), "texts are sealed: {raw}");
    }
}

/// Published unified social credit codes, standing for two audit firms.
const FIRM_F: &str = "91350100M000100Y43";
const FIRM_G: &str = "91110000802100433B";

fn firm(code: &str) -> CreditCode {
    CreditCode::parse(code).unwrap()
}

fn engagement(kind: EngagementKind, planned_on: time::Date) -> NewEngagement {
    NewEngagement {
        kind,
        conductor: Conductor::External,
        firm: Some(firm(FIRM_F)),
        auditor: "某某会计师事务所, lead auditor".into(),
        scope: "consent, retention, rights handling, cross-border transfers".into(),
        planned_on,
    }
}

fn completion(ended_on: time::Date) -> EngagementCompletion {
    EngagementCompletion {
        ended_on,
        conclusion: "compliant with two findings".into(),
        report: b"%PDF-1.7 report".to_vec(),
        report_type: "application/pdf".into(),
    }
}

#[tokio::test]
async fn an_engagement_runs_planned_to_completed_and_its_findings_need_a_second_officer() {
    let (a, store, clock) = archive_with_clock();
    let o = a.oversight();
    let (first, second) = (ctx(&[Role::Compliance]), ctx(&[Role::Compliance]));
    let today = a.now().date();
    let refused = o.plan_engagement(&ctx(&[Role::Auditor]), engagement(EngagementKind::PiCompliance, today)).await;
    assert!(matches!(refused, Err(ArchiveError::Forbidden { .. })), "{refused:?}");
    let e = o.plan_engagement(&first, engagement(EngagementKind::PiCompliance, today)).await.unwrap();
    assert_eq!(e.state, EngagementState::Planned);
    let early = o.raise_finding(&first, &e.id, finding(today)).await;
    assert!(matches!(early, Err(ArchiveError::Conflict(_))), "no finding before the start: {early:?}");
    let done = o.complete_engagement(&first, &e.id, completion(today)).await;
    assert!(matches!(done, Err(ArchiveError::Conflict(_))), "a planned engagement does not complete: {done:?}");
    o.start_engagement(&first, &e.id, today).await.unwrap();
    let again = o.start_engagement(&first, &e.id, today).await;
    assert!(matches!(again, Err(ArchiveError::Conflict(_))), "{again:?}");

    let due = today + time::Duration::days(10);
    let f = o.raise_finding(&first, &e.id, finding(due)).await.unwrap();
    assert_eq!((f.n, f.state), (1, FindingState::Open));
    let unfixed = o.verify_finding(&second, &e.id, 1, true).await;
    assert!(matches!(unfixed, Err(ArchiveError::Conflict(_))), "{unfixed:?}");
    o.fix_finding(&first, &e.id, 1, "retention rule r7 corrected, policy hash abc".into()).await.unwrap();
    let own = o.verify_finding(&first, &e.id, 1, true).await;
    assert!(
        matches!(own, Err(ArchiveError::Forbidden { ref denial, .. }) if *denial == Denial::FourEyes(crate::archive::denial::FourEyes::FindingFixer)),
        "{own:?}"
    );
    assert_eq!(last_entry(&store).body.outcome, Outcome::Deny);
    let reopened = o.verify_finding(&second, &e.id, 1, false).await.unwrap();
    assert_eq!((reopened.state, reopened.reopened, reopened.evidence), (FindingState::Open, 1, None));
    o.fix_finding(&first, &e.id, 1, "corrected again".into()).await.unwrap();
    let verified = o.verify_finding(&second, &e.id, 1, true).await.unwrap();
    assert_eq!(verified.state, FindingState::Verified);
    assert!(matches!(o.fix_finding(&first, &e.id, 9, "x".into()).await, Err(ArchiveError::NotFound(_))));
    assert!(matches!(o.engagement(&first, "eng_nope").await, Err(ArchiveError::NotFound(_))));

    clock.advance(time::Duration::days(2));
    let ended = a.now().date();
    let c = o.complete_engagement(&first, &e.id, completion(ended)).await.unwrap();
    assert_eq!(c.state, EngagementState::Completed);
    assert_eq!(
        c.report_sha256.as_deref(),
        Some(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"%PDF-1.7 report")).as_str())
    );
    let (media, bytes) = o.engagement_report(&first, &e.id).await.unwrap();
    assert_eq!((media.as_str(), bytes.as_slice()), ("application/pdf", b"%PDF-1.7 report".as_slice()));
    let before = o.report_to_authority(&first, &e.id, today).await;
    assert!(matches!(before, Err(ArchiveError::Invalid(ref e)) if e[0].path == "/reported_on"), "{before:?}");
    o.report_to_authority(&first, &e.id, ended).await.unwrap();
    let twice = o.report_to_authority(&first, &e.id, ended).await;
    assert!(matches!(twice, Err(ArchiveError::Conflict(_))), "{twice:?}");
    let seen = o.engagement(&ctx(&[Role::Auditor]), &e.id).await.unwrap();
    assert_eq!((seen.open_findings, seen.reported_on), (0, Some(ended.to_string())));
    for row in store.scan(Cf::Registers, b"c", b"d") {
        let raw = String::from_utf8_lossy(&row.unwrap().1).into_owned();
        assert!(!raw.contains("会计师事务所") && !raw.contains("PDF-1.7") && !raw.contains("corrected"), "{raw}");
    }
}

fn finding(due_on: time::Date) -> NewFinding {
    NewFinding {
        severity: Severity::High,
        description: "retention rule r7 keeps contacts beyond the notice's period".into(),
        owner_role: "IT operations".into(),
        due_on,
    }
}

#[tokio::test]
async fn the_schedule_reminds_then_flags_overdue_once_each_and_a_late_finding_once() {
    let settings = crate::archive::Settings { key_cache: 64, ..Default::default() };
    let (a, _, clock) = archive_with_policy(settings, |p| {
        p.audits.pi_compliance.first_within = Some(crate::policy::retention::Period::Days(30));
        p.audits.pi_compliance.remind_before_days = 10;
    });
    let o = a.oversight();
    let officer = ctx(&[Role::Compliance]);
    // 1 December: first checked, due 31 December; the reminder from the 21st.
    assert!(o.check_audits().await.unwrap().is_empty(), "no important data: no risk assessment due");
    let v = o.audit_register(&officer).await.unwrap();
    let pi = v.schedule.iter().find(|s| s.kind == EngagementKind::PiCompliance).unwrap();
    assert_eq!((pi.next_due.as_deref(), pi.overdue), (Some("2026-12-31"), false));
    let risk = v.schedule.iter().find(|s| s.kind == EngagementKind::ImportantDataRisk).unwrap();
    assert!(!risk.applies && risk.next_due.is_none(), "{risk:?}");
    clock.advance(time::Duration::days(19));
    assert!(o.check_audits().await.unwrap().is_empty(), "20 December: not yet");
    clock.advance(time::Duration::days(1));
    let raised = o.check_audits().await.unwrap();
    assert_eq!(raised.iter().map(|a| a.rule.as_str()).collect::<Vec<_>>(), ["compliance_audit_due"]);
    assert!(raised[0].description.contains("2026-12-31"), "{}", raised[0].description);
    assert!(o.check_audits().await.unwrap().is_empty(), "reminded once");
    clock.advance(time::Duration::days(11));
    let raised = o.check_audits().await.unwrap();
    assert_eq!(raised.iter().map(|a| a.rule.as_str()).collect::<Vec<_>>(), ["compliance_audit_overdue"]);
    assert!(o.check_audits().await.unwrap().is_empty(), "flagged once");

    // An engagement completed today moves the next due day two years on.
    let today = a.now().date();
    let e = o.plan_engagement(&officer, engagement(EngagementKind::PiCompliance, today)).await.unwrap();
    o.start_engagement(&officer, &e.id, today).await.unwrap();
    o.raise_finding(&officer, &e.id, finding(today + time::Duration::days(3))).await.unwrap();
    o.complete_engagement(&officer, &e.id, completion(today)).await.unwrap();
    let v = o.audit_register(&officer).await.unwrap();
    let pi = v.schedule.iter().find(|s| s.kind == EngagementKind::PiCompliance).unwrap();
    assert_eq!((pi.next_due.as_deref(), pi.overdue), (Some("2029-01-01"), false), "{pi:?}");
    clock.advance(time::Duration::days(3));
    assert!(o.check_audits().await.unwrap().is_empty(), "the finding is due today, not late");
    clock.advance(time::Duration::days(1));
    let raised = o.check_audits().await.unwrap();
    assert_eq!(raised.iter().map(|a| a.rule.as_str()).collect::<Vec<_>>(), ["audit_finding_overdue"]);
    assert!(o.check_audits().await.unwrap().is_empty(), "raised once");
}

#[tokio::test]
async fn important_data_calls_for_the_yearly_risk_assessment_at_once() {
    let (a, _, clock) = important_transport();
    let o = a.oversight();
    let raised = o.check_audits().await.unwrap();
    let rules: Vec<&str> = raised.iter().map(|a| a.rule.as_str()).collect();
    assert_eq!(rules, ["compliance_audit_due", "data_security_responsible_missing"]);
    assert!(
        raised[0].description.contains("important_data_risk")
            && raised[0].description.contains("no important_data_risk completed")
    );
    clock.advance(time::Duration::days(1));
    let raised = o.check_audits().await.unwrap();
    assert_eq!(raised.iter().map(|a| a.rule.as_str()).collect::<Vec<_>>(), ["compliance_audit_overdue"]);
}

type Fixture =
    (crate::archive::Archive, std::sync::Arc<crate::store::MemStore>, std::sync::Arc<crate::clock::ManualClock>);

fn important_transport() -> Fixture {
    let settings = crate::archive::Settings { key_cache: 64, ..Default::default() };
    archive_with_policy(settings, |p| {
        for id in ["transport_demand", "backups"] {
            let set = p.data_grades.sets.get_mut(id).unwrap();
            set.level = Level::Important;
            set.catalogue = Some("transport sector catalogue".into());
        }
    })
}

fn appointment(on: time::Date) -> super::NewAppointment {
    super::NewAppointment {
        name: "王安全".into(),
        contact: "datasec@example.com".into(),
        unit: "网络数据安全管理办公室 (data-security office)".into(),
        appointed_on: on,
    }
}

#[tokio::test]
async fn important_data_needs_a_responsible_person_on_record_and_says_so_once() {
    // NDSMR Art. 30: a handler of important data names the person
    // responsible for network-data security and the managing body.
    let (a, store, clock) = important_transport();
    let o = a.oversight();
    let responsible =
        |r: &[crate::policy::alerts::Alert]| r.iter().filter(|a| a.rule == "data_security_responsible_missing").count();
    assert_eq!(responsible(&o.check_audits().await.unwrap()), 1, "nobody appointed: one alert");
    clock.advance(time::Duration::days(1));
    assert_eq!(responsible(&o.check_audits().await.unwrap()), 0, "raised once, not every day");

    let today = a.now().date();
    let auditor = o.appoint_responsible(&ctx(&[Role::Auditor]), appointment(today)).await;
    assert!(matches!(auditor, Err(ArchiveError::Forbidden { .. })), "the auditor reads only: {auditor:?}");
    let later = o.appoint_responsible(&ctx(&[Role::Compliance]), appointment(today.next_day().unwrap())).await;
    assert!(matches!(later, Err(ArchiveError::Invalid(ref e)) if e[0].path == "/appointed_on"), "{later:?}");
    let view = o.appoint_responsible(&ctx(&[Role::Compliance]), appointment(today)).await.unwrap();
    assert_eq!((view.name.as_str(), view.contact.as_str()), ("王安全", "datasec@example.com"));
    let grades = o.data_grades(&ctx(&[Role::Auditor])).await.unwrap();
    assert!(grades.holds_important);
    assert_eq!(grades.responsible.map(|r| r.id), Some(view.id), "the view names the appointment in force");
    for row in store.scan(Cf::Registers, b"da/", b"da0") {
        let raw = String::from_utf8_lossy(&row.unwrap().1).into_owned();
        assert!(!raw.contains("王安全") && !raw.contains("datasec@"), "name and contact are sealed: {raw}");
    }
    clock.advance(time::Duration::days(1));
    assert_eq!(responsible(&o.check_audits().await.unwrap()), 0, "someone is responsible now");
}

#[tokio::test]
async fn general_data_alone_needs_no_responsible_person() {
    let (a, _, _) = archive_with_clock();
    let o = a.oversight();
    let raised = o.check_audits().await.unwrap();
    assert!(raised.iter().all(|a| a.rule != "data_security_responsible_missing"), "{raised:?}");
    assert!(o.data_grades(&ctx(&[Role::Compliance])).await.unwrap().responsible.is_none());
}

/// An external personal-information audit by `code`, planned `ago` days back.
fn by(code: &str, today: time::Date, ago: i64) -> NewEngagement {
    NewEngagement {
        firm: Some(firm(code)),
        ..engagement(EngagementKind::PiCompliance, today - time::Duration::days(ago))
    }
}

fn internal(today: time::Date, ago: i64) -> NewEngagement {
    NewEngagement {
        conductor: Conductor::Internal,
        firm: None,
        auditor: "内审部, audit lead".into(),
        ..engagement(EngagementKind::PiCompliance, today - time::Duration::days(ago))
    }
}

/// An archive on the manual clock, a compliance officer, and today.
fn register(
) -> (crate::archive::Archive, std::sync::Arc<crate::store::MemStore>, crate::archive::RequestCtx, time::Date) {
    let (a, store, _) = archive_with_clock();
    let today = a.now().date();
    (a, store, ctx(&[Role::Compliance]), today)
}

/// The run a refusal names, if it is the rotation rule's.
fn rotation(r: &Result<super::EngagementView, ArchiveError>) -> Option<(String, [String; 2])> {
    match r {
        Err(ArchiveError::Forbidden { denial: Denial::AuditorRotation { firm, run: [a, b] }, .. }) => {
            Some((firm.to_string(), [a.to_string(), b.to_string()]))
        }
        _ => None,
    }
}

#[tokio::test]
async fn a_third_audit_in_a_row_by_one_firm_is_refused_and_audited_another_firm_breaks_the_run() {
    let (a, store, officer, today) = register();
    let o = a.oversight();
    let first = o.plan_engagement(&officer, by(FIRM_F, today, 1400)).await.unwrap();
    assert_eq!(first.firm.as_deref(), Some(FIRM_F), "the firm's code is shown in clear");
    let second = o.plan_engagement(&officer, by(FIRM_F, today, 700)).await.unwrap();
    let third = o.plan_engagement(&officer, by(FIRM_F, today, 0)).await;
    let run = [first.id.clone(), second.id.clone()];
    assert_eq!(rotation(&third), Some((FIRM_F.to_owned(), run.clone())), "{third:?}");
    let entry = last_entry(&store).body;
    assert_eq!((entry.outcome, entry.action.as_str()), (Outcome::Deny, "compliance_audit.create"));
    assert!(entry.reason.contains(FIRM_F) && run.iter().all(|id| entry.reason.contains(id)), "{}", entry.reason);
    let Err(ArchiveError::Forbidden { detail, .. }) = &third else { unreachable!() };
    assert!(detail.contains(FIRM_F) && detail.contains(&first.id) && detail.contains(&second.id), "{detail}");
    assert_eq!(o.audit_register(&officer).await.unwrap().engagements.len(), 2, "nothing was recorded");

    // A past engagement recorded late is checked against its neighbours:
    // before the two, or between them, it would make three in a row too.
    for ago in [2100, 1000] {
        let late = o.plan_engagement(&officer, by(FIRM_F, today, ago)).await;
        assert_eq!(rotation(&late), Some((FIRM_F.to_owned(), run.clone())), "{ago} days ago: {late:?}");
    }
    // Another firm is free to audit, and after it the first firm again.
    let other = o.plan_engagement(&officer, by(FIRM_G, today, 0)).await.unwrap();
    assert_eq!(other.firm.as_deref(), Some(FIRM_G));
    o.plan_engagement(&officer, by(FIRM_F, today, -30)).await.unwrap();
    // A risk assessment by the firm is no personal-information audit.
    let mut risk = by(FIRM_F, today, -60);
    risk.kind = EngagementKind::ImportantDataRisk;
    o.plan_engagement(&officer, risk).await.unwrap();
    o.plan_engagement(&officer, by(FIRM_F, today, -90)).await.unwrap();
    let fourth = o.plan_engagement(&officer, by(FIRM_F, today, -120)).await;
    assert!(rotation(&fourth).is_some(), "F, G, F, F and F again: {fourth:?}");
}

#[tokio::test]
async fn an_internal_audit_in_between_breaks_the_run() {
    let (a, _, officer, today) = register();
    let o = a.oversight();
    // F, F, the company's own audit, then F and F again: no three in a row.
    let row = [by(FIRM_F, today, 1400), by(FIRM_F, today, 700), internal(today, 300)];
    for plan in row.into_iter().chain([by(FIRM_F, today, 0), by(FIRM_F, today, -700)]) {
        let planned = o.plan_engagement(&officer, plan).await.unwrap();
        assert_eq!(planned.firm.is_none(), planned.conductor == Conductor::Internal, "{planned:?}");
    }
    let third = o.plan_engagement(&officer, by(FIRM_F, today, -1400)).await;
    let (firm, _) = rotation(&third).expect("the internal one is behind the last two");
    assert_eq!(firm, FIRM_F);
}

#[tokio::test]
async fn a_firm_is_a_valid_credit_code_named_only_on_an_external_engagement() {
    let (a, store, officer, today) = register();
    let o = a.oversight();
    assert_eq!(CreditCode::parse("91350100M000100Y44"), Err(CreditCodeError::CheckCharacter), "a bad check character");
    let named = o.plan_engagement(&officer, NewEngagement { firm: Some(firm(FIRM_F)), ..internal(today, 0) }).await;
    assert!(matches!(named, Err(ArchiveError::Invalid(ref e)) if e[0].path == "/firm"), "{named:?}");
    assert_eq!(last_entry(&store).body.outcome, Outcome::Error, "audited");
    let unnamed = o.plan_engagement(&officer, NewEngagement { firm: None, ..by(FIRM_F, today, 0) }).await;
    assert!(matches!(unnamed, Err(ArchiveError::Invalid(ref e)) if e[0].path == "/firm"), "{unnamed:?}");
    let mut risk = NewEngagement { firm: None, ..by(FIRM_F, today, 0) };
    risk.kind = EngagementKind::ImportantDataRisk;
    assert_eq!(o.plan_engagement(&officer, risk).await.unwrap().firm, None, "optional for a risk assessment");

    // An engagement recorded before firms were named still decodes, with
    // no firm, and breaks no run and makes none.
    let old = o.plan_engagement(&officer, by(FIRM_F, today, 700)).await.unwrap();
    let key = crate::store::keys::engagement(&crate::domain::EngagementId::parse(&old.id).unwrap());
    let mut raw: serde_json::Value = serde_json::from_slice(&store.get(Cf::Registers, &key).unwrap().unwrap()).unwrap();
    raw.as_object_mut().unwrap().remove("firm");
    store.write(&[crate::store::Op::Put(Cf::Registers, key, serde_json::to_vec(&raw).unwrap())], true).unwrap();
    assert_eq!(o.engagement(&officer, &old.id).await.unwrap().firm, None);
    o.plan_engagement(&officer, by(FIRM_F, today, 1400)).await.unwrap();
    o.plan_engagement(&officer, by(FIRM_F, today, 0)).await.unwrap();
}

#[tokio::test]
async fn two_plans_racing_do_not_both_pass_the_rule() {
    let (a, _, _) = archive_with_clock();
    let (o, today) = (a.oversight(), a.now().date());
    let (one, two) = (ctx(&[Role::Compliance]), ctx(&[Role::Compliance]));
    o.plan_engagement(&one, by(FIRM_F, today, 700)).await.unwrap();
    for round in 0..5 {
        let (x, y) = tokio::join!(
            o.plan_engagement(&one, by(FIRM_F, today, -10 * round)),
            o.plan_engagement(&two, by(FIRM_F, today, -10 * round - 5))
        );
        assert_eq!(usize::from(x.is_ok()) + usize::from(y.is_ok()), 1, "round {round}: {x:?} {y:?}");
        assert!(rotation(&x).is_some() || rotation(&y).is_some(), "the other is refused by the rule");
        o.plan_engagement(&one, by(FIRM_G, today, -10 * round - 7)).await.unwrap();
        o.plan_engagement(&one, by(FIRM_F, today, -10 * round - 8)).await.unwrap();
    }
}
