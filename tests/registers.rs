//! The compliance registers through the real server with an injected
//! clock: data-subject requests with their legal deadlines, the incident
//! register with the persons affected derived from the audit log, and the
//! alerts both raise.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic fails the run

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use time::macros::datetime;

/// 31 January: a month later is 28 February.
const T0: time::OffsetDateTime = datetime!(2027-01-31 09:00 UTC);

/// A compliance officer and an auditor at 总部, service and sales in 华东;
/// the sweep runs only when a test runs it.
fn world() -> WorldBuilder {
    World::at(T0)
        .config(|c| c.retention_interval = None)
        .staff("officer", &["compliance"], "总部")
        .staff("service", &["service"], "华东")
        .staff("auditor", &["auditor"], "总部")
        .staff("sales", &["sales"], "华东")
}

impl World {
    /// `method path` as `token` stating `dsr` (see [`World::call`]).
    async fn dsr(&self, method: Method, token: &str, path: &str, body: Option<Value>) -> Answer {
        self.call(method, token, "dsr", path, body).await
    }

    /// A dossier from fixture `i`, created by service (华东); its subjects.
    async fn dossier(&self, i: usize) -> (String, Vec<String>) {
        self.dossier_of(i, self.id("service")).await
    }

    /// The same, owned by `owner`.
    async fn dossier_of(&self, i: usize, owner: &str) -> (String, Vec<String>) {
        let mut body = fixture(i, owner);
        body["customer"]["region"] = json!("华东");
        self.app.create_ok(self.token("service"), "service_delivery", &body).await
    }

    async fn request(&self, token: &str, body: Value) -> (StatusCode, Value) {
        self.dsr(Method::POST, token, "/v1/requests", Some(body)).await
    }

