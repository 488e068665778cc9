//! The governance records through the real server with an injected clock:
//! versioned privacy notices and the consent they govern, the basis of a
//! person's sensitive data at collection, the recipients register with
//! processors bound to their agreement and term, and cross-border
//! transfers with their records and yearly count.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic fails the run

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use time::macros::datetime;

const T0: time::OffsetDateTime = datetime!(2026-12-01 09:00 UTC);

/// A compliance officer at 总部 and service in 华东.
fn world() -> WorldBuilder {
    World::at(T0)
        .config(|c| c.retention_interval = None) // the sweep runs only when a test runs it
        .staff("officer", &["compliance"], "总部")
        .staff("service", &["service"], "华东")
}

impl World {
    async fn officer(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call(method, self.token("officer"), "dsr", path, body).await
    }

    /// Fixture `i` in 华东, created by service.
    fn body(&self, i: usize) -> Value {
        let mut body = fixture(i, self.id("service"));
        body["customer"]["region"] = json!("华东");
        body
    }

    async fn consent(&self, sid: &str, body: Value) -> (StatusCode, Value) {
        self.officer(Method::POST, &format!("/v1/subjects/{sid}/consents"), Some(body)).await
    }

    /// Records a recipient; unless `body` names one, with an impact
    /// assessment made for its role and purposes first.
    async fn recipient(&self, mut body: Value) -> String {
        if body.get("assessment").is_none() {
            let kind = if body["role"] == "processor" { "entrustment" } else { "provision_to_third_party" };
            let purposes: Vec<&str> =
                body["purposes"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
            let (client, base) = (&self.app.client, &self.app.base);
            body["assessment"] = json!(assess(client, base, self.token("officer"), &purposes, &[kind]).await);
        }
        let (status, r) = self.officer(Method::POST, "/v1/recipients", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{r}");
        r["id"].as_str().unwrap().to_owned()
    }

    /// A processor principal bound to `recipient`, enrolled: its id and token.
    async fn processor(&self, recipient: &str) -> (String, String) {
        let body = json!({"name": "carrier desk", "roles": ["processor"], "recipient": recipient});
        principal_from(&self.app.client, &self.app.base, &body).await
    }
}

fn recipient_body(role: &str, country: &str, classes: &[&str]) -> Value {
    json!({
        "name": "顺达物流有限公司", "role": role, "purposes": ["service_delivery"], "classes": classes,
        "country": country, "term_from": rfc3339(T0 - time::Duration::days(1)),
        "term_until": rfc3339(T0 + time::Duration::days(30)), "contract": "委托处理协议 2026-117"
    })
}

const TWO_NOTICES: &str = r#"
[[notice]]
version = "v1"
effective = "2025-01-01"
controller = "Logistics Co."
contact = "privacy@example.com"
purposes = ["service_delivery", "credit_assessment", "legal_compliance", "dsr"]
categories = ["internal", "confidential", "personal", "sensitive"]
retention = "3 years after the relationship ends"
rights = "write to the contact above"
recipients = []
transfers = "none"

[[notice]]
version = "v2"
effective = "2027-01-01"
controller = "Logistics Co."
contact = "privacy@example.com"
purposes = ["service_delivery", "marketing", "credit_assessment", "legal_compliance", "dsr"]
categories = ["internal", "confidential", "personal", "sensitive"]
retention = "3 years after the relationship ends"
rights = "write to the contact above"
recipients = []
transfers = "none"
methods = "collected by our staff, stored encrypted"
retention_end = "destroyed by key shredding"
sensitive = [{ data = "id_number", necessity = "parcel real-name rules", impact = "identity fraud if misused" }]
"#;

/// PIPL Art. 14, 17: every person collected records the notice in force;
/// a purpose a later notice adds is unusable for a person until they
/// consent under a notice naming it; notice texts are append-only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_version_is_recorded_per_person_and_a_purpose_it_adds_waits_for_consent_under_it() {
    let w = world().policy("notices.toml", TWO_NOTICES).start().await;
    let (sales_id, sales) = w.app.principal(&["sales"], "华东").await;
    let mut body = fixture(1, &sales_id);
    for c in body["contacts"].as_array_mut().unwrap() {
        c["notice"] = json!("v1");
    }
    let (did, subjects) = w.app.create_ok(&sales, "service_delivery", &body).await;
    let sid = &subjects[0];
    let (status, s) = w.officer(Method::GET, &format!("/v1/subjects/{sid}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s["collection"][0]["notice"], "v1", "{s}");
    assert_eq!(s["collection"][0]["dossier"], did.as_str());
    let entries = w.app.audit(w.token("officer"), &format!("resource={did}&action=dossier.create")).await;
    assert!(entries[0]["reason"].as_str().unwrap().contains(&format!("{sid}: notice v1")), "{entries:?}");

    // The notices: v1 in force and its digest recorded at start-up, v2 not yet.
    let (_, n) = w.call(Method::GET, &sales, "service_delivery", "/v1/notices", None).await;
    assert_eq!(n["notices"][0]["in_force"], true, "{n}");
    assert_eq!(n["notices"][0]["recorded"], true);
    assert_eq!(n["notices"][1]["in_force"], false);
    assert_eq!(n["notices"][0]["retention"], "3 years after the relationship ends");

    // Marketing is not in v1: no consent to it can be given under v1.
    let consent = json!({"purpose": "marketing", "basis": "consent", "evidence": "web form 88",
        "granted_at": rfc3339(T0)});
    let (status, p) = w.consent(sid, consent.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p["errors"][0]["message"].as_str().unwrap().contains("(v1) does not name this purpose"), "{p}");
    let (status, p) = w
        .consent(
            sid,
            json!({"purpose": "marketing", "basis": "consent", "evidence": "x",
        "granted_at": rfc3339(T0), "notice": "v2"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "v2 is not in force yet: {p}");

    // v2 takes effect: marketing exists for the person only once they consent under it.
    w.clock().advance(time::Duration::days(40));
    let read = |token: String| {
        let (app, did) = (&w.app, did.clone());
        async move {
            app.get(&token, Some("marketing"), &format!("/v1/dossiers/{did}")).await.json::<Value>().await.unwrap()
        }
    };
    let d = read(sales.clone()).await;
    assert!(redacted(&d, "withheld").contains(&"/contacts/0/phone".to_owned()), "{d}");
    let mut under_v2 = consent.clone();
    under_v2["granted_at"] = json!(rfc3339(T0 + time::Duration::days(40)));
    let (status, c) = w.consent(sid, under_v2).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert_eq!(c["notice"], "v2");
    let d = read(sales.clone()).await;
    assert_eq!(d["contacts"][0]["phone"], fixture(1, &sales_id)["contacts"][0]["phone"], "{d}");
    let (_, s) = w.officer(Method::GET, &format!("/v1/subjects/{sid}"), None).await;
    assert_eq!(s["consents"][0]["notice"], "v2", "{s}");
    assert_eq!(s["consents"][0]["effective"], true);

    // A notice text changed after it took effect refuses to start.
    let archive = w.app.archive();
    assert_eq!(archive.dossiers().record_notices().await.unwrap(), vec!["v2".to_owned()], "v2 recorded once in force");
    drop(archive);
    let (policies, clock) = (w.policies_dir().to_owned(), w.clock().clone());
    let data = w.app.stop().await;
    std::fs::write(policies.join("notices.toml"), TWO_NOTICES.replacen("3 years", "5 years", 1)).unwrap();
    let mut config = test_config(data.path());
    config.policies_dir = Some(policies);
    let err = custos::server::start(config, clock).await.err().expect("refused");
    assert!(format!("{err:#}").contains("privacy notice v1 changed after it took effect"), "{err:#}");
}

/// PIPL Art. 28-30: a person's sensitive field is written only with their
/// separate consent on record or a recorded legal basis; the audit entry
/// names which.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensitive_field_needs_separate_consent_or_a_legal_basis_at_collection() {
    let w = world().start().await;
    let mut bare = w.body(0);
    bare["contacts"][0].as_object_mut().unwrap().remove("sensitive_basis");
    let r = w.app.create(w.token("service"), "service_delivery", &bare).await;
    let p = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(p["errors"][0]["path"], "/contacts/0/id_number", "{p}");
    let msg = p["errors"][0]["message"].as_str().unwrap();
    assert!(msg.contains("separate consent to credit_assessment") && msg.contains("parcel_real_name"), "{msg}");
    assert!(!msg.contains("310101"), "no value in the error");
    let mut unknown = w.body(0);
    unknown["contacts"][0]["sensitive_basis"] = json!("because_we_can");
    let p = assert_problem(
        w.app.create(w.token("service"), "service_delivery", &unknown).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(p["errors"][0]["path"], "/contacts/0/sensitive_basis", "{p}");
    let refused = w.app.audit(w.token("officer"), "action=dossier.create&outcome=error").await;
    assert_eq!(refused.len(), 2, "both refusals audited: {refused:?}");

    // A legal basis that needs no consent: recorded on the person, named in the entry.
    let (did, subjects) = w.app.create_ok(w.token("service"), "service_delivery", &w.body(0)).await;
    let entry = &w.app.audit(w.token("officer"), &format!("resource={did}&action=dossier.create")).await[0];
    assert!(
        entry["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("{}: notice 2025-01, id_number under basis parcel_real_name", subjects[0])),
        "{entry}"
    );
    let (_, s) = w.officer(Method::GET, &format!("/v1/subjects/{}", subjects[0]), None).await;
    assert_eq!(s["collection"][0]["sensitive"]["basis"], "parcel_real_name", "{s}");
    assert!(s["collection"][0]["sensitive"]["citation"].as_str().unwrap().contains("Anti-Terrorism Law"));

    // A person with no basis yet: their separate consent first, then their id number.
    let mut first = w.body(2);
    first["contacts"][0].as_object_mut().unwrap().remove("id_number");
    first["contacts"][0].as_object_mut().unwrap().remove("sensitive_basis");
    let (_, people) = w.app.create_ok(w.token("service"), "service_delivery", &first).await;
    let sid = people[0].clone();
    let mut again = w.body(2);
    again["contacts"][0]["subject_id"] = json!(sid);
    again["contacts"][0].as_object_mut().unwrap().remove("sensitive_basis");
    again["contacts"][0]["id_number"] = json!("110101199001011234");
    let p = assert_problem(
        w.app.create(w.token("service"), "service_delivery", &again).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(p["errors"][0]["path"], "/contacts/0/id_number", "{p}");
    let (status, c) = w
        .consent(
            &sid,
            json!({"purpose": "credit_assessment", "basis": "separate_consent",
            "evidence": "signed form F-12", "granted_at": rfc3339(T0)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let event = c["event"].as_u64().unwrap();
    let (second, _) = w.app.create_ok(w.token("service"), "service_delivery", &again).await;
    let entry = &w.app.audit(w.token("officer"), &format!("resource={second}&action=dossier.create")).await[0];
    let reason = entry["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!(
            "{sid}: notice 2025-01, id_number under separate consent event {event} (credit_assessment)"
        )),
        "{reason}"
    );
    let (_, s) = w.officer(Method::GET, &format!("/v1/subjects/{sid}"), None).await;
    assert_eq!(s["collection"].as_array().unwrap().len(), 2, "one record per dossier that collected them: {s}");
}

/// PIPL Art. 21, 23; GDPR Art. 28: a processor's principal sees its agreed
/// classes for its agreed purposes, within its term (401 after); the
/// deletion attestation follows the term; an independent recipient sees a
/// person only with their separate consent naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_processor_sees_its_agreement_within_its_term_and_attests_deletion_after() {
    let w = world().start().await;
    let (did, subjects) = w.app.create_ok(w.token("service"), "service_delivery", &w.body(0)).await;
    let rid = w.recipient(recipient_body("processor", "CN", &["internal"])).await;
    let (pid, carrier) = w.processor(&rid).await;

    let r = w.app.get(&carrier, Some("service_delivery"), &format!("/v1/dossiers/{did}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["customer"]["name"], w.body(0)["customer"]["name"]);
    let withheld = redacted(&d, "withheld");
    assert!(
        withheld.contains(&"/contacts/0/phone".to_owned()) && withheld.contains(&"/contacts/0/name".to_owned()),
        "{d}"
    );
    let entry = &w.app.audit(w.token("officer"), &format!("resource={did}&action=dossier.read")).await[0];
    let reason = entry["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("agreement:{rid}")) && reason.contains(&format!("for recipient {rid} (processor)")),
        "{entry}"
    );
    // Not an agreed purpose (and not one its role may state): 403. No search, no documents.
    assert_eq!(
        w.app.get(&carrier, Some("marketing"), &format!("/v1/dossiers/{did}")).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        w.app.get(&carrier, Some("service_delivery"), "/v1/search?q=科技").await.status(),
        StatusCode::FORBIDDEN
    );
    // Its token ends with the term.
    let (_, tokens) =
        w.call(Method::GET, &carrier, "service_delivery", &format!("/v1/principals/{pid}/tokens"), None).await;
    assert_eq!(tokens[0]["expires_at"], rfc3339(T0 + time::Duration::days(30)), "{tokens}");
    // Binding needs a processor role and a recipient in term.
    let bad = json!({"name": "x", "roles": ["service"], "recipient": rid});
    let r = w
        .app
        .client
        .post(format!("{}/v1/principals", w.app.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let attest = json!({"deleted_at": rfc3339(T0 + time::Duration::days(31)), "method": "overwritten",
        "statement": "All copies deleted on 2027-01-01, signed 王经理"});
    let mut early = attest.clone();
    early["deleted_at"] = json!(rfc3339(T0));
    let (status, _) = w.officer(Method::POST, &format!("/v1/recipients/{rid}/attestation"), Some(early)).await;
    assert_eq!(status, StatusCode::CONFLICT, "not before the term ends");
    w.clock().advance(time::Duration::days(32));
    assert_eq!(
        w.app.get(&carrier, Some("service_delivery"), &format!("/v1/dossiers/{did}")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let (status, r) = w.officer(Method::POST, &format!("/v1/recipients/{rid}/attestation"), Some(attest.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert_eq!(r["status"], "ended");
    assert_eq!(r["attestation"]["method"], "overwritten");
    let (status, _) = w.officer(Method::POST, &format!("/v1/recipients/{rid}/attestation"), Some(attest)).await;
    assert_eq!(status, StatusCode::CONFLICT, "once");
    let (_, auditor) = w.app.principal(&["auditor"], "").await;
    let (_, list) = w.call(Method::GET, &auditor, "legal_compliance", "/v1/recipients", None).await;
    assert_eq!(list["recipients"][0]["attestation"]["statement"], Value::Null, "no sealed text for an auditor");

    // An independent recipient: a person's fields only with their consent naming it.
    let mut body = recipient_body("independent", "CN", &["internal", "personal"]);
    body["term_from"] = json!(rfc3339(w.now()));
    body["term_until"] = json!(rfc3339(w.now() + time::Duration::days(365)));
    let ind = w.recipient(body).await;
    let (_, partner) = w.processor(&ind).await;
    let d: Value =
        w.app.get(&partner, Some("service_delivery"), &format!("/v1/dossiers/{did}")).await.json().await.unwrap();
    assert!(redacted(&d, "withheld").contains(&"/contacts/0/phone".to_owned()), "{d}");
    let (status, c) = w
        .consent(
            &subjects[0],
            json!({"purpose": "service_delivery", "basis": "separate_consent", "recipient": ind,
            "evidence": "signed provision consent", "granted_at": rfc3339(w.now())}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert_eq!(c["recipient"], ind.as_str());
    let d: Value =
        w.app.get(&partner, Some("service_delivery"), &format!("/v1/dossiers/{did}")).await.json().await.unwrap();
    assert_eq!(d["contacts"][0]["phone"], w.body(0)["contacts"][0]["phone"], "{d}");
    assert!(redacted(&d, "withheld").contains(&"/contacts/1/phone".to_owned()), "the other person did not consent");
    // A consent naming a recipient is a separate consent.
    let (status, _) = w
        .consent(
            &subjects[1],
            json!({"purpose": "service_delivery", "basis": "consent", "recipient": ind,
            "evidence": "x", "granted_at": rfc3339(w.now())}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // The records of processing name both recipients under service_delivery.
    let (_, rop) = w.officer(Method::GET, "/v1/records-of-processing", None).await;
    let sd = rop["records"].as_array().unwrap().iter().find(|r| r["purpose"] == "service_delivery").unwrap();
    let third: Vec<&str> =
        sd["recipients_third_parties"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(third.iter().any(|t| t.starts_with(&rid) && t.contains("processor")), "{third:?}");
    assert!(third.iter().any(|t| t.starts_with(&ind) && t.contains("independent")), "{third:?}");
    assert!(!sd["recipients_internal"].as_array().unwrap().contains(&json!("processor")));
}

/// PIPL Art. 38-40: a recipient abroad reads a person's data only under a
/// transfer record (and the person's separate consent where the mechanism
/// needs it); each person transferred is counted once a year, with an
/// alert at the threshold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_abroad_needs_its_record_and_is_counted_with_an_alert_at_the_threshold() {
    let transfers = std::fs::read_to_string(policies_dir().join("transfers.toml"))
        .unwrap()
        .replace("alert_threshold = 100000", "alert_threshold = 3");
    let w = world().policy("transfers.toml", &transfers).start().await;
    let (did, subjects) = w.app.create_ok(w.token("service"), "service_delivery", &w.body(0)).await;
    let rid = w.recipient(recipient_body("processor", "SG", &["internal", "personal"])).await;
    let (_, carrier) = w.processor(&rid).await;
    let path = format!("/v1/dossiers/{did}");
    let read = || w.app.get(&carrier, Some("service_delivery"), &path);

    let p = assert_problem(read().await, StatusCode::FORBIDDEN).await;
    assert!(
        p["detail"].as_str().unwrap().contains(&format!("a transfer record for CN residents to {rid} (SG)")),
        "{p}"
    );
    let denied = w.app.audit(w.token("officer"), &format!("resource={did}&action=dossier.read&outcome=deny")).await;
    assert_eq!(denied.len(), 1);

    let pia = w.app.assess(&["service_delivery"], &["cross_border"]).await;
    let record = |jurisdiction: &str, mechanism: &str, to: &str| json!({"recipient": to, "jurisdiction": jurisdiction, "mechanism": mechanism, "reference": "跨境寄递 contract terms §4", "assessment": pia});
    let (status, p) = w.officer(Method::POST, "/v1/transfers", Some(record("SG", "contract_necessity", &rid))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "not cross-border: {p}");
    let (status, _) = w.officer(Method::POST, "/v1/transfers", Some(record("CN", "telepathy", &rid))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, t) = w.officer(Method::POST, "/v1/transfers", Some(record("CN", "contract_necessity", &rid))).await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    assert_eq!(t["separate_consent"], false);
    let xfr = t["id"].as_str().unwrap().to_owned();
    // The person's explanation names the recipient and the transfer (PIPL Art. 39, 48).
    let (_, explained) = w.officer(Method::GET, &format!("/v1/subjects/{}/processing", subjects[0]), None).await;
    assert_eq!(explained["cross_border_transfer"][0]["recipient"], rid.as_str(), "{explained}");
    assert_eq!(explained["cross_border_transfer"][0]["mechanism"], "contract_necessity");
    let sd = explained["purposes"].as_array().unwrap().iter().find(|p| p["purpose"] == "service_delivery").unwrap();
    assert_eq!(sd["recipients"]["third_parties"][0]["id"], rid.as_str(), "{sd}");

    let r = read().await;
    assert_eq!(r.status(), StatusCode::OK);
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["contacts"][0]["phone"], w.body(0)["contacts"][0]["phone"]);
    let entry = &w.app.audit(w.token("officer"), &format!("resource={did}&action=dossier.read&outcome=allow")).await[0];
    assert!(
        entry["reason"].as_str().unwrap().contains(&format!("abroad to {rid} (SG): {} under {xfr}", subjects[0])),
        "{entry}"
    );
    read().await; // the same persons again: counted once
    let (_, v) = w.officer(Method::GET, "/v1/transfers/volume", None).await;
    assert_eq!(
        (v["year"].as_i64(), v["persons"].as_u64(), v["threshold"].as_u64()),
        (Some(2026), Some(2), Some(3)),
        "{v}"
    );
    assert!(w.app.archive().registers().check_deadlines().await.unwrap().is_empty(), "under the threshold");

    // Under a standard contract, each person's separate consent naming the recipient too.
    let eu_rid = w.recipient(recipient_body("processor", "DE", &["internal", "personal"])).await;
    let (_, eu_carrier) = w.processor(&eu_rid).await;
    let (status, _) = w.officer(Method::POST, "/v1/transfers", Some(record("CN", "standard_contract", &eu_rid))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (other_did, other) = w.app.create_ok(w.token("service"), "service_delivery", &w.body(2)).await;
    let other_path = format!("/v1/dossiers/{other_did}");
    let eu_read = || w.app.get(&eu_carrier, Some("service_delivery"), &other_path);
    let p = assert_problem(eu_read().await, StatusCode::FORBIDDEN).await;
    assert!(p["detail"].as_str().unwrap().contains(&format!("{}'s separate consent naming {eu_rid}", other[0])), "{p}");
    for sid in &other {
        let (status, _) = w
            .consent(
                sid,
                json!({"purpose": "service_delivery", "basis": "separate_consent", "recipient": eu_rid,
                "evidence": "signed cross-border consent", "granted_at": rfc3339(T0)}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    assert_eq!(eu_read().await.status(), StatusCode::OK);
    let (_, v) = w.officer(Method::GET, "/v1/transfers/volume?year=2026", None).await;
    assert_eq!(v["persons"].as_u64(), Some(2 + other.len() as u64), "{v}");
    let alerts = w.app.archive().registers().check_deadlines().await.unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].rule, "transfer_volume");
    assert!(w.app.archive().registers().check_deadlines().await.unwrap().is_empty(), "raised once");
    let (_, listed) = w.officer(Method::GET, "/v1/transfers", None).await;
    assert_eq!(listed["transfers"].as_array().unwrap().len(), 2);
    let (_, rop) = w.officer(Method::GET, "/v1/records-of-processing", None).await;
    let sd = rop["records"].as_array().unwrap().iter().find(|r| r["purpose"] == "service_delivery").unwrap();
    assert!(sd["transfers"].as_array().unwrap().iter().any(|t| t.as_str().unwrap().starts_with(&xfr)), "{sd}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_persons_on_record_call_for_an_officer_whom_compliance_records_and_reports() {
    let rules = std::fs::read_to_string(policies_dir().join("officer.toml"))
        .unwrap()
        .replace("threshold = 1000000", "threshold = 1");
    let w = world().policy("officer.toml", &rules).start().await;
    let (_, v) = w.officer(Method::GET, "/v1/officer", None).await;
    assert_eq!(
        (v["officer"].clone(), v["threshold"].as_u64(), v["required"].as_bool()),
        (Value::Null, Some(1), Some(false)),
        "{v}"
    );

    let (_, subjects) = w.app.create_ok(w.token("service"), "service_delivery", &w.body(0)).await;
    // The deadline job's check (the scheduler's own run, a minute after
    // start, may have made it first: the alert is raised once either way).
    w.app.archive().registers().check_deadlines().await.unwrap();
    w.app.archive().registers().check_deadlines().await.unwrap();
    let (_, alerts) = w.call(Method::GET, w.token("officer"), "dsr", "/v1/audit/alerts", None).await;
    let listed = alerts.as_array().or_else(|| alerts["alerts"].as_array()).cloned().unwrap_or_default();
    let raised: Vec<&Value> = listed.iter().filter(|a| a["rule"] == "officer_required").collect();
    assert_eq!(raised.len(), 1, "{alerts}");
    let (_, v) = w.officer(Method::GET, "/v1/officer", None).await;
    assert_eq!(v["persons"].as_u64(), Some(subjects.len() as u64), "each contact is one person: {v}");
    assert_eq!((v["required"].as_bool(), v["reported"].as_bool()), (Some(true), Some(false)), "{v}");
    assert_eq!((v["crossed_on"].as_str(), v["report_due"].as_str()), (Some("2026-12-01"), Some("2027-01-12")), "{v}");

    let body = |reported_on: Option<&str>| json!({"name": "王敏", "contact": "pipo@example.com", "appointed_on": "2026-11-30", "reported_on": reported_on});
    let (status, _) = w.call(Method::PUT, w.token("service"), "dsr", "/v1/officer", Some(body(None))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, p) = w.officer(Method::PUT, "/v1/officer", Some(body(Some("2026-11-29")))).await;
    assert_eq!(
        (status, p["errors"][0]["path"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("/reported_on")),
        "{p}"
    );
    let (status, p) = w.officer(Method::PUT, "/v1/officer", Some(body(Some("2026-12-01")))).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!((p["n"].as_u64(), p["name"].as_str()), (Some(1), Some("王敏")));
    let (_, v) = w.officer(Method::GET, "/v1/officer", None).await;
    assert_eq!(
        (v["reported"].as_bool(), v["officer"]["contact"].as_str()),
        (Some(true), Some("pipo@example.com")),
        "{v}"
    );

    let (_, auditor) = w.app.principal(&["auditor"], "").await;
    let (status, v) = w.call(Method::GET, &auditor, "legal_compliance", "/v1/officer", None).await;
    assert_eq!(
        (status, &v["officer"]["name"], v["history"].as_array().map(Vec::len)),
        (StatusCode::OK, &Value::Null, Some(1)),
        "{v}"
    );
    let log = Value::Array(w.app.audit(w.token("officer"), "resource=officer").await).to_string();
    assert!(log.contains("officer.appoint") && !log.contains("王敏") && !log.contains("pipo@"), "{log}");
}

/// PIPL Art. 55: entrustment, provision, transfers abroad and automated
/// grading wait for an impact assessment covering them; the coverage view
/// says what covers what and what is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipients_transfers_and_grading_wait_for_the_impact_assessment_their_processing_needs() {
    let w = world().staff("auditor", &["auditor"], "总部").start().await;
    let (_, cov) = w.call(Method::GET, w.token("auditor"), "legal_compliance", "/v1/assessments/coverage", None).await;
    assert_eq!(cov["complete"], false, "{cov}");
    assert!(cov["kinds"].as_array().unwrap().iter().all(|k| k["required"] == true && k["assessments"] == json!([])));
    assert_eq!(cov["purposes"], json!([{"purpose": "credit_assessment", "assessments": []}]));

    // A processor without an assessment: 403 naming the kind, audited.
    let mut body = recipient_body("processor", "CN", &["internal"]);
    body["assessment"] = Value::Null;
    let (status, p) = w.officer(Method::POST, "/v1/recipients", Some(body.clone())).await;
    assert_eq!((status, p["denial"].as_str()), (StatusCode::FORBIDDEN, Some("processing-not-assessed")), "{p}");
    assert!(p["detail"].as_str().unwrap().contains("entrustment"), "{p}");
    let denied = w.app.audit(w.token("officer"), "action=recipient.create&outcome=deny").await;
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0]["reason"], "no impact assessment named for entrustment");

    // One that does not cover the kind, or the purposes, or is not on record: 422 at /assessment.
    let (client, base, officer) = (&w.app.client, &w.app.base, w.token("officer"));
    let provision = assess(client, base, officer, &["service_delivery"], &["provision_to_third_party"]).await;
    let marketing = assess(client, base, officer, &["marketing"], &["entrustment"]).await;
    for (named, says) in [
        (provision.clone(), "does not cover entrustment"),
        (marketing, "does not cover the purposes service_delivery"),
        ("pia_00000000000000000000000000".to_owned(), "no such impact assessment"),
    ] {
        body["assessment"] = json!(named);
        let (status, p) = w.officer(Method::POST, "/v1/recipients", Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        assert_eq!(p["errors"][0]["pointer"].as_str().or(p["errors"][0]["path"].as_str()), Some("/assessment"), "{p}");
        assert!(p.to_string().contains(says), "{says}: {p}");
    }
    let entrustment = assess(client, base, officer, &["service_delivery", "marketing"], &["entrustment"]).await;
    body["assessment"] = json!(entrustment);
    let (status, r) = w.officer(Method::POST, "/v1/recipients", Some(body)).await;
    assert_eq!((status, r["assessment"].as_str()), (StatusCode::CREATED, Some(entrustment.as_str())), "{r}");
    let created = w.app.audit(w.token("officer"), "action=recipient.create&outcome=allow").await;
    assert!(created[0]["reason"].as_str().unwrap().ends_with(&format!("; assessment {entrustment}")));
    // An independent recipient needs provision covered: the provision one does.
    let mut independent = recipient_body("independent", "CN", &["personal"]);
    independent["assessment"] = json!(entrustment);
    assert_eq!(
        w.officer(Method::POST, "/v1/recipients", Some(independent.clone())).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    independent["assessment"] = json!(provision);
    assert_eq!(w.officer(Method::POST, "/v1/recipients", Some(independent)).await.0, StatusCode::CREATED);

    // A transfer abroad likewise needs cross_border covered.
    let mut abroad = recipient_body("processor", "SG", &["internal"]);
    abroad["assessment"] = json!(entrustment);
    let (_, sg) = w.officer(Method::POST, "/v1/recipients", Some(abroad)).await;
    let mut record = json!({"recipient": sg["id"], "jurisdiction": "CN", "mechanism": "contract_necessity",
                            "reference": "跨境寄递 contract terms §4"});
    let (status, p) = w.officer(Method::POST, "/v1/transfers", Some(record.clone())).await;
    assert_eq!((status, p["denial"].as_str()), (StatusCode::FORBIDDEN, Some("processing-not-assessed")), "{p}");
    record["assessment"] = json!(entrustment);
    assert_eq!(
        w.officer(Method::POST, "/v1/transfers", Some(record.clone())).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let abroad_pia = assess(client, base, officer, &["service_delivery"], &["cross_border"]).await;
    record["assessment"] = json!(abroad_pia);
    let (status, t) = w.officer(Method::POST, "/v1/transfers", Some(record)).await;
    assert_eq!((status, t["assessment"].as_str()), (StatusCode::CREATED, Some(abroad_pia.as_str())), "{t}");

    // Automated grading: no grade changes until an assessment covers it; the job raises one alert.
    let (did, _) = w.app.create_ok(w.token("service"), "service_delivery", &w.body(0)).await;
    let month = format!("{:04}-{:02}", T0.year() - 1, 12);
    let figures = json!({"orders": 3, "amount": 900.0, "returns": 0, "on_time_rate": 0.97});
    let path = format!("/v1/dossiers/{did}/figures/{month}");
    let (status, f) = w.call(Method::PUT, w.token("service"), "service_delivery", &path, Some(figures)).await;
    assert_eq!(status, StatusCode::CREATED, "{f}");
    let grade = format!("/v1/dossiers/{did}/grade");
    let (_, g) = w.call(Method::GET, w.token("service"), "service_delivery", &grade, None).await;
    assert_eq!((g["grade"].as_str(), g["automated_grading"].as_bool()), (Some("A"), Some(false)), "{g}");
    assert_eq!(g["computed"]["grade"], "C", "what the rules would give: {g}");
    let archive = w.app.archive();
    let err = archive.customers().regrade_all(false).await.unwrap_err();
    assert!(err.to_string().contains("automated_decision"), "{err}");
    let mut job = custos::jobs::grading::job(archive.clone());
    job().await;
    job().await;
    let alerts: Value = w.app.get(w.token("officer"), None, "/v1/audit/alerts").await.json().await.unwrap();
    let alerts = alerts.as_array().cloned().unwrap_or_else(|| alerts["alerts"].as_array().unwrap().clone());
    let missing: Vec<&Value> = alerts.iter().filter(|a| a["rule"] == "assessment_missing").collect();
    assert_eq!(missing.len(), 1, "raised once: {alerts:#?}");
    assert!(missing[0]["description"].as_str().unwrap().contains("automated_decision"));

    let grading = assess(client, base, officer, &["service_delivery"], &["automated_decision"]).await;
    let changes = archive.customers().regrade_all(false).await.unwrap();
    assert_eq!(changes.len(), 1, "graded once assessed");
    let (_, g) = w.call(Method::GET, w.token("service"), "service_delivery", &grade, None).await;
    assert_eq!((g["grade"].as_str(), g["automated_grading"].as_bool()), (Some("C"), Some(true)), "{g}");

    // The coverage view names each assessment against what it covers.
    let credit = assess(client, base, officer, &["credit_assessment"], &["sensitive_data"]).await;
    let (_, cov) = w.call(Method::GET, w.token("auditor"), "legal_compliance", "/v1/assessments/coverage", None).await;
    let covering = |kind: &str| {
        cov["kinds"].as_array().unwrap().iter().find(|k| k["kind"] == kind).unwrap()["assessments"].clone()
    };
    assert_eq!(covering("automated_decision"), json!([grading]));
    assert_eq!(covering("cross_border"), json!([abroad_pia]));
    assert_eq!(cov["purposes"][0]["assessments"], json!([credit]));
    assert_eq!(cov["uncovered_records"], json!([]));
    assert_eq!(cov["complete"], true, "{cov}");
    assert_eq!(w.app.audit(w.token("officer"), "action=assessment.coverage").await.len(), 2);
}
