//! `/console/import`: a spreadsheet imported through the API's own path
//! (`web::import`, as `POST /v1/imports`): the same decision before a byte
//! is read, the same limits (the document size, the sheet reader's rows,
//! columns and cells), the same use case and audit entries (`import`,
//! `import.row`, each row's `dossier.create` or `dossier.update`). A dry run
//! changes nothing; the result lists each row's outcome and each row error
//! by row, field and message, never a value (the use case writes none).

use super::compliance::enc;
use super::dossier::field_name;
use super::page::Page;
use crate::archive::customers::{ImportReport, RowError};
use crate::domain::catalog::{Catalog, Field};
use crate::web::error::ApiError;
use crate::web::import::{self, ImportAsk};
use axum::extract::multipart::{Field as Part, MultipartRejection};
use axum::extract::Multipart;
use axum::response::Response;
use futures::StreamExt;
use maud::{html, Markup};

/// The longest text field the form takes (an owner id, a notice version).
const MAX_TEXT: usize = 256;
/// The most parts a form may send before its file.
const MAX_PARTS: usize = 8;
/// What the file input offers: the sheets `POST /v1/imports` reads.
const ACCEPT: &str = ".csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

fn form(page: &Page, ask: &ImportAsk) -> Markup {
    let notices = page.archive().notice_versions();
    html! {
        form.filters #import-form method="post" action="/console/import" enctype="multipart/form-data" {
            (page.csrf_field())
            label for="import-owner" { (page.t("Owner")) " " small.muted { (page.t("principal id (prn_...); empty: you")) } }
            input #import-owner type="text" name="owner" pattern="prn_[0-9a-z]{26}" maxlength="30"
                value=(ask.owner.as_deref().unwrap_or(""));
            label for="import-notice" { (page.t("Privacy notice shown")) }
            select #import-notice name="notice" {
                option value="" { (page.t("from the sheet's notice column")) }
                @for v in &notices { option value=(v) selected[ask.notice.as_deref() == Some(v.as_str())] { (v) } }
            }
            fieldset {
                legend { (page.t("Mode")) }
                label { input type="radio" name="dry_run" value="true" checked[ask.dry_run]; " " (page.t("Dry run: check the sheet, change nothing")) }
                label { input type="radio" name="dry_run" value="false" checked[!ask.dry_run]; " " (page.t("Import")) }
            }
            label for="import-file" { (page.t("Sheet (.csv or .xlsx)")) }
            input #import-file type="file" name="file" accept=(ACCEPT) required;
            button #import-submit type="submit" { (page.t("Import sheet")) }
        }
    }
}

/// `GET /console/import`: the form (a dry run by default).
pub async fn form_page(page: Page) -> Response {
    let ask = ImportAsk { dry_run: true, ..ImportAsk::default() };
    let body = html! {
        p { (page.t("Columns by the default mapping: the seeds' Chinese headers (客户名称, 联系人, 电话 ...) or the field names. A row whose credit code is on record updates that dossier.")) }
        (form(&page, &ask))
    };
    page.render(page.t("Import a sheet"), body)
}

/// A small text part, at most `MAX_TEXT` bytes, trimmed.
async fn small_text(mut part: Part<'_>) -> Result<String, ApiError> {
    let mut text = Vec::new();
    while let Some(chunk) = part.next().await {
        let chunk = chunk.map_err(|_| ApiError::bad_request("the form could not be read"))?;
        if text.len() + chunk.len() > MAX_TEXT {
            return Err(ApiError::bad_request("a form field is too long"));
        }
        text.extend_from_slice(&chunk);
    }
    String::from_utf8(text)
        .map(|t| t.trim().to_owned())
        .map_err(|_| ApiError::bad_request("the form could not be read"))
}

