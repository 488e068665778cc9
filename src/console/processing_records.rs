//! The records of processing activities (GDPR Art. 30; PIPL Art. 56) as
//! `GET /v1/records-of-processing` generates them, read as a page: one
//! section per purpose (basis, data categories and how each role sees
//! them, recipients, transfers, assessments), then the retention rules and
//! the security measures every purpose shares; and the same CSV the API
//! gives with `Accept: text/csv` (`RecordsOfProcessing::to_csv`). The same
//! use case, decision and audit entry (`governance.records`).

use super::compliance::when;
use super::page::Page;
use crate::archive::governance::{ProcessingRecord, RecordsOfProcessing};
use crate::archive::wire_name;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

/// `GET /console/records-of-processing`.
pub async fn page(page: Page) -> Response {
    let ropa = match page.archive().governance().get_records_of_processing(&page.ctx).await {
        Ok(r) => r,
        Err(e) => return page.fail(e),
    };
    page.render(page.t("Records of processing"), records(&page, &ropa))
}

/// A list of texts, or a dash.
fn list(items: &[String]) -> Markup {
    html! { @if items.is_empty() { "—" } @else { ul { @for i in items { li { (i) } } } } }
}

fn records(page: &Page, ropa: &RecordsOfProcessing) -> Markup {
    // The use case gives every purpose the same rules and measures: shown once.
    let shared = ropa.records.first();
    html! {
        p { (page.t("Generated from the policies in force")) " · " (when(ropa.generated_at)) " · "
            small.mono { "policy_hash " (ropa.policy_hash) } }
        p { a #ropa-csv href="/console/records-of-processing.csv" { (page.t("Download CSV")) } }
        nav.tabs aria-label=(page.t("Purposes")) { ul { @for r in &ropa.records {
            li { a href={ "#purpose-" (r.purpose) } { (crate::domain::labels::label_or_wire("purpose", &r.purpose, page.session.lang)) } }
        } } }
        @for r in &ropa.records { (record(page, r)) }
        @if let Some(s) = shared {
            section #retention {
                h2 { (page.t("Retention rules")) }
                table {
                    thead { tr { th scope="col" { (page.t("Rule")) } th scope="col" { (page.t("Covers")) } th scope="col" { (page.t("From")) }
                        th scope="col" { (page.t("Period")) } th scope="col" { (page.t("Then")) } th scope="col" { (page.t("Citation")) } } }
                    tbody { @for x in &s.retention {
                        tr { th scope="row" { (x.rule) } td { (page.value("retention_covers", &x.covers)) }
                             td { (page.value("retention_trigger", &x.trigger)) } td { (x.period) }
                             td { (page.value("retention_action", &x.action)) } td { (x.citation) } }
                    } }
                }
            }
            section #security-measures {
                h2 { (page.t("Security measures")) }
                (list(&s.security_measures))
            }
        }
        @if ropa.records.is_empty() { p { (page.t("No results.")) } }
    }
}

fn record(page: &Page, r: &ProcessingRecord) -> Markup {
    html! {
        section.purpose id={ "purpose-" (r.purpose) } {
            h2 { (page.value("purpose", &r.purpose)) }
            dl {
                dt { (page.t("Description")) } dd { (r.description) }
                dt { (page.t("Legal basis")) } dd { (page.value("basis", &r.basis)) " — " (r.citation) }
                dt { (page.t("Data subjects")) } dd { (list(&r.categories_of_data_subjects)) }
                dt { (page.t("Internal recipients")) } dd { (super::people::roles(page.session.lang, r.recipients_internal.iter().map(String::as_str))) }
                dt { (page.t("Third parties")) } dd { (list(&r.recipients_third_parties)) }
                dt { (page.t("Transfers abroad")) } dd { (list(&r.transfers)) }
                dt { (page.t("Impact assessments")) } dd { (list(&r.assessments)) }
            }
            table.categories {
                caption { (page.t("Data categories")) }
                thead { tr { th scope="col" { (page.t("Class")) } th scope="col" { (page.t("Fields")) } th scope="col" { (page.t("Who sees it")) } } }
                tbody { @for c in &r.data_categories {
                    tr { th scope="row" { (page.value("classification", &wire_name(&c.class))) }
                         td.mono { (c.fields.join(", ")) }
                         td { @for (i, (role, how)) in c.shown_to.iter().enumerate() {
                             @if i > 0 { "; " }
                             (page.value("role", role)) " "
                             @if how == "masked" { (page.value("redaction", how)) } @else { (page.t("in clear")) }
                         } } }
                } }
            }
        }
    }
}

/// `GET /console/records-of-processing.csv`: the API's CSV, byte for byte.
pub async fn csv(page: Page) -> Response {
    let csv = page.archive().governance().get_records_of_processing(&page.ctx).await.and_then(|r| r.to_csv());
    match csv {
        Ok(bytes) => {
            let mut resp = bytes.into_response();
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
            h.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"records-of-processing.csv\""),
            );
            resp
        }
        Err(e) => page.fail(e),
    }
}
