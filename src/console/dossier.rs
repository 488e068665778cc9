//! Staff pages: search (posted, so the query never enters a URL), a
//! dossier as the policy shows it (masked and withheld fields marked),
//! versions and their differences, documents, interactions, reviews and
//! legal holds.

use super::compliance::{enc, when};
use super::dossier_view;
use super::page::{see_other, Body, Page, Posted};
use crate::archive::customers::{InteractionKind, NewInteraction, NewReview, ReviewOutcome, MAX_NOTE, MAX_SUMMARY};
use crate::archive::{wire_name, RedactionReason};
use crate::domain::catalog::Catalog;
use crate::web::commands::{HoldDto, InteractionDto, NewHold, ReviewDto};
use crate::web::error::ApiError;
use crate::web::upload::{self, Incoming};
use axum::extract::{Multipart, Path, Query};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

const GRADES: [&str; 3] = ["A", "B", "C"];
/// The newest interactions the page's table shows.
const INTERACTIONS_SHOWN: usize = 20;
const REGIONS: [&str; 7] = ["华东", "华南", "华北", "华中", "西南", "西北", "东北"];

fn search_form(page: &Page, grade: Option<&str>, region: Option<&str>) -> Markup {
    html! {
        form.filters #search-form method="post" action="/console/search" {
            (page.csrf_field())
            label { (page.t("Query")) input #q type="search" name="q" required; }
            label { (page.t("Grade")) select name="grade" { option value="" { (page.t("Any")) }
                @for g in GRADES { option value=(g) selected[grade == Some(g)] { (g) } } } }
            label { (page.t("Region")) select name="region" { option value="" { (page.t("Any")) }
                @for r in REGIONS { option value=(r) selected[region == Some(r)] { (r) } } } }
            button #search type="submit" { (page.t("Search")) }
        }
        form.filters method="get" action="/console/dossiers" {
            label { (page.t("Dossier id")) input type="text" name="id" required; }
            button type="submit" { (page.t("Open dossier")) }
        }
    }
}

pub async fn search_form_page(page: Page) -> Response {
    let body = search_form(&page, None, None);
    page.render(page.t("Search"), body)
}

pub async fn search(Posted(page, f): Posted) -> Response {
    let (q, grade, region, cursor) = (f.get("q").unwrap_or(""), f.get("grade"), f.get("region"), f.get("cursor"));
    let hits = match page.archive().dossiers().search(&page.ctx, q, grade, region, Some(20), cursor).await {
        Ok(h) => h,
        Err(e) => return page.fail(e),
    };
    let body = html! {
        (search_form(&page, grade, region))
        table #results {
            thead { tr { th { (page.t("Dossier")) } th { (page.t("Name")) } th { (page.t("Grade")) } th { (page.t("Region")) } } }
            tbody { @for h in &hits.hits {
                tr { td { a href={ "/console/dossiers/" (h.id) } { (h.id) } } td { (h.customer_name) } td { (page.value("grade", &h.grade)) } td { (h.region) } }
            } }
        }
        @if hits.hits.is_empty() { p { (page.t("No results.")) } }
        @if let Some(next) = &hits.next_cursor {
            form method="post" action="/console/search" {
                (page.csrf_field())
                input type="hidden" name="q" value=(q);
                @if let Some(g) = grade { input type="hidden" name="grade" value=(g); }
                @if let Some(r) = region { input type="hidden" name="region" value=(r); }
                input type="hidden" name="cursor" value=(next);
                button type="submit" { (page.t("Next page")) }
            }
        }
    };
    page.render(page.t("Search"), body)
}

#[derive(Deserialize)]
pub struct OpenParams {
    id: String,
}

pub async fn open(Query(p): Query<OpenParams>) -> Response {
    see_other(&format!("/console/dossiers/{}", enc(p.id.trim())))
}

/// The document's leaves as (JSON pointer, value).
fn leaves(v: &Value, path: String, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => m.iter().for_each(|(k, v)| leaves(v, format!("{path}/{k}"), out)),
        Value::Array(a) if a.iter().all(|i| !i.is_object() && !i.is_array()) && !a.is_empty() => out.push((
            path,
            a.iter().map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned)).collect::<Vec<_>>().join(", "),
        )),
        Value::Array(a) => a.iter().enumerate().for_each(|(i, v)| leaves(v, format!("{path}/{i}"), out)),
        Value::String(s) => out.push((path, s.clone())),
        Value::Null => out.push((path, String::new())),
        other => out.push((path, other.to_string())),
    }
}

