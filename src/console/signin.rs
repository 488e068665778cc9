//! Sign-in: the person's token and their second factor's current code (or
//! a recovery code). A person with no second factor yet is given one to add
//! to their authenticator app and signs in again with its first code, which
//! confirms it (their recovery codes are shown once) and binds the token to
//! it. Every code checked is audited and counts towards the lockout of
//! `policies/authentication.toml`, as on the API.

use super::enroll::DEVICE_COOKIE;
use super::i18n::{t, Lang};
use super::page::{bare, cookie, lang_of, see_other, set_cookie, usual_purpose, LOGIN_COOKIE, SESSION_COOKIE};
use crate::archive::{ArchiveError, Denial, RequestCtx, Standing, StatedPurpose, MAX_CODE};
use crate::web::session::{random_token, same};
use crate::web::{AppState, CorrelationId};
use axum::extract::{Form, FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{html, Markup};

/// The sign-in form (with a new login nonce), after `message` if any.
fn login_page(headers: &HeaderMap, status: StatusCode, message: Option<&'static str>) -> Response {
    let lang = lang_of(headers);
    form_page(headers, status, t(lang, "Sign in"), message, html! {})
}

/// A page with the sign-in form below `before`: the token and the code.
fn form_page(
    headers: &HeaderMap,
    status: StatusCode,
    title: &str,
    message: Option<&'static str>,
    before: Markup,
) -> Response {
    let lang = lang_of(headers);
    let nonce = random_token();
    let device = cookie(headers, DEVICE_COOKIE).is_some_and(|d| !d.is_empty());
    let body = html! {
        @if let Some(m) = message { p.error role="alert" { (t(lang, m)) } }
        (before)
        form method="post" action="/console/login" {
            input type="hidden" name="csrf" value=(nonce);
            @if device {
                p #device-enrolled { (t(lang, "This device is enrolled: your second factor's code is enough.")) }
                label for="token" { (t(lang, "Access token (another person's, or leave empty)")) }
                input #token type="password" name="token" autocomplete="off";
            } @else {
                label for="token" { (t(lang, "Access token")) }
                input #token type="password" name="token" autocomplete="off" required;
            }
            label for="code" { (t(lang, "Second-factor code")) }
            input #code type="text" name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="64";
            button #signin type="submit" { (t(lang, "Sign in")) }
        }
        @if device {
            form method="post" action="/console/login/forget" {
                input type="hidden" name="csrf" value=(nonce);
                button #forget-device type="submit" { (t(lang, "Forget this device")) }
            }
        } @else {
            p { a #enroll-link href="/console/enroll" { (t(lang, "New here? Enroll with the code your admins gave you")) } }
        }
        form method="post" action="/console/lang" {
            input type="hidden" name="lang" value=(if lang == Lang::Zh { "en" } else { "zh-CN" });
            input type="hidden" name="csrf" value=(nonce);
            button type="submit" lang=(if lang == Lang::Zh { "en" } else { "zh-CN" }) { (if lang == Lang::Zh { "English" } else { "中文" }) }
        }
    };
    let mut resp = bare(lang, status, title, body);
    // Login CSRF: the form's value must come back with this cookie.
    set_cookie(&mut resp, LOGIN_COOKIE, &nonce, Some(600), headers);
    resp
}

pub async fn login_form(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if cookie(&headers, SESSION_COOKIE).and_then(|id| s.console.touch(id, s.archive.now())).is_some() {
        return see_other("/console");
    }
    login_page(&headers, StatusCode::OK, None)
}

pub async fn login(State(s): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let headers = &parts.headers.clone();
    let peer = parts.extensions.get::<crate::web::listener::Peer>().map(|p| p.0.ip());
    let request_id = parts.extensions.get::<CorrelationId>().map(|r| r.0.clone()).unwrap_or_default();
    let f = match Form::<Vec<(String, String)>>::from_request(Request::from_parts(parts, body), &s).await {
        Ok(Form(f)) => super::page::Fields(f),
        Err(_) => return login_page(headers, StatusCode::BAD_REQUEST, Some("Error")),
    };
    let nonce_ok = matches!((f.get("csrf"), cookie(headers, LOGIN_COOKIE)), (Some(a), Some(b)) if same(a, b));
    if !nonce_ok {
        return login_page(
            headers,
            StatusCode::FORBIDDEN,
            Some("The form has expired; reload the page and try again."),
        );
    }
    // A token typed in, or else this device's enrolled one (`enroll`).
    let token = f.get("token").or_else(|| cookie(headers, DEVICE_COOKIE).filter(|d| !d.is_empty()));
    let token = token.filter(|t| t.len() <= 512);
    let identity = s.archive.identity();
    let (principal, token_id, standing) = match token.map(|t| identity.authenticate(t)) {
        Some(Ok(found)) => found,
        Some(Err(ArchiveError::Unauthenticated)) | None => {
            identity.note_auth_failure(peer);
            return login_page(headers, StatusCode::UNAUTHORIZED, Some("The token is not valid."));
        }
        Some(Err(_)) => return login_page(headers, StatusCode::SERVICE_UNAVAILABLE, Some("Error")),
    };
    let ctx = RequestCtx::new(principal, token_id, StatedPurpose::Missing, request_id);
    if standing == Standing::Locked {
        identity.factors().refuse_standing(&ctx, standing).await;
        return login_page(headers, StatusCode::FORBIDDEN, Some(LOCKED));
    }
    let confirmed = match identity.factors().second_factor_confirmed(&ctx.principal.id) {
        Ok(c) => c,
        Err(_) => return login_page(headers, StatusCode::SERVICE_UNAVAILABLE, Some("Error")),
    };
    let code = f.get("code").map(str::trim).filter(|c| !c.is_empty());
    let proven = match (code, confirmed) {
        (Some(code), Some(_)) if code.len() <= MAX_CODE => {
            if standing == Standing::Bound {
                identity.factors().verify_factor(&ctx, code).await
            } else {
                identity.factors().confirm_factor(&ctx, code).await
            }
        }
        (Some(_), Some(_)) => Err(ArchiveError::forbidden(Denial::SecondFactorInvalid)),
        (None, Some(true)) => {
            return login_page(headers, StatusCode::UNAUTHORIZED, Some(CODE_NEEDED));
        }
        // No factor, or one not confirmed and no code: a new one to set up.
        (_, _) => return setup_page(&s, headers, &ctx).await,
    };
    let proven = match proven {
        Ok(p) => p,
        Err(ArchiveError::Forbidden { denial: Denial::SecondFactorLocked, .. }) => {
            return login_page(headers, StatusCode::FORBIDDEN, Some(LOCKED));
        }
        Err(ArchiveError::Forbidden { .. }) => {
            return login_page(headers, StatusCode::UNAUTHORIZED, Some("The code is not valid."));
        }
        Err(_) => return login_page(headers, StatusCode::SERVICE_UNAVAILABLE, Some("Error")),
    };
    tracing::info!(actor = %ctx.principal.id.as_str(), "console sign-in");
    signed_in(&s, headers, &ctx, token.unwrap_or_default(), proven.recovery_codes.as_deref())
}

/// A session for `token` (the person proved it and their second factor):
/// the usual purpose of their roles, the time of their previous visit, the
/// session cookie; the recovery codes once, when this confirmed a factor.
pub(super) fn signed_in(
    s: &AppState,
    headers: &HeaderMap,
    ctx: &RequestCtx,
    token: &str,
    recovery_codes: Option<&[String]>,
) -> Response {
    let allowed = s.archive.gate().purposes_for(&ctx.principal);
    let purpose = usual_purpose(&ctx.principal.roles, &allowed);
    let since = s.archive.identity().directory().note_console_visit(&ctx.principal.id).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "the previous console visit could not be read");
        None
    });
    let id = s.console.create(token, lang_of(headers), purpose, since, s.archive.now());
    let mut resp = match recovery_codes {
        Some(codes) => recovery_page(lang_of(headers), codes),
        None => see_other("/console"),
    };
    set_cookie(&mut resp, SESSION_COOKIE, &id, None, headers);
    set_cookie(&mut resp, LOGIN_COOKIE, "", Some(0), headers);
    resp
}

