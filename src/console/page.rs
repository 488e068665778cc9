//! The console's frame: the session extractor (`Page`), the CSRF-checked
//! form extractor (`Posted`), the page layout, error pages, sign-out,
//! purpose and language (sign-in is `signin`'s).

use super::i18n::{t, Lang};
use crate::archive::gate::Operation;
use crate::archive::{ArchiveError, RequestCtx, StatedPurpose};
use crate::domain::{Purpose, Role};
use crate::web::error::ApiError;
use crate::web::session::{same, SessionView};
use crate::web::{AppState, CorrelationId};
use axum::extract::{Form, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

pub const SESSION_COOKIE: &str = "custos_session";
pub(super) const LOGIN_COOKIE: &str = "custos_login";
const LANG_COOKIE: &str = "custos_lang";

/// A signed-in person's request: their context (principal, token id, the
/// session's purpose, request id) exactly as the API would build it.
pub struct Page {
    pub ctx: RequestCtx,
    pub session: SessionView,
    pub purposes: Vec<String>,
    pub state: AppState,
}

pub(super) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `Secure` when the request came over TLS (a proxy says so); adding it
/// where it is not needed only keeps the cookie off plain HTTP.
fn secure(headers: &HeaderMap) -> &'static str {
    if crate::web::over_tls(headers) {
        "; Secure"
    } else {
        ""
    }
}

pub(super) fn set_cookie(resp: &mut Response, name: &str, value: &str, max_age: Option<i64>, headers: &HeaderMap) {
    set_cookie_at(resp, name, value, max_age, "/console", headers);
}

/// A cookie sent back only to `path` and below.
pub(super) fn set_cookie_at(
    resp: &mut Response,
    name: &str,
    value: &str,
    max_age: Option<i64>,
    path: &str,
    headers: &HeaderMap,
) {
    let age = max_age.map_or(String::new(), |a| format!("; Max-Age={a}"));
    let c = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict{age}{}", secure(headers));
    if let Ok(v) = HeaderValue::from_str(&c) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

pub fn see_other(to: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

pub(super) fn lang_of(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE).and_then(Lang::parse).unwrap_or(Lang::Zh)
}

/// The purpose a role usually states, if the person may state it.
pub(super) fn usual_purpose(roles: &[Role], allowed: &[String]) -> Option<String> {
    let usual = roles.iter().find_map(|r| match r {
        Role::Sales | Role::Service | Role::Processor => Some("service_delivery"),
        Role::Finance => Some("credit_assessment"),
        Role::Compliance | Role::Auditor => Some("legal_compliance"),
        Role::Admin => None,
    });
    usual.filter(|u| allowed.iter().any(|a| a == u)).map(str::to_owned).or_else(|| allowed.first().cloned())
}

impl FromRequestParts<AppState> for Page {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let now = state.archive.now();
        let Some(session) = cookie(&parts.headers, SESSION_COOKIE).and_then(|id| state.console.touch(id, now)) else {
            return Err(see_other("/console/login"));
        };
        let peer = parts.extensions.get::<crate::web::listener::Peer>().map(|p| p.0.ip());
        let found = state.archive.identity().authenticate(&session.token);
        let (principal, token_id) = match found {
            Ok((principal, token_id, crate::archive::Standing::Bound)) => (principal, token_id),
            _ => {
                // Revoked or expired since sign-in, its factor reset, or its
                // principal locked out: the session ends with it.
                state.console.remove(&session.id_hash);
                return Err(see_other("/console/login"));
            }
        };
        tracing::Span::current().record("actor", principal.id.as_str());
        if principal.has_role(Role::Admin) {
            if let Some(peer) = peer {
                state.archive.identity().note_admin_address(&principal.id, peer);
            }
        }
        let request_id = parts.extensions.get::<CorrelationId>().map(|r| r.0.clone()).unwrap_or_default();
        let purpose = match session.purpose.as_deref().and_then(Purpose::parse) {
            Some(p) => StatedPurpose::Given(p),
            None => StatedPurpose::Missing,
        };
        let purposes = state.archive.gate().purposes_for(&principal);
        let ctx = RequestCtx::new(principal, token_id, purpose, request_id);
        let page = Page { ctx, session, purposes, state: state.clone() };
        if let Some(limiter) = &state.limiter {
            if let Err(not_until) = limiter.check_key(&page.ctx.principal.id) {
                use governor::clock::{Clock, DefaultClock};
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                // Audited in aggregate, as on the API (`archive::auth_failures`).
                let e = crate::web::rate_refusal(state, &page.ctx.principal.id, wait);
                let close = e.close;
                let mut resp = page.error_page(e);
                if close {
                    resp.headers_mut().insert(header::CONNECTION, axum::http::HeaderValue::from_static("close"));
                }
                return Err(resp);
            }
        }
        crate::web::note_authenticated(parts, &page.ctx);
        Ok(page)
    }
}