/// A template field's name in the page's language (`path` concrete, as
/// `/contacts/0/phone`), from the field catalog.
pub(super) fn field_name(page: &Page, path: &str) -> Option<&'static str> {
    Catalog::template().field(path).map(|f| f.label(page.session.lang))
}

pub async fn show(page: Page, Path(id): Path<String>) -> Response {
    let a = page.archive();
    let view = match a.dossiers().read_dossier(&page.ctx, &id, None).await {
        Ok(v) => v,
        Err(e) => return page.fail(e),
    };
    let redactions: BTreeMap<&str, RedactionReason> =
        view.redactions.iter().map(|r| (r.path.as_str(), r.reason)).collect();
    let mut rows = Vec::new();
    leaves(&view.document, String::new(), &mut rows);
    let shown: std::collections::BTreeSet<&str> = rows.iter().map(|(p, _)| p.as_str()).collect();
    let hidden: Vec<_> = view.redactions.iter().filter(|r| !shown.contains(r.path.as_str())).collect();
    let versions = a.dossiers().list_versions(&page.ctx, &id).await.unwrap_or_default();
    let documents = a.documents().list_documents(&page.ctx, &id).await.unwrap_or_default();
    // What the page offers comes from the decisions the use cases make.
    let staff = a.gate().customer_scope(&page.ctx.principal).is_some();
    // A record that does not open fails the page; it is never shown as "none".
    // What staff act on first, from records alone (the page's read is the
    // audited one), and where the newest interactions begin.
    let glance = match a.customers().glance(&page.ctx, &id, INTERACTIONS_SHOWN) {
        Ok(g) => g,
        Err(e) => return page.fail(e),
    };
    let newest_from = glance.as_ref().and_then(|g| g.newest_from.as_deref());
    let interactions = if staff {
        match a.customers().list_interactions(&page.ctx, &id, newest_from, Some(INTERACTIONS_SHOWN)).await {
            Ok(i) => Some(i),
            Err(e @ crate::archive::ArchiveError::Internal(_)) => return page.fail(e),
            Err(_) => None,
        }
    } else {
        None
    };
    let holds = if a.retention().may_hold(&page.ctx, &view.id) {
        match a.retention().list_holds(&page.ctx, &id).await {
            Ok(h) => Some(h),
            Err(e @ crate::archive::ArchiveError::Internal(_)) => return page.fail(e),
            Err(_) => None,
        }
    } else {
        None
    };
    let may_edit = a.dossiers().may_update(&page.ctx, &view.id);
    let did = view.id.to_string();
    // What staff act on first; each from the use case the API calls.
    let shown = |p: &str| match redactions.get(p) {
        Some(RedactionReason::Withheld) => None,
        _ => view.document.pointer(p).and_then(Value::as_str),
    };
    let listed: &[crate::archive::customers::InteractionView] = interactions.as_ref().map_or(&[], |l| &l.interactions);
    let people = page.names(
        versions
            .iter()
            .map(|v| v.actor.as_str())
            .chain(documents.iter().map(|d| d.actor.as_str()))
            .chain(listed.iter().map(|i| i.recorded_by.as_str()))
            .chain(glance.iter().flat_map(|g| g.last_contact.iter().chain(g.follow_ups.iter())).map(|c| c.by.as_str()))
            .chain(holds.iter().flatten().map(|h| h.placed_by.as_str()))
            .chain(shown("/owner")),
    );
    let hidden: Vec<(String, RedactionReason)> = hidden.iter().map(|r| (r.path.clone(), r.reason)).collect();
    let summary = dossier_view::Summary {
        did: &did,
        grade: shown("/grade"),
        stage: shown("/status"),
        owner: shown("/owner"),
        glance: glance.as_ref(),
    };
    let body = html! {
        (dossier_view::summary(&page, &people, &summary))
        (dossier_view::tabs(&page, &did, interactions.is_some(), holds.is_some()))
        p { (page.t("Version")) " " (view.version) " · " span.mono title="SHA-256" { (&view.hash[..view.hash.len().min(16)]) "…" }
            @if may_edit { " · " a #edit href={ "/console/dossiers/" (did) "/edit" } { (page.t("Edit")) } } }
        (dossier_view::sections(&page, &people, &rows, &hidden, &redactions))
        h2 #tab-versions { (page.t("Versions")) }
        table #versions {
            thead { tr { th { (page.t("Version")) } th { (page.t("Created")) } th { (page.t("By")) } th { (page.t("Changes")) } } }
            tbody { @for v in &versions { tr { td title=(v.hash) { (v.version) } td { (when(v.created_at)) } td { (people.show(&v.actor)) }
                td { @if v.version > 1 { a href={ "/console/dossiers/" (did) "/diff?a=" (v.version - 1) "&b=" (v.version) } { (page.t("What changed")) } } @else { (page.t("First version")) } } } } }
        }
        @if versions.len() > 1 {
            form.filters method="get" action={ "/console/dossiers/" (did) "/diff" } {
                label { "a" input type="number" name="a" min="1" value=(versions.len() - 1); }
                label { "b" input type="number" name="b" min="1" value=(versions.len()); }
                button type="submit" { (page.t("Compare")) }
            }
        }
        h2 #tab-documents { (page.t("Documents")) }
        table #documents {
            thead { tr { th { (page.t("Name")) } th { "type" } th { "bytes" } th { "sha256" } th { (page.t("Created")) } th { (page.t("By")) } } }
            tbody { @for d in &documents {
                tr { td { form.inline method="post" action={ "/console/dossiers/" (did) "/document" } {
                        (page.csrf_field()) input type="hidden" name="name" value=(d.name);
                        button.link type="submit" title=(page.t("Download")) { (d.name) } } } td { (d.content_type) } td { (d.size) }
                     td.mono { (d.sha256) } td { (when(d.created_at)) } td { (people.show(d.actor.as_str())) } }
            } }
        }
        form.filters method="post" action={ "/console/dossiers/" (did) "/documents" } enctype="multipart/form-data" {
            (page.csrf_field())
            label { (page.t("Name")) input type="text" name="name" pattern="[A-Za-z0-9._-]{1,128}" required; }
            label { (page.t("File")) input type="file" name="file" required; }
            button type="submit" { (page.t("Upload")) }
        }
        @if interactions.is_some() {
            h2 #tab-interactions { (page.t("Interactions")) }
            table #interactions {
                thead { tr { th { (page.t("When")) } th { (page.t("Kind")) } th { (page.t("Summary")) } th { (page.t("Satisfaction")) } th { (page.t("By")) } } }
                tbody { @for i in listed {
                    tr { td { (when(i.at)) } td { (page.value("interaction_kind", &wire_name(&i.kind))) }
                         td { (i.summary.as_deref().unwrap_or("")) @if i.summary_shown != "clear" { " " span class={ "badge " (i.summary_shown) } { (crate::domain::labels::label_or_wire("redaction", &i.summary_shown, page.session.lang)) } } }
                         td { (i.satisfaction.map_or(String::new(), |s| s.to_string())) } td { (people.show(&i.recorded_by)) } }
                } }
            }
            form.filters #new-interaction method="post" action={ "/console/dossiers/" (did) "/interactions" } {
                (page.csrf_field())
                label { (page.t("Kind")) select name="kind" { @for k in InteractionKind::ALL { @let w = wire_name(&k); option value=(w) { (crate::domain::labels::label_or_wire("interaction_kind", &w, page.session.lang)) } } } }
                label { (page.t("Summary")) input type="text" name="summary" maxlength=(MAX_SUMMARY) required; }
                label { (page.t("Satisfaction")) input type="number" name="satisfaction" min="1" max="5" inputmode="numeric"; }
                label { (page.t("Follow up by")) input type="date" name="follow_up"; }
                button type="submit" { (page.t("Add interaction")) }
            }
            h2 #tab-reviews { (page.t("Review")) }
            form.filters method="post" action={ "/console/dossiers/" (did) "/reviews" } {
                (page.csrf_field())
                label { (page.t("Outcome")) select name="outcome" {
                    @for o in [ReviewOutcome::Confirmed, ReviewOutcome::Updated, ReviewOutcome::ContactLost] { @let w = wire_name(&o); option value=(w) { (crate::domain::labels::label_or_wire("review_outcome", &w, page.session.lang)) } } } }
                label { (page.t("Note")) input type="text" name="note" maxlength=(MAX_NOTE) required; }
                button type="submit" { (page.t("Record review")) }
            }
        }
        @if let Some(holds) = &holds {
            h2 #tab-holds { (page.t("Legal holds")) }
            table #holds {
                thead { tr { th { "id" } th { (page.t("Case reference")) } th { (page.t("Reason")) } th { (page.t("Jurisdiction")) } th { (page.t("By")) } th {} } }
                tbody { @for h in holds {
                    tr { td.mono { (h.hold_id) } td { (h.case_ref) } td { (h.reason) } td { (page.value("jurisdiction", &wire_name(&h.jurisdiction))) } td { (people.show(h.placed_by.as_str())) }
                         td { form method="post" action={ "/console/dossiers/" (did) "/holds/" (h.hold_id) "/release" } { (page.csrf_field()) button type="submit" { (page.t("Release")) } } } }
                } }
            }
            form.filters #hold-form method="post" action={ "/console/dossiers/" (did) "/holds" } {
                (page.csrf_field())
                label { (page.t("Reason")) input type="text" name="reason" required; }
                label { (page.t("Case reference")) input type="text" name="case_ref" required; }
                label { (page.t("Jurisdiction")) select name="jurisdiction" { @for j in ["CN", "EU"] { option value=(j) { (crate::domain::labels::label_or_wire("jurisdiction", j, page.session.lang)) } } } }
                button #place-hold type="submit" { (page.t("Place hold")) }
            }
        }
    };
    page.render(&format!("{} {did}", page.t("Dossier")), body)
}

