//! A data subject's page: dossiers, consents and their history (granting
//! and withdrawing), restriction (`restriction`: the notice before the
//! lift), export, erasure with the reasons it is refused, and recording a
//! request the person made.

use super::compliance::{enc, when};
use super::page::{see_other, Body, Page, Posted};
use crate::archive::{wire_name, ArchiveError, NewConsent};
use crate::web::commands::{ConsentDto, ErasureDto};
use crate::web::error::ApiError;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct OpenParams {
    sid: Option<String>,
}

pub async fn open(page: Page, q: Result<Query<OpenParams>, QueryRejection>) -> Response {
    if let Some(sid) = q.ok().and_then(|Query(q)| q.sid).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()) {
        return see_other(&format!("/console/subjects/{}", enc(&sid)));
    }
    let body = html! {
        form.filters method="get" action="/console/subjects" {
            label { (page.t("Subject id")) input #sid type="text" name="sid" required; }
            button type="submit" { (page.t("Open subject")) }
        }
    };
    page.render(page.t("Subjects"), body)
}

pub async fn show(page: Page, Path(sid): Path<String>) -> Response {
    subject_page(&page, &sid, StatusCode::OK, None).await
}

/// The person's page, answered with `status` and `notice` (a refusal of
/// what the person's page posted) on top.
pub(super) async fn subject_page(page: &Page, sid: &str, status: StatusCode, notice: Option<Markup>) -> Response {
    let a = page.archive();
    let s = match a.subjects().get_subject(&page.ctx, sid).await {
        Ok(s) => s,
        Err(e) => return page.fail(e),
    };
    // A record that does not open fails the page; it is never shown as "none".
    let history = match a.subjects().consent_history(&page.ctx, sid).await {
        Ok(h) => h,
        Err(e @ crate::archive::ArchiveError::Internal(_)) => return page.fail(e),
        Err(_) => Vec::new(),
    };
    let id = s.id.to_string();
    let people = page.names(history.iter().map(|e| e.actor.as_str()));
    let body = html! {
        @if let Some(notice) = notice { (notice) }
        dl #subject {
            dt { (page.t("Status")) } dd #subject-status { (page.value("subject_status", &wire_name(&s.status))) }
            dt { (page.t("Jurisdiction")) } dd { (s.residency) }
            dt { (page.t("Created")) } dd { (when(s.created_at)) }
            dt { (page.t("Restricted")) } dd { (s.restricted_at.map_or("—".to_owned(), when)) }
            dt { (page.t("Dossiers")) } dd { @for d in &s.dossiers { a href={ "/console/dossiers/" (d) } { (d) } " " } }
        }
        h2 { (page.t("Consents")) }
        table #consents {
            thead { tr { th { (page.t("Purpose")) } th { "basis" } th { (page.t("Created")) } th { "notice" } th { "effective" } } }
            tbody { @for c in &s.consents {
                tr { td { (page.value("purpose", &c.purpose)) } td { (page.value("basis", &wire_name(&c.basis))) } td { (when(c.granted_at)) } td { (c.notice.as_deref().unwrap_or("—")) } td { (c.effective) } }
            } }
        }
        @if !s.consents.is_empty() {
            div.actions { @for c in &s.consents {
                form method="post" action={ "/console/subjects/" (id) "/consents/withdraw" } {
                    (page.csrf_field()) input type="hidden" name="purpose" value=(c.purpose);
                    button type="submit" { (page.t("Withdraw")) " " (crate::domain::labels::label_or_wire("purpose", &c.purpose, page.session.lang)) }
                }
            } }
        }
        form #consent-form method="post" action={ "/console/subjects/" (id) "/consents" } {
            (page.csrf_field())
            label { (page.t("Purpose")) select name="purpose" { @for p in page.archive().consent_purpose_ids() { option value=(p) { (p) } } } }
            label { "basis" select name="basis" { option value="consent" { "consent" } option value="separate_consent" { "separate_consent" } } }
            label { (page.t("Evidence")) input type="text" name="evidence" maxlength="2000" required; }
            label { (page.t("Given (RFC 3339; empty: now)")) input type="text" name="granted_at" placeholder="2026-12-01T09:30:00+08:00"; }
            button type="submit" { (page.t("Record consent")) }
        }
        h2 { (page.t("Consent history")) }
        table #consent-history {
            thead { tr { th { "#" } th { (page.t("Kind")) } th { (page.t("Purpose")) } th { (page.t("When")) } th { (page.t("By")) } } }
            tbody { @for e in &history {
                tr { td { (e.event) } td { (page.value("consent_event", &wire_name(&e.kind))) } td { (page.value("purpose", &e.purpose)) } td { (when(e.effective_at)) } td { (people.show(e.actor.as_str())) } }
            } }
        }
        (super::restriction::section(page, &s))
        h2 { (page.t("Actions")) }
        div.actions {
            // Posted with the session's CSRF token: an export of a person's
            // data is never a link another site, a prefetch or a history
            // entry can set off.
            // An export answers the person's own verified access or
            // portability request, named here.
            form #export-form method="post" action={ "/console/subjects/" (id) "/export" } {
                (page.csrf_field())
                label { (page.t("Request it answers")) input #export-request type="text" name="request" maxlength="40" pattern="req_[0-9a-z]{26}" required; }
                button #export type="submit" { (page.t("Export (JSON)")) }
            }
            (super::registers::new_request_form(page, &id))
            form #erase-form method="post" action={ "/console/subjects/" (id) "/erasure" } {
                (page.csrf_field())
                label { (page.t("Ground")) input #ground type="text" name="reason" maxlength="2000" required; }
                button #erase type="submit" { (page.t("Erase")) }
            }
        }
    };
    page.render_status(status, &format!("{} {id}", page.t("Subject")), body)
}

