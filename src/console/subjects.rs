//! A data subject's page (dossiers, consents and their history,
//! restriction, export, erasure with the reasons it is refused) and the
//! requests and incidents queues with their due dates.

use super::compliance::{enc, json, when};
use super::page::{see_other, Page, Posted};
use crate::archive::wire_name;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
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
    let a = page.archive();
    let s = match a.get_subject(&page.ctx, &sid).await {
        Ok(s) => s,
        Err(e) => return page.fail(e),
    };
    let history = a.consent_history(&page.ctx, &sid).await.unwrap_or_default();
    let id = s.id.to_string();
    let restricted = s.restricted_at.is_some();
    let body = html! {
        dl #subject {
            dt { (page.t("Status")) } dd #subject-status { (wire_name(&s.status)) }
            dt { (page.t("Jurisdiction")) } dd { (s.residency) }
            dt { (page.t("Created")) } dd { (when(s.created_at)) }
            dt { (page.t("Restricted")) } dd { (s.restricted_at.map_or("—".to_owned(), when)) }
            dt { (page.t("Dossiers")) } dd { @for d in &s.dossiers { a href={ "/console/dossiers/" (d) } { (d) } " " } }
        }
        h2 { (page.t("Consents")) }
        table #consents {
            thead { tr { th { (page.t("Purpose")) } th { "basis" } th { (page.t("Created")) } th { "notice" } th { "effective" } } }
            tbody { @for c in &s.consents {
                tr { td { (c.purpose) } td { (wire_name(&c.basis)) } td { (when(c.granted_at)) } td { (c.notice.as_deref().unwrap_or("—")) } td { (c.effective) } }
            } }
        }
        h2 { (page.t("Consent history")) }
        table #consent-history {
            thead { tr { th { "#" } th { (page.t("Kind")) } th { (page.t("Purpose")) } th { (page.t("When")) } th { (page.t("By")) } } }
            tbody { @for e in &history {
                tr { td { (e.event) } td { (wire_name(&e.kind)) } td { (e.purpose) } td { (when(e.effective_at)) } td { (e.actor.as_str()) } }
            } }
        }
        h2 { (page.t("Actions")) }
        div.actions {
            form method="post" action={ "/console/subjects/" (id) "/restriction" } {
                (page.csrf_field())
                input type="hidden" name="restrict" value=(if restricted { "false" } else { "true" });
                button type="submit" { (if restricted { page.t("Lift restriction") } else { page.t("Restrict processing") }) }
            }
            p { a #export href={ "/console/subjects/" (id) "/export" } { (page.t("Export (JSON)")) } }
            form #erase-form method="post" action={ "/console/subjects/" (id) "/erasure" } {
                (page.csrf_field())
                label { (page.t("Ground")) input #ground type="text" name="reason" maxlength="2000" required; }
                button #erase type="submit" { (page.t("Erase")) }
            }
        }
    };
    page.render(&format!("{} {id}", page.t("Subject")), body)
}

pub async fn restrict(Path(sid): Path<String>, Posted(page, f): Posted) -> Response {
    let restrict = f.get("restrict") == Some("true");
    match page.archive().set_restriction(&page.ctx, &sid, restrict).await {
        Ok(_) => see_other(&format!("/console/subjects/{}", enc(&sid))),
        Err(e) => page.fail(e),
    }
}

pub async fn export(page: Page, Path(sid): Path<String>) -> Response {
    match page.archive().export_subject(&page.ctx, &sid).await {
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

pub async fn erase(Path(sid): Path<String>, Posted(page, f): Posted) -> Response {
    let Some(reason) = f.get("reason") else {
        return page.fail(crate::archive::ArchiveError::BadRequest("erasure needs a ground".into()));
    };
    match page.archive().erase_subject(&page.ctx, &sid, reason).await {
        Ok(cert) => {
            let body = html! {
                p.ok #erased { (page.t("Erased.")) " " a href={ "/console/certificates/" (cert) } { (page.t("Certificate")) " " (cert) } }
            };
            page.render(page.t("Erase"), body)
        }
        Err(e) => {
            let api = crate::api::error::ApiError::from(e);
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

pub async fn requests(page: Page) -> Response {
    let list = match page.archive().list_requests(&page.ctx, None, None, None).await {
        Ok(l) => l,
        Err(e) => return page.fail(e),
    };
    let body = html! {
        table #requests {
            thead { tr { th { "id" } th { (page.t("Subject")) } th { (page.t("Kind")) } th { (page.t("State")) } th { (page.t("Due")) } th { "rule" } } }
            tbody { @for r in &list {
                @let v = serde_json::to_value(r).unwrap_or_default();
                tr class=(if r.overdue { "overdue" } else { "" }) {
                    td.mono { (r.id) } td { a href={ "/console/subjects/" (enc(&r.subject_id)) } { (r.subject_id) } }
                    td { (wire_name(&r.kind)) } td { (json(&v["state"])) }
                    td { (when(r.due_at)) @if r.overdue { " " span.badge.withheld { "overdue" } } } td { (r.rule) br; small { (r.citation) } }
                }
            } }
        }
        @if list.is_empty() { p { (page.t("No results.")) } }
    };
    page.render(page.t("Requests"), body)
}

pub async fn incidents(page: Page) -> Response {
    let list = match page.archive().list_incidents(&page.ctx).await {
        Ok(l) => l,
        Err(e) => return page.fail(e),
    };
    let body = html! {
        table #incidents {
            thead { tr { th { "id" } th { (page.t("Level")) } th { (page.t("Opened")) } th { (page.t("Jurisdiction")) } th { (page.t("Due")) } } }
            tbody { @for i in &list {
                @let deadlines = serde_json::to_value(&i.deadlines).unwrap_or_default();
                tr { td.mono { (i.id) } td { (i.level) } td { (when(i.detected_at)) } td { (i.jurisdictions.join(", ")) } td { (json(&deadlines)) } }
            } }
        }
        @if list.is_empty() { p { (page.t("No results.")) } }
    };
    page.render(page.t("Incidents"), body)
}
