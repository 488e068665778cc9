//! The web console over HTTP: sessions (cookie flags, idle and absolute
//! timeouts, revocation), CSRF, the CSP and headers, no personal value or
//! token in a URL or title, and the same policies and audit entries as the
//! API. The browser scenarios are in `tests/console_browser.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic fails the run

#[path = "console/browser.rs"]
mod browser;
mod common;
#[path = "console/days.rs"]
mod days;
#[path = "console/governance.rs"]
mod governance;
#[path = "console/import.rs"]
mod import;
#[path = "console/incidents.rs"]
mod incidents;
#[path = "console/people.rs"]
mod people;
#[path = "console/restriction.rs"]
mod restriction;
#[path = "console/start.rs"]
mod start;

use common::*;
use custos::clock::ManualClock;
use reqwest::{Method, StatusCode};
use std::sync::Arc;
use time::macros::datetime;

/// A console visitor: a client that follows no redirect and keeps cookies.
struct Visitor {
    client: reqwest::Client,
    base: String,
    cookies: Vec<(String, String)>,
}

fn form_value(html: &str, name: &str) -> String {
    let at = html.find(&format!("name=\"{name}\" value=\"")).unwrap_or_else(|| panic!("no {name} in {html}"));
    let rest = &html[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_owned()
}

impl Visitor {
    fn new(base: &str) -> Visitor {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Visitor { client, base: base.to_owned(), cookies: Vec::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn keep(&mut self, r: &reqwest::Response) {
        for c in r.headers().get_all("set-cookie") {
            let c = c.to_str().unwrap();
            let (kv, _) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = kv.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != k);
            if !v.is_empty() {
                self.cookies.push((k.to_owned(), v.to_owned()));
            }
        }
    }

    async fn get(&mut self, path: &str) -> reqwest::Response {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(&r);
        r
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep(&r);
        r
    }

    /// Signs in with `token`; returns the session's CSRF token.
    async fn sign_in(&mut self, token: &str) -> String {
        let page = self.get("/console/login").await.text().await.unwrap();
        let nonce = form_value(&page, "csrf");
        let code = factor::code_for(&self.base, token);
        let r = self.post("/console/login", &[("token", token), ("code", &code), ("csrf", &nonce)]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let home = self.get("/console").await;
        assert_eq!(home.status(), StatusCode::OK);
        form_value(&home.text().await.unwrap(), "csrf")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_strict_cookies_with_timeouts_and_end_with_the_token() {
    let clock = Arc::new(ManualClock::new(datetime!(2026-03-02 09:00 UTC)));
    let app = spawn_app_with(tempfile::tempdir().unwrap(), |_| {}, clock.clone()).await;
    let (_, sales) = app.principal(&["sales"], "华东").await;
    let mut v = Visitor::new(&app.base);

    // Not signed in: every page sends to the sign-in form.
    let r = v.get("/console/audit").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/console/login");

    // The sign-in form: CSP without script, no framing, no caching.
    let r = v.get("/console/login").await;
    let h = r.headers();
    assert_eq!(h["content-security-policy"], custos::console::CSP);
    assert!(!custos::console::CSP.contains("script-src"), "no script source at all");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    let login = r.text().await.unwrap();
    assert!(!login.contains("<script"));

    // A wrong token: 401 in the page, and no session.
    let nonce = form_value(&login, "csrf");
    let r = v.post("/console/login", &[("token", "cst_not-a-token"), ("csrf", &nonce)]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(v.cookies.iter().all(|(k, _)| k != "custos_session"));
    // A sign-in without the form's nonce is refused (login CSRF).
    let r = v.post("/console/login", &[("token", sales.as_str()), ("csrf", "forged")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Signed in: the cookie is HttpOnly, SameSite=Strict, scoped to the console; Secure behind TLS.
    let page = v.get("/console/login").await.text().await.unwrap();
    let nonce = form_value(&page, "csrf");
    let code = factor::code_for(&app.base, &sales);
    let r = v.post("/console/login", &[("token", sales.as_str()), ("code", &code), ("csrf", &nonce)]).await;
    let set: Vec<_> = r.headers().get_all("set-cookie").iter().map(|c| c.to_str().unwrap().to_owned()).collect();
    let session = set.iter().find(|c| c.starts_with("custos_session=")).unwrap();
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict") && session.contains("Path=/console"));
    assert!(!session.contains("Secure"), "plain HTTP here");
    assert!(!session.contains(&sales), "the cookie is not the token");
    let tls = v
        .client
        .post(format!("{}/console/login", app.base))
        .header("x-forwarded-proto", "https")
        .header("cookie", format!("custos_login={nonce}"))
        .form(&[("token", sales.as_str()), ("code", &factor::code_for(&app.base, &sales)), ("csrf", &nonce)])
        .send()
        .await
        .unwrap();
    assert!(tls.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap().contains("; Secure")));
    assert_eq!(v.get("/console").await.status(), StatusCode::OK);

    // Idle for 16 minutes: the session has ended.
    clock.advance(time::Duration::minutes(16));
    assert_eq!(v.get("/console").await.status(), StatusCode::SEE_OTHER);

    // Busy, but 8 hours after sign-in: ended.
    v.sign_in(&sales).await;
    let mut pages = 0;
    while v.get("/console/search").await.status() == StatusCode::OK {
        pages += 1;
        assert!(pages < 100);
        clock.advance(time::Duration::minutes(10));
    }
    assert_eq!(pages, 49, "the page at 8 h 00 is the last one");

    // A revoked token ends its session at the next page.
    let (sales_id, sales2) = app.principal(&["sales"], "华东").await;
    v.sign_in(&sales2).await;
    let tokens = app.get(ADMIN_TOKEN, None, &format!("/v1/principals/{sales_id}/tokens")).await;
    let tokens: serde_json::Value = tokens.json().await.unwrap();
    let tok = tokens.as_array().or(tokens["tokens"].as_array()).unwrap()[0]["token_id"].as_str().unwrap().to_owned();
    let r = app.request(Method::DELETE, ADMIN_TOKEN, "x", &format!("/v1/tokens/{tok}"), None).await;
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(v.get("/console").await.status(), StatusCode::SEE_OTHER);

    // Sign-out ends the session on the server, not just in the browser.
    let csrf = v.sign_in(&sales).await;
    let cookie = v.cookie_header();
    assert_eq!(v.post("/console/logout", &[("csrf", &csrf)]).await.status(), StatusCode::SEE_OTHER);
    let replayed = v.client.get(format!("{}/console", app.base)).header("cookie", cookie).send().await.unwrap();
    assert_eq!(replayed.status(), StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_need_the_session_csrf_token_and_refusals_are_audited() {
    let app = spawn_app().await;
    let (officer_id, officer) = app.principal(&["compliance"], "总部").await;
    let (_, service) = app.principal(&["service"], "华东").await;
    let (owner, _) = app.principal(&["sales"], "华东").await;
    let (id, _) = app.create_ok(&service, "service_delivery", &fixture(0, &owner)).await;
    let mut v = Visitor::new(&app.base);
    let csrf = v.sign_in(&officer).await;

    // No token, a wrong one, another session's: 403, nothing placed.
    let hold = format!("/console/dossiers/{id}/holds");
    for bad in [None, Some("forged"), Some("")] {
        let mut form = vec![("reason", "r"), ("case_ref", "c-1"), ("jurisdiction", "CN")];
        if let Some(b) = bad {
            form.push(("csrf", b));
        }
        let r = v.post(&hold, &form).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    }
    let holds = app.get(&officer, Some("legal_compliance"), &format!("/v1/dossiers/{id}/legal-holds")).await;
    assert_eq!(holds.json::<serde_json::Value>().await.unwrap().as_array().map(Vec::len), Some(0));
    // The refused posts are in the audit log, as the officer's, with status 403.
    let refused = app.audit(&officer, &format!("actor={officer_id}&outcome=deny")).await;
    assert!(refused.len() >= 3, "{refused:?}");

    // With the token: placed, through the same use case (the API sees it).
    let r = v.post(&hold, &[("reason", "r"), ("case_ref", "c-1"), ("jurisdiction", "CN"), ("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let holds: serde_json::Value = app
        .get(&officer, Some("legal_compliance"), &format!("/v1/dossiers/{id}/legal-holds"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(holds.as_array().unwrap().len(), 1);
    let placed = app.audit(&officer, &format!("actor={officer_id}&action=hold.place")).await;
    assert_eq!(placed.len(), 1);
    assert_eq!(placed[0]["purpose"], "legal_compliance", "the session's purpose, as X-Purpose");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_what_the_api_shows_and_audits_it_the_same_way() {
    let app = spawn_app().await;
    let (sales_id, sales) = app.principal(&["sales"], "华东").await;
    let (other, _) = app.principal(&["sales"], "华东").await;
    let (_, service) = app.principal(&["service"], "华东").await;
    let (_, officer) = app.principal(&["compliance"], "总部").await;
    let doc = fixture(0, &sales_id);
    let (mine, _) = app.create_ok(&service, "service_delivery", &doc).await;
    let (theirs, _) = app.create_ok(&service, "service_delivery", &fixture(1, &other)).await;

    let api: serde_json::Value =
        app.get(&sales, Some("service_delivery"), &format!("/v1/dossiers/{mine}")).await.json().await.unwrap();
    let mut v = Visitor::new(&app.base);
    v.sign_in(&sales).await;
    let r = v.get(&format!("/console/dossiers/{mine}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    // Every field the API masks or withholds is marked so, and its plaintext is nowhere in the page.
    for reason in ["masked", "withheld"] {
        for path in redacted(&api, reason) {
            let at = page.find(&format!("data-path=\"{path}\"")).unwrap_or_else(|| panic!("{path} not listed"));
            let row = &page[at..at + page[at..].find("</tr>").unwrap()];
            let mark = if reason == "masked" { "已脱敏" } else { "不予显示" };
            assert!(row.contains(mark), "{path} marked {reason}: {row}");
            let plain = doc.pointer(&path).and_then(|v| v.as_str()).unwrap_or_default();
            if !plain.is_empty() {
                assert!(!page.contains(plain), "{reason} {path} shown in clear");
            }
        }
    }
    assert!(
        !redacted(&api, "withheld").is_empty() || !redacted(&api, "masked").is_empty(),
        "the fixture is redacted for sales"
    );
    assert!(page.contains(api["customer"]["name"].as_str().unwrap()), "what the API releases, the page shows");
    // The title names the dossier by id only.
    let title = &page[page.find("<title>").unwrap()..page.find("</title>").unwrap()];
    assert!(title.contains(&mine) && !title.contains(doc["customer"]["name"].as_str().unwrap()));

    // Another's dossier: refused, as the API refuses it.
    assert_eq!(v.get(&format!("/console/dossiers/{theirs}")).await.status(), StatusCode::FORBIDDEN);

    // A search is posted: the query never enters a URL, and the results are those the API gives.
    let csrf = form_value(&page, "csrf");
    let r = v.post("/console/search", &[("q", "科技"), ("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let results = r.text().await.unwrap();
    assert!(results.contains(&mine) && !results.contains(&theirs));

    // Same entries: a read through the console is a dossier.read by the person, with the session's purpose.
    let reads = app.audit(&officer, &format!("actor={sales_id}&action=dossier.read&resource={mine}")).await;
    assert_eq!(reads.len(), 2, "one by the API, one by the console");
    assert_eq!(reads[0]["purpose"], reads[1]["purpose"]);
    assert_eq!(reads[0]["fields"], reads[1]["fields"]);
    let denied = app.audit(&officer, &format!("actor={sales_id}&resource={theirs}&outcome=deny")).await;
    assert_eq!(denied.len(), 1);
    // No URL the console answered carries the query or a personal value.
    let searches = app.audit(&officer, &format!("actor={sales_id}&action=search")).await;
    assert_eq!(searches.len(), 1);
    assert!(!searches[0].to_string().contains("科技"));
}

/// A compliance officer signed in to the console stating `dsr`, and the
/// person (of fixture 0, created by service in 华东) whose page they work on.
struct OfficerAtSubject {
    app: TestApp,
    officer_id: String,
    officer: String,
    sid: String,
    v: Visitor,
    csrf: String,
}

async fn officer_at_a_subject() -> OfficerAtSubject {
    let app = spawn_app().await;
    let (officer_id, officer) = app.principal(&["compliance"], "总部").await;
    let (_, service) = app.principal(&["service"], "华东").await;
    let (owner, _) = app.principal(&["sales"], "华东").await;
    let (_, subjects) = app.create_ok(&service, "service_delivery", &fixture(0, &owner)).await;
    let mut v = Visitor::new(&app.base);
    let csrf = v.sign_in(&officer).await;
    assert_eq!(
        v.post("/console/purpose", &[("purpose", "dsr"), ("csrf", &csrf)]).await.status(),
        StatusCode::SEE_OTHER
    );
    OfficerAtSubject { app, officer_id, officer, sid: subjects[0].clone(), v, csrf }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consents_and_requests_are_recorded_and_moved_on_from_the_console() {
    let OfficerAtSubject { app, officer_id, officer, sid, mut v, csrf } = officer_at_a_subject().await;
    let sid = sid.as_str();
    let history = || async {
        let r = app.get(&officer, Some("dsr"), &format!("/v1/subjects/{sid}/consents")).await;
        r.json::<serde_json::Value>().await.unwrap().as_array().unwrap().clone()
    };

    // A consent recorded in the page: in the API's history, audited with the session's purpose.
    let page = v.get(&format!("/console/subjects/{sid}")).await.text().await.unwrap();
    assert!(page.contains("id=\"consent-form\"") && page.contains("id=\"request-form\""));
    let consents = format!("/console/subjects/{sid}/consents");
    let grant = |at: &'static str| {
        [("purpose", "credit_assessment"), ("basis", "consent"), ("evidence", "signed form F-7"), ("granted_at", at)]
    };
    let r = v.post(&consents, &[&grant("yesterday")[..], &[("csrf", &csrf)]].concat()).await;
    // As the API refuses it: 422, naming the field.
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "a malformed time is refused");
    assert!(r.text().await.unwrap().contains("/granted_at"));
    assert!(history().await.is_empty(), "nothing recorded");
    let r = v.post(&consents, &[&grant("")[..], &[("csrf", &csrf)]].concat()).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let h = history().await;
    assert_eq!(
        (h.len(), h[0]["kind"].as_str(), h[0]["purpose"].as_str()),
        (1, Some("grant"), Some("credit_assessment"))
    );
    let granted = app.audit(&officer, &format!("actor={officer_id}&action=consent.grant")).await;
    assert_eq!((granted.len(), granted[0]["purpose"].as_str()), (1, Some("dsr")));
    // Withdrawn from the page: the history keeps both.
    let page = v.get(&format!("/console/subjects/{sid}")).await.text().await.unwrap();
    assert!(page.contains("value=\"credit_assessment\""));
    let r = v.post(&format!("{consents}/withdraw"), &[("purpose", "credit_assessment"), ("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(history().await.last().unwrap()["kind"], "withdrawal");

    // A request recorded on the person's page; its page takes it through its states.
    let form = [("kind", "access"), ("channel", "email"), ("received_at", ""), ("details", "请给我我的资料")];
    let r = v.post(&format!("/console/subjects/{sid}/requests"), &[&form[..], &[("csrf", &csrf)]].concat()).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let at = r.headers()["location"].to_str().unwrap().to_owned();
    let id = at.strip_prefix("/console/requests/").unwrap().to_owned();
    let page = v.get(&at).await.text().await.unwrap();
    assert!(page.contains("<dd id=\"request-state\"><span title=\"received\">已接收</span></dd>"));
    assert!(page.contains("id=\"verify-form\"") && !page.contains("id=\"complete-form\""));
    // Completing before verifying: refused by the use case, the reason shown.
    let r = v
        .post(&at, &[("change", "complete"), ("answer_kind", "audit_entry"), ("reference", "1"), ("csrf", &csrf)])
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("must be verified first"));
    // A hand-made post cannot set what its step's form does not offer: a
    // verification in another officer's name under an extension, or a new
    // request recorded as verified already.
    let (other_id, _) = app.principal(&["compliance"], "总部").await;
    let forged = [
        ("change", "extend"),
        ("extension_reason", "more time"),
        ("state", "verified"),
        ("method", "id_document"),
        ("verification/verified_by", other_id.as_str()),
        ("csrf", &csrf),
    ];
    assert_eq!(v.post(&at, &forged).await.status(), StatusCode::BAD_REQUEST);
    let forged = [&form[..], &[("verification/method", "id_document"), ("csrf", &csrf)]].concat();
    assert_eq!(v.post(&format!("/console/subjects/{sid}/requests"), &forged).await.status(), StatusCode::BAD_REQUEST);
    assert!(v
        .get(&at)
        .await
        .text()
        .await
        .unwrap()
        .contains("<dd id=\"request-state\"><span title=\"received\">已接收</span></dd>"));
    let r = v.post(&at, &[("change", "verify"), ("method", "id_document"), ("note", "护照"), ("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // The export that answers it, from the console; then completed with that entry.
    // Posted with the CSRF token; a GET (a link, a prefetch) exports nothing.
    assert_eq!(v.get(&format!("/console/subjects/{sid}/export")).await.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        v.post(&format!("/console/subjects/{sid}/export"), &[("csrf", "forged")]).await.status(),
        StatusCode::FORBIDDEN
    );
    // It names the request it answers: without one, the same 403 as the API's.
    let r = v.post(&format!("/console/subjects/{sid}/export"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("verified and open"));
    let r = v.post(&format!("/console/subjects/{sid}/export"), &[("request", id.as_str()), ("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let export = app.audit(&officer, &format!("actor={officer_id}&action=subject.export&outcome=allow")).await;
    assert!(export[0]["reason"].as_str().unwrap().contains(&format!("for access request {id}")), "{}", export[0]);
    let seq = export[0]["seq"].as_u64().unwrap().to_string();
    let form = [("change", "complete"), ("answer_kind", "audit_entry"), ("reference", &seq), ("csrf", &csrf)];
    assert_eq!(v.post(&at, &form).await.status(), StatusCode::SEE_OTHER);
    let api: serde_json::Value =
        app.get(&officer, Some("dsr"), &format!("/v1/requests/{id}")).await.json().await.unwrap();
    assert_eq!(api["state"], "completed");
    assert_eq!(api["verified_by"], officer_id.as_str());
    assert_eq!(api["answered_by"][0]["action"], "subject.export");
    let moved = app.audit(&officer, &format!("actor={officer_id}&action=request.update&outcome=allow")).await;
    assert_eq!(moved.len(), 2, "verified, completed");

    // The queue filters by state; an unknown state is a clear error.
    let done = v.get("/console/requests?state=completed").await.text().await.unwrap();
    assert!(done.contains(&id));
    assert!(!v.get("/console/requests?state=received").await.text().await.unwrap().contains(&id));
    assert_eq!(v.get("/console/requests?state=lost").await.status(), StatusCode::BAD_REQUEST);
    // A completed request offers no further step.
    let page = v.get(&format!("/console/requests/{id}")).await.text().await.unwrap();
    assert!(page.contains("completed") && !page.contains("id=\"refuse-form\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dossiers_are_created_and_edited_in_forms_keeping_what_the_editor_may_not_see() {
    let app = spawn_app().await;
    let (service_id, service) = app.principal(&["service"], "华东").await;
    let (_, finance) = app.principal(&["finance"], "总部").await;
    let (_, officer) = app.principal(&["compliance"], "总部").await;
    assess(&app.client, &app.base, &officer, &["credit_assessment"], &["sensitive_data"]).await;
    let mut v = Visitor::new(&app.base);
    let csrf = v.sign_in(&service).await;
    let id_number = |id: String| {
        let app = &app;
        let officer = officer.clone();
        async move {
            let d: serde_json::Value =
                app.get(&officer, Some("dsr"), &format!("/v1/dossiers/{id}")).await.json().await.unwrap();
            d["contacts"][0]["id_number"].as_str().map(str::to_owned)
        }
    };

    // A new dossier from the form, with one contact: the API reads it back.
    let page = v.get("/console/dossiers/new").await.text().await.unwrap();
    assert!(page.contains("id=\"dossier-form\""));
    let mut form = vec![
        ("/customer/name", "苏州明达货运有限公司"),
        ("/customer/region", "华东"),
        ("/customer/credit_code", "91320500MA1XYK1234"),
        ("/owner", &service_id),
        ("/status", "active"),
        ("/grade", "B"),
        ("/transport/routes", "苏州-上海，苏州-杭州"),
        ("/preferences/tracking", "true"),
        ("/contacts/0/name", "周敏"),
        ("/contacts/0/phone", "13912345678"),
        ("/contacts/0/id_number", "320503199001011234"),
        ("/contacts/0/sensitive_basis", "parcel_real_name"),
        ("/contacts/0/notice", "2025-01"),
        ("csrf", &csrf),
    ];
    // Without the required grade: 422, the form back with its values and the error.
    let no_grade: Vec<_> = form.iter().filter(|(k, _)| *k != "/grade").cloned().collect();
    let r = v.post("/console/dossiers/new", &no_grade).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let again = r.text().await.unwrap();
    assert!(again.contains("id=\"invalid\"") && again.contains("苏州明达货运有限公司"));
    let r = v.post("/console/dossiers/new", &form).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    let at = r.headers()["location"].to_str().unwrap().to_owned();
    let id = at.strip_prefix("/console/dossiers/").unwrap().to_owned();
    let api: serde_json::Value =
        app.get(&finance, Some("credit_assessment"), &format!("/v1/dossiers/{id}")).await.json().await.unwrap();
    assert_eq!(api["customer"]["name"], "苏州明达货运有限公司");
    assert_eq!(api["transport"]["routes"], serde_json::json!(["苏州-上海", "苏州-杭州"]));
    assert_eq!(api["preferences"]["tracking"], true);
    assert_eq!(api["grade"], "B");
    let created = app.audit(&officer, &format!("resource={id}&action=dossier.create")).await;
    assert_eq!(created.len(), 1);
    assert_eq!(id_number(id.clone()).await.as_deref(), Some("320503199001011234"));

    // The edit form: service sees the ID number withheld: it is not in the page, and stays as it was.
    let page = v.get(&format!("/console/dossiers/{id}/edit")).await.text().await.unwrap();
    assert!(!page.contains("320503199001011234"), "withheld value in the edit form");
    assert!(page.contains("name=\"version\" value=\"1\""));
    let sid = api["contacts"][0]["subject_id"].as_str().unwrap().to_owned();
    form.retain(|(k, _)| !k.starts_with("/contacts/0/id_number") && !k.starts_with("/contacts/0/sensitive"));
    form.retain(|(k, _)| *k != "/grade");
    form.extend([("/grade", "A"), ("/contacts/0/subject_id", &sid), ("version", "1")]);
    let r = v.post(&format!("/console/dossiers/{id}/edit"), &form).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    let api: serde_json::Value =
        app.get(&finance, Some("credit_assessment"), &format!("/v1/dossiers/{id}")).await.json().await.unwrap();
    assert_eq!((api["version"].as_u64(), api["grade"].as_str()), (Some(2), Some("A")));
    assert_eq!(api["contacts"][0]["subject_id"], sid.as_str());
    assert_eq!(id_number(id.clone()).await.as_deref(), Some("320503199001011234"), "kept");
    // A document stored through the API comes down from the page by a post (its name in no URL), as an attachment.
    let put = app
        .client
        .put(format!("{}/v1/dossiers/{id}/documents/contract-7.txt", app.base))
        .bearer_auth(&service)
        .header("x-purpose", "service_delivery")
        .body("运输合同 第7号")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    let page = v.get(&format!("/console/dossiers/{id}")).await.text().await.unwrap();
    assert!(page.contains("name=\"name\" value=\"contract-7.txt\"") && !page.contains("?name="));
    let r = v.post(&format!("/console/dossiers/{id}/document"), &[("name", "contract-7.txt"), ("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-disposition"], "attachment; filename=\"contract-7.txt\"");
    assert_eq!(r.text().await.unwrap(), "运输合同 第7号");
    let got = app.audit(&officer, &format!("resource={id}&action=document.get")).await;
    assert_eq!(got.len(), 1);
    let r = v.post(&format!("/console/dossiers/{id}/document"), &[("name", "none.txt"), ("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // A stale version: 412, nothing written.
    let r = v.post(&format!("/console/dossiers/{id}/edit"), &form).await;
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    // A field the template does not have: a clear 400.
    let r = v
        .post(&format!("/console/dossiers/{id}/edit"), &[("/customer/secret", "x"), ("version", "2"), ("csrf", &csrf)])
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

/// A search of 2,000 `(` posted to the console overflowed the query
/// parser's stack and took the server down (6913f9e). The console goes
/// through the same bounds as the API now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deeply_nested_search_is_refused_and_the_server_stays_up() {
    let app = spawn_app().await;
    let (_, sales) = app.principal(&["sales"], "华东").await;
    let mut v = Visitor::new(&app.base);
    let csrf = v.sign_in(&sales).await;
    let r = v.post("/console/purpose", &[("purpose", "service_delivery"), ("csrf", &csrf)]).await;
    assert!(r.status().is_redirection() || r.status().is_success());
    for q in ["(".repeat(2_000), "(".repeat(400), "NOT ".repeat(100) + "x"] {
        let r = v.post("/console/search", &[("q", q.as_str()), ("csrf", &csrf)]).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{} chars", q.len());
        let api = app.get(&sales, Some("service_delivery"), &format!("/v1/search?q={}", "(".repeat(400))).await;
        assert_eq!(api.status(), StatusCode::BAD_REQUEST);
    }
    assert_eq!(app.client.get(format!("{}/healthz", app.base)).send().await.unwrap().status(), StatusCode::OK);
    let r = v.post("/console/search", &[("q", "(科技 OR 物流)"), ("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// The text of the element with id `id` in `html`.
fn element_text(html: &str, id: &str) -> String {
    let at = html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id} in {html}"));
    let rest = &html[at..];
    let start = rest.find('>').unwrap() + 1;
    rest[start..start + rest[start..].find('<').unwrap()].to_owned()
}

#[tokio::test]
async fn console_sign_in_takes_a_current_code_and_a_first_sign_in_sets_up_the_factor() {
    let clock = Arc::new(ManualClock::new(datetime!(2026-03-02 09:00:05 UTC)));
    let app = spawn_unready(tempfile::tempdir().unwrap(), |_| {}, clock.clone()).await;
    let mut v = Visitor::new(&app.base);
    // The bootstrap admin has no factor yet: the token alone shows one to set up, and no session.
    let page = v.get("/console/login").await.text().await.unwrap();
    let nonce = form_value(&page, "csrf");
    let r = v.post("/console/login", &[("token", ADMIN_TOKEN), ("csrf", &nonce)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(v.cookies.iter().all(|(k, _)| k != "custos_session"), "no session before the code");
    let setup = r.text().await.unwrap();
    let secret = element_text(&setup, "factor-secret");
    assert!(element_text(&setup, "factor-uri").starts_with("otpauth://totp/custos:"));

    // A wrong code: no session.
    let nonce = form_value(&setup, "csrf");
    let r = v.post("/console/login", &[("token", ADMIN_TOKEN), ("code", "000000"), ("csrf", &nonce)]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(v.cookies.iter().all(|(k, _)| k != "custos_session"));
    // The right one: the recovery codes, once, and a session.
    let page = r.text().await.unwrap();
    let nonce = form_value(&page, "csrf");
    let code = common::factor::code_at(&secret, common::factor::step_now(&app.base));
    let r = v.post("/console/login", &[("token", ADMIN_TOKEN), ("code", &code), ("csrf", &nonce)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let shown = r.text().await.unwrap();
    let first_recovery = shown.split("<li class=\"mono\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    assert_eq!(shown.matches("<li class=\"mono\">").count(), 10, "{shown}");
    assert_eq!(v.get("/console").await.status(), StatusCode::OK);
    // The token is bound now: the API takes it.
    let body = serde_json::json!({"name": "x", "roles": ["sales"], "department": "d", "region": "华东"});
    assert_eq!(app.post_as(ADMIN_TOKEN, "/v1/principals", Some(body)).await.status(), StatusCode::CREATED);

    // Signing in again: the token alone is not enough; a recovery code is.
    let mut w = Visitor::new(&app.base);
    let page = w.get("/console/login").await.text().await.unwrap();
    let r = w.post("/console/login", &[("token", ADMIN_TOKEN), ("csrf", &form_value(&page, "csrf"))]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(w.cookies.iter().all(|(k, _)| k != "custos_session"));
    let page = r.text().await.unwrap();
    let nonce = form_value(&page, "csrf");
    let r = w.post("/console/login", &[("token", ADMIN_TOKEN), ("code", &first_recovery), ("csrf", &nonce)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(w.get("/console").await.status(), StatusCode::OK);
    app.stop().await;
}
