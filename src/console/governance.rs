//! The governance registers: the recipients register with a recipient's
//! page and its deletion attestation (`/v1/recipients`), and the
//! impact-assessment register with the report's upload and download
//! (`/v1/assessments`). Each page and form calls the API's use case with
//! the API's body and its one conversion (`web::commands`), so the
//! decisions, the checks and the audit entries are the API's: compliance
//! keeps the registers, auditors read them without the sealed texts (the
//! statements, the conclusions), anyone else is refused.

use super::compliance::{enc, when};
use super::page::{see_other, Body, Fields, Page, Posted};
use crate::archive::gate::Operation;
use crate::archive::governance::{AssessmentView, NewAssessment, NewAttestation, NewRecipient, RecipientView};
use crate::archive::{wire_name, ArchiveError};
use crate::domain::{Classification, ProcessingKind};
use crate::web::commands::{AssessmentDto, AttestationDto, NewRecipientDto};
use crate::web::error::ApiError;
use axum::extract::{Multipart, Path};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use maud::{html, Markup};

/// The recipient form's names (`POST /v1/recipients`' members).
const RECIPIENT_FIELDS: [&str; 9] =
    ["name", "role", "purposes", "classes", "country", "term_from", "term_until", "contract", "assessment"];
const ROLES: [&str; 2] = ["processor", "independent"];
/// The assessment form's names and where `POST /v1/assessments` has them;
/// the report's bytes and type come from the form's file.
const ASSESSMENT_NAMES: &[(&str, &str)] =
    &[("purposes", "scope/purposes"), ("data_categories", "scope/data_categories"), ("processing", "scope/processing")];
const ASSESSMENT_FIELDS: [&str; 5] = ["purposes", "data_categories", "processing", "conducted_on", "conclusion"];

/// Whether the viewer keeps the registers (compliance), as the use cases decide.
fn keeps(page: &Page) -> bool {
    page.archive().gate().may(&page.ctx.principal, Operation::RegisterKeep)
}

/// Wire values by their labels, comma-separated.
fn values<'a>(page: &Page, set: &str, wires: impl IntoIterator<Item = &'a str>) -> Markup {
    html! { @for (i, w) in wires.into_iter().enumerate() { @if i > 0 { ", " } (page.value(set, w)) } }
}

/// A form's pairs as the API's body reads them: a name given more than
/// once (check boxes) becomes one comma-separated list (`web::form` splits
/// it into the array the schema declares); a `datetime-local` value
/// (minutes, no zone) is read as UTC, as the audit log's filter reads it.
fn as_body(pairs: Vec<(String, String)>, times: &[&str]) -> Fields {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in pairs {
        let v = v.trim().to_owned();
        let v = match times.contains(&k.as_str()) && v.len() == 16 && v.as_bytes().get(10) == Some(&b'T') {
            true => format!("{v}:00Z"),
            false => v,
        };
        match out.iter_mut().find(|(n, _)| *n == k) {
            Some((_, joined)) if !v.is_empty() && k != "csrf" => {
                if !joined.is_empty() {
                    joined.push(',');
                }
                joined.push_str(&v);
            }
            Some(_) => {}
            None => out.push((k, v)),
        }
    }
    Fields(out)
}

/// Check boxes for `wires`, each labelled.
fn checks(page: &Page, legend: &'static str, name: &str, set: &str, wires: &[&str]) -> Markup {
    html! {
        fieldset #{ "f-" (name) } {
            legend { (page.t(legend)) }
            @for w in wires {
                label { input type="checkbox" name=(name) value=(w); " " (page.value(set, w)) }
            }
        }
    }
}

