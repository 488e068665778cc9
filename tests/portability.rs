//! Access and portability through the real server with an injected clock
//! (GDPR Art. 15, 20; PIPL Art. 45; NDSMR Art. 25): a person's export is
//! given only for their own verified, open request, complete across every
//! dossier that names them and holding no one else's data, as JSON valid
//! against the published schema or as CSV with the same values; and a
//! portability request handed to a handler the person named, on the
//! recipients register, collected once by that handler's principal.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic fails the run

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use time::macros::datetime;

const T0: time::OffsetDateTime = datetime!(2027-03-01 09:00 UTC);

fn world() -> WorldBuilder {
    World::at(T0)
        .config(|c| c.retention_interval = None)
        .staff("officer", &["compliance"], "总部")
        .staff("service", &["service"], "华东")
        .staff("sales", &["sales"], "华东")
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap()
}

/// A person (张伟) in three dossiers, and another person (李娜) in the same
/// three; each dossier also names people of its own fixture.
struct Seeded {
    w: World,
    dossiers: Vec<String>,
    person: String,
    other: String,
}

impl Seeded {
    async fn call(&self, method: Method, token: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let r = self.w.app.request(method, token, "dsr", path, body).await;
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    fn officer(&self) -> &str {
        self.w.token("officer")
    }

    async fn export(&self, query: &str) -> (StatusCode, Value) {
        self.call(Method::GET, self.officer(), &format!("/v1/subjects/{}/export{query}", self.person), None).await
    }

    async fn request(&self, sid: &str, kind: &str) -> String {
        self.w.app.verified_request(self.officer(), self.w.id("officer"), sid, kind, self.w.now()).await
    }

    async fn patch(&self, id: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, self.officer(), &format!("/v1/requests/{id}"), Some(body)).await
    }

    async fn denials(&self, action: &str) -> Vec<Value> {
        self.w.app.audit(self.officer(), &format!("action={action}&outcome=deny")).await
    }
}

async fn seeded() -> Seeded {
    let w = world().start().await;
    let service = w.token("service");
    let owner = w.id("service").to_owned();
    let mut first = fixture(0, &owner);
    first["customer"]["region"] = json!("华东");
    let (d0, subjects) = w.app.create_ok(service, "service_delivery", &first).await;
    let (person, other) = (subjects[0].clone(), subjects[1].clone());
    let mut dossiers = vec![d0];
    for (i, phone) in [(1, "13900000011"), (2, "13900000022")] {
        let mut body = fixture(i, &owner);
        body["customer"]["region"] = json!("华东");
        let mut me = first["contacts"][0].clone();
        me["subject_id"] = json!(person);
        me["phone"] = json!(phone);
        let mut her = first["contacts"][1].clone();
        her["subject_id"] = json!(other);
        let mut contacts = vec![me, her];
        contacts.extend(body["contacts"].as_array().unwrap().iter().cloned());
        body["contacts"] = json!(contacts);
        let (id, named) = w.app.create_ok(service, "service_delivery", &body).await;
        assert_eq!(named[..2], [person.clone(), other.clone()], "the two are linked, not new");
        dossiers.push(id);
    }
    // An interaction with each person in the first dossier.
    for (who, summary) in
        [(&person, "张伟 asked for cold-chain rates"), (&other, "李娜 complained about a late pickup")]
    {
        let body = json!({"kind": "call", "at": rfc3339(T0), "summary": summary, "contact": who, "satisfaction": 4});
        let path = format!("/v1/dossiers/{}/interactions", dossiers[0]);
        let r = w.app.request(Method::POST, service, "service_delivery", &path, Some(body)).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    Seeded { w, dossiers, person, other }
}

/// The published schema, from the server itself.
async fn validate(w: &World, export: &Value) {
    let r = w.app.client.get(format!("{}/schemas/subject-export.schema.json", w.app.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let schema: Value = r.json().await.unwrap();
    let validator = jsonschema::options().with_draft(jsonschema::Draft::Draft202012).build(&schema).unwrap();
    let errors: Vec<String> =
        validator.iter_errors(export).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{errors:?}\n{export}");
}

/// The values of every other person the fixtures name (and the other
/// person's interaction): none may be in the person's export.
fn foreign_values() -> Vec<String> {
    let mut out = vec!["李娜".to_owned(), "13800138021".to_owned(), "late pickup".to_owned()];
    for i in 1..=2 {
        for c in fixture(i, "x")["contacts"].as_array().unwrap() {
            out.push(c["name"].as_str().unwrap().to_owned());
            out.push(c["phone"].as_str().unwrap().to_owned());
        }
    }
    out
}

/// Every leaf of a JSON value by its JSON pointer, as the CSV writes it.
fn leaves(v: &Value, pointer: String, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                leaves(c, format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1")), out)
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                leaves(c, format!("{pointer}/{i}"), out)
            }
        }
        Value::Null => out.push((pointer, String::new())),
        Value::String(s) => out.push((pointer, s.clone())),
        other => out.push((pointer, other.to_string())),
    }
}

/// A CSV export's rows: pointer, dossier, field, value.
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(r.headers().unwrap().iter().collect::<Vec<_>>(), ["pointer", "dossier_id", "field", "value"]);
    r.records().map(|row| row.unwrap().iter().map(str::to_owned).collect()).collect()
}

