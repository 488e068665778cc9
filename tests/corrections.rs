//! Corrections (PIPL Art. 46; GDPR Art. 16) through the real server: an old
//! version no longer shows a person's corrected value to business readers,
//! search finds only the new one, and a rectification request is linked to
//! the change that carried it out and completed only once one is.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic fails the run

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use time::macros::datetime;

const T0: time::OffsetDateTime = datetime!(2027-03-01 09:00 UTC);
const NEW_PHONE: &str = "13700001111";

/// A compliance officer, service in 华东, and a dossier service made of
/// fixture 0 (two contacts).
async fn world() -> (World, String, Vec<String>, Value) {
    let w = World::at(T0)
        .config(|c| c.retention_interval = None)
        .staff("officer", &["compliance"], "总部")
        .staff("service", &["service"], "华东")
        .start()
        .await;
    let mut body = fixture(0, w.id("service"));
    body["customer"]["region"] = json!("华东");
    let (id, subjects) = w.app.create_ok(w.token("service"), "service_delivery", &body).await;
    (w, id, subjects, body)
}

/// The body with the contacts named by their subjects and contact 0's phone corrected.
fn corrected(body: &Value, subjects: &[String]) -> Value {
    let mut next = body.clone();
    next["contacts"][0]["subject_id"] = json!(subjects[0]);
    next["contacts"][1]["subject_id"] = json!(subjects[1]);
    next["contacts"][0]["phone"] = json!(NEW_PHONE);
    next
}

async fn get(w: &World, token: &str, purpose: &str, path: &str) -> Value {
    let r = w.app.get(token, Some(purpose), path).await;
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.json().await.unwrap()
}

fn reason(doc: &Value, path: &str) -> Option<String> {
    doc["redactions"].as_array().unwrap().iter().find(|r| r["path"] == path).map(|r| r["reason"].to_string())
}

