//! MLPS level 3 authentication over HTTP: the bootstrap token serves only
//! to set up a second factor; a token is issued only after its holder
//! proves the factor (wrong, replayed and out-of-window codes refused);
//! repeated wrong codes lock the principal out (audited, alerted, kept
//! across a restart) until an admin unlocks; a reset factor stops its
//! tokens; roles that may not be combined are refused.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic fails the run

mod common;

use common::factor::{code_at, code_of, step_now};
use common::*;
use custos::clock::ManualClock;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use time::macros::datetime;

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(datetime!(2026-03-02 09:00:05 UTC)))
}

/// A new principal with `roles`: its id and the enrollment code of its
/// first token.
async fn code_for_new(app: &TestApp, roles: &[&str]) -> (String, String) {
    let body = json!({"name": "x", "roles": roles, "department": "d", "region": "华东"});
    let r = app.post_as(ADMIN_TOKEN, "/v1/principals", Some(body)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let code = asked_and_approved(app, &id).await;
    (id, code)
}

/// The enrollment code of a token for `id`, asked for by the first admin
/// and approved by the second: the two halves joined.
async fn asked_and_approved(app: &TestApp, id: &str) -> String {
    let asked: Value =
        app.post_as(ADMIN_TOKEN, &format!("/v1/principals/{id}/tokens"), None).await.json().await.unwrap();
    let second = second_admin(&app.client, &app.base, false).await;
    let tid = asked["token_id"].as_str().unwrap();
    let approved: Value = app.post_as(&second, &format!("/v1/tokens/{tid}/approve"), None).await.json().await.unwrap();
    let part = |v: &Value| v["enrollment_code_part"].as_str().unwrap().to_owned();
    format!("{}{}", part(&asked), part(&approved))
}

#[tokio::test]
async fn the_bootstrap_token_only_sets_up_a_second_factor_until_a_current_code_proves_it() {
    let clock = clock();
    let app = spawn_unready(tempfile::tempdir().unwrap(), |_| {}, clock.clone()).await;
    let body = json!({"name": "x", "roles": ["sales"], "department": "d", "region": "华东"});
    let refused = app.post_as(ADMIN_TOKEN, "/v1/principals", Some(body.clone())).await;
    let problem = assert_problem(refused, StatusCode::FORBIDDEN).await;
    assert_eq!(problem["denial"], "second-factor-required");
    assert!(problem["detail"].as_str().unwrap().contains("POST /v1/factor"), "it says how: {problem}");

    let r = app.post_as(ADMIN_TOKEN, "/v1/factor", None).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let setup: Value = r.json().await.unwrap();
    let secret = setup["secret"].as_str().unwrap().to_owned();
    assert!(setup["otpauth_uri"].as_str().unwrap().starts_with("otpauth://totp/custos:"));
    assert_eq!((setup["digits"].as_u64(), setup["period"].as_u64()), (Some(6), Some(30)));

    let now = step_now(&app.base);
    let confirm = |code: String| app.post_as(ADMIN_TOKEN, "/v1/factor/confirm", Some(json!({ "code": code })));
    let wrong = assert_problem(confirm("000000".into()).await, StatusCode::FORBIDDEN).await;
    assert_eq!(wrong["denial"], "second-factor-invalid");
    let too_old = assert_problem(confirm(code_at(&secret, now - 2)).await, StatusCode::FORBIDDEN).await;
    assert_eq!(too_old["denial"], "second-factor-invalid", "two steps back is out of the window");
    let malformed = confirm("x".repeat(65)).await;
    assert_eq!(malformed.status(), StatusCode::UNPROCESSABLE_ENTITY, "bounded at the edge");
    let still = app.post_as(ADMIN_TOKEN, "/v1/principals", Some(body.clone())).await;
    assert_eq!(still.status(), StatusCode::FORBIDDEN, "not bound by a wrong code");

    let r = confirm(code_at(&secret, now)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let proven: Value = r.json().await.unwrap();
    assert_eq!(proven["recovery_codes"].as_array().unwrap().len(), 10);
    let replay = assert_problem(confirm(code_at(&secret, now)).await, StatusCode::FORBIDDEN).await;
    assert_eq!(replay["denial"], "second-factor-invalid", "a code is accepted once");
    let made = app.post_as(ADMIN_TOKEN, "/v1/principals", Some(body)).await;
    assert_eq!(made.status(), StatusCode::CREATED, "bound now: the bootstrap token works");
    let again = app.post_as(ADMIN_TOKEN, "/v1/factor", None).await;
    assert_eq!(again.status(), StatusCode::CONFLICT, "one factor; an admin resets a lost one");
    app.stop().await;
}

#[tokio::test]
async fn a_token_is_issued_only_after_its_holder_proves_the_factor_and_stops_when_it_is_reset() {
    let clock = clock();
    let app = spawn_app_with(tempfile::tempdir().unwrap(), |_| {}, clock.clone()).await;
    let (id, code) = code_for_new(&app, &["service"]).await;
    let enroll = |body: Value| app.client.post(format!("{}/v1/enroll", app.base)).json(&body).send();

    let r = enroll(json!({ "code": code })).await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let set_up: Value = r.json().await.unwrap();
    assert!(set_up.get("token").is_none(), "no token before the factor is proven: {set_up}");
    let secret = set_up["second_factor"]["secret"].as_str().unwrap().to_owned();
    let wrong = enroll(json!({ "code": code, "second_factor": "123456" })).await.unwrap();
    assert_eq!(assert_problem(wrong, StatusCode::FORBIDDEN).await["denial"], "second-factor-invalid");
    let ahead = enroll(json!({ "code": code, "second_factor": code_at(&secret, step_now(&app.base) + 2) }));
    assert_eq!(ahead.await.unwrap().status(), StatusCode::FORBIDDEN, "two steps ahead is out of the window");

    let r = enroll(json!({ "code": code, "second_factor": code_at(&secret, step_now(&app.base)) })).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let enrolled: Value = r.json().await.unwrap();
    let token = enrolled["token"].as_str().unwrap().to_owned();
    let recovery: Vec<String> =
        enrolled["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    assert_eq!(recovery.len(), 10);
    let used = enroll(json!({ "code": code, "second_factor": code_at(&secret, step_now(&app.base) + 1) }));
    assert_eq!(used.await.unwrap().status(), StatusCode::UNAUTHORIZED, "one code, one token");
    let own = app.get(&token, None, &format!("/v1/principals/{id}/tokens")).await;
    assert_eq!(own.status(), StatusCode::OK);

    // A second token for the same person: the factor they have, or a recovery code (once).
    let code2 = asked_and_approved(&app, &id).await;
    let second = second_admin(&app.client, &app.base, false).await;
    let without = enroll(json!({ "code": code2 })).await.unwrap();
    assert_eq!(assert_problem(without, StatusCode::FORBIDDEN).await["denial"], "second-factor-required");
    let r = enroll(json!({ "code": code2, "second_factor": recovery[0] })).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "a recovery code stands in for the app");
    let token2 = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned();

    // The second admin resets the lost factor: every token bound to it stops.
    let r = app.post_as(&second, &format!("/v1/principals/{id}/factor/reset"), None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    for t in [&token, &token2] {
        let r = app.get(t, None, &format!("/v1/principals/{id}/tokens")).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    app.stop().await;
}

#[tokio::test]
async fn wrong_codes_lock_the_principal_out_audited_alerted_across_a_restart_until_an_admin_unlocks() {
    let clock = clock();
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(dir, |_| {}, clock.clone()).await;
    let (_, officer) = app.principal(&["compliance"], "总部").await;
    let (sales_id, sales) = app.principal(&["sales"], "华东").await;
    let own_tokens = format!("/v1/principals/{sales_id}/tokens");
    for n in 1..=4 {
        let r = app.post_as(&sales, "/v1/factor/confirm", Some(json!({"code": "999999"}))).await;
        assert_eq!(assert_problem(r, StatusCode::FORBIDDEN).await["denial"], "second-factor-invalid", "try {n}");
    }
    let r = app.post_as(&sales, "/v1/factor/confirm", Some(json!({"code": "999999"}))).await;
    assert_eq!(assert_problem(r, StatusCode::FORBIDDEN).await["denial"], "second-factor-locked");
    // Locked: the right code is not even checked, and the token is refused everywhere.
    clock.advance(time::Duration::seconds(60));
    let right = code_of(&app.base, &sales_id);
    let r = app.post_as(&sales, "/v1/factor/confirm", Some(json!({ "code": right }))).await;
    assert_eq!(assert_problem(r, StatusCode::FORBIDDEN).await["denial"], "second-factor-locked");
    let r = app.get(&sales, None, &own_tokens).await;
    assert_eq!(assert_problem(r, StatusCode::FORBIDDEN).await["denial"], "second-factor-locked");

    let lockouts = app.audit(&officer, "action=factor.lockout").await;
    assert_eq!(lockouts.len(), 1, "{lockouts:#?}");
    assert_eq!(lockouts[0]["actor"], sales_id.as_str());
    let failures = app.audit(&officer, "action=factor.confirm&outcome=deny").await;
    assert_eq!(failures.len(), 5, "four failures and the fifth that locks: {failures:#?}");
    let refused = app.audit(&officer, "action=factor.required&outcome=deny").await;
    assert_eq!(refused.len(), 2, "the right code and the read, refused unchecked: {refused:#?}");
    assert!(failures.iter().all(|e| !e["reason"].as_str().unwrap().contains("999999")), "no code in the log");
    let alerts: Value = app.get(&officer, None, "/v1/audit/alerts").await.json().await.unwrap();
    let alerts = alerts.as_array().cloned().unwrap_or_else(|| alerts["alerts"].as_array().unwrap().clone());
    assert!(alerts.iter().any(|a| a["rule"] == "second_factor_lockout" && a["actor"] == sales_id.as_str()));

    // The lock is in the store: a restart keeps it.
    let dir = app.stop().await;
    let app = spawn_app_with(dir, |_| {}, clock.clone()).await;
    assert_eq!(app.get(&sales, None, &own_tokens).await.status(), StatusCode::FORBIDDEN);
    // An admin unlocks; the person's token works again.
    let r = app.post_as(ADMIN_TOKEN, &format!("/v1/principals/{sales_id}/factor/unlock"), None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get(&sales, None, &own_tokens).await.status(), StatusCode::OK);
    let again = app.post_as(ADMIN_TOKEN, &format!("/v1/principals/{sales_id}/factor/unlock"), None).await;
    assert_eq!(again.status(), StatusCode::CONFLICT, "not locked any more");
    app.stop().await;
}

#[tokio::test]
async fn roles_of_the_three_administrators_are_not_combined() {
    let app = spawn_app().await;
    for roles in [
        ["admin", "sales"],
        ["admin", "service"],
        ["admin", "finance"],
        ["admin", "compliance"],
        ["admin", "auditor"],
        ["auditor", "compliance"],
        ["auditor", "sales"],
    ] {
        let body = json!({"name": "x", "roles": roles, "department": "d", "region": "华东"});
        let r = app.post_as(ADMIN_TOKEN, "/v1/principals", Some(body)).await;
        let problem = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
        let text = problem.to_string();
        assert!(text.contains("/roles") && text.contains("separation of duties"), "{roles:?}: {problem}");
    }
    let ok = json!({"name": "x", "roles": ["sales", "service"], "department": "d", "region": "华东"});
    assert_eq!(app.post_as(ADMIN_TOKEN, "/v1/principals", Some(ok)).await.status(), StatusCode::CREATED);
    app.stop().await;
}
