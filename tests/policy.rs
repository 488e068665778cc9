//! The policy engine through the API: every row of the API.md role table,
//! every purpose, consent grant and withdrawal, restriction, export, and no
//! withheld value in any response, log line or audit entry.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic fails the run

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The world of these tests: two salespeople and service in 华东, service in
/// 华南, finance and a compliance officer at 总部, on the system clock; and a
/// dossier (fixture 0: two contacts, the first with an id number; a bank
/// account) owned by `sales`, created by `service`.
struct Case {
    world: World,
    id: String,
    subjects: Vec<String>,
    body: Value,
}

impl std::ops::Deref for Case {
    type Target = World;

    fn deref(&self) -> &World {
        &self.world
    }
}

async fn world() -> Case {
    let world = World::on_system_clock()
        .staff("sales", &["sales"], "华东")
        .staff("sales_other", &["sales"], "华东")
        .staff("service", &["service"], "华东")
        .staff("service_south", &["service"], "华南")
        .staff("finance", &["finance"], "总部")
        .staff("compliance", &["compliance"], "总部")
        .start()
        .await;
    // Finance's credit assessment waits for its impact assessment (PIPL Art. 55(1)).
    assess(&world.app.client, &world.app.base, world.token("compliance"), &["credit_assessment"], &["sensitive_data"])
        .await;
    let body = fixture(0, world.id("sales"));
    let r = world.app.create(world.token("service"), "service_delivery", &body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let subjects = created["subjects"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect();
    Case { id: created["id"].as_str().unwrap().to_owned(), world, subjects, body }
}

impl Case {
    async fn read(&self, token: &str, purpose: &str) -> (StatusCode, Value) {
        let r = self.app.get(token, Some(purpose), &format!("/v1/dossiers/{}", self.id)).await;
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn read_ok(&self, token: &str, purpose: &str) -> Value {
        let (status, v) = self.read(token, purpose).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v
    }

    async fn send(
        &self,
        method: reqwest::Method,
        token: &str,
        purpose: &str,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        self.app.request(method, token, purpose, path, body).await
    }

    async fn grant(
        &self,
        token: &str,
        purpose: &str,
        subject: usize,
        consent_for: &str,
        basis: &str,
    ) -> reqwest::Response {
        let body = json!({"purpose": consent_for, "basis": basis, "evidence": "signed form F-2026-118", "granted_at": "2026-11-01T09:00:00Z"});
        self.send(
            reqwest::Method::POST,
            token,
            purpose,
            &format!("/v1/subjects/{}/consents", self.subjects[subject]),
            Some(body),
        )
        .await
    }
}

impl Case {
    async fn withdraw(&self, token: &str, purpose: &str, subject: usize, consent_for: &str) -> reqwest::Response {
        let path = format!("/v1/subjects/{}/consents/{consent_for}", self.subjects[subject]);
        self.send(reqwest::Method::DELETE, token, purpose, &path, None).await
    }
}

/// `reason` of the redaction at `path`, if any.
fn redaction(doc: &Value, path: &str) -> Option<String> {
    doc["redactions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == path)
        .map(|r| r["reason"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_row_of_the_role_table() {
    let w = world().await;
    let b = &w.body;

    // sales, own dossier: internal clear, confidential masked, personal clear, sensitive withheld.
    for purpose in ["service_delivery"] {
        let d = w.read_ok(w.token("sales"), purpose).await;
        assert_eq!(d["customer"], b["customer"]);
        assert_eq!(d["finance"]["credit_rating"], "***");
        assert_eq!(redaction(&d, "/finance/credit_rating").as_deref(), Some("masked"));
        assert!(d["finance"].get("bank_account").is_none());
        assert_eq!(redaction(&d, "/finance/bank_account").as_deref(), Some("withheld"));
        assert_eq!(d["contacts"][0]["name"], b["contacts"][0]["name"]);
        assert_eq!(d["contacts"][0]["phone"], b["contacts"][0]["phone"]);
        assert!(d["contacts"][0].get("id_number").is_none());
        assert_eq!(redaction(&d, "/contacts/0/id_number").as_deref(), Some("withheld"));
        assert_eq!(d["contacts"][0]["subject_id"], w.subjects[0].as_str());
    }
    // sales, another owner's dossier: 403.
    let (status, problem) = w.read(w.token("sales_other"), "service_delivery").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");

    // service: own region as sales; another region 403.
    let d = w.read_ok(w.token("service"), "service_delivery").await;
    assert_eq!(d["remarks"], b["remarks"]);
    assert_eq!(d["finance"]["payment_terms"], "***");
    assert_eq!(d["contacts"][1]["email"], b["contacts"][1]["email"]);
    assert_eq!(redaction(&d, "/finance/bank_account").as_deref(), Some("withheld"));
    assert_eq!(w.read(w.token("service_south"), "service_delivery").await.0, StatusCode::FORBIDDEN);

    // finance: internal clear, confidential clear, personal masked, sensitive clear
    // except a contact's id number without separate consent.
    let d = w.read_ok(w.token("finance"), "credit_assessment").await;
    assert_eq!(d["customer"], b["customer"]);
    assert_eq!(d["finance"], b["finance"]);
    assert_eq!(d["contacts"][0]["name"], "张**");
    assert_eq!(d["contacts"][0]["phone"], "139****5688");
    assert_eq!(d["contacts"][0]["email"], "z***@xx-tech.example.com");
    assert_eq!(d["contacts"][0]["role"], "***");
    assert_eq!(redaction(&d, "/contacts/0/phone").as_deref(), Some("masked"));
    assert!(d["contacts"][0].get("id_number").is_none());
    assert_eq!(redaction(&d, "/contacts/0/id_number").as_deref(), Some("withheld"));

    // compliance, legal_compliance: internal clear, confidential masked, personal masked, sensitive withheld.
    let d = w.read_ok(w.token("compliance"), "legal_compliance").await;
    assert_eq!(d["customer"], b["customer"]);
    assert_eq!(d["finance"]["credit_rating"], "***");
    assert_eq!(d["contacts"][1]["name"], "李**");
    assert!(d["finance"].get("bank_account").is_none());
    assert!(d["contacts"][0].get("id_number").is_none());
    // compliance, dsr: personal and sensitive clear, confidential still masked.
    let d = w.read_ok(w.token("compliance"), "dsr").await;
    assert_eq!(d["contacts"][0]["name"], b["contacts"][0]["name"]);
    assert_eq!(d["contacts"][0]["id_number"], b["contacts"][0]["id_number"]);
    assert_eq!(d["finance"]["bank_account"], b["finance"]["bank_account"]);
    assert_eq!(d["finance"]["credit_rating"], "***");

    // admin: no purpose at all.
    for purpose in ["service_delivery", "marketing", "credit_assessment", "legal_compliance", "dsr"] {
        assert_eq!(w.read(ADMIN_TOKEN, purpose).await.0, StatusCode::FORBIDDEN, "{purpose}");
    }
    // A purpose the role may not use is 403, with its code.
    let (status, refused) = w.read(w.token("sales"), "credit_assessment").await;
    assert_eq!((status, &refused["denial"]), (StatusCode::FORBIDDEN, &json!("purpose-not-for-role")));
    assert_eq!(w.read(w.token("finance"), "service_delivery").await.0, StatusCode::FORBIDDEN);
    assert_eq!(w.read(w.token("compliance"), "marketing").await.0, StatusCode::FORBIDDEN);

    // Versions obey the same rule.
    let r =
        w.app.get(w.token("service_south"), Some("service_delivery"), &format!("/v1/dossiers/{}/versions", w.id)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r =
        w.app.get(w.token("finance"), Some("credit_assessment"), &format!("/v1/dossiers/{}/versions/1", w.id)).await;
    assert_eq!(r.json::<Value>().await.unwrap()["contacts"][0]["phone"], "139****5688");

    // The 403 for "nothing visible" is audited as a denial with the policies' reasons.
    let denials = w.app.audit(w.token("compliance"), &format!("resource={}&outcome=deny", w.id)).await;
    let nothing = denials.iter().find(|e| e["reason"].as_str().unwrap().starts_with("no field visible")).unwrap();
    assert!(nothing["reason"].as_str().unwrap().contains("internal=withheld"), "{nothing}");
    // An allowed read names what was released, masked and withheld.
    let reads =
        w.app.audit(w.token("compliance"), &format!("resource={}&action=dossier.read&outcome=allow", w.id)).await;
    let fin = reads.iter().find(|e| e["purpose"] == "credit_assessment").unwrap();
    assert!(fin["fields"]["masked"].as_array().unwrap().contains(&json!("/contacts/0/phone")), "{fin}");
    assert!(fin["fields"]["withheld"].as_array().unwrap().contains(&json!("/contacts/0/id_number")), "{fin}");
    assert!(fin["fields"]["released"].as_array().unwrap().contains(&json!("/finance/bank_account")), "{fin}");
    assert!(fin["reason"].as_str().unwrap().contains("finance.credit.clear"), "{fin}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_and_update_follow_the_role_table() {
    let w = world().await;
    let (sales_id, _) = (w.body["owner"].as_str().unwrap().to_owned(), ());
    // sales creates as owner only.
    assert_eq!(
        w.app.create(w.token("sales"), "service_delivery", &fixture(1, &sales_id)).await.status(),
        StatusCode::CREATED
    );
    let (other_id, _) = w.app.principal(&["sales"], "华东").await;
    assert_eq!(
        w.app.create(w.token("sales"), "service_delivery", &fixture(1, &other_id)).await.status(),
        StatusCode::FORBIDDEN
    );
    // finance and compliance create nothing (their purposes reach no create permit).
    assert_eq!(
        w.app.create(w.token("finance"), "credit_assessment", &fixture(1, &sales_id)).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        w.app.create(w.token("compliance"), "legal_compliance", &fixture(1, &sales_id)).await.status(),
        StatusCode::FORBIDDEN
    );

    let path = format!("/v1/dossiers/{}", w.id);
    let mut next = w.body.clone();
    next["remarks"] = json!("更新后的备注");
    next["contacts"][0]["subject_id"] = json!(w.subjects[0]);
    next["contacts"][1]["subject_id"] = json!(w.subjects[1]);
    // sales: no updates.
    assert_eq!(
        w.app.put(w.token("sales"), "service_delivery", &path, Some("1"), &next).await.status(),
        StatusCode::FORBIDDEN
    );
    // service in another region: no.
    assert_eq!(
        w.app.put(w.token("service_south"), "service_delivery", &path, Some("1"), &next).await.status(),
        StatusCode::FORBIDDEN
    );
    // service may not move the dossier out of its region.
    let mut moved = next.clone();
    moved["customer"]["region"] = json!("华南");
    assert_eq!(
        w.app.put(w.token("service"), "service_delivery", &path, Some("1"), &moved).await.status(),
        StatusCode::FORBIDDEN
    );
    // service in its region: yes.
    assert_eq!(
        w.app.put(w.token("service"), "service_delivery", &path, Some("1"), &next).await.status(),
        StatusCode::OK
    );
    let denied =
        w.app.audit(w.token("compliance"), &format!("resource={}&action=dossier.update&outcome=deny", w.id)).await;
    assert_eq!(denied.len(), 3);
    assert!(denied.iter().all(|e| e["reason"].as_str().unwrap().contains("no policy permits update")), "{denied:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marketing_needs_each_contacts_consent_and_withdrawal_takes_effect_at_once() {
    let w = world().await;
    // No consent: the contacts are withheld for marketing, the business record is not.
    let d = w.read_ok(w.token("sales"), "marketing").await;
    assert_eq!(d["customer"], w.body["customer"]);
    assert!(d["contacts"][0].get("name").is_none(), "{d}");
    assert_eq!(redaction(&d, "/contacts/0/name").as_deref(), Some("withheld"));
    assert_eq!(redaction(&d, "/contacts/1/phone").as_deref(), Some("withheld"));

    // Contact 0 consents (recorded by the sales owner).
    let r = w.grant(w.token("sales"), "marketing", 0, "marketing", "consent").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let event: Value = r.json().await.unwrap();
    assert_eq!(event["kind"], "grant");
    let d = w.read_ok(w.token("sales"), "marketing").await;
    assert_eq!(d["contacts"][0]["phone"], w.body["contacts"][0]["phone"]);
    assert!(d["contacts"][1].get("phone").is_none(), "contact 1 has not consented");

    // Withdrawal: the next request is withheld again.
    let r = w.withdraw(w.token("sales"), "service_delivery", 0, "marketing").await;
    assert_eq!(r.status(), StatusCode::OK);
    let d = w.read_ok(w.token("sales"), "marketing").await;
    assert!(d["contacts"][0].get("phone").is_none());
    // ... and service delivery never changed (PIPL Art. 16).
    let d = w.read_ok(w.token("sales"), "service_delivery").await;
    assert_eq!(d["contacts"][0]["phone"], w.body["contacts"][0]["phone"]);
    assert_eq!(d["contacts"][1]["phone"], w.body["contacts"][1]["phone"]);

    // Withdrawing what is not granted: 404. The history keeps both events.
    let r = w.withdraw(w.token("sales"), "service_delivery", 0, "marketing").await;
    assert_problem(r, StatusCode::NOT_FOUND).await;
    let r = w
        .send(
            reqwest::Method::GET,
            w.token("compliance"),
            "dsr",
            &format!("/v1/subjects/{}/consents", w.subjects[0]),
            None,
        )
        .await;
    let history: Value = r.json().await.unwrap();
    let kinds: Vec<&str> = history.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["grant", "withdrawal"]);
    assert_eq!(history[0]["evidence"], "signed form F-2026-118");
    assert_eq!(history[0]["basis"], "consent");
    assert_eq!(history[0]["effective_at"], "2026-11-01T09:00:00Z");

    // Bad consent records: 422 naming each field; consent for a contract purpose is refused.
    let r = w
        .send(
            reqwest::Method::POST,
            w.token("sales"),
            "marketing",
            &format!("/v1/subjects/{}/consents", w.subjects[0]),
            Some(json!({"purpose": "marketing", "basis": "maybe", "granted_at": "yesterday"})),
        )
        .await;
    let p = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    let paths: Vec<&str> = p["errors"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/basis", "/evidence", "/granted_at"]);
    assert!(!p.to_string().contains("maybe") && !p.to_string().contains("yesterday"), "no echo: {p}");
    let r = w.grant(w.token("sales"), "marketing", 0, "service_delivery", "consent").await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    // Another owner's salesperson cannot record consent for these contacts.
    assert_eq!(
        w.grant(w.token("sales_other"), "marketing", 0, "marketing", "consent").await.status(),
        StatusCode::FORBIDDEN
    );
    // Unknown subject: 404.
    let r = w
        .send(reqwest::Method::GET, w.token("compliance"), "dsr", "/v1/subjects/sub_00000000000000000000000000", None)
        .await;
    assert_problem(r, StatusCode::NOT_FOUND).await;

    // Each step is audited against the subject.
    let entries = w.app.audit(w.token("compliance"), &format!("subject={}", w.subjects[0])).await;
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for a in ["consent.grant", "consent.withdraw", "consent.history"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credit_assessment_needs_separate_consent_for_an_id_number() {
    let w = world().await;
    // An ordinary consent is not enough.
    assert_eq!(
        w.grant(w.token("compliance"), "dsr", 0, "credit_assessment", "consent").await.status(),
        StatusCode::CREATED
    );
    let d = w.read_ok(w.token("finance"), "credit_assessment").await;
    assert!(d["contacts"][0].get("id_number").is_none());
    // A separate consent (PIPL Art. 29) opens it, for that contact only.
    assert_eq!(
        w.grant(w.token("compliance"), "dsr", 0, "credit_assessment", "separate_consent").await.status(),
        StatusCode::CREATED
    );
    let d = w.read_ok(w.token("finance"), "credit_assessment").await;
    assert_eq!(d["contacts"][0]["id_number"], w.body["contacts"][0]["id_number"]);
    assert_eq!(d["contacts"][0]["phone"], "139****5688", "personal fields stay masked");
    // Withdrawn: withheld again.
    let r = w.withdraw(w.token("compliance"), "dsr", 0, "credit_assessment").await;
    assert_eq!(r.status(), StatusCode::OK);
    let d = w.read_ok(w.token("finance"), "credit_assessment").await;
    assert!(d["contacts"][0].get("id_number").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restriction_keeps_data_for_legal_compliance_and_dsr_only() {
    let w = world().await;
    let path = format!("/v1/subjects/{}/restriction", w.subjects[0]);
    // Only compliance, for dsr.
    assert_eq!(
        w.send(reqwest::Method::POST, w.token("service"), "service_delivery", &path, None).await.status(),
        StatusCode::FORBIDDEN
    );
    let r = w.send(reqwest::Method::POST, w.token("compliance"), "dsr", &path, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let s: Value = r.json().await.unwrap();
    assert_eq!(s["status"], "restricted");

    let d = w.read_ok(w.token("service"), "service_delivery").await;
    assert!(d["contacts"][0].get("name").is_none());
    assert_eq!(redaction(&d, "/contacts/0/name").as_deref(), Some("withheld"));
    assert_eq!(d["contacts"][1]["name"], w.body["contacts"][1]["name"], "the other contact is not restricted");
    let d = w.read_ok(w.token("compliance"), "dsr").await;
    assert_eq!(d["contacts"][0]["name"], w.body["contacts"][0]["name"]);
    let d = w.read_ok(w.token("compliance"), "legal_compliance").await;
    assert_eq!(d["contacts"][0]["name"], "张**");

    let r = w
        .send(
            reqwest::Method::GET,
            w.token("sales"),
            "service_delivery",
            &format!("/v1/subjects/{}", w.subjects[0]),
            None,
        )
        .await;
    let s: Value = r.json().await.unwrap();
    assert_eq!(s["status"], "restricted");
    assert_eq!(s["dossiers"], json!([w.id]));

    // Lifting it restores service delivery, once the person was told (GDPR Art. 18(3)).
    lift_after_notice(&w, &path).await;
    let d = w.read_ok(w.token("service"), "service_delivery").await;
    assert_eq!(d["contacts"][0]["name"], w.body["contacts"][0]["name"]);
}

/// A restriction is lifted only after the person was told it would be
/// (GDPR Art. 18(3)): refused (409 `restriction-lift-not-notified`,
/// audited as a denial) until a notice is recorded since it began; a
/// notice dated before the restriction, in the future, or by anyone but
/// compliance does not count.
async fn lift_after_notice(w: &Case, path: &str) {
    let compliance = w.token("compliance");
    let lift = w.send(reqwest::Method::DELETE, compliance, "dsr", path, None).await;
    assert_eq!(lift.status(), StatusCode::CONFLICT);
    let problem: Value = lift.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("18(3)"), "{problem}");
    let denied = w.app.audit(compliance, "action=subject.unrestrict").await;
    let last = denied.last().unwrap();
    assert_eq!((last["outcome"].as_str(), last["subjects"][0].as_str()), (Some("deny"), Some(&*w.subjects[0])));
    assert!(last["reason"].as_str().unwrap().contains("18(3)"), "{last}");

    let notice = format!("{path}/notice");
    let fmt = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap();
    let now = w.now();
    let body =
        |at: time::OffsetDateTime| json!({"channel": "letter", "notified_at": fmt(at), "reference": "函-2026-77"});
    for (token, purpose, at, want) in [
        (w.token("service"), "service_delivery", now, StatusCode::FORBIDDEN),
        (compliance, "dsr", now - time::Duration::days(1), StatusCode::UNPROCESSABLE_ENTITY),
        (compliance, "dsr", now + time::Duration::days(1), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let r = w.send(reqwest::Method::POST, token, purpose, &notice, Some(body(at))).await;
        assert_eq!(r.status(), want);
    }
    let bad = json!({"channel": "pigeon", "notified_at": fmt(now)});
    let r = w.send(reqwest::Method::POST, compliance, "dsr", &notice, Some(bad)).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let lift = w.send(reqwest::Method::DELETE, compliance, "dsr", path, None).await;
    assert_eq!(lift.status(), StatusCode::CONFLICT, "no notice counts yet");

    let r =
        w.send(reqwest::Method::POST, compliance, "dsr", &notice, Some(body(now + time::Duration::seconds(1)))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let s: Value = r.json().await.unwrap();
    assert_eq!(
        (s["lift_notice"]["channel"].as_str(), s["lift_notice"]["has_reference"].as_bool()),
        (Some("letter"), Some(true))
    );
    assert!(!s.to_string().contains("函-2026-77"), "the reference stays sealed: {s}");
    let noted = w.app.audit(compliance, "action=subject.restriction_notice").await;
    assert_eq!(noted.last().unwrap()["outcome"], "allow");
    assert!(!serde_json::to_string(&noted).unwrap().contains("函-2026-77"));
    let lift = w.send(reqwest::Method::DELETE, compliance, "dsr", path, None).await;
    assert_eq!(lift.status(), StatusCode::OK);
    let s: Value = lift.json().await.unwrap();
    assert_eq!(s["status"], "active");

    // Restricted again: the old notice does not count for the new restriction.
    let r = w.send(reqwest::Method::POST, compliance, "dsr", path, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let lift = w.send(reqwest::Method::DELETE, compliance, "dsr", path, None).await;
    assert_eq!(lift.status(), StatusCode::CONFLICT);
    let r = w
        .send(reqwest::Method::POST, compliance, "dsr", &notice, Some(body(w.now() + time::Duration::seconds(1))))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let lift = w.send(reqwest::Method::DELETE, compliance, "dsr", path, None).await;
    assert_eq!(lift.status(), StatusCode::OK);
    // Nothing to lift: a notice for a person not restricted is a 409.
    let r = w.send(reqwest::Method::POST, compliance, "dsr", &notice, Some(body(w.now()))).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_holds_everything_on_the_person_and_validates_against_its_schema() {
    let w = world().await;
    assert_eq!(w.grant(w.token("sales"), "marketing", 0, "marketing", "consent").await.status(), StatusCode::CREATED);
    // A second version changes the person's phone: both are held, both exported.
    let mut next = w.body.clone();
    next["contacts"][0]["subject_id"] = json!(w.subjects[0]);
    next["contacts"][1]["subject_id"] = json!(w.subjects[1]);
    next["contacts"][0]["phone"] = json!("13700001111");
    let r =
        w.app.put(w.token("service"), "service_delivery", &format!("/v1/dossiers/{}", w.id), Some("1"), &next).await;
    assert_eq!(r.status(), StatusCode::OK);

    let req =
        w.app.verified_request(w.token("compliance"), w.id("compliance"), &w.subjects[0], "access", w.now()).await;
    let export_path = format!("/v1/subjects/{}/export?request={req}", w.subjects[0]);
    assert_eq!(
        w.send(reqwest::Method::GET, w.token("sales"), "service_delivery", &export_path, None).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        w.send(reqwest::Method::GET, w.token("compliance"), "legal_compliance", &export_path, None).await.status(),
        StatusCode::FORBIDDEN
    );
    let r = w.send(reqwest::Method::GET, w.token("compliance"), "dsr", &export_path, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let export: Value = r.json().await.unwrap();

    // The published schema, from the server itself.
    let r = w.app.client.get(format!("{}/schemas/subject-export.schema.json", w.app.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let schema: Value = r.json().await.unwrap();
    let validator = jsonschema::options().with_draft(jsonschema::Draft::Draft202012).build(&schema).unwrap();
    let errors: Vec<String> =
        validator.iter_errors(&export).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{errors:?}\n{export}");

    assert_eq!(export["subject"]["id"], w.subjects[0].as_str());
    let dossier = &export["dossiers"][0];
    assert_eq!(dossier["dossier_id"], w.id.as_str());
    assert_eq!(dossier["customer_name"], w.body["customer"]["name"]);
    let versions = dossier["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["contact"]["phone"], "13912345688");
    assert_eq!(versions[1]["contact"]["phone"], "13700001111");
    assert_eq!(versions[0]["contact"]["id_number"], w.body["contacts"][0]["id_number"]);
    assert!(!export.to_string().contains("李娜"), "another person's data is not in the export");
    assert_eq!(export["consents"][0]["purpose"], "marketing");
    let actions: Vec<&str> =
        export["audit"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for a in ["dossier.create", "dossier.update", "consent.grant", "subject.export"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
}

/// Reads by every role and purpose through the built binary; no response
/// carries a withheld value, and neither the log nor the audit log carries
/// any personal value at all.
#[test]
fn no_withheld_value_in_responses_logs_or_audit_entries() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let mut server = BinaryServer::start(&data, &log);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let base = server.base.clone();
        let (sales_id, sales) = principal(&client, &base, &["sales"], "华东").await;
        let (_, service) = principal(&client, &base, &["service"], "华东").await;
        let (_, finance) = principal(&client, &base, &["finance"], "总部").await;
        let (_, compliance) = principal(&client, &base, &["compliance"], "总部").await;
        assess(&client, &base, &compliance, &["credit_assessment"], &["sensitive_data"]).await;
        let body = fixture(0, &sales_id);
        let r = create_dossier(&client, &base, &sales, &body).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        let bank = body["finance"]["bank_account"].as_str().unwrap();
        let id_number = body["contacts"][0]["id_number"].as_str().unwrap();
        let phone = body["contacts"][0]["phone"].as_str().unwrap();
        let credit = body["finance"]["credit_rating"].as_str().unwrap();
        // (token, purpose, values that must not appear in the response)
        let cases = [
            (&sales, "service_delivery", vec![bank, id_number, credit]),
            (&sales, "marketing", vec![bank, id_number, credit, phone]),
            (&service, "service_delivery", vec![bank, id_number, credit]),
            (&finance, "credit_assessment", vec![id_number, phone]),
            (&compliance, "legal_compliance", vec![bank, id_number, phone, credit]),
            (&compliance, "dsr", vec![credit]),
        ];
        for (token, purpose, hidden) in cases {
            for path in [format!("/v1/dossiers/{id}"), format!("/v1/dossiers/{id}/versions/1")] {
                let r = client
                    .get(format!("{base}{path}"))
                    .bearer_auth(token)
                    .header("X-Purpose", purpose)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::OK, "{purpose}");
                let text = r.text().await.unwrap();
                for v in &hidden {
                    assert!(!text.contains(v), "{purpose} response carries a withheld or masked value");
                }
            }
        }
        // Every audit entry, as a compliance officer reads them.
        let r =
            client.get(format!("{base}/v1/audit/entries?limit=1000")).bearer_auth(&compliance).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let entries = r.text().await.unwrap();
        assert!(entries.contains("dossier.read"));
        for v in [bank, id_number, phone, credit, "张伟", "zhang.wei@xx-tech.example.com"] {
            assert!(!entries.contains(v), "an audit entry carries a personal value");
        }
    });
    server.terminate();
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(log_text.contains("serving"), "the log was captured");
    for v in ["6222021001123456789", "310101198503071234", "13912345688", "张伟", "良好"] {
        assert!(!log_text.contains(v), "the log carries a personal value");
    }
}

/// Naming a person already on record links them to one's dossier and,
/// through it, shows their other dossiers and consents: only who may already
/// act for the person may. An unknown id and a forbidden one answer alike,
/// so that the answer does not tell which ids exist; the audit says which.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subject_cannot_be_taken_over_by_naming_their_id() {
    let w = World::on_system_clock()
        .staff("east", &["service"], "华东")
        .staff("south", &["service"], "华南")
        .staff("sales_other", &["sales"], "华东")
        .staff("compliance", &["compliance"], "")
        .start()
        .await;
    let app = &w.app;
    let (east_id, east) = (w.id("east").to_owned(), w.token("east").to_owned());
    let (south_id, south) = (w.id("south").to_owned(), w.token("south").to_owned());
    let (sales_id, sales_other) = (w.id("sales_other").to_owned(), w.token("sales_other").to_owned());
    let compliance = w.token("compliance").to_owned();
    let created: Value = app.create(&east, "service_delivery", &fixture(0, &east_id)).await.json().await.unwrap();
    let victim = created["subjects"][0].as_str().unwrap().to_owned();

    // Another region's service names the person in a dossier of theirs.
    let mut grab = fixture(1, &south_id);
    grab["contacts"][0]["subject_id"] = json!(victim);
    let taken = assert_problem(app.create(&south, "service_delivery", &grab).await, StatusCode::FORBIDDEN).await;
    // An id that does not exist answers the same way.
    let mut unknown = fixture(1, &south_id);
    unknown["contacts"][0]["subject_id"] = json!("sub_01jd0000000000000000000000");
    let none = assert_problem(app.create(&south, "service_delivery", &unknown).await, StatusCode::FORBIDDEN).await;
    assert_eq!((&taken["type"], &taken["title"], &taken["detail"]), (&none["type"], &none["title"], &none["detail"]));
    assert!(taken["detail"].as_str().unwrap().contains("/contacts/0/subject_id"), "{taken}");
    // Nor through an update of their own dossier.
    let own: Value = app.create(&south, "service_delivery", &fixture(1, &south_id)).await.json().await.unwrap();
    let path = format!("/v1/dossiers/{}", own["id"].as_str().unwrap());
    let r = app.put(&south, "service_delivery", &path, Some("1"), &grab).await;
    assert_problem(r, StatusCode::FORBIDDEN).await;
    // Nor by a salesperson who owns none of the person's dossiers.
    let mut by_sales = fixture(0, &sales_id);
    by_sales["contacts"][0]["subject_id"] = json!(victim);
    assert_problem(app.create(&sales_other, "service_delivery", &by_sales).await, StatusCode::FORBIDDEN).await;

    // Nothing was linked: the person is still out of the other region's reach.
    let r = app.get(&south, Some("service_delivery"), &format!("/v1/subjects/{victim}")).await;
    assert_problem(r, StatusCode::FORBIDDEN).await;
    let r = app
        .request(
            reqwest::Method::POST,
            &south,
            "service_delivery",
            &format!("/v1/subjects/{victim}/consents"),
            Some(json!({"purpose": "marketing", "basis": "consent", "evidence": "form 7", "granted_at": "2026-11-01T00:00:00Z"})),
        )
        .await;
    assert_problem(r, StatusCode::FORBIDDEN).await;
    let person: Value =
        app.get(&compliance, Some("dsr"), &format!("/v1/subjects/{victim}")).await.json().await.unwrap();
    assert_eq!(person["dossiers"].as_array().unwrap().len(), 1, "{person}");

    // Each refusal is audited, naming the person and why.
    let denied: Vec<Value> = app
        .audit(&compliance, "outcome=deny")
        .await
        .into_iter()
        .filter(|e| e["reason"].as_str().unwrap_or("").contains("/contacts/0/subject_id"))
        .collect();
    assert_eq!(denied.len(), 4, "{denied:#?}");
    assert!(denied.iter().any(|e| e["reason"].as_str().unwrap().contains("unknown subject")), "{denied:#?}");
    assert!(denied.iter().filter(|e| e["subjects"][0] == victim.as_str()).count() == 3, "{denied:#?}");

    // Who may act for the person may name them in a second dossier.
    let mut second = fixture(2, &east_id);
    second["contacts"][0]["subject_id"] = json!(victim);
    let r = app.create(&east, "service_delivery", &second).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    w.app.stop().await;
}

/// PIPL Art. 23: a handler the company provides data to (an independent
/// recipient) sees a person's fields only under that person's separate
/// consent naming it, from the next request on and until it is withdrawn;
/// each read's audit entry names the recipient and what was withheld for
/// lack of the consent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_recipient_sees_a_person_only_under_their_consent_naming_it_and_the_audit_says_so() {
    let w = world().await;
    let officer = w.token("compliance").to_owned();
    let rfc3339 = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap();
    let (client, base) = (&w.app.client, &w.app.base);
    let assessment = assess(client, base, &officer, &["service_delivery"], &["provision_to_third_party"]).await;
    let recipient = json!({"name": "合作承运商", "role": "independent", "purposes": ["service_delivery"],
        "classes": ["internal", "personal"], "country": "CN", "term_from": rfc3339(w.now() - time::Duration::days(1)),
        "term_until": rfc3339(w.now() + time::Duration::days(30)), "contract": "数据提供协议 7", "assessment": assessment});
    let r = w.app.request(reqwest::Method::POST, &officer, "dsr", "/v1/recipients", Some(recipient)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let rid = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let desk = json!({"name": "partner desk", "roles": ["processor"], "recipient": rid});
    let (_, partner) = principal_from(client, base, &desk).await;

    // The last read's entry: its reason and the fields it withheld and released.
    let last_read = || async {
        let entries = w.app.audit(&officer, &format!("resource={}&action=dossier.read", w.id)).await;
        entries.last().cloned().unwrap()
    };
    let listed = |e: &Value, how: &str, path: &str| e["fields"][how].as_array().unwrap().contains(&json!(path));

    let d = w.read_ok(&partner, "service_delivery").await;
    assert_eq!(d["customer"], w.body["customer"], "the business record is the agreement's");
    assert_eq!(redaction(&d, "/contacts/0/phone").as_deref(), Some("withheld"), "{d}");
    let e = last_read().await;
    let reason = e["reason"].as_str().unwrap();
    assert!(reason.contains(&format!("for recipient {rid} (independent)")), "{e}");
    assert!(reason.contains(&format!("no-consent-naming:{rid}")), "{e}");
    assert!(listed(&e, "withheld", "/contacts/0/phone"), "{e}");

    let consent = json!({"purpose": "service_delivery", "basis": "separate_consent", "recipient": rid,
        "evidence": "signed provision consent", "granted_at": rfc3339(w.now())});
    let path = format!("/v1/subjects/{}/consents", w.subjects[0]);
    let r = w.app.request(reqwest::Method::POST, &officer, "dsr", &path, Some(consent)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let d = w.read_ok(&partner, "service_delivery").await;
    assert_eq!(d["contacts"][0]["phone"], w.body["contacts"][0]["phone"], "{d}");
    assert_eq!(redaction(&d, "/contacts/1/phone").as_deref(), Some("withheld"), "the other person did not consent");
    let e = last_read().await;
    assert!(listed(&e, "released", "/contacts/0/phone") && listed(&e, "withheld", "/contacts/1/phone"), "{e}");
    assert!(e["reason"].as_str().unwrap().contains(&format!("for recipient {rid} (independent)")), "{e}");

    let withdraw = format!("{path}/service_delivery@{rid}");
    assert_eq!(w.app.request(reqwest::Method::DELETE, &officer, "dsr", &withdraw, None).await.status(), StatusCode::OK);
    let d = w.read_ok(&partner, "service_delivery").await;
    assert_eq!(redaction(&d, "/contacts/0/phone").as_deref(), Some("withheld"), "withdrawn: {d}");
    assert!(listed(&last_read().await, "withheld", "/contacts/0/phone"));
}