/// `GET /console/recipients`: the register as `GET /v1/recipients` shows
/// it to the viewer; to compliance, the form to record a recipient.
pub async fn recipients(page: Page) -> Response {
    let list = match page.archive().governance().list_recipients(&page.ctx).await {
        Ok(l) => l,
        Err(e) => return page.fail(e),
    };
    let people = page.names(list.iter().map(|r| r.recorded_by.as_str()));
    let body = html! {
        table #recipients {
            thead { tr { th { "id" } th { (page.t("Name")) } th { (page.t("Role")) } th { (page.t("Purposes")) }
                th { (page.t("Field classes")) } th { (page.t("Country")) } th { (page.t("Term")) } th { (page.t("Contract")) }
                th { (page.t("State")) } th { (page.t("Deletion attested")) } th { (page.t("Recorded by")) } } }
            tbody { @for r in &list {
                tr { td.mono { a href={ "/console/recipients/" (enc(&r.id)) } { (r.id) } } td { (r.name) }
                     td { (page.value("recipient_role", &wire_name(&r.role))) }
                     td { (values(&page, "purpose", r.purposes.iter().map(String::as_str))) }
                     td { (values(&page, "classification", r.classes.iter().map(|c| c.as_str()))) }
                     td { (page.value("jurisdiction", &r.country)) } td { (when(r.term_from)) " – " (when(r.term_until)) }
                     td { (r.contract) } td { (page.value("recipient_status", &r.status)) }
                     td { @match &r.attestation { Some(a) => { (when(a.deleted_at)) }, None => "—" } }
                     td { (people.show(&r.recorded_by)) } }
            } }
        }
        @if list.is_empty() { p { (page.t("No results.")) } }
        @if keeps(&page) { (recipient_form(&page)) }
    };
    page.render(page.t("Recipients"), body)
}

fn recipient_form(page: &Page) -> Markup {
    let purposes = page.archive().purpose_ids();
    let purposes: Vec<&str> = purposes.iter().map(String::as_str).collect();
    let classes = Classification::ALL.map(Classification::as_str);
    html! {
        h2 { (page.t("Record a recipient")) }
        form.edit #recipient-form method="post" action="/console/recipients" {
            (page.csrf_field())
            fieldset {
                legend { (page.t("Recipient")) }
                label { (page.t("Name")) input type="text" name="name" maxlength="200" required; }
                label { (page.t("Role")) select name="role" { @for r in ROLES { option value=(r) { (page.label("recipient_role", r)) } } } }
                label { (page.t("Country (two letters, e.g. CN)")) input type="text" name="country" pattern="[A-Z]{2}" maxlength="2" required; }
                label { (page.t("Term from (UTC)")) input type="datetime-local" name="term_from" required; }
                label { (page.t("Term until (UTC)")) input type="datetime-local" name="term_until" required; }
                label { (page.t("Contract reference")) input type="text" name="contract" maxlength="200" required; }
                label { (page.t("Impact assessment (pia_…)")) input type="text" name="assessment" pattern="pia_[0-9a-z]{26}" maxlength="30"; }
            }
            (checks(page, "Agreed purposes", "purposes", "purpose", &purposes))
            (checks(page, "Agreed field classes", "classes", "classification", &classes))
            button type="submit" { (page.t("Record a recipient")) }
        }
    }
}

/// `POST /console/recipients`: a recipient, as `POST /v1/recipients` takes it.
pub async fn create_recipient(Posted(page, f): Posted) -> Response {
    let f = as_body(f.0, &["term_from", "term_until"]);
    let new = match page.command::<NewRecipientDto, NewRecipient>(&f, Body::offering(&RECIPIENT_FIELDS)) {
        Ok(n) => n,
        Err(resp) => return *resp,
    };
    match page.archive().governance().create_recipient(&page.ctx, new).await {
        Ok(r) => see_other(&format!("/console/recipients/{}", enc(&r.id))),
        Err(e) => page.fail(e),
    }
}

/// `GET /console/recipients/{id}`: one recipient with its state and
/// deletion attestation (`GET /v1/recipients/{id}`); to compliance, while
/// none is on record, the form to record it.
pub async fn recipient(page: Page, Path(id): Path<String>) -> Response {
    match page.archive().governance().get_recipient(&page.ctx, &id).await {
        Ok(r) => recipient_page(&page, &r),
        Err(e) => page.fail(e),
    }
}