#[derive(Deserialize)]
pub struct DiffParams {
    a: String,
    b: String,
}

pub async fn diff(page: Page, Path(id): Path<String>, Query(p): Query<DiffParams>) -> Response {
    let (Ok(va), Ok(vb)) = (p.a.parse::<u32>(), p.b.parse::<u32>()) else {
        return page.error_page(ApiError::bad_request("versions must be positive integers"));
    };
    if va == 0 || vb == 0 {
        return page.error_page(ApiError::bad_request("versions must be positive integers"));
    }
    let a = page.archive();
    let (left, right) = match (
        a.dossiers().read_dossier(&page.ctx, &id, Some(va)).await,
        a.dossiers().read_dossier(&page.ctx, &id, Some(vb)).await,
    ) {
        (Ok(l), Ok(r)) => (l, r),
        (Err(e), _) | (_, Err(e)) => return page.fail(e),
    };
    let (mut l, mut r) = (Vec::new(), Vec::new());
    leaves(&left.document, String::new(), &mut l);
    leaves(&right.document, String::new(), &mut r);
    let l: BTreeMap<_, _> = l.into_iter().collect();
    let r: BTreeMap<_, _> = r.into_iter().collect();
    let paths: std::collections::BTreeSet<&String> = l.keys().chain(r.keys()).collect();
    let changed: Vec<_> = paths.into_iter().filter(|p| l.get(*p) != r.get(*p)).collect();
    let owners = [l.get("/owner"), r.get("/owner")];
    let people = page.names(owners.iter().flatten().map(|o| o.as_str()));
    let body = html! {
        p { a href={ "/console/dossiers/" (left.id) } { (page.t("Back")) } }
        table #diff {
            thead { tr { th { (page.t("Field")) } th { (page.t("Version")) " " (va) } th { (page.t("Version")) " " (vb) } } }
            tbody { @for path in &changed {
                tr data-path=(path) { th scope="row" title=(path) { (dossier_view::field_title(&page, path)) }
                     td.old { (dossier_view::diff_value(&page, &people, path, l.get(*path))) }
                     td.new { (dossier_view::diff_value(&page, &people, path, r.get(*path))) } }
            } }
        }
        @if changed.is_empty() { p { (page.t("No results.")) } }
    };
    page.render(&format!("{} {} · {}", page.t("Changes"), left.id, page.t("Versions")), body)
}

