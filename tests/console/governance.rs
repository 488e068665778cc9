//! The governance registers from the console: a compliance officer records
//! an impact assessment with its report (downloaded byte for byte), a
//! recipient naming it, and, once the term has ended, the deletion
//! attestation (refused before, and a second time, in the page); reads the
//! records of processing as a page and downloads the API's CSV. An auditor
//! reads the registers without the sealed texts and cannot post; a sales
//! person is refused; bad input records nothing. Every step is audited as
//! the API audits it.

use super::Visitor;
use crate::common::*;
use custos::clock::{Clock, ManualClock};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use time::macros::datetime;

const BOUNDARY: &str = "custos-governance-test-boundary";

/// A `multipart/form-data` body: the text fields, then the file (if any).
fn multipart(fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").bytes());
    }
    if let Some((media, bytes)) = file {
        body.extend(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"report.pdf\"\r\n\
                 Content-Type: {media}\r\n\r\n"
            )
            .bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{BOUNDARY}--\r\n").bytes());
    body
}

impl Visitor {
    async fn post_multipart(&mut self, path: &str, body: Vec<u8>) -> reqwest::Response {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
            .body(body)
            .send()
            .await
            .unwrap();
        self.keep(&r);
        r
    }
}

/// `datetime-local` as the form sends it (minutes, read as UTC).
fn local(t: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    t.format(&f).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_governance_registers_are_kept_from_the_console_as_through_the_api() {
    let clock = Arc::new(ManualClock::new(datetime!(2026-03-02 09:00 UTC)));
    let app = spawn_app_with(tempfile::tempdir().unwrap(), |_| {}, clock.clone()).await;
    let (officer_id, officer) = app.principal(&["compliance"], "总部").await;
    let (auditor_id, auditor) = app.principal(&["auditor"], "总部").await;
    let (_, sales) = app.principal(&["sales"], "华东").await;
    let api = |path: &'static str| {
        let (app, officer) = (&app, &officer);
        async move { app.get(officer, Some("legal_compliance"), path).await.json::<Value>().await.unwrap() }
    };
    let mut v = Visitor::new(&app.base);
    let csrf = v.sign_in(&officer).await;
    let home = v.get("/console").await.text().await.unwrap();
    for href in ["/console/recipients", "/console/assessments", "/console/records-of-processing"] {
        assert!(home.contains(&format!("href=\"{href}\"")), "{href} in the officer's menu");
    }

    // An impact assessment with its report (not text, not small): recorded, downloaded byte for byte.
    let page = v.get("/console/assessments").await.text().await.unwrap();
    assert!(page.contains("id=\"assessment-form\"") && page.contains("enctype=\"multipart/form-data\""));
    let report: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let fields = [
        ("csrf", csrf.as_str()),
        ("purposes", "service_delivery"),
        ("data_categories", "personal"),
        ("processing", "entrustment"),
        ("conducted_on", "2026-02-20"),
        ("conclusion", "风险可控，措施已落实"),
    ];
    let r = v.post_multipart("/console/assessments", multipart(&fields, Some(("application/pdf", &report)))).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    let listed = api("/v1/assessments").await;
    let a = &listed["assessments"][0];
    let pia = a["id"].as_str().unwrap().to_owned();
    assert_eq!((a["report_bytes"].as_u64(), a["report_type"].as_str()), (Some(70_000), Some("application/pdf")));
    assert_eq!(a["processing"], json!(["entrustment"]));
    let r = v.get(&format!("/console/assessments/{pia}/report")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert_eq!(r.bytes().await.unwrap().as_ref(), report.as_slice(), "the report byte for byte");
    let page = v.get("/console/assessments").await.text().await.unwrap();
    assert!(page.contains(&pia) && page.contains("风险可控") && page.contains(a["report_sha256"].as_str().unwrap()));
    assert!(page.contains("委托处理") && page.contains("履行服务合同"), "values by their labels");
    // The same assessment through the API is audited with the same reason.
    let b64 = base64_of(&report);
    let body = json!({"scope": {"purposes": ["service_delivery"], "data_categories": ["personal"], "processing": ["entrustment"]},
        "conducted_on": "2026-02-20", "conclusion": "风险可控，措施已落实", "report_base64": b64, "report_type": "application/pdf"});
    let r = app.request(Method::POST, &officer, "legal_compliance", "/v1/assessments", Some(body)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created = app.audit(&officer, &format!("actor={officer_id}&action=assessment.create")).await;
    assert_eq!(created.len(), 2, "{created:?}");
    assert_eq!(created[0]["reason"], created[1]["reason"], "the console's entry is the API's");
    assert!(created.iter().all(|e| e["outcome"] == "allow" && e["purpose"] == "legal_compliance"));

    // A recipient naming it, from the form: the API sees it, values by their labels.
    let now = clock.now();
    let (from, until) = (local(now - time::Duration::days(1)), local(now + time::Duration::days(30)));
    let recipient = [
        ("name", "顺达物流有限公司"),
        ("role", "processor"),
        ("purposes", "service_delivery"),
        ("classes", "internal"),
        ("classes", "personal"),
        ("country", "CN"),
        ("term_from", from.as_str()),
        ("term_until", until.as_str()),
        ("contract", "委托处理协议 2026-117"),
        ("assessment", pia.as_str()),
        ("csrf", csrf.as_str()),
    ];
    let r = v.post("/console/recipients", &recipient).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    let at = r.headers()["location"].to_str().unwrap().to_owned();
    let rid = at.trim_start_matches("/console/recipients/").to_owned();
    let listed = api("/v1/recipients").await;
    let rec = &listed["recipients"][0];
    assert_eq!((rec["id"].as_str(), rec["classes"].clone()), (Some(rid.as_str()), json!(["internal", "personal"])));
    assert_eq!(
        (rec["term_until"].as_str(), rec["assessment"].as_str()),
        (Some(&*rfc3339_min(now + time::Duration::days(30))), Some(&*pia))
    );
    let page = v.get(&at).await.text().await.unwrap();
    assert!(page.contains("受托人") && page.contains("有效期内") && page.contains("id=\"attestation-form\""), "{page}");
    let list = v.get("/console/recipients").await.text().await.unwrap();
    assert!(list.contains(&rid) && list.contains("顺达物流有限公司") && list.contains("个人信息"));

    // The attestation before the term ends: 409, explained in the page; nothing recorded.
    let attest = format!("{at}/attestation");
    let deleted = local(now);
    let form = [
        ("deleted_at", deleted.as_str()),
        ("method", "overwritten"),
        ("statement", "已删除全部副本，王经理签字"),
        ("csrf", &csrf),
    ];
    let r = v.post(&attest, &form).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let refused = r.text().await.unwrap();
    assert!(refused.contains("role=\"alert\"") && refused.contains("PIPL Art. 21(2)"), "{refused}");
    assert_eq!(api("/v1/recipients").await["recipients"][0]["attestation"], Value::Null);

    // Past the term (signed in again): attested once, the second one refused.
    clock.advance(time::Duration::days(32));
    let mut v = Visitor::new(&app.base);
    let csrf = v.sign_in(&officer).await;
    let deleted = local(clock.now() - time::Duration::hours(2));
    let form = [
        ("deleted_at", deleted.as_str()),
        ("method", "overwritten"),
        ("statement", "已删除全部副本，王经理签字"),
        ("csrf", &csrf),
    ];
    let r = v.post(&attest, &form).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    let rec = api("/v1/recipients").await["recipients"][0].clone();
    assert_eq!((rec["status"].as_str(), rec["attestation"]["method"].as_str()), (Some("ended"), Some("overwritten")));
    let page = v.get(&at).await.text().await.unwrap();
    assert!(page.contains("已到期") && page.contains("王经理签字") && !page.contains("id=\"attestation-form\""));
    let r = v.post(&attest, &form).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("already on record"));

    // Bad input: each an error page, nothing recorded.
    let without = |name: &str| {
        recipient
            .iter()
            .filter(|(k, _)| *k != name)
            .map(|(k, v)| (*k, if *k == "csrf" { csrf.as_str() } else { *v }))
            .collect::<Vec<_>>()
    };
    let r = v.post("/console/recipients", &without("name")).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("/name"));
    let mut bad_date = without("term_from");
    bad_date.push(("term_from", "31/12/2026"));
    let r = v.post("/console/recipients", &bad_date).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("/term_from"));
    let mut extra = without("nothing");
    extra.push(("recorded_by", officer_id.as_str()));
    assert_eq!(v.post("/console/recipients", &extra).await.status(), StatusCode::BAD_REQUEST);
    let no_csrf: Vec<_> = without("csrf");
    assert_eq!(v.post("/console/recipients", &no_csrf).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(api("/v1/recipients").await["recipients"].as_array().unwrap().len(), 1, "nothing more recorded");
    let bad = [
        ("csrf", csrf.as_str()),
        ("purposes", "service_delivery"),
        ("conducted_on", "2026-13-45"),
        ("conclusion", "x"),
    ];
    let r = v.post_multipart("/console/assessments", multipart(&bad, Some(("application/pdf", b"%PDF")))).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("/conducted_on"));
    let no_file = [
        ("csrf", csrf.as_str()),
        ("purposes", "service_delivery"),
        ("conducted_on", "2026-02-20"),
        ("conclusion", "x"),
    ];
    assert_eq!(
        v.post_multipart("/console/assessments", multipart(&no_file, None)).await.status(),
        StatusCode::BAD_REQUEST
    );
    let forged =
        [("csrf", "forged"), ("purposes", "service_delivery"), ("conducted_on", "2026-02-20"), ("conclusion", "x")];
    let r = v.post_multipart("/console/assessments", multipart(&forged, Some(("text/plain", b"r")))).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(api("/v1/assessments").await["assessments"].as_array().unwrap().len(), 2, "nothing more recorded");

    // The records of processing: sections and tables, not JSON; the CSV is the API's, byte for byte.
    let r = v.get("/console/records-of-processing").await;
    assert_eq!(r.status(), StatusCode::OK);
    let ropa = r.text().await.unwrap();
    assert!(ropa.contains("id=\"purpose-service_delivery\"") && ropa.contains("id=\"retention\""), "{ropa}");
    assert!(ropa.contains("顺达物流有限公司") && ropa.contains(&pia) && ropa.contains("<thead>"));
    assert!(!ropa.contains("\"records\"") && !ropa.contains("{\""), "no JSON in the page");
    let r = v.get("/console/records-of-processing.csv").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = r.text().await.unwrap();
    assert_eq!(csv, app.get_csv_stating(&officer, Some("legal_compliance"), "/v1/records-of-processing").await);
    assert!(csv.contains("顺达物流有限公司"));

    // Every step audited under the API's actions, with the session's purpose.
    let mine = app.audit(&officer, &format!("actor={officer_id}&outcome=allow")).await;
    let actions: Vec<&str> = mine.iter().filter_map(|e| e["action"].as_str()).collect();
    for action in [
        "assessment.list",
        "assessment.report",
        "recipient.create",
        "recipient.read",
        "recipient.list",
        "recipient.attestation",
        "governance.records",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    let refused = app.audit(&officer, &format!("actor={officer_id}&action=recipient.attestation&outcome=error")).await;
    assert_eq!(refused.len(), 2, "the early and the second attestation: {refused:?}");

    // An auditor reads the registers without the sealed texts and cannot post.
    let mut a = Visitor::new(&app.base);
    let acsrf = a.sign_in(&auditor).await;
    let page = a.get(&at).await.text().await.unwrap();
    assert!(page.contains("顺达物流有限公司") && page.contains("overwritten"));
    assert!(!page.contains("王经理签字") && !page.contains("id=\"attestation-form\""), "no statement for an auditor");
    let page = a.get("/console/recipients").await.text().await.unwrap();
    assert!(page.contains(&rid) && !page.contains("id=\"recipient-form\""));
    let page = a.get("/console/assessments").await.text().await.unwrap();
    assert!(page.contains(&pia) && !page.contains("风险可控") && !page.contains("id=\"assessment-form\""));
    assert!(!page.contains("/report\""), "no download for an auditor");
    assert_eq!(a.get(&format!("/console/assessments/{pia}/report")).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(a.get("/console/records-of-processing").await.status(), StatusCode::OK);
    let mut theirs: Vec<(&str, &str)> = recipient.iter().filter(|(k, _)| *k != "csrf").copied().collect();
    theirs.push(("csrf", &acsrf));
    let r = a.post("/console/recipients", &theirs).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "a page");
    let form = [("deleted_at", deleted.as_str()), ("method", "m"), ("statement", "s"), ("csrf", &acsrf)];
    assert_eq!(a.post(&attest, &form).await.status(), StatusCode::FORBIDDEN);
    let ok = [
        ("csrf", acsrf.as_str()),
        ("purposes", "service_delivery"),
        ("conducted_on", "2026-02-20"),
        ("conclusion", "x"),
    ];
    let r = a.post_multipart("/console/assessments", multipart(&ok, Some(("text/plain", b"r")))).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let denied = app.audit(&officer, &format!("actor={auditor_id}&outcome=deny")).await;
    let denied: Vec<&str> = denied.iter().filter_map(|e| e["action"].as_str()).collect();
    for action in ["recipient.create", "recipient.attestation", "assessment.create", "assessment.report"] {
        assert!(denied.contains(&action), "{action} refused and audited: {denied:?}");
    }
    assert_eq!(api("/v1/recipients").await["recipients"].as_array().unwrap().len(), 1);
    assert_eq!(api("/v1/assessments").await["assessments"].as_array().unwrap().len(), 2);

    // A sales person: refused everywhere, and not offered the pages.
    let mut s = Visitor::new(&app.base);
    s.sign_in(&sales).await;
    let home = s.get("/console").await.text().await.unwrap();
    assert!(
        !home.contains("href=\"/console/recipients\"") && !home.contains("href=\"/console/records-of-processing\"")
    );
    for path in [
        "/console/recipients".to_owned(),
        at.clone(),
        "/console/assessments".into(),
        format!("/console/assessments/{pia}/report"),
        "/console/records-of-processing".into(),
        "/console/records-of-processing.csv".into(),
    ] {
        assert_eq!(s.get(&path).await.status(), StatusCode::FORBIDDEN, "{path}");
    }
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// An RFC 3339 time to the minute (what a `datetime-local` input keeps).
fn rfc3339_min(t: time::OffsetDateTime) -> String {
    rfc3339(t.replace_second(0).unwrap().replace_nanosecond(0).unwrap())
}