fn recipient_page(page: &Page, r: &RecipientView) -> Response {
    let mut ids = vec![r.recorded_by.as_str()];
    ids.extend(r.attestation.as_ref().map(|a| a.recorded_by.as_str()));
    let people = page.names(ids);
    let body = html! {
        p { a href="/console/recipients" { (page.t("Back to the register")) } }
        dl #recipient {
            dt { (page.t("Name")) } dd { (r.name) }
            dt { (page.t("Role")) } dd { (page.value("recipient_role", &wire_name(&r.role))) }
            dt { (page.t("Purposes")) } dd { (values(page, "purpose", r.purposes.iter().map(String::as_str))) }
            dt { (page.t("Field classes")) } dd { (values(page, "classification", r.classes.iter().map(|c| c.as_str()))) }
            dt { (page.t("Country")) } dd { (page.value("jurisdiction", &r.country)) }
            dt { (page.t("Term")) } dd { (when(r.term_from)) " – " (when(r.term_until)) }
            dt { (page.t("Contract")) } dd { (r.contract) }
            dt { (page.t("Impact assessment")) } dd.mono { (r.assessment.as_deref().unwrap_or("—")) }
            dt { (page.t("State")) } dd #recipient-status { (page.value("recipient_status", &r.status)) }
            dt { (page.t("Recorded by")) } dd { (people.show(&r.recorded_by)) " · " (when(r.recorded_at)) }
        }
        h2 { (page.t("Deletion attestation")) }
        @match &r.attestation {
            Some(a) => dl #attestation {
                dt { (page.t("Deleted at")) } dd { (when(a.deleted_at)) }
                dt { (page.t("Method")) } dd { (a.method) }
                @if let Some(s) = &a.statement { dt { (page.t("Statement")) } dd #statement { (s) } }
                dt { (page.t("Recorded by")) } dd { (people.show(&a.recorded_by)) " · " (when(a.recorded_at)) }
            },
            None => p #no-attestation { (page.t("No deletion attestation is on record.")) },
        }
        @if r.attestation.is_none() && keeps(page) {
            @if r.status != "ended" { p.hint { (page.t("The party attests the deletion once its term has ended (PIPL Art. 21(2)).")) } }
            form.edit #attestation-form method="post" action={ "/console/recipients/" (enc(&r.id)) "/attestation" } {
                (page.csrf_field())
                fieldset {
                    legend { (page.t("Record the deletion attestation")) }
                    label { (page.t("Deleted at (UTC)")) input type="datetime-local" name="deleted_at" required; }
                    label { (page.t("Method")) input type="text" name="method" maxlength="200" required; }
                    label { (page.t("The party's statement")) textarea name="statement" rows="4" maxlength="8000" required {} }
                }
                button type="submit" { (page.t("Record the deletion attestation")) }
            }
        }
    };
    page.render(&format!("{} {}", page.t("Recipient"), r.id), body)
}

/// `POST /console/recipients/{id}/attestation`, as
/// `POST /v1/recipients/{id}/attestation` takes it (409 before the term
/// ends and for a second one, shown in the page).
pub async fn attest(Path(id): Path<String>, Posted(page, f): Posted) -> Response {
    let f = as_body(f.0, &["deleted_at"]);
    let how = Body::offering(&["deleted_at", "method", "statement"]);
    let new = match page.command::<AttestationDto, NewAttestation>(&f, how) {
        Ok(n) => n,
        Err(resp) => return *resp,
    };
    match page.archive().governance().attest_deletion(&page.ctx, &id, new).await {
        Ok(r) => see_other(&format!("/console/recipients/{}", enc(&r.id))),
        Err(e) => page.fail(e),
    }
}

