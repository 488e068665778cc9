//! Data grading and the compliance-audit register through the real server
//! with an injected clock: the data sets of policies/data_grades.toml and
//! the decisions behind their levels, what an important grade drives (the
//! security assessment abroad, the yearly risk assessment), engagements run
//! to their report and the authority, findings to a fix a second officer
//! verifies, the schedule's alerts on the right days, and no firm auditing
//! three times in a row.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic fails the run

mod common;

use base64::Engine;
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use time::macros::datetime;

const T0: time::OffsetDateTime = datetime!(2026-12-01 09:00 UTC);

fn world() -> WorldBuilder {
    World::at(T0)
        .config(|c| c.retention_interval = None)
        .staff("officer", &["compliance"], "总部")
        .staff("second", &["compliance"], "总部")
        .staff("auditor", &["auditor"], "总部")
        .staff("service", &["service"], "华东")
}

async fn call(w: &World, who: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let r = w.app.request(method, w.token(who), "legal_compliance", path, body).await;
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The shipped data_grades.toml with `sets` graded important under a
/// catalogue entry (the backups with them: they copy every set).
fn graded_important(sets: &[&str]) -> String {
    let mut text = std::fs::read_to_string(policies_dir().join("data_grades.toml")).unwrap();
    for id in sets.iter().chain(&["backups"]) {
        let header = format!("[sets.{id}]\n");
        let at = text.find(&header).unwrap() + header.len();
        let level = at + text[at..].find("level = \"general\"").unwrap();
        text.replace_range(
            level..level + "level = \"general\"".len(),
            "level = \"important\"\ncatalogue = \"交通运输领域重要数据目录 (transport sector catalogue), item 3\"",
        );
    }
    text
}

async fn deadline_alerts(w: &World) -> Vec<String> {
    let raised = w.app.archive().registers().check_deadlines().await.unwrap();
    raised.into_iter().map(|a| a.rule).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_data_set_is_graded_and_its_level_decided_by_compliance_and_read_by_the_auditor() {
    let w = world().start().await;
    let (status, v) = call(&w, "auditor", Method::GET, "/v1/data-grades", None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let sets = v["sets"].as_array().unwrap();
    assert!(sets.iter().all(|s| s["decision_state"] == "undecided"), "{v}");
    let routes = sets.iter().find(|s| s["fields"].as_array().unwrap().contains(&json!("/transport/routes"))).unwrap();
    assert_eq!((routes["id"].as_str(), routes["level"].as_str()), (Some("transport_demand"), Some("general")));
    assert!(sets.iter().any(|s| s["kinds"].as_array().unwrap().contains(&json!("backups"))), "{v}");
    let (status, _) = call(&w, "service", Method::GET, "/v1/data-grades", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let decision = |set: &str, level: &str, on: &str| {
        json!({"set": set, "level": level, "decided_on": on, "decided_by": "数据安全委员会",
               "reasoning": "one company's customers' routes, below the transport catalogue's scale"})
    };
    let post = |who: &'static str, body: Value| call(&w, who, Method::POST, "/v1/data-grades/decisions", Some(body));
    let (status, p) = post("auditor", decision("transport_demand", "general", "2026-11-30")).await;
    assert_eq!((status, p["denial"].as_str()), (StatusCode::FORBIDDEN, Some("policy")), "the auditor reads only");
    for (body, path) in [
        (decision("transport_demand", "important", "2026-11-30"), "/level"),
        (decision("no_such_set", "general", "2026-11-30"), "/set"),
        (decision("transport_demand", "general", "2026-12-02"), "/decided_on"),
        (decision("transport_demand", "general", "2026-02-30"), "/decided_on"),
    ] {
        let (status, p) = post("officer", body).await;
        assert_eq!((status, p["errors"][0]["path"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(path)), "{p}");
    }
    let (status, p) = post("officer", json!({"set": "transport_demand", "level": "secret"})).await;
    assert!(status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_REQUEST, "{status} {p}");
    let (status, d) = post("officer", decision("transport_demand", "general", "2026-11-30")).await;
    assert_eq!(status, StatusCode::CREATED, "{d}");

    let (_, v) = call(&w, "auditor", Method::GET, "/v1/data-grades", None).await;
    let set = v["sets"].as_array().unwrap().iter().find(|s| s["id"] == "transport_demand").unwrap().clone();
    assert_eq!(
        (set["decision_state"].as_str(), set["decisions"][0]["id"].as_str()),
        (Some("decided"), d["id"].as_str())
    );
    assert_eq!(set["decisions"][0]["decided_by"], "数据安全委员会", "the auditor sees who decided and why");
    let log = Value::Array(w.app.audit(w.token("officer"), "action=data_grade.decide").await).to_string();
    assert!(log.contains("transport_demand graded general") && !log.contains("数据安全委员会"), "{log}");
    assert!(log.contains("\"deny\"") && log.contains("\"error\""), "refusals are audited too: {log}");
}

/// A recipient abroad whose agreement reaches a set graded important reads
/// only under a transfer record with the security assessment; the grade
/// also makes the yearly risk assessment due at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn important_data_goes_abroad_only_under_the_security_assessment_and_is_risk_assessed_yearly() {
    let w = world().start().await;
    let mut body = fixture(0, w.id("service"));
    body["customer"]["region"] = json!("华东");
    let (did, _) = w.app.create_ok(w.token("service"), "service_delivery", &body).await;
    let term = |d: i64| (T0 + time::Duration::days(d)).format(&time::format_description::well_known::Rfc3339).unwrap();
    // Entrustment abroad waits for its impact assessment (PIPL Art. 55(3)-(4)).
    let pia = w.app.assess(&["service_delivery"], &["entrustment", "cross_border"]).await;
    let recipient = json!({"name": "Lion Freight Pte Ltd", "role": "processor", "purposes": ["service_delivery"],
        "classes": ["internal", "personal"], "country": "SG", "term_from": term(-1), "term_until": term(60),
        "contract": "DPA 2026-9", "assessment": pia});
    let (_, r) = call(&w, "officer", Method::POST, "/v1/recipients", Some(recipient)).await;
    let rid = r["id"].as_str().unwrap().to_owned();
    let record = |mechanism: &str| json!({"recipient": rid, "jurisdiction": "CN", "mechanism": mechanism, "reference": "ref 1", "assessment": pia});
    let (status, t) = call(&w, "officer", Method::POST, "/v1/transfers", Some(record("contract_necessity"))).await;
    assert_eq!(status, StatusCode::CREATED, "general data: any mechanism: {t}");
    let body = json!({"name": "carrier desk", "roles": ["processor"], "recipient": rid});
    let (_, carrier) = principal_from(&w.app.client, &w.app.base, &body).await;
    let path = format!("/v1/dossiers/{did}");
    assert_eq!(w.app.get(&carrier, Some("service_delivery"), &path).await.status(), StatusCode::OK);
    let (officer, second) = (w.token("officer").to_owned(), w.token("second").to_owned());

    // The transport data is graded important: the same record no longer carries it.
    let dir = w.app.stop().await;
    let w = World::at(T0)
        .in_dir(dir)
        .config(|c| c.retention_interval = None)
        .policy("data_grades.toml", &graded_important(&["transport_demand"]))
        .start()
        .await;
    let p = assert_problem(w.app.get(&carrier, Some("service_delivery"), &path).await, StatusCode::FORBIDDEN).await;
    assert_eq!(p["denial"], "transfer-unmet", "{p}");
    assert!(p["detail"].as_str().unwrap().contains("important data (transport_demand)"), "{p}");
    let post = |body: Value| w.app.request(Method::POST, &officer, "legal_compliance", "/v1/transfers", Some(body));
    let r = post(record("standard_contract")).await;
    let p = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(p["errors"][0]["path"], "/mechanism", "{p}");
    assert_eq!(post(record("security_assessment")).await.status(), StatusCode::CREATED);
    assert_eq!(w.app.get(&carrier, Some("service_delivery"), &path).await.status(), StatusCode::OK);

    // The risk assessment is due at once, overdue the next day; each once.
    // Nobody is named responsible for the important data yet (NDSMR Art. 30).
    assert_eq!(deadline_alerts(&w).await, ["compliance_audit_due", "data_security_responsible_missing"]);
    assert!(deadline_alerts(&w).await.is_empty());
    w.clock().advance(time::Duration::days(1));
    assert_eq!(deadline_alerts(&w).await, ["compliance_audit_overdue"]);
    let get = w.app.get(&second, Some("legal_compliance"), "/v1/compliance-audits").await;
    let v: Value = get.json().await.unwrap();
    let risk = v["schedule"].as_array().unwrap().iter().find(|s| s["kind"] == "important_data_risk").unwrap().clone();
    assert_eq!((risk["applies"].as_bool(), risk["overdue"].as_bool()), (Some(true), Some(true)), "{v}");
    let grades: Value = w.app.get(&officer, Some("legal_compliance"), "/v1/data-grades").await.json().await.unwrap();
    assert_eq!(grades["holds_important"], true, "{grades}");
}

fn report_b64() -> String {
    base64::engine::general_purpose::STANDARD.encode(b"%PDF-1.7 compliance audit report 2026")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engagement_runs_to_its_report_and_each_finding_to_a_fix_a_second_officer_verifies() {
    let w = world().start().await;
    let plan = json!({"kind": "pi_compliance", "conductor": "external", "firm": "91350100M000100Y43",
                      "auditor": "某某会计师事务所, lead auditor",
                      "scope": "consent, retention, rights, cross-border", "planned_on": "2026-12-01"});
    let (status, _) = call(&w, "auditor", Method::POST, "/v1/compliance-audits", Some(plan.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the auditor reads only");
    let (status, e) = call(&w, "officer", Method::POST, "/v1/compliance-audits", Some(plan)).await;
    assert_eq!((status, e["state"].as_str()), (StatusCode::CREATED, Some("planned")), "{e}");
    let id = e["id"].as_str().unwrap().to_owned();
    let at = |tail: &str| format!("/v1/compliance-audits/{id}{tail}");

    let finding = json!({"severity": "high", "description": "retention rule keeps contacts too long",
                         "owner_role": "IT operations", "due_on": "2026-12-10"});
    let (status, _) = call(&w, "officer", Method::POST, &at("/findings"), Some(finding.clone())).await;
    assert_eq!(status, StatusCode::CONFLICT, "not started yet");
    let (status, p) = call(&w, "officer", Method::POST, &at("/start"), Some(json!({"started_on": "2026-12-02"}))).await;
    assert_eq!((status, p["errors"][0]["path"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("/started_on")));
    let (status, _) = call(&w, "officer", Method::POST, &at("/start"), Some(json!({"started_on": "2026-12-01"}))).await;
    assert_eq!(status, StatusCode::OK);
    let mut long = finding.clone();
    long["owner_role"] = json!("x".repeat(121));
    let (status, _) = call(&w, "officer", Method::POST, &at("/findings"), Some(long)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "the role is bounded");
    let (status, f) = call(&w, "officer", Method::POST, &at("/findings"), Some(finding)).await;
    assert_eq!((status, f["n"].as_u64(), f["state"].as_str()), (StatusCode::CREATED, Some(1), Some("open")), "{f}");

    let fix = json!({"evidence": "rule r7 set to 3y, policy hash 9f2c"});
    let (status, _) = call(&w, "auditor", Method::POST, &at("/findings/1/fix"), Some(fix.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(&w, "officer", Method::POST, &at("/findings/1/fix"), Some(fix.clone())).await;
    assert_eq!(status, StatusCode::OK);
    let (status, p) =
        call(&w, "officer", Method::POST, &at("/findings/1/verify"), Some(json!({"accepted": true}))).await;
    assert_eq!((status, p["denial"].as_str()), (StatusCode::FORBIDDEN, Some("four-eyes")), "{p}");
    let (status, v) =
        call(&w, "second", Method::POST, &at("/findings/1/verify"), Some(json!({"accepted": true}))).await;
    assert_eq!(
        (status, v["state"].as_str(), v["verified_by"].as_str()),
        (StatusCode::OK, Some("verified"), Some(w.id("second")))
    );
    let (status, _) =
        call(&w, "second", Method::POST, &at("/findings/1/verify"), Some(json!({"accepted": true}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "verified once");
    for tail in ["/findings/2/fix", "/findings/one/fix"] {
        let (status, _) = call(&w, "officer", Method::POST, &at(tail), Some(fix.clone())).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{tail}");
    }
    for path in ["/v1/compliance-audits/eng_01kb0000000000000000000000", "/v1/compliance-audits/13912345678"] {
        let (status, _) = call(&w, "officer", Method::GET, path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }

    let done = json!({"ended_on": "2026-12-01", "conclusion": "compliant after one fix",
                      "report": {"media_type": "application/pdf", "content_base64": report_b64()}});
    let (status, c) = call(&w, "officer", Method::POST, &at("/complete"), Some(done)).await;
    assert_eq!((status, c["state"].as_str()), (StatusCode::OK, Some("completed")), "{c}");
    let r = w.app.get(w.token("officer"), Some("legal_compliance"), &at("/report")).await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"%PDF-1.7 compliance audit report 2026");
    let r = w.app.get(w.token("auditor"), Some("legal_compliance"), &at("/report")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "the report itself is compliance's, as an assessment's");
    let (status, _) =
        call(&w, "officer", Method::POST, &at("/authority-report"), Some(json!({"reported_on": "2026-12-01"}))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) =
        call(&w, "officer", Method::POST, &at("/authority-report"), Some(json!({"reported_on": "2026-12-01"}))).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (status, v) = call(&w, "auditor", Method::GET, "/v1/compliance-audits", None).await;
    assert_eq!(status, StatusCode::OK);
    let pi = v["schedule"].as_array().unwrap().iter().find(|s| s["kind"] == "pi_compliance").unwrap().clone();
    assert_eq!(
        (pi["last_completed"].as_str(), pi["next_due"].as_str()),
        (Some("2026-12-01"), Some("2028-12-01")),
        "{v}"
    );
    assert_eq!(v["engagements"][0]["findings"][0]["evidence"], "rule r7 set to 3y, policy hash 9f2c");
    let log = Value::Array(w.app.audit(w.token("officer"), &format!("resource={id}")).await).to_string();
    assert!(log.contains("compliance_audit.verify") && log.contains("report sha256"), "{log}");
    assert!(!log.contains("会计师事务所") && !log.contains("rule r7") && !log.contains("retention rule"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedule_reminds_before_the_due_day_flags_it_after_and_a_late_finding_once() {
    let schedule = std::fs::read_to_string(policies_dir().join("compliance_audits.toml"))
        .unwrap()
        .replace("first_within = \"2y\"", "first_within = \"90d\"");
    let w = world().policy("compliance_audits.toml", &schedule).start().await;
    // First checked 1 December 2026: due 1 March 2027, reminded 60 days
    // before, from 31 December.
    assert!(deadline_alerts(&w).await.is_empty());
    w.clock().advance(time::Duration::days(29));
    assert!(deadline_alerts(&w).await.is_empty(), "30 December: not yet");
    w.clock().advance(time::Duration::days(1));
    assert_eq!(deadline_alerts(&w).await, ["compliance_audit_due"]);
    assert!(deadline_alerts(&w).await.is_empty(), "reminded once");
    w.clock().advance(time::Duration::days(60));
    assert!(deadline_alerts(&w).await.is_empty(), "1 March: due today");
    w.clock().advance(time::Duration::days(1));
    assert_eq!(deadline_alerts(&w).await, ["compliance_audit_overdue"]);
    let (_, alerts) = call(&w, "auditor", Method::GET, "/v1/audit/alerts", None).await;
    let overdue =
        alerts["alerts"].as_array().unwrap().iter().find(|a| a["rule"] == "compliance_audit_overdue").unwrap().clone();
    assert!(overdue["description"].as_str().unwrap().contains("due on 2027-03-01"), "{overdue}");

    let plan = json!({"kind": "pi_compliance", "conductor": "internal", "auditor": "内审部, audit lead",
                      "scope": "all processing", "planned_on": "2027-03-02"});
    let (_, e) = call(&w, "officer", Method::POST, "/v1/compliance-audits", Some(plan)).await;
    let id = e["id"].as_str().unwrap().to_owned();
    call(
        &w,
        "officer",
        Method::POST,
        &format!("/v1/compliance-audits/{id}/start"),
        Some(json!({"started_on": "2027-03-02"})),
    )
    .await;
    let finding = json!({"severity": "medium", "description": "no review of processor attestations",
                         "owner_role": "legal", "due_on": "2027-03-05"});
    let (status, _) =
        call(&w, "officer", Method::POST, &format!("/v1/compliance-audits/{id}/findings"), Some(finding)).await;
    assert_eq!(status, StatusCode::CREATED);
    w.clock().advance(time::Duration::days(3));
    assert!(deadline_alerts(&w).await.is_empty(), "5 March: the fix is due today");
    w.clock().advance(time::Duration::days(1));
    assert_eq!(deadline_alerts(&w).await, ["audit_finding_overdue"]);
    assert!(deadline_alerts(&w).await.is_empty(), "raised once");
    let (_, v) = call(&w, "auditor", Method::GET, &format!("/v1/compliance-audits/{id}"), None).await;
    assert_eq!(v["findings"][0]["overdue"], true, "{v}");
}

/// The Compliance-Audit Measures (2025): one professional institution does
/// not audit the same handler three times in a row. The firm is named by
/// its unified social credit code; a malformed one, one on an internal
/// engagement or none on an external audit is a 422 naming `/firm`; the
/// third in a row is a 403 `auditor-rotation` naming the firm and the two
/// engagements, audited; an internal audit or another firm breaks the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_audit_in_a_row_by_one_firm_is_refused_with_its_denial_and_audited() {
    const F: &str = "91350100M000100Y43";
    const G: &str = "91110000802100433B";
    let w = world().start().await;
    let plan = |conductor: &str, firm: Option<&str>, on: &str| {
        let mut p = json!({"kind": "pi_compliance", "conductor": conductor, "auditor": "审计机构, lead auditor",
                           "scope": "all processing", "planned_on": on});
        if let Some(f) = firm {
            p["firm"] = json!(f);
        }
        p
    };
    let post = |body: Value| call(&w, "officer", Method::POST, "/v1/compliance-audits", Some(body));
    for (body, why) in [
        (plan("external", Some("91350100M000100Y44"), "2026-12-01"), "a wrong check character"),
        (plan("external", Some("91350100M000100Y4"), "2026-12-01"), "17 characters"),
        (plan("external", Some("91350100I000100Y43"), "2026-12-01"), "an I"),
        (plan("internal", Some(F), "2026-12-01"), "a firm on an internal engagement"),
        (plan("external", None, "2026-12-01"), "an external audit without its firm"),
    ] {
        let (status, p) = post(body).await;
        assert_eq!(
            (status, p["errors"][0]["path"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("/firm")),
            "{why}: {p}"
        );
    }
    // The two before custos, recorded as engagements with their past dates.
    let mut run = Vec::new();
    for on in ["2022-11-01", "2024-11-01"] {
        let (status, e) = post(plan("external", Some(F), on)).await;
        assert_eq!((status, e["firm"].as_str()), (StatusCode::CREATED, Some(F)), "{e}");
        run.push(e["id"].as_str().unwrap().to_owned());
    }
    let (status, p) = post(plan("external", Some(F), "2026-12-01")).await;
    assert_eq!((status, p["denial"].as_str()), (StatusCode::FORBIDDEN, Some("auditor-rotation")), "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains(F) && run.iter().all(|id| detail.contains(id.as_str())), "{detail}");
    let log = w.app.audit(w.token("officer"), "action=compliance_audit.create").await;
    let denied: Vec<&Value> = log.iter().filter(|e| e["outcome"] == "deny").collect();
    assert_eq!(denied.len(), 1, "{log:#?}");
    let reason = denied[0]["reason"].as_str().unwrap();
    assert!(reason.contains(F) && run.iter().all(|id| reason.contains(id.as_str())), "{reason}");
    let (_, v) = call(&w, "auditor", Method::GET, "/v1/compliance-audits", None).await;
    assert_eq!(v["engagements"].as_array().unwrap().len(), 2, "the refused one is not recorded: {v}");
    assert_eq!(v["engagements"][0]["firm"], F, "the auditor sees the firm's code: {v}");

    // An internal audit breaks the run; so does another firm.
    let (status, _) = post(plan("internal", None, "2025-11-01")).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = post(plan("external", Some(F), "2026-12-01")).await;
    assert_eq!(status, StatusCode::CREATED, "F, F, internal, F");
    let (status, _) = post(plan("external", Some(G), "2027-12-01")).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, p) = post(plan("external", Some(G), "2028-12-01")).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let (status, p) = post(plan("external", Some(G), "2029-12-01")).await;
    assert_eq!((status, p["denial"].as_str()), (StatusCode::FORBIDDEN, Some("auditor-rotation")), "{p}");
}
