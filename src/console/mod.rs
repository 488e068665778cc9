//! The web console at `/console`: server-rendered pages (maud, checked at
//! compile time) over the same archive use cases as the REST API, with the
//! same policies and the same audit entries. No JavaScript; a strict
//! Content-Security-Policy; server-side sessions in an `HttpOnly`,
//! `SameSite=Strict` cookie; a CSRF token in every form; no personal value
//! or token in a URL or a page title (searches are posted, not put in the
//! query string).

mod admin;
mod analysis;
mod backups;
mod charts;
mod compliance;
mod dossier;
mod dossier_view;
mod edit;
mod enroll;
mod governance;
pub mod i18n;
mod import;
mod incidents;
mod page;
mod people;
mod processing_records;
mod registers;
mod restriction;
mod signin;
mod start;
mod subjects;

use crate::web::AppState;
use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

pub use page::{Page, Posted};

/// The stylesheet, served from the binary (the CSP allows only `'self'`).
const CSS: &str = include_str!("console.css");

/// The CSP of every console answer: no script at all, styles and images
/// from the console only, forms only to the console, never framed.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
                       frame-ancestors 'none'; base-uri 'none'";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(start::start))
        .route("/console/", get(start::start))
        .route("/console/analysis", get(compliance::overview))
        .route("/console/tokens/{id}/approve", post(start::approve_token))
        .route("/console/tokens/{id}/revoke", post(admin::revoke_token))
        .route("/console/tokens/{id}/renew", post(admin::renew_token))
        .route("/console/tokens", get(admin::my_tokens))
        .route("/console/principals", get(admin::principals).post(admin::create_principal))
        .route("/console/principals/{id}", get(admin::principal))
        .route("/console/principals/{id}/tokens", post(admin::ask_token))
        .route("/console/principals/{id}/{action}", post(admin::principal_action))
        .route("/console/enroll", get(enroll::enroll_form).post(enroll::enroll))
        .route("/console/login/forget", post(enroll::forget))
        .route("/console/analysis/report.csv", get(analysis::report_csv))
        .route("/console/export", get(analysis::export_form).post(analysis::export))
        .route("/console/dossiers/{id}/figures.csv", get(analysis::figures_csv))
        .route("/console/dossiers/{id}/figures", get(analysis::figures_page).post(analysis::put_figures))
        .route("/console/login", get(signin::login_form).post(signin::login))
        .route("/console/logout", post(page::logout))
        .route("/console/purpose", post(page::set_purpose))
        .route("/console/lang", post(page::set_lang))
        .route("/console/static/console.css", get(css))
        .route("/console/search", get(dossier::search_form_page).post(dossier::search))
        .route("/console/dossiers", get(dossier::open))
        .route("/console/dossiers/new", get(edit::new_form).post(edit::create))
        .route("/console/dossiers/{id}", get(dossier::show))
        .route("/console/dossiers/{id}/edit", get(edit::edit_form).post(edit::update))
        .route("/console/dossiers/{id}/diff", get(dossier::diff))
        .route("/console/dossiers/{id}/documents", post(dossier::upload))
        .route("/console/dossiers/{id}/document", post(dossier::download))
        .route("/console/dossiers/{id}/interactions", post(dossier::add_interaction))
        .route("/console/dossiers/{id}/reviews", post(dossier::add_review))
        .route("/console/dossiers/{id}/holds", post(dossier::place_hold))
        .route("/console/dossiers/{id}/holds/{hold}/release", post(dossier::release_hold))
        .route("/console/audit", get(compliance::audit))
        .route("/console/audit/checkpoint", get(compliance::checkpoint))
        .route("/console/audit/verifier-key", get(compliance::verifier_key))
        .route("/console/audit/{seq}", get(compliance::entry))
        .route("/console/alerts", get(compliance::alerts))
        .route("/console/disposition", get(compliance::disposition))
        .route("/console/disposition/batches", post(compliance::propose))
        .route("/console/disposition/batches/{id}", get(compliance::batch))
        .route("/console/disposition/batches/{id}/approve", post(compliance::approve))
        .route("/console/certificates/{id}", get(compliance::certificate))
        .route("/console/subjects", get(subjects::open))
        .route("/console/subjects/{sid}", get(subjects::show))
        .route("/console/subjects/{sid}/restriction", post(restriction::restrict))
        .route("/console/subjects/{sid}/export", post(subjects::export))
        .route("/console/subjects/{sid}/erasure", post(subjects::erase))
        .route("/console/subjects/{sid}/consents", post(subjects::grant))
        .route("/console/subjects/{sid}/consents/withdraw", post(subjects::withdraw))
        .route("/console/subjects/{sid}/requests", post(registers::create_request))
        .route("/console/subjects/{sid}/restriction/notice", post(restriction::notice))
        .route("/console/requests", get(registers::requests))
        .route("/console/requests/{id}", get(registers::request).post(registers::change_request))
        .route("/console/incidents", get(incidents::incidents).post(incidents::create))
        .route("/console/incidents/{id}", get(incidents::incident))
        .route("/console/incidents/{id}/affected", post(incidents::derive_affected))
        .route("/console/incidents/{id}/affected/{n}", get(incidents::affected_list))
        .route("/console/incidents/{id}/notifications", post(incidents::notify))
        .route("/console/incidents/{id}/exemption", post(incidents::exemption))
        .route("/console/incidents/{id}/notice", get(incidents::notice))
        .route("/console/recipients", get(governance::recipients).post(governance::create_recipient))
        .route("/console/recipients/{id}", get(governance::recipient))
        .route("/console/recipients/{id}/attestation", post(governance::attest))
        .route("/console/assessments", get(governance::assessments).post(governance::create_assessment))
        .route("/console/assessments/{id}/report", get(governance::report))
        .route("/console/records-of-processing", get(processing_records::page))
        .route("/console/records-of-processing.csv", get(processing_records::csv))
        .route("/console/backups", get(backups::list).post(backups::create))
        // A sheet has the document limit (max_document_bytes), enforced while reading (`web::import`).
        .route(
            "/console/import",
            get(import::form_page).post(import::run).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/console/{*rest}", get(page::not_found).post(page::not_found))
        .layer(axum::middleware::from_fn(security_headers))
}

async fn css() -> Response {
    let mut resp = Response::new(CSS.into());
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    resp
}

/// Headers on every console answer: the CSP, no framing, no sniffing, no
/// referrer (a dossier id stays on this site), and no caching of pages that
/// show personal data.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