/// `GET /console/assessments`: the register as `GET /v1/assessments` shows
/// it to the viewer (an auditor without conclusions); to compliance, each
/// report's download and the form to record an assessment.
pub async fn assessments(page: Page) -> Response {
    let list = match page.archive().governance().list_assessments(&page.ctx).await {
        Ok(l) => l,
        Err(e) => return page.fail(e),
    };
    let keeps = keeps(&page);
    let people = page.names(list.iter().map(|a| a.recorded_by.as_str()));
    let body = html! {
        table #assessments {
            thead { tr { th { "id" } th { (page.t("Purposes")) } th { (page.t("Data categories")) } th { (page.t("Processing")) }
                th { (page.t("Conducted on")) } @if keeps { th { (page.t("Conclusion")) } } th { (page.t("Report")) }
                th { (page.t("Recorded by")) } th { (page.t("Keep until")) } } }
            tbody { @for a in &list { (assessment_row(&page, a, keeps, &people)) } }
        }
        @if list.is_empty() { p { (page.t("No results.")) } }
        @if keeps { (assessment_form(&page)) }
    };
    page.render(page.t("Impact assessments"), body)
}

fn assessment_row(page: &Page, a: &AssessmentView, keeps: bool, people: &super::people::Names) -> Markup {
    html! {
        tr { td.mono { (a.id) } td { (values(page, "purpose", a.purposes.iter().map(String::as_str))) }
             td { (values(page, "classification", a.data_categories.iter().map(|c| c.as_str()))) }
             td { (values(page, "processing_kind", a.processing.iter().map(|k| k.as_str()))) }
             td { (a.conducted_on) }
             @if keeps { td { (a.conclusion.as_deref().unwrap_or("—")) } }
             td { @if keeps { a href={ "/console/assessments/" (enc(&a.id)) "/report" } { (page.t("Download")) } br; }
                  small { (a.report_type) ", " (a.report_bytes) " bytes" } br; small.mono { "sha256 " (a.report_sha256) } }
             td { (people.show(&a.recorded_by)) br; small { (when(a.recorded_at)) } } td { (when(a.keep_until)) } }
    }
}

fn assessment_form(page: &Page) -> Markup {
    let purposes = page.archive().purpose_ids();
    let purposes: Vec<&str> = purposes.iter().map(String::as_str).collect();
    let classes = Classification::ALL.map(Classification::as_str);
    let kinds = ProcessingKind::ALL.map(ProcessingKind::as_str);
    html! {
        h2 { (page.t("Record an impact assessment")) }
        form.edit #assessment-form method="post" action="/console/assessments" enctype="multipart/form-data" {
            (page.csrf_field())
            (checks(page, "Purposes covered", "purposes", "purpose", &purposes))
            (checks(page, "Data categories", "data_categories", "classification", &classes))
            (checks(page, "Kinds of processing covered", "processing", "processing_kind", &kinds))
            fieldset {
                legend { (page.t("Impact assessment")) }
                label { (page.t("Conducted on")) input type="date" name="conducted_on" required; }
                label { (page.t("Conclusion")) textarea name="conclusion" rows="4" maxlength="8000" required {} }
                label { (page.t("Report")) input type="file" name="file" required; }
            }
            button type="submit" { (page.t("Record an impact assessment")) }
        }
    }
}

/// A report's media type as the register keeps it: the upload's, without
/// parameters (`POST /v1/assessments` checks it).
fn media_type(content_type: Option<&str>) -> String {
    let t = content_type.and_then(|c| c.split(';').next()).map(str::trim).filter(|c| !c.is_empty());
    t.unwrap_or("application/octet-stream").to_ascii_lowercase()
}