/// A signed-in person's form post whose CSRF token matched the session's.
pub struct Posted(pub Page, pub Fields);

pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// A field's value, trimmed; `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }
}

/// How a form's fields become the API body `D` ([`Page::command`]).
pub struct Body<'a> {
    /// The names the form offers (besides its CSRF token): any other is
    /// refused, so a hand-made post cannot set a part of the body the page
    /// does not offer (who verified a person, a recipient).
    pub offers: &'a [&'a str],
    /// A form name the body calls otherwise: `(name, pointer)`; an empty
    /// pointer drops the field (a form's own switch).
    pub renamed: &'a [(&'a str, &'a str)],
    /// Values the form may leave empty (`(pointer, value)`).
    pub defaults: Vec<(&'a str, String)>,
    /// Values the server sets, whatever the form says (who verified).
    pub fixed: Vec<(&'a str, String)>,
}

impl<'a> Body<'a> {
    /// A form offering `names`, read as they are.
    pub fn offering(names: &'a [&'a str]) -> Self {
        Body { offers: names, renamed: &[], defaults: Vec::new(), fixed: Vec::new() }
    }
}

impl Page {
    /// A form post read as the API's body `D` and made into the command `C`
    /// by the API's own conversion: one check of a command's shape for both
    /// front ends (`web::form`). A failing field comes back as the form's
    /// 422 page, listing what failed.
    pub fn command<D, C>(&self, f: &Fields, how: Body<'_>) -> Result<C, Box<Response>>
    where
        D: utoipa::ToSchema + serde::de::DeserializeOwned,
        C: TryFrom<D, Error = Vec<crate::domain::dossier::FieldError>>,
    {
        let dto = self.body::<D>(f, how)?;
        C::try_from(dto).map_err(|errors| Box::new(self.error_page(ApiError::invalid(errors))))
    }

    /// A form post read as the API's body `D` (see [`Page::command`]).
    pub fn body<D>(&self, f: &Fields, how: Body<'_>) -> Result<D, Box<Response>>
    where
        D: utoipa::ToSchema + serde::de::DeserializeOwned,
    {
        if f.0.iter().any(|(k, _)| k != "csrf" && !how.offers.contains(&k.as_str())) {
            return Err(Box::new(
                self.error_page(ApiError::bad_request("the form names a field this page does not offer")),
            ));
        }
        let pointer = |name: &str| {
            how.renamed.iter().find(|(n, _)| *n == name).map_or_else(|| name.to_owned(), |(_, p)| (*p).to_owned())
        };
        let mut pairs: Vec<(String, &str)> =
            f.0.iter()
                .filter(|(k, v)| k != "csrf" && !v.trim().is_empty())
                .map(|(k, v)| (pointer(k), v.as_str()))
                .filter(|(p, _)| !p.is_empty() && !how.fixed.iter().any(|(f, _)| f == p))
                .collect();
        for (p, v) in &how.defaults {
            if !pairs.iter().any(|(q, _)| q == p) {
                pairs.push(((*p).to_owned(), v.as_str()));
            }
        }
        pairs.extend(how.fixed.iter().map(|(p, v)| ((*p).to_owned(), v.as_str())));
        crate::web::form::decode(pairs.iter().map(|(p, v)| (p.as_str(), *v))).map_err(|e| Box::new(self.error_page(e)))
    }

    /// The current time as the API's bodies write it.
    pub fn now_text(&self) -> String {
        self.archive().now().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
    }
}

impl FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let page = Page::from_request_parts(&mut parts, state).await?;
        let req = Request::from_parts(parts, body);
        let Form(fields) = Form::<Vec<(String, String)>>::from_request(req, state)
            .await
            .map_err(|_| page.error_page(ApiError::bad_request("the form could not be read")))?;
        let fields = Fields(fields);
        if !fields.get("csrf").is_some_and(|c| same(c, &page.session.csrf)) {
            return Err(page.csrf_refused());
        }
        Ok(Posted(page, fields))
    }
}

