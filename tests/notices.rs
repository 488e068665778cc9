//! Privacy notices complete and honest (PIPL Art. 17, 30; NDSMR Art. 21),
//! through the real server with an injected clock: a contact is collected
//! only with the notice version the person was shown (never stamped with
//! the one in force), on create, update and import; the notices view
//! flags older versions that lack elements and recipients the notice in
//! force does not name; persons under an earlier version are owed a
//! notification of a changed one until an officer records that they were
//! told (or they consent under it), and one alert is raised when that is
//! late.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic fails the run

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::macros::datetime;

/// Before the shipped 2027-03 version takes effect (1 March 2027).
const T0: time::OffsetDateTime = datetime!(2027-02-20 09:00 UTC);

/// The staff of these tests: name, role, region.
const STAFF: [(&str, &str, &str); 3] =
    [("officer", "compliance", "总部"), ("service", "service", "华东"), ("sales", "sales", "华东")];

async fn start() -> World {
    let mut world = World::at(T0).config(|c| c.retention_interval = None);
    for (name, role, region) in STAFF {
        world = world.staff(name, &[role], region);
    }
    world.start().await
}

/// An instant as the API takes it (RFC 3339).
fn stamp(t: time::OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

impl World {
    /// `method path` as `token` stating `dsr` (see [`World::call`]).
    async fn dsr(&self, method: Method, token: &str, path: &str, body: Option<Value>) -> Answer {
        self.call(method, token, "dsr", path, body).await
    }

    /// Fixture `i` in 华东, owned by service.
    fn body(&self, i: usize) -> Value {
        let mut body = fixture(i, self.id("service"));
        body["customer"]["region"] = json!("华东");
        body
    }

    async fn owed(&self, version: &str, query: &str) -> Value {
        let (status, v) =
            self.dsr(Method::GET, self.token("officer"), &format!("/v1/notices/{version}/owed{query}"), None).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v
    }
}

/// PIPL Art. 17; NDSMR Art. 21: the record says what the person was shown,
/// so a write adding a person must say it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_without_the_notice_it_was_shown_is_refused_on_create_update_and_import() {
    let w = start().await;
    let service = w.token("service");
    // Create: the second contact names no notice.
    let mut bare = w.body(0);
    bare["contacts"][1].as_object_mut().unwrap().remove("notice");
    let p =
        assert_problem(w.app.create(service, "service_delivery", &bare).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(p["errors"].as_array().unwrap().len(), 1, "{p}");
    assert_eq!(p["errors"][0]["path"], "/contacts/1/notice", "{p}");
    let msg = p["errors"][0]["message"].as_str().unwrap();
    assert!(msg.contains("the one in force is 2025-01"), "{msg}");
    let phone = bare["contacts"][1]["phone"].as_str().unwrap();
    assert!(!p.to_string().contains(phone), "no value in the problem");
    let refused = w.app.audit(w.token("officer"), "action=dossier.create&outcome=error").await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    // A version not in force yet, or unknown, is refused too.
    let mut early = w.body(0);
    early["contacts"][0]["notice"] = json!("2027-03");
    let p =
        assert_problem(w.app.create(service, "service_delivery", &early).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(p["errors"][0]["message"].as_str().unwrap().contains("not in force yet"), "{p}");
    early["contacts"][0]["notice"] = json!("1999-01");
    let p =
        assert_problem(w.app.create(service, "service_delivery", &early).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(p["errors"][0]["path"], "/contacts/0/notice", "{p}");

    // Update: the persons already linked keep what they were shown; a new
    // one without a notice is refused, with one it is recorded.
    let (did, subjects) = w.app.create_ok(service, "service_delivery", &w.body(0)).await;
    let path = format!("/v1/dossiers/{did}");
    let mut next = w.body(0);
    for (i, sid) in subjects.iter().enumerate() {
        next["contacts"][i]["subject_id"] = json!(sid);
        next["contacts"][i].as_object_mut().unwrap().remove("notice");
    }
    next["contacts"].as_array_mut().unwrap().push(json!({"name": "王新", "phone": "13700009999"}));
    let r = w.app.put(service, "service_delivery", &path, Some("1"), &next).await;
    let p = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    let paths: Vec<&str> = p["errors"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/contacts/2/notice"], "{p}");
    assert!(!p.to_string().contains("13700009999"));
    next["contacts"][2]["notice"] = json!("2025-01");
    let r = w.app.put(service, "service_delivery", &path, Some("1"), &next).await;
    assert_eq!(r.status(), StatusCode::OK);
    let (_, s) = w.dsr(Method::GET, w.token("officer"), &format!("/v1/subjects/{}", subjects[1]), None).await;
    assert_eq!(s["collection"].as_array().unwrap().len(), 1, "no new record for a person linked before: {s}");
    assert_eq!(s["collection"][0]["notice"], "2025-01");

    // Import: a row naming a contact without a notice fails, naming its row
    // and the column, never a value; the column or the import's notice fills it.
    let sheet = "客户名称,统一社会信用代码,地区,联系人,电话\n\
                 甲物流,91310000MA1FL0AA1X,华东,钱七,13800000077\n\
                 乙物流,91310000MA1FL0AA2X,华东,,\n";
    let (status, r) = w.app.import(service, sheet.as_bytes().to_vec(), "text/csv", "").await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!((r["created"].as_u64(), r["failed"].as_u64()), (Some(1), Some(1)), "{r}");
    assert_eq!((r["errors"][0]["row"].as_u64(), r["errors"][0]["column"].as_str()), (Some(2), Some("告知版本")), "{r}");
    assert!(r["errors"][0]["message"].as_str().unwrap().contains("2025-01"), "{r}");
    assert!(!r.to_string().contains("13800000077") && !r.to_string().contains("钱七"), "{r}");
    let audited = w.app.audit(w.token("officer"), "action=import.row&outcome=error").await;
    assert!(audited.last().unwrap()["reason"].as_str().unwrap().contains("row 2 告知版本"), "{audited:?}");
    let with_column = "客户名称,统一社会信用代码,地区,联系人,电话,告知版本\n\
                       甲物流,91310000MA1FL0AA1X,华东,钱七,13800000077,2025-01\n\
                       丙物流,91310000MA1FL0AA3X,华东,孙八,13800000078,\n";
    let (_, r) = w.app.import(service, with_column.as_bytes().to_vec(), "text/csv", "").await;
    assert_eq!((r["created"].as_u64(), r["failed"].as_u64()), (Some(1), Some(1)), "{r}");
    assert_eq!((r["errors"][0]["row"].as_u64(), r["errors"][0]["column"].as_str()), (Some(3), Some("告知版本")), "{r}");
    let (_, r) = w.app.import(service, with_column.as_bytes().to_vec(), "text/csv", "?notice=2025-01").await;
    assert_eq!((r["created"].as_u64(), r["failed"].as_u64()), (Some(1), Some(0)), "the parameter fills the gap: {r}");
    // An import naming a version not in force is refused whole.
    let (status, p) = w.app.import(service, sheet.as_bytes().to_vec(), "text/csv", "?notice=2027-03").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["errors"][0]["path"], "/notice", "{p}");
    let (status, _) = w.app.import(service, sheet.as_bytes().to_vec(), "text/csv", "?notice=a%26b").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// PIPL Art. 17(2): a changed notice is told to the persons under an
/// earlier one; custos keeps who is owed, records who was told, and alerts
/// once when it is late. Only compliance lists or records it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_notice_is_owed_to_the_persons_under_the_old_one_until_they_are_told() {
    let w = start().await;
    let (did, subjects) = w.app.create_ok(w.token("service"), "service_delivery", &w.body(0)).await;
    assert_eq!(subjects.len(), 2);
    let (_, more) = w.app.create_ok(w.token("service"), "service_delivery", &w.body(2)).await;
    let everyone: Vec<String> = subjects.iter().chain(&more).cloned().collect();

    // Not in force yet: nobody is owed.
    let v = w.owed("2027-03", "").await;
    assert_eq!(v["owed"], 0, "{v}");
    // The view: 2025-01 lacks the elements added since, 2027-03 changes
    // recipients and methods; compliance sees the recipients the notice in
    // force does not name, sales does not.
    let (_, n) = w.dsr(Method::GET, w.token("officer"), "/v1/notices", None).await;
    assert_eq!(n["notices"][0]["incomplete"], json!(["methods", "retention_end", "sensitive", "recipients"]), "{n}");
    assert_eq!(n["notices"][1]["incomplete"], json!([]));
    assert_eq!(n["notices"][1]["changes"], json!(["recipients", "methods"]));
    assert_eq!(n["notices"][1]["sensitive"][0]["data"], "id_number");
    assert_eq!(n["unannounced_recipients"], json!([]), "{n}");
    let (client, base) = (&w.app.client, &w.app.base);
    let pia = assess(client, base, w.token("officer"), &["service_delivery"], &["entrustment"]).await;
    let recipient = json!({"name": "Lion Freight Pte Ltd", "role": "processor", "purposes": ["service_delivery"],
        "classes": ["internal"], "country": "CN", "term_from": stamp(T0 - time::Duration::days(1)),
        "term_until": stamp(T0 + time::Duration::days(365)), "contract": "委托处理协议 2027-9", "assessment": pia});
    let (status, r) = w.dsr(Method::POST, w.token("officer"), "/v1/recipients", Some(recipient)).await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    let (_, n) = w.dsr(Method::GET, w.token("officer"), "/v1/notices", None).await;
    assert_eq!(n["unannounced_recipients"][0]["name"], "Lion Freight Pte Ltd", "{n}");
    let (_, n) = w.dsr(Method::GET, w.token("sales"), "/v1/notices", None).await;
    assert!(n.get("unannounced_recipients").is_none(), "{n}");

    // 2027-03 takes effect: everyone under 2025-01 is owed it, paged by id.
    w.clock().advance(time::Duration::days(10));
    let v = w.owed("2027-03", "").await;
    assert_eq!(v["owed"], everyone.len(), "{v}");
    assert_eq!(v["changes"], json!(["recipients", "methods"]));
    assert_eq!(v["due"], "2027-03-31");
    let mut sorted = everyone.clone();
    sorted.sort();
    assert_eq!(v["subjects"], json!(sorted));
    let first = w.owed("2027-03", "?limit=1").await;
    assert_eq!(first["subjects"], json!([sorted[0]]));
    let second = w.owed("2027-03", &format!("?limit=1&cursor={}", first["next_cursor"].as_str().unwrap())).await;
    assert_eq!(second["subjects"], json!([sorted[1]]));
    assert_eq!(w.owed("2025-01", "").await["owed"], 0, "nobody is owed the version they were shown");

    // Told by e-mail: the person leaves the list; twice is a 409.
    let told =
        |version: &str, at: time::OffsetDateTime| json!({"version": version, "channel": "email", "told_at": stamp(at)});
    let notified = format!("/v1/subjects/{}/notified", subjects[0]);
    let now = T0 + time::Duration::days(10);
    let (status, v) = w.dsr(Method::POST, w.token("officer"), &notified, Some(told("2027-03", now))).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["notice_told"], "2027-03");
    assert_eq!(w.owed("2027-03", "").await["owed"], everyone.len() - 1);
    let (status, _) = w.dsr(Method::POST, w.token("officer"), &notified, Some(told("2027-03", now))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    // Hostile: a version not on file, a time to come, a stranger's id, a
    // body with more than it should: refused, nothing recorded.
    let other = format!("/v1/subjects/{}/notified", subjects[1]);
    let (status, p) = w.dsr(Method::POST, w.token("officer"), &other, Some(told("2099-01", now))).await;
    assert_eq!((status, p["errors"][0]["path"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("/version")), "{p}");
    let later = now + time::Duration::days(2);
    let (status, p) = w.dsr(Method::POST, w.token("officer"), &other, Some(told("2027-03", later))).await;
    assert_eq!((status, p["errors"][0]["path"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("/told_at")), "{p}");
    let stranger = "/v1/subjects/sub_01jd0000000000000000000000/notified";
    let (status, _) = w.dsr(Method::POST, w.token("officer"), stranger, Some(told("2027-03", now))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let mut extra = told("2027-03", now);
    extra["note"] = json!("x");
    let (status, _) = w.dsr(Method::POST, w.token("officer"), &other, Some(extra)).await;
    assert!(status.is_client_error(), "{status}");
    // Only compliance lists or records: others refused, each refusal audited.
    for who in ["sales", "service"] {
        let (status, _) = w.dsr(Method::GET, w.token(who), "/v1/notices/2027-03/owed", None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}");
        let (status, _) = w.dsr(Method::POST, w.token(who), &other, Some(told("2027-03", now))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}");
    }
    let denied = w.app.audit(w.token("officer"), "action=notice.owed&outcome=deny").await;
    assert_eq!(denied.len(), 2, "{denied:?}");
    let denied = w.app.audit(w.token("officer"), "action=notice.notify&outcome=deny").await;
    assert_eq!(denied.len(), 2, "{denied:?}");
    let allowed = w.app.audit(w.token("officer"), "action=notice.notify&outcome=allow").await;
    assert_eq!(allowed.len(), 1);
    assert!(allowed[0]["reason"].as_str().unwrap().contains("told of notice 2027-03"), "{allowed:?}");
    assert_eq!(allowed[0]["subjects"], json!([subjects[0]]));
    assert_eq!(w.owed("2027-03", "").await["owed"], everyone.len() - 1, "refusals changed nothing");

    // Still owed after notify_within_days (30): one alert, once.
    assert!(!rules(&w).await.contains(&"notice_notifications_overdue".to_owned()), "not due yet");
    w.clock().advance(time::Duration::days(31));
    let raised = w.app.archive().registers().check_deadlines().await.unwrap();
    let ours: Vec<_> = raised.iter().filter(|a| a.rule == "notice_notifications_overdue").collect();
    assert_eq!(ours.len(), 1, "{raised:?}");
    assert!(ours[0].description.contains(&format!("{} person(s)", everyone.len() - 1)), "{:?}", ours[0]);
    assert!(ours[0].description.contains("2027-03"));
    assert!(!rules(&w).await.contains(&"notice_notifications_overdue".to_owned()), "raised once");
    let (_, alerts) = w.dsr(Method::GET, w.token("officer"), "/v1/audit/alerts", None).await;
    assert!(alerts.to_string().contains("notice_notifications_overdue"), "{alerts}");

    // A consent under the new version tells the person too.
    let consent = json!({"purpose": "marketing", "basis": "consent", "evidence": "web form 12",
        "granted_at": stamp(w.now()), "notice": "2027-03"});
    let (status, c) =
        w.dsr(Method::POST, w.token("officer"), &format!("/v1/subjects/{}/consents", subjects[1]), Some(consent)).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let v = w.owed("2027-03", "").await;
    assert_eq!(v["owed"], everyone.len() - 2, "{v}");
    assert!(!v["subjects"].to_string().contains(&subjects[1]));
    assert!(!v.to_string().contains(&did), "ids of persons only");
}

async fn rules(w: &World) -> Vec<String> {
    w.app.archive().registers().check_deadlines().await.unwrap().into_iter().map(|a| a.rule).collect()
}