/// `POST /console/import`: the sheet imported (or checked) as the API does.
pub async fn run(page: Page, multipart: Result<Multipart, MultipartRejection>) -> Response {
    let Ok(mut multipart) = multipart else {
        return page.error_page(ApiError::bad_request("the form could not be read"));
    };
    let (mut csrf_ok, mut ask) = (false, ImportAsk { dry_run: true, ..ImportAsk::default() });
    for _ in 0..=MAX_PARTS {
        let part = match multipart.next_field().await {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(_) => return page.error_page(ApiError::bad_request("the form could not be read")),
        };
        let name = part.name().unwrap_or_default().to_owned();
        if name == "file" {
            // The token and the choices come before the file in the form.
            if !csrf_ok {
                return page.csrf_refused();
            }
            let by_name = part.file_name().and_then(import::format_of_name);
            let format = match by_name.map_or_else(|| import::format_of_media(part.content_type().unwrap_or("")), Ok) {
                Ok(f) => f,
                Err(e) => return page.error_page(e),
            };
            return match import::import(&page.state, &page.ctx, &ask, format, part).await {
                Ok(report) => result_page(&page, &ask, &report),
                Err(e) => page.error_page(e),
            };
        }
        let text = match small_text(part).await {
            Ok(t) => t,
            Err(e) => return page.error_page(e),
        };
        match name.as_str() {
            "csrf" => csrf_ok = crate::web::session::same(&text, &page.session.csrf),
            "owner" => ask.owner = Some(text).filter(|t| !t.is_empty()),
            "notice" => ask.notice = Some(text).filter(|t| !t.is_empty()),
            "dry_run" => ask.dry_run = text != "false",
            _ => return page.error_page(ApiError::bad_request("the form names a field this page does not offer")),
        }
    }
    if csrf_ok {
        page.error_page(ApiError::bad_request("the form has no file"))
    } else {
        page.csrf_refused()
    }
}

/// The template field a column fills: by its default header, or by the
/// field's name (`customer.name`, `contact.phone`).
fn column_field(column: &str) -> Option<&'static Field> {
    let catalog = Catalog::template();
    let column = column.trim();
    catalog.fields().find(|f| f.import_headers.iter().any(|h| h == column)).or_else(|| {
        let pointer = match column.strip_prefix("contact.") {
            Some(key) => format!("/contacts/*/{key}"),
            None => format!("/{}", column.replace('.', "/")),
        };
        catalog.field(&pointer)
    })
}

/// A row error's field: the template's name for its column, or for the
/// paths a use case's refusal names; the sheet's header besides.
fn error_field(page: &Page, e: &RowError) -> Markup {
    if e.column.is_empty() {
        let names: Vec<&str> = e
            .message
            .split("; ")
            .filter_map(|part| part.split_once(": "))
            .filter(|(path, _)| path.starts_with('/'))
            .filter_map(|(path, _)| field_name(page, path))
            .collect();
        return html! { (names.join(", ")) };
    }
    match column_field(&e.column).map(|f| f.label(page.session.lang)) {
        Some(name) if name != e.column => html! { (name) " " small.muted { "(" (e.column) ")" } },
        _ => html! { (e.column) },
    }
}

fn result_page(page: &Page, ask: &ImportAsk, r: &ImportReport) -> Response {
    let title = if r.dry_run { page.t("Dry run of an import") } else { page.t("Import") };
    let body = html! {
        @if r.dry_run { p.ok role="status" #dry-run { (page.t("A dry run: nothing was changed.")) } }
        dl #import-summary {
            dt { (page.t("Rows")) } dd { (r.rows) }
            dt { @if r.dry_run { (page.t("Would be created")) } @else { (page.t("Created")) } } dd #count-created { (r.created) }
            dt { @if r.dry_run { (page.t("Would be updated")) } @else { (page.t("Updated")) } } dd #count-updated { (r.updated) }
            dt { (page.t("Unchanged")) } dd { (r.unchanged) }
            dt { (page.t("Failed")) } dd #count-failed { (r.failed) }
            @if !r.ignored_columns.is_empty() {
                dt { (page.t("Ignored columns")) } dd { (r.ignored_columns.join(", ")) }
            }
        }
        @if !r.errors.is_empty() {
            h2 { (page.t("Row errors")) }
            p { (page.t("Fix these rows in the sheet and import it again.")) }
            table #row-errors {
                thead { tr { th { (page.t("Row")) } th { (page.t("Field")) } th { (page.t("Problem")) } } }
                tbody { @for e in &r.errors {
                    tr data-row=(e.row) { td { (e.row) } td { (error_field(page, e)) } td { (e.message) } }
                } }
            }
        }
        h2 { (page.t("Rows")) }
        table #row-results {
            thead { tr { th { (page.t("Row")) } th { (page.t("Outcome")) } th { (page.t("Dossier")) } } }
            tbody { @for row in &r.results {
                tr data-row=(row.row) {
                    td { (row.row) }
                    td { (page.value("import_action", &row.action)) }
                    td { @if let Some(d) = &row.dossier { a.mono href={ "/console/dossiers/" (enc(d)) } { (d) } } }
                }
            } }
        }
        h2 { (page.t("Import a sheet")) }
        (form(page, ask))
    };
    page.render(title, body)
}