/// A consent, as `POST /v1/subjects/{sid}/consents` takes it (given now
/// unless the form says when).
pub async fn grant(Path(sid): Path<String>, Posted(page, f): Posted) -> Response {
    let offers = &["purpose", "basis", "evidence", "granted_at"];
    let how = Body { defaults: vec![("granted_at", page.now_text())], ..Body::offering(offers) };
    let consent = match page.command::<ConsentDto, NewConsent>(&f, how) {
        Ok(c) => c,
        Err(resp) => return *resp,
    };
    let done = page.archive().subjects().grant_consent(&page.ctx, &sid, consent).await;
    back_to_subject(&page, &sid, done)
}

/// After a change posted from the person's page: back to it, or the refusal.
pub(super) fn back_to_subject<T>(page: &Page, sid: &str, done: Result<T, ArchiveError>) -> Response {
    match done {
        Ok(_) => see_other(&format!("/console/subjects/{}", enc(sid))),
        Err(e) => page.fail(e),
    }
}

pub async fn withdraw(Path(sid): Path<String>, Posted(page, f): Posted) -> Response {
    let Some(purpose) = f.get("purpose") else {
        return page.error_page(ApiError::bad_request("which consent to withdraw"));
    };
    match page.archive().subjects().withdraw_consent(&page.ctx, &sid, purpose).await {
        Ok(_) => see_other(&format!("/console/subjects/{}", enc(&sid))),
        Err(e) => page.fail(e),
    }
}

/// The person's export for the request the form names (the same use case,
/// and the same refusal, as `GET /v1/subjects/{sid}/export?request=`).
pub async fn export(Path(sid): Path<String>, Posted(page, f): Posted) -> Response {
    let request = f.get("request").map(str::trim).filter(|r| !r.is_empty());
    match page.archive().registers().export_for_request(&page.ctx, &sid, request).await {
        Ok(v) => {
            let mut resp = serde_json::to_vec_pretty(&v).unwrap_or_default().into_response();
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}.json\"", enc(&sid))) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            resp
        }
        Err(e) => page.fail(e),
    }
}

/// An erasure, as `POST /v1/subjects/{sid}/erasure` takes it.
pub async fn erase(Path(sid): Path<String>, Posted(page, f): Posted) -> Response {
    let ErasureDto { reason } = match page.body::<ErasureDto>(&f, Body::offering(&["reason"])) {
        Ok(d) => d,
        Err(resp) => return *resp,
    };
    match page.archive().retention().erase_subject(&page.ctx, &sid, &reason).await {
        Ok(cert) => {
            let body = html! {
                p.ok #erased { (page.t("Erased.")) " " a href={ "/console/certificates/" (cert) } { (page.t("Certificate")) " " (cert) } }
            };
            page.render(page.t("Erase"), body)
        }
        Err(e) => {
            let api = ApiError::from(e);
            if api.status == StatusCode::CONFLICT {
                // The reasons the erasure cannot go ahead (a legal hold, a
                // keep rule), as the API gives them.
                let body = html! {
                    div.error #erasure-refused role="alert" {
                        p { strong { (page.t("Erasure refused")) } }
                        p.detail { (api.detail) }
                        p { a href={ "/console/subjects/" (enc(&sid)) } { (page.t("Back")) } }
                    }
                };
                return page.render_status(StatusCode::CONFLICT, page.t("Erasure refused"), body);
            }
            page.error_page(api)
        }
    }
}