fn hits(v: &Value) -> usize {
    v["hits"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_version_withholds_a_corrected_value_and_search_finds_only_the_new_one() {
    let (w, id, subjects, body) = world().await;
    let old_phone = body["contacts"][0]["phone"].as_str().unwrap().to_owned();
    let service = w.token("service");
    let r = w
        .app
        .put(service, "service_delivery", &format!("/v1/dossiers/{id}"), Some("1"), &corrected(&body, &subjects))
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    // Service reads version 1: the corrected phone is superseded, the
    // person's other fields and the other contact stay as they were.
    let v1 = get(&w, service, "service_delivery", &format!("/v1/dossiers/{id}/versions/1")).await;
    assert!(v1["contacts"][0].get("phone").is_none(), "{v1}");
    assert!(!v1.to_string().contains(&old_phone));
    assert_eq!(reason(&v1, "/contacts/0/phone").as_deref(), Some("\"superseded\""));
    assert_eq!(v1["contacts"][0]["name"], body["contacts"][0]["name"]);
    assert_eq!(v1["contacts"][1]["phone"], body["contacts"][1]["phone"]);
    let v2 = get(&w, service, "service_delivery", &format!("/v1/dossiers/{id}/versions/2")).await;
    assert_eq!(v2["contacts"][0]["phone"], NEW_PHONE);
    assert!(reason(&v2, "/contacts/0/phone").is_none());
    // The read's audit entry lists it as withheld.
    let officer = w.token("officer");
    let reads = w.app.audit(officer, &format!("resource={id}&action=dossier.read&outcome=allow")).await;
    let first = reads.iter().find(|e| e["reason"].as_str().unwrap().starts_with("version 1;")).unwrap();
    assert!(first["fields"]["withheld"].as_array().unwrap().contains(&json!("/contacts/0/phone")), "{first}");
    assert!(!first["fields"]["released"].as_array().unwrap().contains(&json!("/contacts/0/phone")));

    // Compliance: clear for the person's request (dsr), masked for legal compliance.
    let dsr = get(&w, officer, "dsr", &format!("/v1/dossiers/{id}/versions/1")).await;
    assert_eq!(dsr["contacts"][0]["phone"], old_phone.as_str());
    let legal = get(&w, officer, "legal_compliance", &format!("/v1/dossiers/{id}/versions/1")).await;
    assert_eq!(reason(&legal, "/contacts/0/phone").as_deref(), Some("\"masked\""));

    // Search knows the new value only.
    let search = |q: &str| format!("/v1/search?q={q}");
    assert_eq!(hits(&get(&w, service, "service_delivery", &search(&old_phone)).await), 0);
    assert_eq!(hits(&get(&w, service, "service_delivery", &search(NEW_PHONE)).await), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rectification_is_linked_to_the_change_that_carried_it_out() {
    let (w, id, subjects, body) = world().await;
    let (officer, service) = (w.token("officer"), w.token("service"));
    let request = w.app.verified_request(officer, w.id("officer"), &subjects[0], "rectification", T0).await;
    let other = w.app.verified_request(officer, w.id("officer"), &subjects[1], "rectification", T0).await;
    let access = w.app.verified_request(officer, w.id("officer"), &subjects[0], "access", T0).await;
    let path = |req: &str| format!("/v1/dossiers/{id}?request={req}");
    let next = corrected(&body, &subjects);

    // Not completed without a linked change.
    let complete = json!({"state": "completed", "answered_by": [{"kind": "audit_entry", "reference": "1"}]});
    let r = w.app.request(Method::PATCH, officer, "dsr", &format!("/v1/requests/{request}"), Some(complete)).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = r.json().await.unwrap();
    assert!(problem.to_string().contains("/state"), "{problem}");

    // A request of another kind, another person, or none at all: refused, nothing written.
    for (req, want) in [
        (access.as_str(), StatusCode::UNPROCESSABLE_ENTITY),
        (other.as_str(), StatusCode::UNPROCESSABLE_ENTITY),
        ("req_00000000000000000000000000", StatusCode::UNPROCESSABLE_ENTITY),
        ("nonsense", StatusCode::BAD_REQUEST),
    ] {
        let r = w.app.put(service, "service_delivery", &path(req), Some("1"), &next).await;
        assert_eq!(r.status(), want, "{req}");
    }
    let r = w.app.put(service, "service_delivery", &format!("/v1/dossiers/{id}?req=x"), Some("1"), &next).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let versions = get(&w, service, "service_delivery", &format!("/v1/dossiers/{id}/versions")).await;
    assert_eq!(versions.as_array().unwrap().len(), 1, "nothing was written: {versions}");

    // The change that corrects the person carries it out.
    let r = w.app.put(service, "service_delivery", &path(&request), Some("1"), &next).await;
    assert_eq!(r.status(), StatusCode::OK);
    let view = get(&w, officer, "dsr", &format!("/v1/requests/{request}")).await;
    assert_eq!(view["changes"].as_array().unwrap().len(), 1, "{view}");
    assert_eq!(
        (view["changes"][0]["dossier_id"].as_str(), view["changes"][0]["version"].as_u64()),
        (Some(&*id), Some(2))
    );
    let updates = w.app.audit(officer, &format!("resource={id}&action=dossier.update&outcome=allow")).await;
    let update = updates.last().unwrap();
    assert!(update["reason"].as_str().unwrap().contains(&format!("rectifies request {request}")), "{update}");
    let links = w.app.audit(officer, "action=request.link").await;
    assert_eq!(links.len(), 1);
    assert!(!serde_json::to_string(&links).unwrap().contains(NEW_PHONE), "no personal value in the entry");

    // A change that does not touch that person carries nothing out.
    let mut unrelated = next.clone();
    unrelated["remarks"] = json!("改为月结");
    let r = w.app.put(service, "service_delivery", &path(&request), Some("2"), &unrelated).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Now it completes, answered by the update.
    let seq = update["seq"].as_u64().unwrap().to_string();
    let complete = json!({"state": "completed", "answered_by": [{"kind": "audit_entry", "reference": seq}]});
    let r = w.app.request(Method::PATCH, officer, "dsr", &format!("/v1/requests/{request}"), Some(complete)).await;
    assert_eq!(r.status(), StatusCode::OK);
    // Closed: no further change names it.
    let mut again = next.clone();
    again["contacts"][0]["phone"] = json!("13700002222");
    let r = w.app.put(service, "service_delivery", &path(&request), Some("2"), &again).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
