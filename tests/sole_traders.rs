//! Sole traders (个体工商户) and individual customers through the real
//! server: the customer's finance is its proprietor's sensitive data
//! (PIPL Art. 28), sealed under the proprietor's key, decided per person,
//! exported to them and erased with them; the A/B/C grade about them is
//! explained to them and can be contested and refused (PIPL Art. 24; GDPR
//! Art. 22). A legal-person dossier beside them behaves as before.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic fails the run

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use time::macros::datetime;

const T0: time::OffsetDateTime = datetime!(2026-12-01 09:00 UTC);
const BANK: &str = "6222021001987654321";
const NAME: &str = "王记五金店";
const ADDRESS: &str = "杭州市西湖区文三路1号";
const CODE: &str = "92330106MA2H4K7L3Q";
/// The shop's clerk, a contact of the dossier: their ID number is theirs.
const CLERK_ID: &str = "310101198503071234";

/// The customer desk, and finance in 华东 besides.
fn world() -> WorldBuilder {
    World::customer_desk(T0).staff("finance_owner", &["finance"], "华东")
}

/// A sole trader in 华东 owned by `owner`, with its finance when `finance`.
fn sole_trader(owner: &str, finance: bool) -> Value {
    let mut d = json!({
        "customer": {"kind": "sole_trader", "name": NAME, "region": "华东", "address": ADDRESS, "credit_code": CODE,
                     "notice": "2025-01"},
        "owner": owner, "status": "active", "grade": "C",
        "remarks": "个体户,现金结算为主"
    });
    if finance {
        d["finance"] = json!({"credit_rating": "良好", "payment_terms": "月结15天", "bank_account": BANK});
    }
    d
}

impl World {
    /// A sole trader owned by `owner`, its finance written under the
    /// shipped contract basis, whose proprietor then consented to credit
    /// assessment: its id and the proprietor.
    async fn sole_trader_with_finance(&self, owner: &str) -> (String, String) {
        let mut body = sole_trader(owner, true);
        body["customer"]["sensitive_basis"] = json!("sole_trader_contract");
        body["contacts"] = json!([{"name": "王小明", "phone": "13912340001", "role": "店员", "id_number": CLERK_ID,
                                   "sensitive_basis": "parcel_real_name", "notice": "2025-01"}]);
        let (did, subjects) = self.app.create_ok(self.token("service"), "service_delivery", &body).await;
        let sid = subjects.last().unwrap().clone();
        let consent = json!({"purpose": "credit_assessment", "basis": "separate_consent",
            "evidence": "signed form F-9", "granted_at": rfc3339(T0)});
        let path = format!("/v1/subjects/{sid}/consents");
        let (status, c) = self.call(Method::POST, self.token("officer"), "dsr", &path, Some(consent)).await;
        assert_eq!(status, StatusCode::CREATED, "{c}");
        (did, sid)
    }

    async fn read(&self, token: &str, purpose: &str, did: &str) -> Value {
        let (status, d) = self.call(Method::GET, token, purpose, &format!("/v1/dossiers/{did}"), None).await;
        assert_eq!(status, StatusCode::OK, "{d}");
        d
    }