/// PIPL Art. 44-45, GDPR Art. 15: a person seeded in three dossiers gets
/// everything held on them, and nothing of anyone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_request_exports_a_person_in_three_dossiers_completely_and_nothing_foreign() {
    let s = seeded().await;
    let req = s.request(&s.person, "access").await;
    let (status, export) = s.export(&format!("?request={req}")).await;
    assert_eq!(status, StatusCode::OK, "{export}");
    validate(&s.w, &export).await;
    assert_eq!(export["scope"], "access");
    assert_eq!(export["request"], json!({"id": req, "kind": "access"}));
    let mut got: Vec<&str> =
        export["dossiers"].as_array().unwrap().iter().map(|d| d["dossier_id"].as_str().unwrap()).collect();
    got.sort_unstable();
    let mut want: Vec<&str> = s.dossiers.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(got, want, "every dossier that names the person");
    let phones: Vec<&str> = export["dossiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["versions"][0]["contact"]["phone"].as_str().unwrap())
        .collect();
    for phone in ["13912345688", "13900000011", "13900000022"] {
        assert!(phones.contains(&phone), "{phone} in {phones:?}");
    }
    let first = export["dossiers"].as_array().unwrap().iter().find(|d| d["dossier_id"] == s.dossiers[0]).unwrap();
    assert_eq!(first["versions"][0]["contact"]["id_number"], fixture(0, "x")["contacts"][0]["id_number"]);
    assert_eq!(first["interactions"].as_array().unwrap().len(), 1, "their interaction only");
    assert_eq!(first["interactions"][0]["summary"], "张伟 asked for cold-chain rates");
    // With the processing explained (GDPR Art. 15(1)) and the audit entries about them.
    assert!(export["processing"]["purposes"].as_array().is_some_and(|p| !p.is_empty()));
    let text = export.to_string();
    for foreign in foreign_values() {
        assert!(!text.contains(&foreign), "{foreign} is another person's");
    }
    assert!(!text.contains(&s.other));
    // The export's own entry names the request.
    let entry = export["audit"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(entry["action"], "subject.export");
    assert!(entry["reason"].as_str().unwrap().contains(&format!("scope access; for access request {req}")), "{entry}");

    // As CSV (Accept: text/csv): one row per value, the same person's values.
    let path = format!("/v1/subjects/{}/export?request={req}", s.person);
    let csv = s.w.app.get_csv_stating(s.officer(), Some("dsr"), &path).await;
    let rows = csv_rows(&csv);
    let row = |p: &str| rows.iter().find(|r| r[0] == p).unwrap_or_else(|| panic!("{p} in {csv}")).clone();
    assert_eq!(row("/subject/id")[3], s.person);
    assert_eq!(row("/scope")[3], "access");
    let d = export["dossiers"][2]["dossier_id"].as_str().unwrap();
    let phone = row("/dossiers/2/versions/0/contact/phone");
    assert_eq!((phone[1].as_str(), phone[2].as_str()), (d, "phone"));
    assert_eq!(phone[3], export["dossiers"][2]["versions"][0]["contact"]["phone"].as_str().unwrap());
    for foreign in foreign_values() {
        assert!(!csv.contains(&foreign), "{foreign} is another person's");
    }
}

/// PIPL Art. 45(3), NDSMR Art. 25, GDPR Art. 20: a portability request gets
/// the portable part, structured (schema-valid JSON) or as CSV with the
/// same values; an identity number collected under a legal obligation, the
/// audit entries and the staff's summaries are not part of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portability_request_exports_the_portable_part_as_json_and_csv_with_the_same_values() {
    let s = seeded().await;
    let req = s.request(&s.person, "portability").await;
    let (status, export) = s.export(&format!("?request={req}")).await;
    assert_eq!(status, StatusCode::OK, "{export}");
    validate(&s.w, &export).await;
    assert_eq!(export["scope"], "portability");
    assert_eq!(export["recipient"], Value::Null);
    assert_eq!(export["dossiers"].as_array().unwrap().len(), 3);
    for d in export["dossiers"].as_array().unwrap() {
        assert_eq!(d["contact"]["name"], "张伟");
        assert!(d["contact"].get("id_number").is_none(), "collected under a legal obligation: {d}");
    }
    let first = export["dossiers"].as_array().unwrap().iter().find(|d| d["dossier_id"] == s.dossiers[0]).unwrap();
    assert_eq!(first["interactions"].as_array().unwrap().len(), 1);
    assert!(first["interactions"][0].get("summary").is_none(), "staff's words are not portable");
    assert!(export.get("audit").is_none() && export.get("processing").is_none());
    assert!(!export["left_out"].as_array().unwrap().is_empty());
    let text = export.to_string();
    for foreign in foreign_values().into_iter().chain([fixture(0, "x")["contacts"][0]["id_number"].to_string()]) {
        assert!(!text.contains(foreign.trim_matches('"')), "{foreign} is not in the portable part");
    }

    // The same values as CSV (the clock stands still: the same export).
    let r =
        s.w.app
            .get(s.officer(), Some("dsr"), &format!("/v1/subjects/{}/export?request={req}&format=csv", s.person))
            .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let rows = csv_rows(&r.text().await.unwrap());
    let mut from_csv: Vec<(String, String)> = rows.iter().map(|r| (r[0].clone(), r[3].clone())).collect();
    let mut from_json = Vec::new();
    leaves(&export, String::new(), &mut from_json);
    from_csv.sort();
    from_json.sort();
    assert_eq!(from_csv, from_json, "one row per value, the same values");
    assert!(rows.iter().filter(|r| r[0].starts_with("/dossiers/")).all(|r| r[1].starts_with("dos_")));
    let (status, _) = s.export(&format!("?request={req}&format=xml")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// PIPL Art. 45(3), NDSMR Art. 25(1), GDPR Art. 12(6): no export without
/// the person's own verified, open access or portability request; each
/// refusal audited, naming the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_without_the_persons_verified_open_request_is_refused_and_audited() {
    let s = seeded().await;
    let refused = |query: String| {
        let s = &s;
        async move {
            let (status, p) = s.export(&query).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{query}: {p}");
            assert_eq!(p["denial"], "no-verified-request", "{p}");
            p["detail"].as_str().unwrap().to_owned()
        }
    };
    assert!(refused(String::new()).await.contains("name the request"));
    // Recorded, not verified.
    let body =
        json!({"subject_id": s.person, "kind": "portability", "received_at": rfc3339(T0), "channel": "web_form"});
    let (status, unverified) = s.call(Method::POST, s.officer(), "/v1/requests", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED);
    let unverified = unverified["id"].as_str().unwrap().to_owned();
    assert!(refused(format!("?request={unverified}")).await.contains("not verified"));
    // Another person's request; a request of another kind; an unknown one.
    let hers = s.request(&s.other, "access").await;
    assert!(refused(format!("?request={hers}")).await.contains("another person's"));
    let erasure = s.request(&s.person, "erasure").await;
    assert!(refused(format!("?request={erasure}")).await.contains("of kind erasure"));
    assert!(refused("?request=req_00000000000000000000000000".into()).await.contains("no such request"));
    // Refused, and completed: closed.
    let closed = s.request(&s.person, "access").await;
    let (status, _) =
        s.patch(&closed, json!({"state": "refused", "reason_code": "excessive", "reason": "第四次相同请求"})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(refused(format!("?request={closed}")).await.contains("refused"));
    let done = s.request(&s.person, "access").await;
    let (status, _) = s.export(&format!("?request={done}")).await;
    assert_eq!(status, StatusCode::OK);
    let seq = s.w.app.audit(s.officer(), &format!("subject={}&action=subject.export&outcome=allow", s.person)).await[0]
        ["seq"]
        .to_string();
    let answered = json!({"state": "completed", "answered_by": [{"kind": "audit_entry", "reference": seq}]});
    assert_eq!(s.patch(&done, answered).await.0, StatusCode::OK);
    assert!(refused(format!("?request={done}")).await.contains("completed"));
    // A malformed id or an unknown parameter is a 400; the policy still comes first.
    assert_eq!(s.export("?request=req_1;drop").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(s.export(&format!("?request={done}&scope=access")).await.0, StatusCode::BAD_REQUEST);
    let mine = s.request(&s.person, "access").await;
    let path = format!("/v1/subjects/{}/export?request={mine}", s.person);
    let r = s.w.app.request(Method::GET, s.w.token("service"), "service_delivery", &path, None).await;
    assert_eq!(assert_problem(r, StatusCode::FORBIDDEN).await["denial"], "policy");

    // Each refusal of the request is audited as a denied export of the person, naming the request.
    let denied: Vec<Value> = s
        .denials("subject.export")
        .await
        .into_iter()
        .filter(|e| {
            e["reason"].as_str().unwrap().contains("does not answer it")
                || e["reason"].as_str().unwrap().contains("no verified")
        })
        .collect();
    assert_eq!(denied.len(), 7, "{denied:?}");
    assert!(denied.iter().all(|e| e["subjects"] == json!([s.person]) && e["resource"] == s.person.as_str()));
    for id in [&unverified, &hers, &erasure, &closed, &done] {
        assert!(denied.iter().any(|e| e["reason"].as_str().unwrap().contains(id.as_str())), "{id} named");
    }
}

/// GDPR Art. 20(2), PIPL Art. 45(3), NDSMR Art. 25: the portable part
/// handed to another handler the person named, on the recipients register:
/// collected once by that handler's principal, recorded on the request,
/// audited with the recipient and the request; an unregistered handler, an
/// access request, another handler's principal and a second collection
/// refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portability_request_is_handed_once_to_a_registered_handler_the_person_named() {
    let s = seeded().await;
    // Provision to another handler waits for its impact assessment (PIPL Art. 55(3)).
    let pia =
        assess(&s.w.app.client, &s.w.app.base, s.officer(), &["service_delivery"], &["provision_to_third_party"]).await;
    let recipient = |name: &str| {
        json!({"name": name, "role": "independent", "purposes": ["service_delivery"], "classes": ["internal", "personal"],
               "country": "CN", "term_from": rfc3339(T0 - time::Duration::days(1)),
               "term_until": rfc3339(T0 + time::Duration::days(365)), "contract": "数据转移协议 2027-3",
               "assessment": pia})
    };
    let (status, rcp) = s.call(Method::POST, s.officer(), "/v1/recipients", Some(recipient("新物流有限公司"))).await;
    assert_eq!(status, StatusCode::CREATED, "{rcp}");
    let rcp = rcp["id"].as_str().unwrap().to_owned();
    let (_, rival) = s.call(Method::POST, s.officer(), "/v1/recipients", Some(recipient("别家物流"))).await;
    let rival = rival["id"].as_str().unwrap().to_owned();
    let processor = |rid: String| {
        let s = &s;
        async move {
            let body = json!({"name": "接收方", "roles": ["processor"], "recipient": rid});
            principal_from(&s.w.app.client, &s.w.app.base, &body).await
        }
    };
    let (pid, handler) = processor(rcp.clone()).await;
    let (_, other_handler) = processor(rival.clone()).await;

    let req = s.request(&s.person, "portability").await;
    let prepare = |id: String, to: String| {
        let s = &s;
        async move {
            s.call(Method::POST, s.officer(), &format!("/v1/requests/{id}/handovers"), Some(json!({"recipient": to})))
                .await
        }
    };
    // Only to a handler on the register; only for a verified portability request; only by compliance.
    let (status, p) = prepare(req.clone(), "rcp_00000000000000000000000000".into()).await;
    assert_eq!((status, p["denial"].as_str()), (StatusCode::FORBIDDEN, Some("agreement")), "{p}");
    let (status, p) = prepare(req.clone(), "someone@example.com".into()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let access = s.request(&s.person, "access").await;
    let (status, p) = prepare(access, rcp.clone()).await;
    assert_eq!((status, p["denial"].as_str()), (StatusCode::FORBIDDEN, Some("no-verified-request")), "{p}");
    let body = json!({"subject_id": s.person, "kind": "portability", "received_at": rfc3339(T0), "channel": "email"});
    let (_, unverified) = s.call(Method::POST, s.officer(), "/v1/requests", Some(body)).await;
    let (status, p) = prepare(unverified["id"].as_str().unwrap().into(), rcp.clone()).await;
    assert_eq!((status, p["denial"].as_str()), (StatusCode::FORBIDDEN, Some("no-verified-request")), "{p}");
    let path = format!("/v1/requests/{req}/handovers");
    let r = s.w.app.request(Method::POST, s.w.token("service"), "dsr", &path, Some(json!({"recipient": rcp}))).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let (status, v) = prepare(req.clone(), rcp.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["handovers"][0]["recipient"], rcp.as_str());
    assert_eq!(v["handovers"][0]["state"], "ready");
    assert_eq!(v["handovers"][0]["valid_until"], rfc3339(T0 + time::Duration::hours(72)));
    let (status, _) = prepare(req.clone(), rcp.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "one package ready per recipient");

    // Collected by that handler's principal only, stating no purpose, once.
    let content = format!("/v1/requests/{req}/handovers/{rcp}/content");
    for token in [other_handler.as_str(), s.officer()] {
        let r = s.w.app.get(token, None, &content).await;
        assert_eq!(assert_problem(r, StatusCode::FORBIDDEN).await["denial"], "not-the-recipient");
    }
    let r = s.w.app.get(&other_handler, None, &format!("/v1/requests/{req}/handovers/{rival}/content")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "nothing was prepared for the rival");
    let r = s.w.app.get(&handler, None, &content).await;
    assert_eq!(r.status(), StatusCode::OK);
    let package: Value = r.json().await.unwrap();
    validate(&s.w, &package).await;
    assert_eq!(package["scope"], "portability");
    assert_eq!(package["recipient"], rcp.as_str());
    assert_eq!(package["request"]["id"], req.as_str());
    assert_eq!(package["dossiers"].as_array().unwrap().len(), 3);
    let text = package.to_string();
    for foreign in foreign_values() {
        assert!(!text.contains(&foreign), "{foreign} is another person's");
    }
    let r = s.w.app.get(&handler, None, &content).await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "once");

    // The request records to whom and when; the audit log says who took what.
    let (_, v) = s.call(Method::GET, s.officer(), &format!("/v1/requests/{req}"), None).await;
    assert_eq!(v["handovers"][0]["state"], "collected");
    assert_eq!(v["handovers"][0]["collected_by"], pid.as_str());
    assert_eq!(v["handovers"][0]["collected_at"], rfc3339(T0));
    let q = |a: &str| format!("resource={req}&action={a}");
    let prepared = s.w.app.audit(s.officer(), &q("request.handover")).await;
    assert!(prepared.iter().any(|e| e["outcome"] == "allow" && e["reason"].as_str().unwrap().contains(&rcp)));
    let collected = s.w.app.audit(s.officer(), &q("request.handover_collect")).await;
    let outcomes: Vec<&str> = collected.iter().map(|e| e["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["deny", "deny", "error", "allow", "error"], "{collected:?}");
    assert!(collected.iter().all(|e| e["subjects"] == json!([s.person])));
    let export = s.w.app.audit(s.officer(), &format!("actor={pid}&action=subject.export")).await;
    assert_eq!(export.len(), 1);
    assert!(export[0]["reason"].as_str().unwrap().contains(&format!("handed to recipient {rcp}")), "{}", export[0]);
    // That export answers the request.
    let answered = json!({"state": "completed", "answered_by": [{"kind": "audit_entry", "reference": export[0]["seq"].to_string()}]});
    let (status, done) = s.patch(&req, answered).await;
    assert_eq!(status, StatusCode::OK, "{done}");

    // A package not collected in time expires.
    let again = s.request(&s.person, "portability").await;
    assert_eq!(prepare(again.clone(), rcp.clone()).await.0, StatusCode::CREATED);
    s.w.clock().advance(time::Duration::hours(73));
    let r = s.w.app.get(&handler, None, &format!("/v1/requests/{again}/handovers/{rcp}/content")).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let (_, v) = s.call(Method::GET, s.officer(), &format!("/v1/requests/{again}"), None).await;
    assert_eq!(v["handovers"][0]["state"], "expired");
}