pub async fn upload(page: Page, Path(id): Path<String>, mut form: Multipart) -> Response {
    let s = page.state.clone();
    let (mut csrf_ok, mut name) = (false, None::<String>);
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => return page.error_page(ApiError::bad_request("the form could not be read")),
        };
        match field.name() {
            Some("csrf") => {
                csrf_ok = field.text().await.is_ok_and(|c| crate::web::session::same(c.trim(), &page.session.csrf))
            }
            Some("name") => name = field.text().await.ok().map(|n| n.trim().to_owned()),
            Some("file") => {
                // The token and the name come before the file in the form.
                if !csrf_ok {
                    return page.csrf_refused();
                }
                let Some(name) = name.take() else {
                    return page.error_page(ApiError::bad_request("the document needs a name"));
                };
                let content_type = field.content_type().map(str::to_owned);
                let doc = Incoming { dossier: &id, name: &name, content_type: content_type.as_deref(), declared: None };
                return match upload::store(&s, &page.ctx, doc, field).await {
                    Ok(_) => see_other(&format!("/console/dossiers/{}", enc(&id))),
                    Err(e) => page.error_page(e),
                };
            }
            _ => {}
        }
    }
    if csrf_ok {
        page.error_page(ApiError::bad_request("the form has no file"))
    } else {
        page.csrf_refused()
    }
}