impl Page {
    pub fn t(&self, en: &'static str) -> &'static str {
        t(self.session.lang, en)
    }

    pub fn archive(&self) -> &crate::archive::Archive {
        &self.state.archive
    }

    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.session.csrf); }
    }

    /// 403 for a post without the session's CSRF token.
    pub fn csrf_refused(&self) -> Response {
        let e = ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf",
            self.t("The form has expired; reload the page and try again."),
        );
        self.error_page(e)
    }

    pub fn render(&self, title: &str, body: Markup) -> Response {
        self.render_status(StatusCode::OK, title, body)
    }

    pub fn render_status(&self, status: StatusCode, title: &str, body: Markup) -> Response {
        let lang = self.session.lang;
        let p = &self.ctx.principal;
        // The menu asks the same decisions the use cases make.
        let a = self.archive().gate();
        let audit = a.may(p, Operation::AuditRead);
        let registers = a.may(p, Operation::RegisterRead);
        let nav: Vec<(&str, &'static str)> = [
            (true, "/console", "Today"),
            (a.customer_scope(p).is_some() || audit, "/console/analysis", "Analysis"),
            (a.customer_scope(p).is_some(), "/console/search", "Search"),
            (a.may_create_dossier(p), "/console/dossiers/new", "New dossier"),
            (a.may_create_dossier(p), "/console/import", "Import"),
            (a.customer_scope(p).is_some(), "/console/export", "Export"),
            (audit, "/console/audit", "Audit log"),
            (audit, "/console/alerts", "Alerts"),
            (a.may_manage_disposition(p), "/console/disposition", "Disposition"),
            (a.may(p, Operation::RegisterKeep), "/console/subjects", "Subjects"),
            (registers, "/console/requests", "Requests"),
            (registers, "/console/incidents", "Incidents"),
            (a.may(p, Operation::Administer), "/console/backups", "Backups"),
            (registers, "/console/recipients", "Recipients"),
            (registers, "/console/assessments", "Impact assessments"),
            (registers, "/console/records-of-processing", "Records of processing"),
            (a.may(p, Operation::Administer), "/console/principals", "People and access"),
            (true, "/console/tokens", "My tokens"),
        ]
        .into_iter()
        .filter(|(shown, _, _)| *shown)
        .map(|(_, href, label)| (href, label))
        .collect();
        let roles = super::people::roles(lang, p.roles.iter().map(|r| r.as_str()));
        let markup = html! {
                (DOCTYPE)
                html lang=(lang.code()) {
        (head(lang, title))
                    body {
                        header.top {
                            a.brand href="/console" { "custos" }
                            nav.main aria-label=(t(lang, "Main menu")) { ul { @for (href, label) in &nav { li { a href=(href) { (t(lang, label)) } } } } }
                            div.who {
                                span { (t(lang, "Signed in as")) " " strong #who title=(p.id.as_str()) { (p.name) } " (" (roles) @if !p.department.is_empty() { " · " (p.department) } ")" }
                                @if !self.purposes.is_empty() {
                                    form.inline method="post" action="/console/purpose" {
                                        (self.csrf_field())
                                        label for="purpose" { (t(lang, "Purpose")) }
                                        select #purpose name="purpose" {
                                            @for id in &self.purposes {
                                                option value=(id) selected[self.session.purpose.as_deref() == Some(id.as_str())] { (crate::domain::labels::label_or_wire("purpose", id, lang)) }
                                            }
                                        }
                                        button type="submit" { (t(lang, "Apply")) }
                                    }
                                }
                                form.inline method="post" action="/console/lang" {
                                    (self.csrf_field())
                                    input type="hidden" name="lang" value=(if lang == Lang::Zh { "en" } else { "zh-CN" });
                                    button type="submit" lang=(if lang == Lang::Zh { "en" } else { "zh-CN" }) title=(t(lang, "Language")) { (if lang == Lang::Zh { "English" } else { "中文" }) }
                                }
                                form.inline method="post" action="/console/logout" {
                                    (self.csrf_field())
                                    button #signout type="submit" { (t(lang, "Sign out")) }
                                }
                            }
                        }
                        main { h1 { (title) } (body) }
                    }
                }
            };
        (status, markup).into_response()
    }

    /// An error from a use case, in the page: its status and the API's
    /// problem detail (which never carries a personal value).
    pub fn fail(&self, e: ArchiveError) -> Response {
        self.error_page(ApiError::from(e))
    }

    pub fn error_page(&self, e: ApiError) -> Response {
        let body = html! {
            div.error role="alert" {
                p { strong { (e.status.as_u16()) " " (e.status.canonical_reason().unwrap_or("")) } }
                p.detail { (e.detail) }
                @if let Some(errors) = &e.errors {
                    ul #field-errors { @for fe in errors {
                        li { @if let Some(name) = super::dossier::field_name(self, &fe.path) { (name) " " }
                             span.mono.path { (fe.path) } ": " (fe.message) }
                    } }
                }
                @if let crate::web::error::Extension::Certificate(cert) = &e.extension {
                    p { (self.t("This dossier was destroyed.")) " "
                        a href={ "/console/certificates/" (cert) } { (self.t("Certificate")) " " (cert) } }
                }
            }
        };
        self.render_status(e.status, self.t("Error"), body)
    }
}

