//! A person's verifiable access report: every audit entry about them up to
//! a signed checkpoint, each with its inclusion proof, and the subject
//! map's proof that none is missing; checked offline by the reference
//! verifier in docs/ (Python), which catches a dropped, reordered, foreign
//! or altered entry, a forged proof and a stale map root.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic fails the run

mod common;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::*;
use custos::audit::checkpoint::NoteVerifier;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::Path;

fn verifier_script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/verify_access_report.py")
}

/// Runs the reference verifier on `report` (written to a file): its exit
/// code and what it printed.
fn verify(dir: &Path, name: &str, report: &[u8], vkey: &str) -> (Option<i32>, String) {
    let file = dir.join(name);
    std::fs::write(&file, report).unwrap();
    let out = std::process::Command::new("python3")
        .arg(verifier_script())
        .arg(&file)
        .args(["--verifier-key", vkey])
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

fn python3() -> bool {
    std::process::Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success())
}

async fn report(app: &TestApp, token: &str, sid: &str, query: &str) -> (StatusCode, Value) {
    let r = app.get(token, Some("dsr"), &format!("/v1/subjects/{sid}/access-report{query}")).await;
    (r.status(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_report_lists_every_entry_about_the_person_and_an_outside_verifier_proves_it_complete() {
    if !tool_available("python3 (the access report verifier)", python3()) {
        return;
    }
    let app = spawn_app().await;
    let (owner_id, service) = app.principal(&["service"], "华东").await;
    let (officer_id, compliance) = app.principal(&["compliance"], "").await;
    let (_, sales) = app.principal(&["sales"], "华北").await;
    let (dossier, people) = app.create_ok(&service, "service_delivery", &fixture(0, &owner_id)).await;
    let (_, others) = app.create_ok(&service, "service_delivery", &fixture(1, &owner_id)).await;
    let (sid, other) = (people[0].clone(), others[0].clone());
    for _ in 0..3 {
        let r = app.get(&service, Some("service_delivery"), &format!("/v1/dossiers/{dossier}")).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let vkey = app.get(&service, None, "/v1/audit/verifier-key").await.text().await.unwrap().trim().to_owned();

    // Only for the person's own verified, open access request, and only for compliance.
    let (status, p) = report(&app, &compliance, &sid, "").await;
    assert_eq!((status, p["denial"].as_str()), (StatusCode::FORBIDDEN, Some("no-verified-request")), "{p}");
    let portability = app.verified_request(&compliance, &officer_id, &sid, "portability", now()).await;
    let (status, p) = report(&app, &compliance, &sid, &format!("?request={portability}")).await;
    assert_eq!((status, p["denial"].as_str()), (StatusCode::FORBIDDEN, Some("no-verified-request")), "{p}");
    let theirs = app.verified_request(&compliance, &officer_id, &other, "access", now()).await;
    let (status, _) = report(&app, &compliance, &sid, &format!("?request={theirs}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another person's request");
    let access = app.verified_request(&compliance, &officer_id, &sid, "access", now()).await;
    let (status, _) = report(&app, &sales, &sid, &format!("?request={access}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "sales may not have it");
    let (status, _) = report(&app, &compliance, &sid, &format!("?request={access}&format=pdf")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, first) = report(&app, &compliance, &sid, &format!("?request={access}")).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["format"], "custos.access-report.v1");
    assert_eq!(first["subject"], sid.as_str());
    let size = first["tree_size"].as_u64().unwrap();
    let cp = NoteVerifier::parse(&vkey).unwrap().open_checkpoint(first["checkpoint"].as_str().unwrap()).unwrap();
    assert_eq!(cp.size, size);
    assert!(cp.extension("map").is_some(), "the checkpoint signs the subject map root");

    // Exactly the entries the audit log has about the person, up to the checkpoint.
    let listed: Vec<u64> = first["entries"].as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    let logged: Vec<u64> = app
        .audit(&compliance, &format!("subject={sid}"))
        .await
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .filter(|s| *s < size)
        .collect();
    assert_eq!(listed, logged);
    let actions: Vec<&str> =
        first["entries"].as_array().unwrap().iter().map(|e| e["shown"]["action"].as_str().unwrap()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "dossier.read").count(), 3, "{actions:?}");
    assert!(actions.contains(&"dossier.create"), "{actions:?}");
    assert_eq!(actions.last(), Some(&"subject.access_report"), "the report's own entry is in it");
    let denied = actions.iter().filter(|a| **a == "subject.access_report").count();
    assert!(denied >= 3, "the refused attempts are listed too: {actions:?}");
    let read = first["entries"].as_array().unwrap().iter().find(|e| e["shown"]["action"] == "dossier.read").unwrap();
    assert_eq!(read["shown"]["roles"], json!(["service"]));
    assert_eq!(read["shown"]["purpose"], "service_delivery");
    assert!(read["shown"]["clear"].as_array().unwrap().iter().any(|p| p.as_str().unwrap().starts_with("/contacts/")));
    assert!(read["shown"]["staff_name"].is_null(), "staff are named only where the policy says so");
    assert!(read["shown"].get("department").is_some());

    let dir = tempfile::tempdir().unwrap();
    let bytes = serde_json::to_vec(&first).unwrap();
    let (code, out) = verify(dir.path(), "first.json", &bytes, &vkey);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!("complete and consistent with checkpoint {size}: {} entries", listed.len())),
        "{out}"
    );

    // The page for the person carries the same report and verifies as it is.
    let r = app
        .get(&compliance, Some("dsr"), &format!("/v1/subjects/{sid}/access-report?request={access}&format=html"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let page = r.text().await.unwrap();
    assert!(page.contains("个人信息访问记录报告") && page.contains("read the customer dossier"), "{page}");
    let (code, out) = verify(dir.path(), "report.html", page.as_bytes(), &vkey);
    assert_eq!(code, Some(0), "{out}");

    // A later report covers more; each one tampered with is caught.
    let r = app.get(&service, Some("service_delivery"), &format!("/v1/dossiers/{dossier}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let (_, later) = report(&app, &compliance, &sid, &format!("?request={access}")).await;
    assert!(later["tree_size"].as_u64().unwrap() > size);
    // The page's report, the read and this report itself.
    assert_eq!(later["entries"].as_array().unwrap().len(), listed.len() + 3);
    let caught = |name: &str, doc: &Value, why: &str| {
        let (code, out) = verify(dir.path(), name, &serde_json::to_vec(doc).unwrap(), &vkey);
        assert_eq!(code, Some(1), "{name}: {out}");
        assert!(out.contains(why), "{name}: {out}");
    };
    let mut dropped = later.clone();
    dropped["entries"].as_array_mut().unwrap().remove(2);
    caught("dropped", &dropped, "entries are missing or added");
    let mut reordered = later.clone();
    reordered["entries"].as_array_mut().unwrap().swap(1, 2);
    caught("reordered", &reordered, "out of order");
    let mut stale = later.clone();
    stale["map"] = first["map"].clone();
    caught("stale map root", &stale, "does not lead to the map root the checkpoint signs");
    let mut old_checkpoint = later.clone();
    old_checkpoint["checkpoint"] = first["checkpoint"].clone();
    old_checkpoint["tree_size"] = first["tree_size"].clone();
    caught("an older checkpoint", &old_checkpoint, "does not lead to the map root the checkpoint signs");
    let mut forged = later.clone();
    let proof = &mut forged["entries"][1]["inclusion"][0];
    let mut h = B64.decode(proof.as_str().unwrap()).unwrap();
    h[0] ^= 1;
    *proof = json!(B64.encode(h));
    caught("forged proof", &forged, "inclusion proof does not verify");
    let mut shown = later.clone();
    shown["entries"][1]["shown"]["purpose"] = json!("legal_compliance");
    caught("altered rendering", &shown, "is not what the entry says");
    let mut signed = later.clone();
    let note = signed["checkpoint"].as_str().unwrap().replacen(&format!("\n{}\n", later["tree_size"]), "\n99999\n", 1);
    signed["checkpoint"] = json!(note);
    caught("forged checkpoint", &signed, "signature does not verify");

    // An entry about someone else, with its genuine bytes and proof, put in.
    let (_, theirs_report) = {
        let req = app.verified_request(&compliance, &officer_id, &other, "access", now()).await;
        report(&app, &compliance, &other, &format!("?request={req}")).await
    };
    let mut foreign = later.clone();
    let size_later = later["tree_size"].as_u64().unwrap();
    let intruder = theirs_report["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["seq"].as_u64().unwrap() < size_later)
        .unwrap()
        .clone();
    let seq = intruder["seq"].as_u64().unwrap();
    let raw = app.get(&compliance, None, &format!("/v1/audit/entries/{seq}/raw")).await.bytes().await.unwrap();
    let proof: Value = app
        .get(&compliance, None, &format!("/v1/audit/proofs/inclusion?seq={seq}&tree_size={size_later}"))
        .await
        .json()
        .await
        .unwrap();
    let mut item = intruder.clone();
    item["raw"] = json!(B64.encode(&raw));
    item["inclusion"] = proof["hashes"].clone();
    let entries = foreign["entries"].as_array_mut().unwrap();
    let at = entries.iter().position(|e| e["seq"].as_u64().unwrap() > seq).unwrap_or(entries.len());
    entries.insert(at, item);
    caught("foreign entry", &foreign, &format!("entry {seq} does not name {sid}"));

    // The report is audited, naming the person and the request.
    let made = app.audit(&compliance, "action=subject.access_report&outcome=allow").await;
    let given = made
        .iter()
        .rfind(|e| e["subjects"] == json!([sid]) && e["reason"].as_str().unwrap().contains(&access))
        .unwrap();

    // Completing the request keeps a report with it, made just before.
    let path = format!("/v1/requests/{access}/access-report");
    assert_eq!(app.get(&compliance, None, &path).await.status(), StatusCode::NOT_FOUND, "none kept while open");
    let done =
        json!({"state": "completed", "answered_by": [{"kind": "audit_entry", "reference": given["seq"].to_string()}]});
    let r =
        app.request(reqwest::Method::PATCH, &compliance, "dsr", &format!("/v1/requests/{access}"), Some(done)).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let r = app.get(&compliance, None, &path).await;
    assert_eq!(r.status(), StatusCode::OK);
    let kept: Value = r.json().await.unwrap();
    assert!(kept["tree_size"].as_u64().unwrap() > later["tree_size"].as_u64().unwrap());
    let (code, out) = verify(dir.path(), "kept.json", &serde_json::to_vec(&kept).unwrap(), &vkey);
    assert_eq!(code, Some(0), "{out}");
    let completion = app.audit(&compliance, &format!("action=request.update&resource={access}")).await;
    assert!(
        completion.last().unwrap()["reason"].as_str().unwrap().contains("access report at checkpoint"),
        "{completion:?}"
    );
    assert_eq!(app.get(&sales, None, &path).await.status(), StatusCode::FORBIDDEN);
    // The request is closed: no new report for it.
    let (status, p) = report(&app, &compliance, &sid, &format!("?request={access}")).await;
    assert_eq!((status, p["denial"].as_str()), (StatusCode::FORBIDDEN, Some("no-verified-request")));
    // Sealed under the person's key: shredded with them.
    let r = app
        .request(
            reqwest::Method::POST,
            &compliance,
            "dsr",
            &format!("/v1/subjects/{sid}/erasure"),
            Some(json!({"reason": "request"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    assert_eq!(app.get(&compliance, None, &path).await.status(), StatusCode::NOT_FOUND);

    // The subject map every checkpoint signed is the one the entries give.
    let dir = app.stop().await;
    let out = std::process::Command::new(custos_bin())
        .args(["audit", "verify", "--deep", "--data-dir"])
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("subject map: the root 1 checkpoint(s) sign is the one the entries give"), "{text}");
}

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}