pub(super) const LOCKED: &str =
    "Locked out after repeated wrong codes: try again later, or ask an admin to unlock you.";
const CODE_NEEDED: &str = "Enter the current code of your authenticator app (or a recovery code).";

/// A new second factor for the person: the secret and its `otpauth://`
/// URI as text, and the form to sign in again with its first code.
async fn setup_page(s: &AppState, headers: &HeaderMap, ctx: &RequestCtx) -> Response {
    let lang = lang_of(headers);
    let setup = match s.archive.identity().factors().begin_factor(ctx).await {
        Ok(setup) => setup,
        Err(ArchiveError::Forbidden { .. }) => return login_page(headers, StatusCode::FORBIDDEN, Some(LOCKED)),
        Err(_) => return login_page(headers, StatusCode::SERVICE_UNAVAILABLE, Some("Error")),
    };
    let before = html! {
        p { (t(lang, "Add this secret to your authenticator app (TOTP, 6 digits, 30 seconds), then sign in with your token and the app's current code.")) }
        dl {
            dt { (t(lang, "Secret")) } dd #factor-secret .mono { (setup.secret.as_str()) }
            dt { "otpauth" } dd #factor-uri .mono { (setup.uri.as_str()) }
        }
    };
    form_page(headers, StatusCode::OK, t(lang, "Set up your second factor"), None, before)
}

/// The recovery codes of a factor just confirmed, shown once.
fn recovery_page(lang: Lang, codes: &[String]) -> Response {
    let body = html! {
        p { (t(lang, "Keep these recovery codes somewhere safe: each works once in place of a code, and they are shown only now.")) }
        ul #recovery-codes { @for c in codes { li.mono { (c) } } }
        p { a #continue href="/console" { (t(lang, "Continue")) } }
    };
    bare(lang, StatusCode::OK, t(lang, "Recovery codes"), body)
}