/// `POST /console/assessments`: the multipart form read as
/// `POST /v1/assessments`' body (the file as its `report_base64`, its type
/// as `report_type`), the file read only up to the API's body limit.
pub async fn create_assessment(page: Page, mut form: Multipart) -> Response {
    let limit = page.state.max_body_bytes;
    let (mut pairs, mut report) = (Vec::<(String, String)>::new(), None::<(Vec<u8>, String)>);
    loop {
        let mut field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return page.error_page(unreadable(e.status())),
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            if !pairs.iter().any(|(k, v)| k == "csrf" && crate::web::session::same(v.trim(), &page.session.csrf)) {
                // The token comes before the file in the form.
                return page.csrf_refused();
            }
            let kind = media_type(field.content_type());
            let mut bytes = Vec::new();
            loop {
                match field.chunk().await {
                    Ok(Some(c)) if bytes.len() + c.len() > limit => {
                        return page.fail(ArchiveError::TooLarge(limit as u64))
                    }
                    Ok(Some(c)) => bytes.extend_from_slice(&c),
                    Ok(None) => break,
                    Err(e) => return page.error_page(unreadable(e.status())),
                }
            }
            report = Some((bytes, kind));
        } else if name == "csrf" || ASSESSMENT_FIELDS.contains(&name.as_str()) {
            match field.text().await {
                Ok(v) => pairs.push((name, v)),
                Err(e) => return page.error_page(unreadable(e.status())),
            }
        } else {
            return page.error_page(ApiError::bad_request("the form names a field this page does not offer"));
        }
    }
    if !pairs.iter().any(|(k, v)| k == "csrf" && crate::web::session::same(v.trim(), &page.session.csrf)) {
        return page.csrf_refused();
    }
    let Some((bytes, kind)) = report.filter(|(b, _)| !b.is_empty()) else {
        return page.error_page(ApiError::bad_request("the form has no report file"));
    };
    let f = as_body(pairs, &[]);
    let how = Body {
        renamed: ASSESSMENT_NAMES,
        // No box ticked: an empty list, as the API's body may say (`web::form` reads "," as one).
        defaults: vec![("scope/data_categories", ",".into()), ("scope/processing", ",".into())],
        fixed: vec![("report_base64", base64::engine::general_purpose::STANDARD.encode(&bytes)), ("report_type", kind)],
        ..Body::offering(&ASSESSMENT_FIELDS)
    };
    let new = match page.command::<AssessmentDto, NewAssessment>(&f, how) {
        Ok(n) => n,
        Err(resp) => return *resp,
    };
    match page.archive().governance().create_assessment(&page.ctx, new).await {
        Ok(_) => see_other("/console/assessments"),
        Err(e) => page.fail(e),
    }
}

/// A multipart body that could not be read: 413 past the body limit.
fn unreadable(status: StatusCode) -> ApiError {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(status, "too-large", "the form is larger than custos accepts"),
        _ => ApiError::bad_request("the form could not be read"),
    }
}

/// `GET /console/assessments/{id}/report`: the report byte for byte, as
/// `GET /v1/assessments/{id}/report` gives it (compliance), an attachment.
pub async fn report(page: Page, Path(id): Path<String>) -> Response {
    match page.archive().governance().assessment_report(&page.ctx, &id).await {
        Ok((_, bytes)) => {
            let mut resp = bytes.into_response();
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}-report\"", enc(&id))) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            resp
        }
        Err(e) => page.fail(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_names_become_one_list_and_local_times_utc() {
        let pairs = [("purposes", "dsr"), ("csrf", "a"), ("purposes", "marketing"), ("term_from", "2026-12-01T09:30")];
        let f = as_body(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(), &["term_from"]);
        assert_eq!(f.get("purposes"), Some("dsr,marketing"));
        assert_eq!(f.get("term_from"), Some("2026-12-01T09:30:00Z"));
        assert_eq!(f.0.len(), 3);
        let f = as_body(vec![("term_from".into(), "2026-12-01T09:30:00+08:00".into())], &["term_from"]);
        assert_eq!(f.get("term_from"), Some("2026-12-01T09:30:00+08:00"), "an RFC 3339 time as it is");
        assert!(ROLES.iter().all(|r| crate::archive::from_wire::<crate::domain::RecipientRole>(r).is_some()));
        assert_eq!(media_type(Some("Text/Plain; charset=utf-8")), "text/plain");
        assert_eq!(media_type(None), "application/octet-stream");
    }
}
