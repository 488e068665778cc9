//! The requests register: the queue with its due dates, a request's page
//! (its history, verification, refusal and what answered it) with the
//! steps compliance takes it through (verify, start, complete with what
//! answered it, refuse with a reason code, extend the period once), and
//! recording a request from a subject's page. Incidents are `incidents`'.

use super::compliance::{enc, when};
use super::page::{see_other, Body, Page, Posted};
use super::people::Names;
use crate::archive::gate::Operation;
use crate::archive::registers::{AnswerKind, NewRequest, RequestChange, RequestState, RequestView};
use crate::archive::{from_wire, wire_name};
use crate::web::commands::{NewRequestDto, RequestChangeDto};
use crate::web::error::ApiError;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;

/// The wire names the forms offer (each parses: see the test below).
const REQUEST_KINDS: [&str; 8] =
    ["access", "portability", "rectification", "erasure", "restriction", "objection", "explanation", "withdrawal"];
const CHANNELS: [&str; 6] = ["email", "phone", "web_form", "letter", "in_person", "other"];
const METHODS: [&str; 5] = ["id_document", "known_contact_details", "account_login", "in_person", "other"];
const STATES: [&str; 5] = ["received", "verified", "in_progress", "completed", "refused"];

#[derive(Deserialize, Default)]
pub struct QueueParams {
    state: Option<String>,
}

pub async fn requests(page: Page, q: Result<Query<QueueParams>, QueryRejection>) -> Response {
    let wanted = q.ok().and_then(|Query(q)| q.state).filter(|s| !s.is_empty());
    let state = match wanted.as_deref().map(from_wire::<RequestState>) {
        Some(None) => return page.error_page(ApiError::bad_request("state is not a request state")),
        Some(s) => s,
        None => None,
    };
    let list = match page.archive().registers().list_requests(&page.ctx, state, None, None).await {
        Ok(l) => l,
        Err(e) => return page.fail(e),
    };
    let body = html! {
        form.filters method="get" action="/console/requests" {
            label { (page.t("State")) select name="state" {
                option value="" { (page.t("Any")) }
                @for s in STATES { option value=(s) selected[wanted.as_deref() == Some(s)] { (crate::domain::labels::label_or_wire("request_state", s, page.session.lang)) } }
            } }
            button type="submit" { (page.t("Apply")) }
        }
        table #requests {
            thead { tr { th { "id" } th { (page.t("Subject")) } th { (page.t("Kind")) } th { (page.t("State")) } th { (page.t("Due")) } th { "rule" } } }
            tbody { @for r in &list {
                tr class=(if r.overdue { "overdue" } else { "" }) {
                    td.mono { a href={ "/console/requests/" (enc(&r.id)) } { (r.id) } }
                    td { a href={ "/console/subjects/" (enc(&r.subject_id)) } { (r.subject_id) } }
                    td { (page.value("request_kind", &wire_name(&r.kind))) } td { (page.value("request_state", &wire_name(&r.state))) }
                    td { (when(r.due_at)) @if r.overdue { " " span.badge.withheld { (page.t("overdue")) } } } td { (r.rule) br; small { (r.citation) } }
                }
            } }
        }
        @if list.is_empty() { p { (page.t("No results.")) } }
    };
    page.render(page.t("Requests"), body)
}

pub async fn request(page: Page, Path(id): Path<String>) -> Response {
    match page.archive().registers().get_request(&page.ctx, &id).await {
        Ok(r) => request_page(&page, &r),
        Err(e) => page.fail(e),
    }
}