/// A page's `<head>`: its title names the page (and an id at most), never a
/// personal value.
fn head(lang: Lang, title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · " (t(lang, "custos console")) }
            link rel="stylesheet" href="/console/static/console.css";
        }
    }
}

/// Answers that are not a page of a signed-in person: the sign-in form.
pub(super) fn bare(lang: Lang, status: StatusCode, title: &str, body: Markup) -> Response {
    let markup = html! {
            (DOCTYPE)
            html lang=(lang.code()) {
    (head(lang, title))
                body { main.narrow { h1 { (title) } (body) } }
            }
        };
    (status, markup).into_response()
}

pub async fn logout(State(s): State<AppState>, headers: HeaderMap, Posted(page, _): Posted) -> Response {
    s.console.remove(&page.session.id_hash);
    let mut resp = see_other("/console/login");
    set_cookie(&mut resp, SESSION_COOKIE, "", Some(0), &headers);
    resp
}

pub async fn set_purpose(Posted(page, f): Posted) -> Response {
    match f.get("purpose") {
        Some(p) if page.purposes.iter().any(|a| a == p) => {
            page.state.console.set_purpose(&page.session.id_hash, Some(p.to_owned()));
            see_other("/console")
        }
        _ => page.error_page(ApiError::bad_request("not a purpose your role may state")),
    }
}

/// The language, for signed-in people (in the session) and on the sign-in
/// page (a cookie; the login nonce is its CSRF token there).
pub async fn set_lang(State(s): State<AppState>, headers: HeaderMap, Form(f): Form<Vec<(String, String)>>) -> Response {
    let f = Fields(f);
    let Some(lang) = f.get("lang").and_then(Lang::parse) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let session = cookie(&headers, SESSION_COOKIE).and_then(|id| s.console.touch(id, s.archive.now()));
    let csrf_ok = match &session {
        Some(sess) => f.get("csrf").is_some_and(|c| same(c, &sess.csrf)),
        None => matches!((f.get("csrf"), cookie(&headers, LOGIN_COOKIE)), (Some(a), Some(b)) if same(a, b)),
    };
    if !csrf_ok {
        return (StatusCode::FORBIDDEN, t(lang, "The form has expired; reload the page and try again."))
            .into_response();
    }
    if let Some(sess) = &session {
        s.console.set_lang(&sess.id_hash, lang);
    }
    let mut resp = see_other(if session.is_some() { "/console" } else { "/console/login" });
    set_cookie(&mut resp, LANG_COOKIE, lang.code(), Some(365 * 86_400), &headers);
    resp
}

pub async fn not_found(page: Page) -> Response {
    page.error_page(ApiError::new(StatusCode::NOT_FOUND, "not-found", page.t("Not found")))
}

/// An optional text field parsed; the error names the field.
pub fn parse_opt<T>(v: Option<&str>, what: &str, parse: impl Fn(&str) -> Option<T>) -> Result<Option<T>, String> {
    match v.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => parse(v).map(Some).ok_or_else(|| format!("{what} is malformed")),
    }
}