    async fn patch(&self, id: &str, body: Value) -> (StatusCode, Value) {
        self.dsr(Method::PATCH, self.token("officer"), &format!("/v1/requests/{id}"), Some(body)).await
    }
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_due_by_the_law_of_the_persons_residency_and_moves_through_its_states() {
    let w = world().start().await;
    let (_, subjects) = w.dossier(0).await;
    let (eu, cn) = (&subjects[0], &subjects[1]);
    let (status, _) = w
        .dsr(Method::PUT, w.token("officer"), &format!("/v1/subjects/{eu}/residency"), Some(json!({"residency": "FR"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let received = rfc3339(T0);

    // Who may record one: compliance; service for a person of its region; not sales.
    let body = |sid: &str, kind: &str| {
        json!({"subject_id": sid, "kind": kind, "received_at": received, "channel": "email",
        "details": "请删除我的全部资料 (张伟)"})
    };
    let (status, _) = w.request(w.token("sales"), body(eu, "access")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, other) = w.app.principal(&["service"], "华南").await;
    let (status, _) = w.request(&other, body(eu, "access")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "service of another region");
    let (status, p) = w
        .request(
            w.token("officer"),
            json!({"subject_id": eu, "kind": "withdrawal", "received_at": received, "channel": "email"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a withdrawal names its purpose: {p}");
    let (status, p) = w
        .request(
            w.token("officer"),
            json!({"subject_id": eu, "kind": "teleport", "received_at": received, "channel": "email"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");

    // GDPR: one calendar month (31 January → 28 February); PRC: 15 days.
    let (status, access) = w.request(w.token("service"), body(eu, "access")).await;
    assert_eq!(status, StatusCode::CREATED, "{access}");
    assert_eq!(access["state"], "received");
    assert_eq!(access["rule"], "EU");
    assert_eq!(access["due_at"], "2027-02-28T09:00:00Z");
    assert!(access["citation"].as_str().unwrap().contains("GDPR Art. 12(3)"));
    assert_eq!(access["details"], "请删除我的全部资料 (张伟)");
    let (_, cn_req) = w.request(w.token("officer"), body(cn, "erasure")).await;
    assert_eq!(cn_req["rule"], "CN");
    assert_eq!(cn_req["due_at"], "2027-02-15T09:00:00Z");
    let id = access["id"].as_str().unwrap().to_owned();

    // Not completed before the person is verified; refusal needs a code and a text.
    // (With what answered it: a completion naming nothing is refused at the
    // edge, by its shape, before the use case looks at the request's state.)
    let early = json!({"state": "completed", "answered_by": [{"kind": "audit_entry", "reference": "1"}]});
    let (status, _) = w.patch(&id, early).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, p) = w.patch(&id, json!({"state": "refused", "reason_code": "excessive"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let (status, p) = w.patch(&id, json!({"state": "refused", "reason_code": "no_reason", "reason": "x"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let (status, p) = w.patch(&id, json!({"state": "verified"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "verification needs how and by whom: {p}");
    let verification = json!({"method": "id_document", "verified_by": w.id("officer"), "note": "护照尾号 1234"});
    let (status, v) = w.patch(&id, json!({"state": "verified", "verification": verification})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["verified_by"], w.id("officer"));

    // GDPR allows two more months, once, with a reason; PRC's rule none.
    let (status, v) = w.patch(&id, json!({"extension_reason": "复杂请求, 涉及多个档案"})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["due_at"], "2027-04-28T09:00:00Z");
    assert_eq!(v["first_due_at"], "2027-02-28T09:00:00Z");
    let (status, _) = w.patch(&id, json!({"extension_reason": "again"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let cn_id = cn_req["id"].as_str().unwrap();
    let (status, p) = w.patch(cn_id, json!({"extension_reason": "need more time"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");

    // Completing names what answered it: an export of this person, made after receipt.
    let (status, _) = w.patch(&id, json!({"state": "in_progress"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, p) = w.patch(&id, json!({"state": "completed"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    // (Each person's export answers their own verified request.)
    let cn_access = w.app.verified_request(w.token("officer"), w.id("officer"), cn, "access", w.now()).await;
    let (status, _) =
        w.dsr(Method::GET, w.token("officer"), &format!("/v1/subjects/{cn}/export?request={cn_access}"), None).await;
    assert_eq!(status, StatusCode::OK);
    let other_export =
        w.app.audit(w.token("officer"), &format!("subject={cn}&action=subject.export")).await[0]["seq"].clone();
    let (status, p) = w
        .patch(&id, json!({"state": "completed", "answered_by": [{"kind": "audit_entry", "reference": other_export.to_string()}]}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "another person's export does not answer it: {p}");
    let answered =
        json!({"state": "completed", "answered_by": [{"kind": "audit_entry", "reference": other_export.to_string()}]});
    let (status, p) = w.patch(&cn_access, answered).await;
    assert_eq!(status, StatusCode::OK, "their own export answers theirs: {p}");
    let (status, processing) =
        w.dsr(Method::GET, w.token("officer"), &format!("/v1/subjects/{eu}/processing"), None).await;
    assert_eq!(status, StatusCode::OK, "{processing}");
    let (status, _) =
        w.dsr(Method::GET, w.token("officer"), &format!("/v1/subjects/{eu}/export?request={cn_access}"), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another person's request does not open this person's export");
    let (_, export) =
        w.dsr(Method::GET, w.token("officer"), &format!("/v1/subjects/{eu}/export?request={id}"), None).await;
    assert_eq!(export["processing"]["residency"], "FR");
    assert_eq!(export["processing"]["requests"]["jurisdiction"], "EU");
    let seq = w.app.audit(w.token("officer"), &format!("subject={eu}&action=subject.export&outcome=allow")).await[0]
        ["seq"]
        .clone();
    let (status, done) = w
        .patch(
            &id,
            json!({"state": "completed", "answered_by": [{"kind": "audit_entry", "reference": seq.to_string()}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["answered_by"][0]["action"], "subject.export");
    let states: Vec<&str> = done["history"].as_array().unwrap().iter().map(|h| h["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["received", "verified", "in_progress", "completed"]);
    let (status, _) = w.patch(&id, json!({"state": "refused", "reason_code": "excessive", "reason": "x"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "a closed request stays closed");

    // A refusal with its code, citation and text.
    let (_, v) = w
        .patch(cn_id, json!({"state": "refused", "reason_code": "identity_not_verified", "reason": "无法核实身份"}))
        .await;
    assert_eq!(v["state"], "refused", "{v}");
    assert_eq!(v["refusal_code"], "identity_not_verified");
    assert!(v["refusal_citation"].as_str().unwrap().contains("12(6)"));

    // The queue: by state and due date; the auditor reads it without the texts; sales may not.
    let (_, open) = w.request(w.token("officer"), body(cn, "rectification")).await;
    let q = |query: &str| format!("/v1/requests?{query}");
    let (status, list) = w.dsr(Method::GET, w.token("officer"), &q("state=received"), None).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = list["requests"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [open["id"].as_str().unwrap()]);
    let (_, list) = w.dsr(Method::GET, w.token("officer"), &q("due_before=2027-02-20T00:00:00Z"), None).await;
    assert_eq!(list["requests"].as_array().unwrap().len(), 3, "the three PRC requests: {list}");
    let (status, list) = w.dsr(Method::GET, w.token("auditor"), &q(""), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["requests"].as_array().unwrap().len(), 4);
    assert!(list["requests"].as_array().unwrap().iter().all(|r| r["details"].is_null()), "{list}");
    let (status, _) = w.dsr(Method::GET, w.token("sales"), &q(""), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = w.dsr(Method::GET, w.token("officer"), &q("state=lost"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = w.patch(open["id"].as_str().unwrap(), json!({"state": "in_progress"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "verify first");

    // Overdue: one alert, once.
    w.clock().advance(time::Duration::days(16));
    let raised = w.app.archive().registers().check_deadlines().await.unwrap();
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert_eq!(raised[0].rule, "request_overdue");
    assert!(raised[0].description.contains(open["id"].as_str().unwrap()));
    assert!(w.app.archive().registers().check_deadlines().await.unwrap().is_empty());
    let (_, alerts) = w.dsr(Method::GET, w.token("auditor"), "/v1/audit/alerts", None).await;
    assert!(alerts.to_string().contains("request_overdue"), "{alerts}");
    let (_, v) =
        w.dsr(Method::GET, w.token("officer"), &format!("/v1/requests/{}", open["id"].as_str().unwrap()), None).await;
    assert_eq!(v["overdue"], true);

    // Once the person is erased, their request still runs its course; no
    // text about them is kept any more, and the earlier ones no longer open.
    let (status, _) = w
        .dsr(
            Method::POST,
            w.token("officer"),
            &format!("/v1/subjects/{cn}/erasure"),
            Some(json!({"reason": "objection"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, late) = w.request(w.token("officer"), body(cn, "access")).await;
    assert_eq!(status, StatusCode::CREATED, "{late}");
    assert!(late["details"].is_null());
    let (_, v) = w.dsr(Method::GET, w.token("officer"), &format!("/v1/requests/{cn_id}"), None).await;
    assert!(v["refusal_reason"].is_null() && v["refusal_code"] == "identity_not_verified", "{v}");
    let verification = json!({"method": "known_contact_details", "verified_by": w.id("officer")});
    assert_eq!(
        w.patch(open["id"].as_str().unwrap(), json!({"state": "verified", "verification": verification})).await.0,
        StatusCode::OK
    );
    let (status, v) = w
        .patch(
            open["id"].as_str().unwrap(),
            json!({"state": "refused", "reason_code": "no_data_held", "reason": "已删除"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v["refusal_reason"].is_null());

    // No text of a request is in any file in the clear.
    let dir = w.app.stop().await;
    for needle in ["请删除我的全部资料", "护照尾号", "复杂请求", "无法核实身份"] {
        assert!(files_containing(dir.path(), needle).is_empty(), "{needle} in the clear");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_objection_to_direct_marketing_ends_it_at_once_and_for_good() {
    let w = world().start().await;
    let (did, subjects) = w.dossier_of(2, w.id("sales")).await;
    let sid = &subjects[0];
    // What the account manager's marketing export shows of the person.
    let marketing_export = || async {
        let r = w
            .app
            .request(Method::POST, w.token("sales"), "marketing", "/v1/exports", Some(json!({"dossiers": [did]})))
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        let r =
            w.app.request(Method::GET, w.token("sales"), "marketing", &format!("/v1/exports/{id}/content"), None).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()["dossiers"][0]["dossier"]["contacts"][0].clone()
    };
    let consents = format!("/v1/subjects/{sid}/consents");
    let grant =
        json!({"purpose": "marketing", "basis": "consent", "evidence": "web form 7", "granted_at": rfc3339(T0)});
    let (status, _) = w.dsr(Method::POST, w.token("officer"), &consents, Some(grant.clone())).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(marketing_export().await["name"], fixture(2, "x")["contacts"][0]["name"], "with consent");

    let (status, r) = w
        .request(
            w.token("officer"),
            json!({"subject_id": sid, "kind": "objection", "purpose": "marketing",
            "received_at": rfc3339(T0), "channel": "phone"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert_eq!(r["effects"].as_array().unwrap().len(), 2, "{r}");
    let (_, s) = w.dsr(Method::GET, w.token("officer"), &format!("/v1/subjects/{sid}"), None).await;
    assert_eq!(s["consents"], json!([]), "withdrawn at once: {s}");
    assert_eq!(s["objected"], json!(["marketing"]));
    let contact = marketing_export().await;
    assert!(
        contact.get("name").is_none() && contact.get("phone").is_none(),
        "absent from the marketing export: {contact}"
    );
    // For good: consent for it is not recorded again.
    let (status, p) = w.dsr(Method::POST, w.token("officer"), &consents, Some(grant)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("21(3)"));
    let (_, processing) = w.dsr(Method::GET, w.token("officer"), &format!("/v1/subjects/{sid}/processing"), None).await;
    let marketing = processing["purposes"].as_array().unwrap().iter().find(|p| p["purpose"] == "marketing").unwrap();
    assert!(marketing["status"].as_str().unwrap().starts_with("objected"), "{marketing}");
    // The withdrawal answers the objection.
    let seq =
        w.app.audit(w.token("officer"), &format!("subject={sid}&action=consent.withdraw")).await[0]["seq"].clone();
    let id = r["id"].as_str().unwrap();
    let verification = json!({"method": "known_contact_details", "verified_by": w.id("officer")});
    assert_eq!(w.patch(id, json!({"state": "verified", "verification": verification})).await.0, StatusCode::OK);
    let (status, v) = w
        .patch(
            id,
            json!({"state": "completed", "answered_by": [{"kind": "audit_entry", "reference": seq.to_string()}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_derives_the_persons_shown_from_the_audit_log_and_alerts_its_deadlines() {
    let w = world().start().await;
    let (d0, s0) = w.dossier(0).await;
    let (d2, s2) = w.dossier(2).await;
    let (status, _) = w
        .dsr(
            Method::PUT,
            w.token("officer"),
            &format!("/v1/subjects/{}/residency", s2[0]),
            Some(json!({"residency": "DE"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // A rogue service account reads two dossiers at 10:00; someone else reads one at 09:30.
    w.clock().advance(time::Duration::minutes(30));
    let (_, other) = w.app.principal(&["service"], "华东").await;
    assert_eq!(
        w.app.get(&other, Some("service_delivery"), &format!("/v1/dossiers/{d0}")).await.status(),
        StatusCode::OK
    );
    w.clock().advance(time::Duration::minutes(30));
    let (rogue_id, rogue) = w.app.principal(&["service"], "华东").await;
    for d in [&d0, &d2] {
        let r = w.app.get(&rogue, Some("service_delivery"), &format!("/v1/dossiers/{d}")).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    w.clock().advance(time::Duration::minutes(30));

    // Recorded by compliance only; the PRC 4-hour window for a relatively major incident.
    let detected = T0 + time::Duration::minutes(90);
    let incident = json!({
        "detected_at": rfc3339(detected), "aware_at": rfc3339(detected),
        "level": "relatively_major", "data_categories": ["personal"],
        "description": "账号 INCIDENT-MARKER-5521 被盗用, 批量查看客户档案",
        "cause": "凭证泄露",
    });
    let (status, _) = w.dsr(Method::POST, w.token("service"), "/v1/incidents", Some(incident.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut bad = incident.clone();
    bad["level"] = json!("catastrophic");
    let (status, _) = w.dsr(Method::POST, w.token("officer"), "/v1/incidents", Some(bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, inc) = w.dsr(Method::POST, w.token("officer"), "/v1/incidents", Some(incident)).await;
    assert_eq!(status, StatusCode::CREATED, "{inc}");
    let id = inc["id"].as_str().unwrap().to_owned();
    let deadlines: Vec<&str> = inc["deadlines"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(deadlines, ["prc-cac-report"]);
    assert_eq!(inc["deadlines"][0]["due_at"], rfc3339(detected + time::Duration::hours(4)));

    // Affected: what the rogue account was shown, from the log alone.
    let affected = format!("/v1/incidents/{id}/affected");
    let (status, _) = w.dsr(Method::POST, w.token("officer"), &affected, Some(json!({}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "some criterion is needed");
    let window = json!({"actor": rogue_id, "from": rfc3339(T0), "to": rfc3339(detected)});
    let (status, set) = w.dsr(Method::POST, w.token("officer"), &affected, Some(window)).await;
    assert_eq!(status, StatusCode::CREATED, "{set}");
    assert_eq!(set["count"], 3, "two contacts of d0, one of d2: {set}");
    assert_eq!(set["records"], 2);
    let (status, list) = w.dsr(Method::GET, w.token("officer"), &format!("{affected}/0"), None).await;
    assert_eq!(status, StatusCode::OK);
    let mut want: Vec<String> = s0.iter().chain(&s2).cloned().collect();
    want.sort();
    assert_eq!(list["subjects"], json!(want));
    // By dossier and window instead: the other reader's read of d0 counts too, d2 does not.
    let (_, by_dossier) = w.dsr(Method::POST, w.token("officer"), &affected, Some(json!({"dossiers": [d0]}))).await;
    assert_eq!(by_dossier["count"], 2);
    assert_eq!(by_dossier["records"], 2);
    // An EU resident among them brings in the GDPR's 72 hours from awareness.
    let (_, inc) = w.dsr(Method::GET, w.token("officer"), &format!("/v1/incidents/{id}"), None).await;
    assert_eq!(inc["jurisdictions"], json!(["CN", "EU"]), "{inc}");
    let deadlines: Vec<&str> = inc["deadlines"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(deadlines, ["gdpr-supervisory-authority", "prc-cac-report"]);
    // The auditor reads the register, not the texts nor the list.
    let (status, seen) = w.dsr(Method::GET, w.token("auditor"), &format!("/v1/incidents/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(seen["description"].is_null());
    let (status, _) = w.dsr(Method::GET, w.token("auditor"), &format!("{affected}/0"), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Alerts as the PRC window nears (within 1 h) and runs out, each once.
    w.clock().advance(time::Duration::minutes(185));
    let raised = w.app.archive().registers().check_deadlines().await.unwrap();
    assert_eq!(raised.iter().map(|a| a.rule.as_str()).collect::<Vec<_>>(), ["incident_deadline_near"]);
    assert!(w.app.archive().registers().check_deadlines().await.unwrap().is_empty());
    w.clock().advance(time::Duration::minutes(60));
    let raised = w.app.archive().registers().check_deadlines().await.unwrap();
    assert_eq!(raised.iter().map(|a| a.rule.as_str()).collect::<Vec<_>>(), ["incident_deadline_passed"]);

    // Notifications: late for the CAC, in time for the GDPR authority.
    let notify = format!("/v1/incidents/{id}/notifications");
    let at = rfc3339(detected + time::Duration::minutes(250));
    let (status, v) = w
        .dsr(
            Method::POST,
            w.token("officer"),
            &notify,
            Some(json!({"to": "authority", "recipient": "上海市网信办; CNIL", "at": at, "reference": "案号 2027-17"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let status_of = |v: &Value, d: &str| {
        v["deadlines"].as_array().unwrap().iter().find(|x| x["id"] == d).unwrap()["status"].clone()
    };
    assert_eq!(status_of(&v, "prc-cac-report"), "met_late");
    assert_eq!(status_of(&v, "gdpr-supervisory-authority"), "met");

    // Art. 34(3)(a): not when keys are compromised; with its reasoning otherwise.
    let exemption = format!("/v1/incidents/{id}/exemption");
    let (status, _) = w
        .dsr(Method::POST, w.token("officer"), &exemption, Some(json!({"reasoning": "r", "keys_compromised": true})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, v) = w
        .dsr(
            Method::POST,
            w.token("officer"),
            &exemption,
            Some(json!({"reasoning": "只读到掩码字段, 密钥未泄露", "keys_compromised": false})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["exempted"], true);

    // The draft notice names what is still missing.
    let (status, notice) = w.dsr(Method::GET, w.token("officer"), &format!("/v1/incidents/{id}/notice"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(notice["complete"], false);
    let missing = notice["missing"].to_string();
    for m in ["likely_consequences", "measures_taken_or_proposed", "contact_point", "what_persons_can_do"] {
        assert!(missing.contains(m), "{m}: {notice}");
    }
    assert_eq!(notice["elements"]["approximate_number_of_persons"]["value"], 2, "the latest set");
    assert!(notice["elements"]["nature_of_the_breach"]["value"].as_str().unwrap().contains("INCIDENT-MARKER-5521"));

    let dir = w.app.stop().await;
    for needle in ["INCIDENT-MARKER-5521", "上海市网信办", "密钥未泄露"] {
        assert!(files_containing(dir.path(), needle).is_empty(), "{needle} in the clear");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_export_beyond_the_policy_limit_needs_a_second_officer() {
    let w = world().start().await;
    let (_, second) = w.app.principal(&["compliance"], "总部").await;
    let mut dossiers = Vec::new();
    for i in 0..21 {
        dossiers.push(w.dossier([0, 2][i % 2]).await.0);
    }
    let call = |token: &str, method: Method, path: &str, purpose: &str, body: Option<Value>| {
        let (token, path, purpose) = (token.to_owned(), path.to_owned(), purpose.to_owned());
        let app = &w.app;
        async move {
            let r = app.request(method, &token, &purpose, &path, body).await;
            let status = r.status();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };

    // Up to 20 items (policies/exports.toml): ready at once, downloaded once.
    let (status, small) = call(
        w.token("service"),
        Method::POST,
        "/v1/exports",
        "service_delivery",
        Some(json!({"dossiers": dossiers[..2]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{small}");
    assert_eq!(small["state"], "ready");
    let content = format!("/v1/exports/{}/content", small["id"].as_str().unwrap());
    let (status, _) = call(w.token("service"), Method::GET, &content, "marketing", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the purpose asked under");
    let (status, got) = call(w.token("service"), Method::GET, &content, "service_delivery", None).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["dossiers"].as_array().unwrap().len(), 2);
    assert!(got["dossiers"][0]["dossier"]["contacts"].is_array(), "{got}");
    let (status, _) = call(w.token("service"), Method::GET, &content, "service_delivery", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "once");

    // 21: awaits a second officer; not the asker, not service.
    let (status, big) =
        call(w.token("officer"), Method::POST, "/v1/exports", "legal_compliance", Some(json!({"dossiers": dossiers})))
            .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{big}");
    assert_eq!(big["state"], "awaiting_approval");
    let id = big["id"].as_str().unwrap();
    let content = format!("/v1/exports/{id}/content");
    let (status, _) = call(w.token("officer"), Method::GET, &content, "legal_compliance", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "not before approval");
    let approve = format!("/v1/exports/{id}/approve");
    let (status, _) = call(w.token("officer"), Method::POST, &approve, "legal_compliance", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not by the asker");
    let (status, _) = call(w.token("service"), Method::POST, &approve, "legal_compliance", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not by service");
    let (status, v) = call(&second, Method::POST, &approve, "legal_compliance", None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "ready");
    let (status, _) = call(&second, Method::GET, &content, "legal_compliance", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only the asker downloads");
    let (status, got) = call(w.token("officer"), Method::GET, &content, "legal_compliance", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["dossiers"].as_array().unwrap().len(), 21);
    // Compliance reads personal fields masked under legal_compliance; every read is audited.
    let reads = w.app.audit(w.token("officer"), &format!("actor={}&action=dossier.read", w.id("officer"))).await;
    assert_eq!(reads.len(), 21);
    let (status, seen) =
        call(w.token("auditor"), Method::GET, &format!("/v1/exports/{id}"), "legal_compliance", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seen["state"], "delivered");
    assert!(seen["approved_by"].as_str().unwrap().starts_with("prn_"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_records_of_processing_are_generated_from_the_policy_files() {
    let w = world().start().await;
    let (status, _) = w.dsr(Method::GET, w.token("sales"), "/v1/records-of-processing", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, rop) = w.dsr(Method::GET, w.token("auditor"), "/v1/records-of-processing", None).await;
    assert_eq!(status, StatusCode::OK, "{rop}");

    // Diffed against the policy files themselves.
    let read = |name: &str| -> toml::Value {
        toml::from_str(&std::fs::read_to_string(policies_dir().join(name)).unwrap()).unwrap()
    };
    let purposes = read("purposes.toml");
    let purposes = purposes["purposes"].as_table().unwrap();
    let records = rop["records"].as_array().unwrap();
    assert_eq!(records.len(), purposes.len());
    for (id, def) in purposes {
        let r = records.iter().find(|r| r["purpose"] == id.as_str()).unwrap_or_else(|| panic!("{id} missing"));
        for field in ["basis", "citation", "description"] {
            assert_eq!(r[field], def[field].as_str().unwrap(), "{id} {field}");
        }
        // Staff roles; an outside party's (`processor`) is a third party, listed from the register.
        let roles: Vec<&str> = def["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .filter(|r| *r != "processor")
            .collect();
        assert_eq!(r["recipients_internal"], json!(roles), "{id}");
        assert!(!r["security_measures"].as_array().unwrap().is_empty());
    }
    let retention = read("retention.toml");
    let rules: Vec<&str> = retention["rule"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    let listed: Vec<&str> =
        records[0]["retention"].as_array().unwrap().iter().map(|r| r["rule"].as_str().unwrap()).collect();
    assert_eq!(listed, rules);
    // Categories follow the access policy: sales sees contacts under marketing,
    // never their sensitive fields; finance sees sensitive data for credit.
    let categories = |purpose: &str| -> Value {
        records.iter().find(|r| r["purpose"] == purpose).unwrap()["data_categories"].clone()
    };
    let of = |cats: &Value, class: &str| cats.as_array().unwrap().iter().find(|c| c["class"] == class).cloned();
    assert_eq!(of(&categories("marketing"), "personal").unwrap()["shown_to"]["sales"], "clear");
    assert!(of(&categories("marketing"), "sensitive").is_none());
    assert_eq!(of(&categories("credit_assessment"), "sensitive").unwrap()["shown_to"]["finance"], "clear");
    assert!(of(&categories("marketing"), "personal").unwrap()["fields"].to_string().contains("/contacts/*/phone"));

    // CSV, one row per purpose.
    let body = w.app.get_csv(w.token("officer"), "/v1/records-of-processing").await;
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    assert_eq!(reader.headers().unwrap().get(0), Some("purpose"));
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), purposes.len());
    assert!(rows
        .iter()
        .any(|row| row.get(0) == Some("marketing") && row.get(5).unwrap().contains("personal (sales clear)")));
    assert_eq!(
        w.app.audit(w.token("officer"), "action=governance.records").await.len(),
        3,
        "the refusal and both reads"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purpose_that_requires_an_assessment_is_refused_until_one_covers_it() {
    // The shipped policies flag credit assessment (sensitive data, PIPL Art. 55(1)).
    let w = World::at(T0)
        .staff("service", &["service"], "华东")
        .staff("finance", &["finance"], "总部")
        .staff("officer", &["compliance"], "总部")
        .staff("auditor", &["auditor"], "总部")
        .start()
        .await;
    let app = &w.app;
    let (finance, officer, auditor) =
        (w.token("finance").to_owned(), w.token("officer").to_owned(), w.token("auditor").to_owned());
    let (id, _) = app.create_ok(w.token("service"), "service_delivery", &fixture(0, w.id("service"))).await;
    let path = format!("/v1/dossiers/{id}");
    let read = || app.get(&finance, Some("credit_assessment"), &path);

    let p = assert_problem(read().await, StatusCode::FORBIDDEN).await;
    assert!(p["detail"].as_str().unwrap().contains("impact assessment"), "{p}");

    let report = b"%PDF-1.7 PIA report: credit assessment of customers' contacts".to_vec();
    let body = |purposes: Value, on: &str| {
        json!({"scope": {"purposes": purposes, "data_categories": ["sensitive", "confidential"],
                         "processing": ["sensitive_data", "automated_decision"]},
               "conducted_on": on, "conclusion": "风险可控, 需单独同意",
               "report_base64": base64::engine::general_purpose::STANDARD.encode(&report), "report_type": "application/pdf"})
    };
    use base64::Engine;
    let post = |token: String, b: Value| {
        let app = &app;
        async move { app.request(Method::POST, &token, "legal_compliance", "/v1/assessments", Some(b)).await }
    };
    assert_eq!(
        post(finance.clone(), body(json!(["credit_assessment"]), "2027-01-10")).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(officer.clone(), body(json!(["no_such"]), "2027-01-10")).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        post(officer.clone(), body(json!(["credit_assessment"]), "2027-03-01")).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "in the future"
    );
    let r = post(officer.clone(), body(json!(["credit_assessment"]), "2027-01-10")).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let a: Value = r.json().await.unwrap();
    use sha2::Digest;
    assert_eq!(a["report_sha256"], hex::encode(sha2::Sha256::digest(&report)));
    assert_eq!(a["keep_until"], "2030-01-31T09:00:00Z", "kept three years at least");

    // Now the purpose works; the register is listed (auditor without the conclusion), the report comes back whole.
    assert_eq!(read().await.status(), StatusCode::OK);
    let list: Value = app.get(&auditor, None, "/v1/assessments").await.json().await.unwrap();
    assert_eq!(list["assessments"][0]["purposes"], json!(["credit_assessment"]));
    assert!(list["assessments"][0]["conclusion"].is_null());
    let r = app.get(&officer, None, &format!("/v1/assessments/{}/report", a["id"].as_str().unwrap())).await;
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert_eq!(list["assessments"][0]["report_type"], "application/pdf");
    assert_eq!(r.bytes().await.unwrap().to_vec(), report);
    assert_eq!(
        app.get(&auditor, None, &format!("/v1/assessments/{}/report", a["id"].as_str().unwrap())).await.status(),
        StatusCode::FORBIDDEN
    );

    // No text of it in any file; still on record after a restart.
    let data = w.app.stop().await;
    assert!(files_containing(data.path(), "风险可控").is_empty());
    assert!(files_containing(data.path(), "PIA report: credit").is_empty());
    let app = spawn_app_in(data, |_| {}).await;
    assert_eq!(app.get(&finance, Some("credit_assessment"), &path).await.status(), StatusCode::OK);
}