fn request_page(page: &Page, r: &RequestView) -> Response {
    let people = page.names(
        std::iter::once(r.recorded_by.as_str())
            .chain(r.verified_by.as_deref())
            .chain(r.history.iter().map(|h| h.by.as_str()))
            .chain(r.changes.iter().map(|c| c.by.as_str())),
    );
    let action = format!("/console/requests/{}", enc(&r.id));
    let open = r.state.is_open() && page.archive().gate().may(&page.ctx.principal, Operation::RegisterKeep);
    let codes = page.archive().refusal_codes();
    let body = html! {
        dl #request {
            dt { (page.t("Subject")) } dd { a href={ "/console/subjects/" (enc(&r.subject_id)) } { (r.subject_id) } }
            dt { (page.t("Kind")) } dd { (page.value("request_kind", &wire_name(&r.kind))) }
            dt { (page.t("State")) } dd #request-state { (page.value("request_state", &wire_name(&r.state))) }
            dt { (page.t("Received")) } dd { (when(r.received_at)) " (" (page.value("request_channel", &wire_name(&r.channel))) ")" }
            dt { (page.t("Due")) } dd { (when(r.due_at)) @if r.extended { " " span.badge.masked { (page.t("extended")) } }
                @if r.overdue { " " span.badge.withheld { (page.t("overdue")) } } }
            dt { "rule" } dd { (r.rule) " — " (r.citation) }
        }
        (request_details(page, r, &people))
        h2 { (page.t("History")) }
        table #request-history {
            thead { tr { th { (page.t("State")) } th { (page.t("When")) } th { (page.t("By")) } } }
            tbody { @for h in &r.history {
                tr { td { (page.value("request_state", &wire_name(&h.state))) } td { (when(h.at)) } td { (people.show(h.by.as_str())) } }
            } }
        }
        @if !r.answered_by.is_empty() {
            h2 { (page.t("Answered by")) }
            ul #answered-by { @for a in &r.answered_by { li {
                (page.value("answer_kind", &wire_name(&a.kind))) " "
                @match a.kind {
                    AnswerKind::AuditEntry => a.mono href={ "/console/audit/" (enc(&a.reference)) } { (a.reference) },
                    AnswerKind::Certificate => a.mono href={ "/console/certificates/" (enc(&a.reference)) } { (a.reference) },
                }
                @if !a.action.is_empty() { " — " (page.value("action", &a.action)) }
            } } }
        }
        @if open {
            h2 { (page.t("Actions")) }
            div.actions {
                @if r.state == RequestState::Received {
                    form #verify-form method="post" action=(action) {
                        (page.csrf_field()) input type="hidden" name="change" value="verify";
                        label { (page.t("Verification method")) select name="method" { @for m in METHODS { option value=(m) { (page.label("verification_method", m)) } } } }
                        label { (page.t("Note")) input type="text" name="note" maxlength="2000"; }
                        button type="submit" { (page.t("Identity verified")) }
                    }
                }
                @if r.state == RequestState::Verified {
                    form method="post" action=(action) {
                        (page.csrf_field()) input type="hidden" name="change" value="start";
                        button #start type="submit" { (page.t("Start work")) }
                    }
                }
                @if matches!(r.state, RequestState::Verified | RequestState::InProgress) {
                    form #complete-form method="post" action=(action) {
                        (page.csrf_field()) input type="hidden" name="change" value="complete";
                        label { (page.t("Answered by")) select name="answer_kind" {
                            option value="audit_entry" { (page.t("Audit entry (seq)")) }
                            option value="certificate" { (page.t("Certificate")) }
                        } }
                        label { (page.t("Reference")) input #reference type="text" name="reference" maxlength="64" required; }
                        button type="submit" { (page.t("Complete")) }
                    }
                }
                form #refuse-form method="post" action=(action) {
                    (page.csrf_field()) input type="hidden" name="change" value="refuse";
                    label { (page.t("Reason code")) select name="reason_code" {
                        @for c in &codes { option value=(c) { (crate::domain::labels::label_or_wire("refusal_reason", c, page.session.lang)) } }
                    } }
                    label { (page.t("Reasons given to the person")) input type="text" name="reason" maxlength="2000" required; }
                    button type="submit" { (page.t("Refuse")) }
                }
                @if !r.extended {
                    form method="post" action=(action) {
                        (page.csrf_field()) input type="hidden" name="change" value="extend";
                        label { (page.t("Reason for the extension")) input type="text" name="extension_reason" maxlength="2000" required; }
                        button type="submit" { (page.t("Extend the period")) }
                    }
                }
            }
        }
    };
    page.render(&format!("{} {}", page.t("Request"), r.id), body)
}

/// What a request's record says besides its state: who recorded it, the
/// person's request, its verification, refusal, extension and effects
/// (texts as the use case shows them: none to an auditor).
fn request_details(page: &Page, r: &RequestView, people: &Names) -> Markup {
    html! {
        dl #request-record {
            dt { (page.t("Recorded by")) } dd { (people.show(&r.recorded_by)) }
            dt { (page.t("Residency")) } dd { (page.value("jurisdiction", &r.residency)) }
            @if let Some(p) = &r.purpose { dt { (page.t("Purpose")) } dd { (page.value("purpose", p)) } }
            @if let Some(d) = &r.details { dt { (page.t("What the person asked")) } dd.text { (d) } }
            @if let Some(m) = r.verification_method {
                dt { (page.t("Verification method")) } dd { (page.value("verification_method", &wire_name(&m)))
                    @if let Some(by) = &r.verified_by { " · " (people.show(by)) } }
                @if let Some(n) = &r.verification_note { dt { (page.t("Note")) } dd.text { (n) } }
            }
            @if let Some(c) = &r.refusal_code {
                dt { (page.t("Reason code")) } dd { (page.value("refusal_reason", c)) @if let Some(cit) = &r.refusal_citation { " — " small { (cit) } } }
                @if let Some(t) = &r.refusal_reason { dt { (page.t("Reasons given to the person")) } dd.text { (t) } }
            }
            @if r.extended { dt { (page.t("Reason for the extension")) } dd.text { (r.extension_reason.as_deref().unwrap_or("—")) }
                dt { (page.t("First due")) } dd { (when(r.first_due_at)) } }
            @if !r.effects.is_empty() { dt { (page.t("Effects")) } dd { (r.effects.join("; ")) } }
            @for c in &r.changes { dt { (page.t("Dossier changed")) } dd { a.mono href={ "/console/dossiers/" (enc(&c.dossier_id)) } { (c.dossier_id) } " v" (c.version) " · " (when(c.at)) " · " (people.show(&c.by)) } }
            @for h in &r.handovers { dt { (page.t("Hand-over")) } dd { span.mono { (h.recipient) } " · " (page.value("handover_state", &wire_name(&h.state))) " · " (when(h.prepared_at)) } }
        }
    }
}