    /// A verified request of `kind` (naming `purpose`) by the person `sid`.
    async fn person_asks(&self, sid: &str, kind: &str, purpose: Option<&str>) -> String {
        let mut body = json!({"subject_id": sid, "kind": kind, "received_at": rfc3339(T0), "channel": "email",
            "verification": {"method": "id_document", "verified_by": self.id("officer")}});
        if let Some(p) = purpose {
            body["purpose"] = json!(p);
        }
        let (status, v) = self.call(Method::POST, self.token("officer"), "dsr", "/v1/requests", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        v["id"].as_str().unwrap().to_owned()
    }

    async fn stand(&self, token: &str, did: &str, what: &str, request: &str) -> (StatusCode, Value) {
        let path = format!("/v1/dossiers/{did}/grade/{what}");
        self.call(Method::POST, token, "dsr", &path, Some(json!({"request": request}))).await
    }

    async fn grade(&self, did: &str) -> Value {
        let path = format!("/v1/dossiers/{did}/grade");
        let (status, g) = self.call(Method::GET, self.token("finance"), "credit_assessment", &path, None).await;
        assert_eq!(status, StatusCode::OK, "{g}");
        g
    }

    /// Six months of figures that the rules grade B (with a good rating).
    async fn figures(&self, did: &str, orders: u64) {
        let (y, m) = (self.now().year(), u8::from(self.now().month()));
        for back in 1..=6 {
            let total = y * 12 + i32::from(m) - 1 - back;
            let month = format!("{:04}-{:02}", total.div_euclid(12), total.rem_euclid(12) + 1);
            let body = json!({"orders": orders, "amount": 40_000.0, "returns": 0, "on_time_rate": 0.97});
            let path = format!("/v1/dossiers/{did}/figures/{month}");
            let (status, f) =
                self.call(Method::PUT, self.token("service"), "service_delivery", &path, Some(body)).await;
            assert_eq!(status, StatusCode::CREATED, "{f}");
        }
    }
}

fn redaction(d: &Value, path: &str) -> Option<String> {
    d["redactions"].as_array().unwrap().iter().find(|r| r["path"] == path).map(|r| r["reason"].as_str().unwrap().into())
}

/// PIPL Art. 28: a sole trader's bank account and credit are its
/// proprietor's sensitive data: written only with their consent (or a
/// basis), hidden from sales, clear to finance for credit assessment,
/// sealed under the proprietor's key (erasing them erases exactly these),
/// in their export; the kind and the proprietor never change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sole_traders_finance_is_its_proprietors_sensitive_data() {
    let w = world().start().await;
    w.app.assess(&["credit_assessment"], &["sensitive_data", "automated_decision"]).await;
    // Finance without the person's consent or a basis: 422 at /finance.
    let p = assert_problem(
        w.app.create(w.token("service"), "service_delivery", &sole_trader(w.id("sales"), true)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(p["errors"][0]["path"], "/finance", "{p}");
    // A proprietor is custos's to assign.
    let mut named = sole_trader(w.id("sales"), false);
    named["customer"]["subject_id"] = json!("sub_01kb0000000000000000000000");
    let p = assert_problem(
        w.app.create(w.token("service"), "service_delivery", &named).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(p["errors"][0]["path"], "/customer/subject_id", "{p}");

    let (did, sid) = w.sole_trader_with_finance(w.id("sales")).await;
    let (legal, _) = w.app.create_ok(w.token("service"), "service_delivery", &fixture(0, w.id("sales"))).await;

    // Sales, the owner: the sole trader's finance is not clear (as a contact's ID number).
    let d = w.read(w.token("sales"), "service_delivery", &did).await;
    assert_eq!(d["customer"]["kind"], "sole_trader");
    assert_eq!(d["customer"]["subject_id"], sid.as_str());
    for f in ["bank_account", "credit_rating", "payment_terms"] {
        let why = redaction(&d, &format!("/finance/{f}"));
        assert!(matches!(why.as_deref(), Some("masked" | "withheld")), "{f}: {d}");
    }
    assert_ne!(d["finance"]["bank_account"], BANK);
    // Who the person is: their personal information, clear to their account manager.
    let c = &d["customer"];
    assert_eq!(
        (c["name"].as_str(), c["address"].as_str(), c["credit_code"].as_str()),
        (Some(NAME), Some(ADDRESS), Some(CODE)),
        "{d}"
    );
    // Found by their exact name, shown as a read shows it.
    let (status, s) =
        w.call(Method::GET, w.token("sales"), "service_delivery", &format!("/v1/search?q={NAME}"), None).await;
    assert_eq!(status, StatusCode::OK, "{s}");
    assert_eq!(
        (s["hits"][0]["id"].as_str(), s["hits"][0]["customer_name"].as_str()),
        (Some(did.as_str()), Some(NAME)),
        "{s}"
    );
    // The legal person beside it: as before (its kind is not even stated).
    let l = w.read(w.token("sales"), "service_delivery", &legal).await;
    assert!(l["customer"].get("kind").is_none() && l["customer"].get("subject_id").is_none(), "{l}");
    assert_eq!(redaction(&l, "/finance/payment_terms").as_deref(), Some("masked"), "a company's terms: confidential");
    // Finance, for credit assessment: the finance clear, who the person
    // is masked (as a contact's name is to them), in a search hit too.
    let d = w.read(w.token("finance"), "credit_assessment", &did).await;
    assert_eq!(d["finance"]["bank_account"], BANK, "{d}");
    assert_eq!(d["finance"]["credit_rating"], "良好");
    for f in ["/customer/name", "/customer/address", "/customer/credit_code"] {
        assert_eq!(redaction(&d, f).as_deref(), Some("masked"), "{f}: {d}");
    }
    let (_, s) = w.call(Method::GET, w.token("finance"), "credit_assessment", "/v1/search?q=现金结算", None).await;
    assert_eq!(
        (s["hits"][0]["id"].as_str(), s["hits"][0]["customer_name"].as_str()),
        (Some(did.as_str()), Some("***")),
        "{s}"
    );
    // An import finds the dossier by the person's credit code.
    let row = format!("客户名称,统一社会信用代码,区域\n{NAME},{CODE},华东\n").into_bytes();
    let (status, r) = w.app.import(w.token("service"), row.clone(), "text/csv", "?dry_run=true&notice=2025-01").await;
    let found = (r["results"][0]["action"].as_str(), r["results"][0]["dossier"].as_str());
    assert_eq!((status, found), (StatusCode::OK, (Some("unchanged"), Some(did.as_str()))), "{r}");

    // The kind and the proprietor stay.
    let path = format!("/v1/dossiers/{did}");
    let mut company = sole_trader(w.id("sales"), false);
    company["customer"]["kind"] = json!("legal_person");
    let r = w.app.put(w.token("service"), "service_delivery", &path, Some("1"), &company).await;
    assert_eq!(assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["path"], "/customer/kind");
    let mut other = sole_trader(w.id("sales"), false);
    other["customer"]["subject_id"] = json!("sub_01kb0000000000000000000000");
    let r = w.app.put(w.token("service"), "service_delivery", &path, Some("1"), &other).await;
    assert_eq!(assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["path"], "/customer/subject_id");

    // Service cannot see the finance nor the clerk's ID number, so an update
    // of the dossier as they read it keeps both as they were.
    let (_, mut edit) = w.call(Method::GET, w.token("service"), "service_delivery", &path, None).await;
    for read_only in ["id", "version", "hash", "redactions", "finance"] {
        edit.as_object_mut().unwrap().remove(read_only);
    }
    assert!(edit["contacts"][0].get("id_number").is_none(), "{edit}");
    edit["remarks"] = json!("改为月结");
    let r = w.app.put(w.token("service"), "service_delivery", &path, Some("1"), &edit).await;
    assert_eq!(r.status(), StatusCode::OK);
    let d = w.read(w.token("finance"), "credit_assessment", &did).await;
    assert_eq!((d["finance"]["bank_account"].as_str(), d["version"].as_u64()), (Some(BANK), Some(2)), "{d}");
    let d = w.read(w.token("officer"), "dsr", &did).await;
    assert_eq!(d["contacts"][0]["id_number"], CLERK_ID, "{d}");
    // A corrected name is the person's corrected data (PIPL Art. 46): old
    // versions show it superseded to all but compliance.
    let mut renamed = edit.clone();
    renamed["customer"]["name"] = json!("王记五金商行");
    let r = w.app.put(w.token("service"), "service_delivery", &path, Some("2"), &renamed).await;
    assert_eq!(r.status(), StatusCode::OK);
    let (_, old) = w.call(Method::GET, w.token("sales"), "service_delivery", &format!("{path}/versions/1"), None).await;
    assert_eq!(redaction(&old, "/customer/name").as_deref(), Some("superseded"), "{old}");
    assert_eq!(old["customer"]["address"], ADDRESS, "unchanged fields stay: {old}");
    let d = w.read(w.token("sales"), "service_delivery", &did).await;
    assert_eq!(d["customer"]["name"], "王记五金商行", "{d}");

    // The person lists the dossier, and their export holds the customer's fields.
    let (status, s) = w.call(Method::GET, w.token("officer"), "dsr", &format!("/v1/subjects/{sid}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(s.to_string().contains(&did), "{s}");
    let access = w.person_asks(&sid, "access", None).await;
    let (status, x) = w
        .call(Method::GET, w.token("officer"), "dsr", &format!("/v1/subjects/{sid}/export?request={access}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{x}");
    let last = x["dossiers"][0]["versions"].as_array().unwrap().last().unwrap()["contact"].clone();
    assert_eq!(
        (last["bank_account"].as_str(), last["customer_name"].as_str(), last["customer_kind"].as_str()),
        (Some(BANK), Some("王记五金商行"), Some("sole_trader")),
        "{x}"
    );
    assert_eq!((last["address"].as_str(), last["credit_code"].as_str()), (Some(ADDRESS), Some(CODE)), "{x}");
    // Who they are is sealed under their key: in clear in no file.
    for value in [NAME, ADDRESS, CODE] {
        let files = files_containing(&w.app.data_dir(), value);
        assert!(files.is_empty(), "{value} is nowhere in clear: {files:?}");
    }

    // Erasing the proprietor shreds their key: the finance reads as erased in
    // every version, the rest of the dossier and the company beside it stay.
    let erase = format!("/v1/subjects/{sid}/erasure");
    let (status, r) =
        w.call(Method::POST, w.token("officer"), "dsr", &erase, Some(json!({"reason": "consent_withdrawn"}))).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let d = w.read(w.token("finance"), "credit_assessment", &did).await;
    for f in ["/finance/bank_account", "/finance/credit_rating", "/finance/payment_terms", "/customer/name"] {
        assert_eq!(redaction(&d, f).as_deref(), Some("erased"), "{f}: {d}");
    }
    assert!(d.get("finance").is_none(), "{d}");
    let c = &d["customer"];
    assert!(c.get("name").is_none() && c.get("address").is_none() && c.get("credit_code").is_none(), "{d}");
    assert_eq!((c["kind"].as_str(), c["region"].as_str()), (Some("sole_trader"), Some("华东")), "the business stays");
    // Nor found by it, nor by their credit code on import.
    let (_, s) = w.call(Method::GET, w.token("sales"), "service_delivery", "/v1/search?q=王记五金商行", None).await;
    assert_eq!(s["hits"].as_array().map(Vec::len), Some(0), "{s}");
    let (status, r) = w.app.import(w.token("service"), row, "text/csv", "?dry_run=true&notice=2025-01").await;
    assert_eq!((status, r["results"][0]["action"].as_str()), (StatusCode::OK, Some("would_create")), "{r}");
    assert_eq!(d["remarks"], "改为月结");
    let l = w.read(w.token("finance"), "credit_assessment", &legal).await;
    assert_eq!(l["finance"]["bank_account"], "6222021001123456789", "the company's account is untouched");
    let (status, _) =
        w.call(Method::GET, w.token("finance"), "credit_assessment", &format!("{path}/versions/1"), None).await;
    assert_eq!(status, StatusCode::OK);
    let files = files_containing(&w.app.data_dir(), BANK);
    assert!(files.is_empty(), "the account is nowhere in clear: {files:?}");

    // The dossier still changes; the erased stay erased whatever a body
    // says of them (the template asks for a name: it is not kept).
    let mut later = w.read(w.token("service"), "service_delivery", &did).await;
    for read_only in ["id", "version", "hash", "redactions"] {
        later.as_object_mut().unwrap().remove(read_only);
    }
    later["customer"]["name"] = json!("王某某五金");
    later["finance"] = json!({"credit_rating": "一般"});
    later["remarks"] = json!("客户已注销个人信息");
    let r = w.app.put(w.token("service"), "service_delivery", &path, Some("3"), &later).await;
    assert_eq!(r.status(), StatusCode::OK);
    let d = w.read(w.token("finance"), "credit_assessment", &did).await;
    assert_eq!((d["version"].as_u64(), d["remarks"].as_str()), (Some(4), Some("客户已注销个人信息")), "{d}");
    assert_eq!(redaction(&d, "/customer/name").as_deref(), Some("erased"), "{d}");
    assert!(d["customer"].get("name").is_none() && d.get("finance").is_none(), "{d}");
    assert!(files_containing(&w.app.data_dir(), "王某某五金").is_empty(), "the body's name is kept nowhere");
}

/// PIPL Art. 24, GDPR Art. 22: the grade of a sole trader is explained to
/// its proprietor on their request; their contest freezes every automated
/// change until finance or compliance (never the account manager) reviews
/// it; their objection stops automated grading until they withdraw it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proprietor_is_explained_can_contest_and_can_refuse_the_automated_grade() {
    let w = world().start().await;
    w.app.assess(&["credit_assessment"], &["sensitive_data", "automated_decision"]).await;
    let (did, sid) = w.sole_trader_with_finance(w.id("finance_owner")).await;
    let (legal, people) = w.app.create_ok(w.token("service"), "service_delivery", &fixture(0, w.id("sales"))).await;

    // Hostile: stands rest on the proprietor's own verified, open request of the right kind.
    let contest = w.person_asks(&sid, "contest", None).await;
    let (status, p) = w.stand(w.token("sales"), &did, "contest", &contest).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "compliance records it: {p}");
    let (status, p) = w.stand(w.token("officer"), &legal, "contest", &contest).await;
    assert_eq!((status, p["denial"].as_str()), (StatusCode::FORBIDDEN, Some("no-verified-request")), "not theirs");
    let another = w.person_asks(&people[0], "contest", None).await;
    let (status, p) = w.stand(w.token("officer"), &did, "contest", &another).await;
    assert_eq!(
        (status, p["denial"].as_str()),
        (StatusCode::FORBIDDEN, Some("no-verified-request")),
        "another person's"
    );
    let access = w.person_asks(&sid, "access", None).await;
    let (status, p) = w.stand(w.token("officer"), &did, "contest", &access).await;
    assert_eq!((status, p["denial"].as_str()), (StatusCode::FORBIDDEN, Some("no-verified-request")), "wrong kind: {p}");
    let (status, _) = w.stand(w.token("officer"), &did, "contest", "req_x").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Contested: the figures would make it B, but nothing automated changes it.
    let (status, s) = w.stand(w.token("officer"), &did, "contest", &contest).await;
    assert_eq!(status, StatusCode::OK, "{s}");
    assert_eq!(s["contested"]["request"], contest.as_str());
    assert_eq!(w.stand(w.token("officer"), &did, "contest", &contest).await.0, StatusCode::CONFLICT);
    w.figures(&did, 12).await;
    assert!(w.app.archive().customers().regrade_all(false).await.unwrap().iter().all(|c| c.dossier.as_str() != did));
    let g = w.grade(&did).await;
    assert_eq!((g["grade"].as_str(), g["computed"]["grade"].as_str()), (Some("C"), Some("B")), "{g}");
    assert_eq!(g["customer_kind"], "sole_trader");
    assert_eq!(g["inputs"]["credit"], "良好", "the proprietor's rating is an input, clear to finance");
    assert_eq!(g["stand"]["contested"]["request"], contest.as_str());
    let path = format!("/v1/dossiers/{did}/grade");
    let body = json!({"grade": "A", "reason": "by hand"});
    let (status, _) = w.call(Method::POST, w.token("service"), "service_delivery", &path, Some(body)).await;
    assert_eq!(status, StatusCode::CONFLICT, "no manual grade either while the review is pending");
    let mut regraded = w.read(w.token("service"), "service_delivery", &did).await;
    for read_only in ["id", "version", "hash", "redactions", "finance"] {
        regraded.as_object_mut().unwrap().remove(read_only);
    }
    regraded["grade"] = json!("A");
    let version = w.read(w.token("service"), "service_delivery", &did).await["version"].to_string();
    let r = w
        .app
        .put(w.token("service"), "service_delivery", &format!("/v1/dossiers/{did}"), Some(&version), &regraded)
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "nor through an update of the dossier");

    // Explained to the person: the grade.explain entry names them and answers their request.
    let explanation = w.person_asks(&sid, "explanation", None).await;
    w.grade(&did).await;
    let entries = w.app.audit(w.token("officer"), &format!("subject={sid}&action=grade.explain")).await;
    let entry = entries.last().unwrap();
    assert!(entry["reason"].as_str().unwrap().contains("rules sha256"), "{entry}");
    let done =
        json!({"state": "completed", "answered_by": [{"kind": "audit_entry", "reference": entry["seq"].to_string()}]});
    let (status, v) =
        w.call(Method::PATCH, w.token("officer"), "dsr", &format!("/v1/requests/{explanation}"), Some(done)).await;
    assert_eq!(status, StatusCode::OK, "{v}");

    // The review: a human of finance or compliance, never the account manager.
    let review = format!("/v1/dossiers/{did}/grade/review");
    let body = json!({"grade": "B", "reason": "figures confirmed with the proprietor"});
    let (status, p) =
        w.call(Method::POST, w.token("finance_owner"), "credit_assessment", &review, Some(body.clone())).await;
    assert_eq!((status, p["denial"].as_str()), (StatusCode::FORBIDDEN, Some("own-customer-review")), "{p}");
    let (status, _) = w.call(Method::POST, w.token("service"), "service_delivery", &review, Some(body.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, v) = w.call(Method::POST, w.token("finance"), "credit_assessment", &review, Some(body.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let g = w.grade(&did).await;
    assert_eq!((g["grade"].as_str(), g["decided_by"].as_str()), (Some("B"), Some("override")), "{g}");
    assert!(g["stand"].get("contested").is_none(), "{g}");
    assert_eq!(
        w.call(Method::POST, w.token("finance"), "credit_assessment", &review, Some(body)).await.0,
        StatusCode::CONFLICT
    );
    let reviewed = w.app.audit(w.token("officer"), &format!("resource={did}&action=grade.review")).await;
    assert!(reviewed.iter().any(|e| e["outcome"] == "allow" && e["actor"] == w.id("finance")), "{reviewed:?}");
    assert!(reviewed.iter().any(|e| e["outcome"] == "deny"), "the refused review is audited");

    // Objection (PIPL Art. 24(3)): automated grading stops until withdrawn.
    let objection = w.person_asks(&sid, "automated_objection", None).await;
    let (status, s) = w.stand(w.token("officer"), &did, "objection", &objection).await;
    assert_eq!(status, StatusCode::OK, "{s}");
    // New figures end the review's manual grade; the rules would give C.
    w.figures(&did, 1).await;
    assert!(w.app.archive().customers().regrade_all(false).await.unwrap().iter().all(|c| c.dossier.as_str() != did));
    let g = w.grade(&did).await;
    assert_eq!((g["grade"].as_str(), g["computed"]["grade"].as_str()), (Some("B"), Some("C")), "{g}");
    assert_eq!(g["stand"]["objected"]["request"], objection.as_str());
    let withdrawal = w.person_asks(&sid, "withdrawal", Some("credit_assessment")).await;
    let (status, p) = w.stand(w.token("officer"), &did, "objection/withdraw", &objection).await;
    assert_eq!((status, p["denial"].as_str()), (StatusCode::FORBIDDEN, Some("no-verified-request")));
    let (status, s) = w.stand(w.token("officer"), &did, "objection/withdraw", &withdrawal).await;
    assert_eq!((status, s), (StatusCode::OK, json!({})));
    let changed = w.app.archive().customers().regrade_all(false).await.unwrap();
    assert!(changed.iter().any(|c| c.dossier.as_str() == did), "automated grading resumes: {changed:?}");
    assert_eq!(w.grade(&did).await["grade"], "C");
    let entries = w.app.audit(w.token("officer"), &format!("subject={sid}&action=grade.object")).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
}
