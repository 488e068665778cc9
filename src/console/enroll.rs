//! Enrollment by code in the console: a new employee types the enrollment
//! code their admins handed over (the two halves joined), sets up their
//! second factor if they have none, and is signed in, through the same
//! `Identity::enroll` as `POST /v1/enroll` (the same audit entries, the
//! same failure counting). The token the code redeems is never shown: the
//! browser keeps it in an `HttpOnly` cookie sent only to the sign-in form
//! (`/console/login`), so that from then on this device signs in with the
//! second factor's code alone. "Forget this device" on the sign-in page
//! drops the cookie; an admin revoking the token, or resetting the factor,
//! ends it on the server.

use super::i18n::{t, Lang};
use super::page::{bare, cookie, lang_of, set_cookie_at, LOGIN_COOKIE};
use super::signin::{signed_in, LOCKED};
use crate::archive::{ArchiveError, Denial, Enrollment, MAX_CODE};
use crate::web::session::{random_token, same};
use crate::web::{AppState, CorrelationId};
use axum::extract::{Form, FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{html, Markup};

/// The cookie holding an enrolled device's token, sent to the sign-in
/// form only.
pub const DEVICE_COOKIE: &str = "custos_device";
pub const DEVICE_PATH: &str = "/console/login";
/// How long a browser keeps it (the most a browser allows); the token's own
/// lifetime, renewal and revocation decide on the server.
const DEVICE_DAYS: i64 = 400;

/// The longest enrollment code read (a whole code is far shorter).
const MAX_ENROLLMENT_CODE: usize = 200;

/// The enrollment form: the code, and the second factor's code for a
/// person who has one; after `message` and `before`.
fn enroll_page(
    headers: &HeaderMap,
    status: StatusCode,
    message: Option<&'static str>,
    before: Markup,
    code: Option<&str>,
) -> Response {
    let lang = lang_of(headers);
    let nonce = random_token();
    let body = html! {
        @if let Some(m) = message { p.error role="alert" { (t(lang, m)) } }
        (before)
        form method="post" action="/console/enroll" {
            input type="hidden" name="csrf" value=(nonce);
            label for="enrollment-code" { (t(lang, "Enrollment code")) }
            @if let Some(code) = code {
                input #enrollment-code type="password" name="code" value=(code) autocomplete="off" required;
            } @else {
                input #enrollment-code type="password" name="code" autocomplete="off" required;
            }
            label for="code" { (t(lang, "Second-factor code")) }
            input #code type="text" name="second_factor" inputmode="numeric" autocomplete="one-time-code" maxlength="64";
            button #enroll type="submit" { (t(lang, "Enroll this device")) }
        }
        p { a href="/console/login" { (t(lang, "Sign in")) } }
    };
    let mut resp = bare(lang, status, t(lang, "Enroll"), body);
    super::page::set_cookie(&mut resp, LOGIN_COOKIE, &nonce, Some(600), headers);
    resp
}

fn intro(lang: Lang) -> Markup {
    html! {
        p { (t(lang, "Enter the enrollment code your admins gave you: both halves, the first then the second, with nothing between them. If you have no second factor yet, you will be given one to add to your authenticator app.")) }
    }
}

pub async fn enroll_form(headers: HeaderMap) -> Response {
    enroll_page(&headers, StatusCode::OK, None, intro(lang_of(&headers)), None)
}

pub async fn enroll(State(s): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let headers = &parts.headers.clone();
    let lang = lang_of(headers);
    let peer = parts.extensions.get::<crate::web::listener::Peer>().map(|p| p.0.ip());
    let request_id = parts.extensions.get::<CorrelationId>().map(|r| r.0.clone()).unwrap_or_default();
    let again = |status, m| enroll_page(headers, status, Some(m), intro(lang), None);
    let f = match Form::<Vec<(String, String)>>::from_request(Request::from_parts(parts, body), &s).await {
        Ok(Form(f)) => super::page::Fields(f),
        Err(_) => return again(StatusCode::BAD_REQUEST, "Error"),
    };
    let nonce_ok = matches!((f.get("csrf"), cookie(headers, LOGIN_COOKIE)), (Some(a), Some(b)) if same(a, b));
    if !nonce_ok {
        return again(StatusCode::FORBIDDEN, "The form has expired; reload the page and try again.");
    }
    let identity = s.archive.identity();
    let Some(code) = f.get("code").filter(|c| c.len() <= MAX_ENROLLMENT_CODE) else {
        identity.note_auth_failure(peer);
        return again(StatusCode::UNAUTHORIZED, "The enrollment code is not valid.");
    };
    let second = f.get("second_factor");
    if second.is_some_and(|c| c.len() > MAX_CODE) {
        return enroll_page(headers, StatusCode::UNAUTHORIZED, Some("The code is not valid."), intro(lang), Some(code));
    }
    let enrolled = match identity.enroll(code, second, peer, &request_id).await {
        Ok(Enrollment::Enrolled(e)) => e,
        Ok(Enrollment::SetUp(setup)) => {
            let before = html! {
                p { (t(lang, "Add this secret to your authenticator app (TOTP, 6 digits, 30 seconds), then enter the app's current code.")) }
                dl {
                    dt { (t(lang, "Secret")) } dd #factor-secret .mono { (setup.secret.as_str()) }
                    dt { "otpauth" } dd #factor-uri .mono { (setup.uri.as_str()) }
                }
            };
            return enroll_page(headers, StatusCode::OK, None, before, Some(code));
        }
        Err(ArchiveError::Unauthenticated) => {
            identity.note_auth_failure(peer);
            return again(StatusCode::UNAUTHORIZED, "The enrollment code is not valid.");
        }
        Err(ArchiveError::Forbidden { denial: Denial::SecondFactorLocked, .. }) => {
            return again(StatusCode::FORBIDDEN, LOCKED);
        }
        Err(ArchiveError::Forbidden { denial: Denial::SecondFactorRequired, .. }) => {
            let m = "Enter the current code of your authenticator app (or a recovery code).";
            return enroll_page(headers, StatusCode::UNAUTHORIZED, Some(m), intro(lang), Some(code));
        }
        Err(ArchiveError::Forbidden { .. }) => {
            return enroll_page(
                headers,
                StatusCode::UNAUTHORIZED,
                Some("The code is not valid."),
                intro(lang),
                Some(code),
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "console enrollment failed");
            return again(StatusCode::SERVICE_UNAVAILABLE, "Error");
        }
    };
    let (principal, token_id) = match identity.authenticate(&enrolled.token) {
        Ok((p, token_id, _)) => (p, token_id),
        Err(e) => {
            tracing::warn!(error = %e, "a token just enrolled does not authenticate");
            return again(StatusCode::SERVICE_UNAVAILABLE, "Error");
        }
    };
    tracing::info!(actor = %principal.id.as_str(), "console enrollment");
    let ctx = crate::archive::RequestCtx::new(principal, token_id, crate::archive::StatedPurpose::Missing, request_id);
    let mut resp = signed_in(&s, headers, &ctx, &enrolled.token, enrolled.recovery_codes.as_deref());
    set_cookie_at(&mut resp, DEVICE_COOKIE, &enrolled.token, Some(DEVICE_DAYS * 86_400), DEVICE_PATH, headers);
    resp
}

/// `POST /console/login/forget`: this browser forgets its enrolled token
/// (the login nonce is the CSRF token, as on the sign-in form).
pub async fn forget(headers: HeaderMap, Form(f): Form<Vec<(String, String)>>) -> Response {
    let f = super::page::Fields(f);
    let lang = lang_of(&headers);
    if !matches!((f.get("csrf"), cookie(&headers, LOGIN_COOKIE)), (Some(a), Some(b)) if same(a, b)) {
        let body = html! { p.error role="alert" { (t(lang, "The form has expired; reload the page and try again.")) } };
        return bare(lang, StatusCode::FORBIDDEN, t(lang, "Error"), body);
    }
    let mut resp = super::page::see_other("/console/login");
    set_cookie_at(&mut resp, DEVICE_COOKIE, "", Some(0), DEVICE_PATH, &headers);
    resp
}