/// A document, posted for (its name, which may say whose it is, stays out of
/// the URL), always as an attachment.
pub async fn download(Path(id): Path<String>, Posted(page, f): Posted) -> Response {
    let Some(name) = f.get("name").map(str::trim) else {
        return page.error_page(ApiError::bad_request("which document: its name"));
    };
    match page.archive().documents().open_document(&page.ctx, &id, name).await {
        Ok((meta, reader)) => {
            let name = meta.name.clone();
            let mut resp = crate::web::document_response(page.state.archive.clone(), meta, reader);
            // Never shown inline: a stored file is not a console page.
            if let Ok(v) = axum::http::HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
                resp.headers_mut().insert(axum::http::header::CONTENT_DISPOSITION, v);
            }
            resp
        }
        Err(e) => page.fail(e),
    }
}

/// An interaction, as `POST /v1/dossiers/{id}/interactions` takes it (it
/// happened now).
pub async fn add_interaction(Path(id): Path<String>, Posted(page, f): Posted) -> Response {
    let how = Body {
        fixed: vec![("at", page.now_text())],
        ..Body::offering(&["kind", "summary", "satisfaction", "contact", "follow_up"])
    };
    let n = match page.command::<InteractionDto, NewInteraction>(&f, how) {
        Ok(n) => n,
        Err(resp) => return *resp,
    };
    match page.archive().customers().add_interaction(&page.ctx, &id, n).await {
        Ok(_) => see_other(&format!("/console/dossiers/{}", enc(&id))),
        Err(e) => page.fail(e),
    }
}

/// A review, as `POST /v1/dossiers/{id}/reviews` takes it.
pub async fn add_review(Path(id): Path<String>, Posted(page, f): Posted) -> Response {
    let n = match page.command::<ReviewDto, NewReview>(&f, Body::offering(&["outcome", "note", "contact"])) {
        Ok(n) => n,
        Err(resp) => return *resp,
    };
    match page.archive().customers().add_review(&page.ctx, &id, n).await {
        Ok(_) => see_other(&format!("/console/dossiers/{}", enc(&id))),
        Err(e) => page.fail(e),
    }
}

/// A legal hold, as `POST /v1/dossiers/{id}/legal-holds` takes it.
pub async fn place_hold(Path(id): Path<String>, Posted(page, f): Posted) -> Response {
    let h = match page.command::<HoldDto, NewHold>(&f, Body::offering(&["reason", "case_ref", "jurisdiction"])) {
        Ok(h) => h,
        Err(resp) => return *resp,
    };
    match page.archive().retention().place_hold(&page.ctx, &id, &h.reason, &h.case_ref, h.jurisdiction).await {
        Ok(_) => see_other(&format!("/console/dossiers/{}", enc(&id))),
        Err(e) => page.fail(e),
    }
}

pub async fn release_hold(Path((id, hold)): Path<(String, String)>, Posted(page, _): Posted) -> Response {
    match page.archive().retention().release_hold(&page.ctx, &id, &hold).await {
        Ok(()) => see_other(&format!("/console/dossiers/{}", enc(&id))),
        Err(e) => page.fail(e),
    }
}