/// A request form's names where `PATCH /v1/requests/{id}` calls them
/// otherwise; `change` is the form's switch, said by `state`.
const CHANGE_NAMES: &[(&str, &str)] = &[
    ("change", ""),
    ("method", "verification/method"),
    ("note", "verification/note"),
    ("answer_kind", "answered_by/0/kind"),
    ("reference", "answered_by/0/reference"),
];

/// A request form's change, as `PATCH /v1/requests/{id}` takes it: the
/// form's `change` sets the state, and a verification is by whoever posts.
pub async fn change_request(Path(id): Path<String>, Posted(page, f): Posted) -> Response {
    // Each step's form offers its own fields only.
    let (state, offers): (_, &[&str]) = match f.get("change") {
        Some("verify") => (Some("verified"), &["change", "method", "note"]),
        Some("start") => (Some("in_progress"), &["change"]),
        Some("complete") => (Some("completed"), &["change", "answer_kind", "reference"]),
        Some("refuse") => (Some("refused"), &["change", "reason_code", "reason"]),
        Some("extend") => (None, &["change", "extension_reason"]),
        _ => return page.error_page(ApiError::bad_request("an unknown change")),
    };
    let mut fixed: Vec<(&str, String)> = state.map(|s| ("state", s.to_owned())).into_iter().collect();
    if state == Some("verified") {
        fixed.push(("verification/verified_by", page.ctx.principal.id.as_str().to_owned()));
    }
    let change = match page
        .command::<RequestChangeDto, RequestChange>(&f, Body { renamed: CHANGE_NAMES, fixed, ..Body::offering(offers) })
    {
        Ok(c) => c,
        Err(resp) => return *resp,
    };
    match page.archive().registers().change_request(&page.ctx, &id, change).await {
        Ok(r) => see_other(&format!("/console/requests/{}", enc(&r.id))),
        Err(e) => page.fail(e),
    }
}

/// The form on a subject's page that records a request they made.
pub fn new_request_form(page: &Page, sid: &str) -> Markup {
    html! {
        form #request-form method="post" action={ "/console/subjects/" (enc(sid)) "/requests" } {
            (page.csrf_field())
            label { (page.t("Kind")) select name="kind" { @for k in REQUEST_KINDS { option value=(k) { (page.label("request_kind", k)) } } } }
            label { (page.t("Channel")) select name="channel" { @for c in CHANNELS { option value=(c) { (page.label("request_channel", c)) } } } }
            label { (page.t("Received (RFC 3339; empty: now)")) input type="text" name="received_at" placeholder="2026-12-01T09:30:00+08:00"; }
            label { (page.t("Purpose (objection, withdrawal)")) input type="text" name="purpose" maxlength="64"; }
            label { (page.t("What the person asked")) input type="text" name="details" maxlength="2000"; }
            button type="submit" { (page.t("Record request")) }
        }
    }
}

/// A request, as `POST /v1/requests` takes it, for the subject whose page
/// it was posted from (received now unless the form says when).
pub async fn create_request(Path(sid): Path<String>, Posted(page, f): Posted) -> Response {
    let how = Body {
        defaults: vec![("received_at", page.now_text())],
        fixed: vec![("subject_id", sid)],
        ..Body::offering(&["kind", "channel", "received_at", "purpose", "details"])
    };
    let new = match page.command::<NewRequestDto, NewRequest>(&f, how) {
        Ok(n) => n,
        Err(resp) => return *resp,
    };
    match page.archive().registers().create_request(&page.ctx, new).await {
        Ok(r) => see_other(&format!("/console/requests/{}", enc(&r.id))),
        Err(e) => page.fail(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::registers::{Channel, RequestKind, VerificationMethod};

    #[test]
    fn every_offered_name_is_a_wire_name() {
        REQUEST_KINDS.iter().for_each(|k| assert!(from_wire::<RequestKind>(k).is_some(), "{k}"));
        CHANNELS.iter().for_each(|k| assert!(from_wire::<Channel>(k).is_some(), "{k}"));
        METHODS.iter().for_each(|k| assert!(from_wire::<VerificationMethod>(k).is_some(), "{k}"));
        STATES.iter().for_each(|k| assert!(from_wire::<RequestState>(k).is_some(), "{k}"));
        assert!(from_wire::<RequestState>("lost").is_none());
        // And each is shown by a label, never as its wire name.
        let lang = crate::domain::Lang::Zh;
        for (set, names) in
            [("request_kind", &REQUEST_KINDS[..]), ("request_channel", &CHANNELS), ("verification_method", &METHODS)]
        {
            names.iter().for_each(|k| assert!(crate::domain::labels::label(set, k, lang).is_some(), "{set} {k}"));
        }
    }
}
