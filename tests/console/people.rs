//! People and access in the console: an admin adds a person and asks for
//! their token, a second admin approves it, and the new employee enrolls
//! by code in the console (setting up their second factor) without ever
//! seeing a token; the device then signs in with the second factor's code
//! alone, until it is forgotten or the token revoked. Disabling, enabling,
//! renewing and revoking go through the same use cases, four-eyes rules
//! and audit entries as the API; other roles are refused.

use super::{form_value, Visitor};
use crate::common::*;
use reqwest::StatusCode;
use serde_json::Value;

/// The text right inside the element with id `id`.
fn dd(html: &str, id: &str) -> String {
    let at = html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id} in {html}"));
    let rest = &html[at..];
    let start = rest.find('>').unwrap() + 1;
    rest[start..start + rest[start..].find('<').unwrap()].to_owned()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_adds_a_person_who_enrolls_by_code_and_never_sees_a_token() {
    let app = spawn_app().await;
    let (client, base) = (&app.client, app.base.as_str());
    let (_, officer) = app.principal(&["compliance"], "总部").await;
    let (_, sales) = app.principal(&["sales"], "华东").await;
    let second = second_admin(client, base, false).await;

    let mut admin = Visitor::new(base);
    let csrf = admin.sign_in(ADMIN_TOKEN).await;
    let list = admin.get("/console/principals").await;
    assert_eq!(list.status(), StatusCode::OK);
    let list = list.text().await.unwrap();
    assert!(list.contains("id=\"new-principal\""), "the form to add a person");

    // Separation of duties, as on the API: refused, nothing made.
    let r = admin
        .post(
            "/console/principals",
            &[("csrf", &csrf), ("name", "冲突的人"), ("role", "admin"), ("role", "sales"), ("department", "d")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("/roles"), "the failing field is named");
    assert!(!admin.get("/console/principals").await.text().await.unwrap().contains("冲突的人"));
    // A field the form does not offer is refused.
    let r =
        admin.post("/console/principals", &[("csrf", &csrf), ("name", "x"), ("role", "sales"), ("id", "prn_x")]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    let r = admin
        .post(
            "/console/principals",
            &[("csrf", &csrf), ("name", "陈静"), ("role", "service"), ("department", "客服中心"), ("region", "华南")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page_of = location(&r);
    let pid = page_of.trim_start_matches("/console/principals/").to_owned();
    assert!(pid.starts_with("prn_"), "{page_of}");
    let page = admin.get(&page_of).await.text().await.unwrap();
    assert!(page.contains("陈静") && page.contains("客服中心"));
    assert!(page.contains("id=\"ask-token\""));

    // The first admin asks: the first half, shown once.
    let r = admin.post(&format!("{page_of}/tokens"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let asked = r.text().await.unwrap();
    let first_half = dd(&asked, "code-part");
    assert!(first_half.starts_with("enr_"), "{asked}");
    let tokens: Vec<Value> =
        app.get(ADMIN_TOKEN, None, &format!("/v1/principals/{pid}/tokens")).await.json().await.unwrap();
    let token_id = tokens[0]["token_id"].as_str().unwrap().to_owned();
    assert_eq!(tokens[0]["state"], "awaiting_approval");
    // Not the asker's to approve.
    let r = admin.post(&format!("/console/tokens/{token_id}/approve"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // The second admin approves from their start page.
    let mut admin2 = Visitor::new(base);
    let csrf2 = admin2.sign_in(&second).await;
    let home = admin2.get("/console").await.text().await.unwrap();
    assert!(home.contains(&format!("/console/tokens/{token_id}/approve")) && home.contains("陈静"));
    let approved = admin2.post(&format!("/console/tokens/{token_id}/approve"), &[("csrf", &csrf2)]).await;
    assert_eq!(approved.status(), StatusCode::OK);
    let approved = approved.text().await.unwrap();
    let second_half = dd(&approved, "code-part");

    // The new employee: a wrong code is refused and counted.
    let mut person = Visitor::new(base);
    let form = person.get("/console/enroll").await.text().await.unwrap();
    let nonce = form_value(&form, "csrf");
    let r = person.post("/console/enroll", &[("csrf", &nonce), ("code", "enr_not-a-code")]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Without the login nonce: refused before anything is redeemed.
    let whole = format!("{first_half}{second_half}");
    let r = person.post("/console/enroll", &[("csrf", "forged"), ("code", &whole)]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let nonce = form_value(&r.text().await.unwrap(), "csrf");
    // The code: a second factor to set up.
    let r = person.post("/console/enroll", &[("csrf", &nonce), ("code", &whole)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let setup = r.text().await.unwrap();
    let secret = dd(&setup, "factor-secret");
    assert!(!setup.contains("cst_"), "no token on the page");
    factor::remember(base, "console-device", &pid, Some(&secret));
    let nonce = form_value(&setup, "csrf");
    // The code and the app's first code: signed in, the recovery codes once.
    let code = factor::code_of(base, &pid);
    let r = person.post("/console/enroll", &[("csrf", &nonce), ("code", &whole), ("second_factor", &code)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let device_cookie: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .filter(|c| c.starts_with("custos_device="))
        .collect();
    assert_eq!(device_cookie.len(), 1);
    let c = &device_cookie[0];
    assert!(c.contains("Path=/console/login;") && c.contains("HttpOnly") && c.contains("SameSite=Strict"), "{c}");
    let recovery = r.text().await.unwrap();
    assert!(recovery.contains("id=\"recovery-codes\"") && !recovery.contains("cst_"));
    let home = person.get("/console").await;
    assert_eq!(home.status(), StatusCode::OK);
    let home = home.text().await.unwrap();
    assert!(home.contains("陈静"), "signed in as the new employee");
    let person_csrf = form_value(&home, "csrf");
    // The same redemption as the API: used once.
    let r = client.post(format!("{base}/v1/enroll")).json(&serde_json::json!({"code": whole})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Their own tokens: renew (the holder only).
    let mine = person.get("/console/tokens").await.text().await.unwrap();
    assert!(mine.contains(&token_id) && mine.contains(&format!("/console/tokens/{token_id}/renew")));
    let r = person.post(&format!("/console/tokens/{token_id}/renew"), &[("csrf", &person_csrf)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = admin.post(&format!("/console/tokens/{token_id}/renew"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Signed out, the device signs in with the second factor's code alone.
    let r = person.post("/console/logout", &[("csrf", &person_csrf)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let login = person.get("/console/login").await.text().await.unwrap();
    assert!(login.contains("id=\"device-enrolled\"") && login.contains("id=\"forget-device\""));
    let nonce = form_value(&login, "csrf");
    let code = factor::code_of(base, &pid);
    let r = person.post("/console/login", &[("csrf", &nonce), ("code", &code)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    assert_eq!(person.get("/console").await.status(), StatusCode::OK);

    // Disabled by one admin: the session ends; enabled by the other only.
    let r = admin.post(&format!("{page_of}/disable"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&person.get("/console").await), "/console/login");
    let r = admin.post(&format!("{page_of}/enable"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = admin2.post(&format!("{page_of}/enable"), &[("csrf", &csrf2)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // An unknown action is not found, and changes nothing.
    let r = admin.post(&format!("{page_of}/promote"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Revoked: the enrolled device no longer signs in.
    let r = admin.post(&format!("/console/tokens/{token_id}/revoke"), &[("csrf", &csrf), ("principal", &pid)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), page_of);
    let login = person.get("/console/login").await.text().await.unwrap();
    let nonce = form_value(&login, "csrf");
    let code = factor::code_of(base, &pid);
    let r = person.post("/console/login", &[("csrf", &nonce), ("code", &code)]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Forgotten: the sign-in form asks for a token again.
    let nonce = form_value(&r.text().await.unwrap(), "csrf");
    let r = person.post("/console/login/forget", &[("csrf", &nonce)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(person.cookies.iter().all(|(k, _)| k != "custos_device"));
    let login = person.get("/console/login").await.text().await.unwrap();
    assert!(!login.contains("device-enrolled") && login.contains("id=\"enroll-link\""));

    // Others may not manage people; the same audit entries as the API.
    let mut s = Visitor::new(base);
    let scsrf = s.sign_in(&sales).await;
    assert_eq!(s.get("/console/principals").await.status(), StatusCode::FORBIDDEN);
    let r = s.post("/console/principals", &[("csrf", &scsrf), ("name", "x"), ("role", "sales")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(!s.get("/console").await.text().await.unwrap().contains("/console/principals"), "not in the menu");
    for (action, outcome) in [
        ("principal.create", "allow"),
        ("token.create", "allow"),
        ("token.approve", "deny"),
        ("token.approve", "allow"),
        ("token.enroll", "allow"),
        ("token.renew", "allow"),
        ("token.renew", "deny"),
        ("principal.disable", "allow"),
        ("principal.enable", "deny"),
        ("principal.enable", "allow"),
        ("token.revoke", "allow"),
    ] {
        let found = app.audit(&officer, &format!("action={action}&outcome={outcome}")).await;
        assert!(!found.is_empty(), "{action} {outcome} is audited");
    }
}
