//! The seeds' analysis: for one customer, orders, amount, returns and the
//! on-time rate by month with the grade's inputs (`GET /v1/dossiers/{id}/grade`);
//! across the caller's customers, the same by grade, region, industry or
//! stage (`GET /v1/reports/summary`, small groups suppressed as the report
//! suppresses them). Each chart is server-side SVG with its numbers as a
//! table beside it and a CSV download; the same use cases, decisions and
//! audit entries as the API.

use super::charts::bars;
use super::compliance::{download, enc};
use super::page::{see_other, Body, Page, Posted};
use crate::archive::customers::{GradeExplanation, MonthFigures, Report, ReportBy};
use crate::archive::wire_name;
use crate::web::commands::FiguresDto;
use crate::web::error::ApiError;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;

/// The groupings the analysis offers (the report's, less `owner`).
const BY: [(ReportBy, &str); 4] = [
    (ReportBy::Grade, "By grade"),
    (ReportBy::Region, "By region"),
    (ReportBy::Industry, "By industry"),
    (ReportBy::Stage, "By stage"),
];

#[derive(Deserialize, Default)]
pub struct ByParams {
    by: Option<String>,
}

/// The grouping a query names (grade when none); 400 for another.
pub fn grouping(page: &Page, q: Result<Query<ByParams>, QueryRejection>) -> Result<ReportBy, Box<Response>> {
    let Ok(Query(q)) = q else {
        return Err(Box::new(page.error_page(ApiError::bad_request("the query could not be read"))));
    };
    let wanted = q.by.filter(|b| !b.is_empty());
    match wanted {
        None => Ok(ReportBy::Grade),
        Some(b) => BY.iter().map(|(by, _)| *by).find(|by| wire_name(by) == b).ok_or_else(|| {
            Box::new(page.error_page(ApiError::bad_request("by is one of grade, region, industry, stage")))
        }),
    }
}

/// A group's name as the reader reads it: a grade or stage by its label.
fn group_label(page: &Page, by: ReportBy, row: &crate::archive::customers::ReportRow) -> String {
    let set = match by {
        ReportBy::Grade => Some("grade"),
        ReportBy::Stage => Some("status"),
        _ => None,
    };
    set.and_then(|s| crate::domain::labels::label(s, &row.group, page.session.lang)).unwrap_or(&row.group).to_owned()
}

/// The portfolio section of `/console/analysis`.
pub fn portfolio(page: &Page, report: &Report) -> Markup {
    let by = report.by;
    let label = |row: &crate::archive::customers::ReportRow| match row.suppressed {
        true => format!("{} (<{})", group_label(page, by, row), report.min_count),
        false => group_label(page, by, row),
    };
    let counts: Vec<_> = report.rows.iter().map(|r| (label(r), vec![r.dossiers.unwrap_or(0)])).collect();
    let orders: Vec<_> =
        report.rows.iter().map(|r| (label(r), vec![r.orders.unwrap_or(0), r.returns.unwrap_or(0)])).collect();
    let title = BY.iter().find(|(b, _)| *b == by).map_or("", |(_, t)| t);
    let dash = || "—".to_owned();
    html! {
        section #portfolio {
            form.filters method="get" action="/console/analysis" {
                label { (page.t("Group")) select name="by" {
                    @for (b, t) in BY { option value=(wire_name(&b)) selected[b == by] { (page.t(t)) } } } }
                button type="submit" { (page.t("Show")) }
            }
            div.charts {
                (bars(&format!("dossiers-{}", wire_name(&by)), &format!("{} · {}", page.t("Dossiers"), page.t(title)), &[page.t("Dossiers")], &counts))
                (bars(&format!("orders-{}", wire_name(&by)), &format!("{} · {}", page.t("Orders and returns"), page.t(title)), &[page.t("Orders"), page.t("Returns")], &orders))
            }
            table #portfolio-table {
                caption { (page.t(title)) " · " (page.t("Figures of the months")) " " (report.window) }
                thead { tr { th scope="col" { (page.t("Group")) } th scope="col" { (page.t("Dossiers")) } th scope="col" { (page.t("Orders")) }
                    th scope="col" { (page.t("Amount")) } th scope="col" { (page.t("Returns")) } th scope="col" { (page.t("Reviews overdue")) }
                    th scope="col" { (page.t("Average satisfaction")) } } }
                tbody { @for r in &report.rows {
                    tr { th scope="row" { (group_label(page, by, r)) @if r.suppressed { " " small.muted { (page.t("fewer than")) " " (report.min_count) ", " (page.t("not shown")) } } }
                         td { (r.dossiers.map_or_else(dash, |v| v.to_string())) } td { (r.orders.map_or_else(dash, |v| v.to_string())) }
                         td { (r.amount.map_or_else(dash, |v| format!("{v:.0}"))) } td { (r.returns.map_or_else(dash, |v| v.to_string())) }
                         td { (r.reviews_overdue.map_or_else(dash, |v| v.to_string())) } td { (r.average_satisfaction.map_or_else(dash, |v| format!("{v:.1}"))) } }
                } }
            }
            p { a #portfolio-csv href={ "/console/analysis/report.csv?by=" (wire_name(&by)) } { (page.t("Download CSV")) } }
        }
    }
}

/// `GET /console/analysis/report.csv?by=`: the report as the API's CSV.
pub async fn report_csv(page: Page, q: Result<Query<ByParams>, QueryRejection>) -> Response {
    let by = match grouping(&page, q) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    match page.archive().customers().report_summary(&page.ctx, by).await.and_then(|r| r.to_csv()) {
        Ok(csv) => download(csv, "text/csv; charset=utf-8", &format!("report-{}.csv", wire_name(&by))),
        Err(e) => page.fail(e),
    }
}

/// One customer's months: orders and returns charted, every figure in the
/// table, the CSV beside it.
pub fn customer_figures(page: &Page, did: &str, g: &GradeExplanation, may_record: bool) -> Markup {
    let rows: Vec<_> = g.months.iter().map(|m| (m.month.clone(), vec![m.orders, m.returns])).collect();
    html! {
        h2 #tab-figures { (page.t("Figures by month")) }
        @if may_record {
            form.filters #figures-form method="post" action={ "/console/dossiers/" (enc(did)) "/figures" } {
                (page.csrf_field())
                label { (page.t("Month")) input type="month" name="month" required; }
                label { (page.t("Orders")) input type="number" name="orders" min="0" step="1" inputmode="numeric" required; }
                label { (page.t("Amount")) input type="number" name="amount" min="0" step="0.01" inputmode="decimal" required; }
                label { (page.t("Returns")) input type="number" name="returns" min="0" step="1" inputmode="numeric" required; }
                label { (page.t("On-time rate (0 to 1)")) input type="number" name="on_time_rate" min="0" max="1" step="0.001" inputmode="decimal"; }
                button type="submit" { (page.t("Record figures")) }
            }
        }
        @if g.months.is_empty() { p { (page.t("No figures recorded yet.")) } } @else {
            div.charts { (bars("customer-orders", page.t("Orders and returns"), &[page.t("Orders"), page.t("Returns")], &rows)) }
            table #figures {
                thead { tr { th scope="col" { (page.t("Month")) } th scope="col" { (page.t("Orders")) } th scope="col" { (page.t("Amount")) }
                    th scope="col" { (page.t("Returns")) } th scope="col" { (page.t("On-time rate")) } } }
                tbody { @for m in &g.months {
                    tr { th scope="row" { (m.month) } td { (m.orders) } td { (format!("{:.2}", m.amount)) } td { (m.returns) }
                         td { (m.on_time_rate.map_or_else(|| "—".to_owned(), |r| format!("{:.1}%", r * 100.0))) } }
                } }
            }
            p { a #figures-csv href={ "/console/dossiers/" (enc(did)) "/figures.csv" } { (page.t("Download CSV")) } }
        }
    }
}

/// `GET /console/dossiers/{id}/figures`: why the customer has its grade
/// (the rules or a manual grade, the window's inputs) and its months, as
/// `GET /v1/dossiers/{id}/grade` answers (and audits) it; for staff who may
/// record them, the form for a month's figures.
pub async fn figures_page(page: Page, Path(id): Path<String>) -> Response {
    let g = match page.archive().customers().explain_grade(&page.ctx, &id).await {
        Ok(g) => g,
        Err(e) => return page.fail(e),
    };
    let may_record = page.archive().gate().customer_scope(&page.ctx.principal).is_some();
    let i = &g.inputs;
    let body = html! {
        p { a href={ "/console/dossiers/" (enc(&id)) } { (page.t("Back to the dossier")) } }
        dl #grade-explained {
            dt { (page.t("Grade")) } dd { strong { (page.value("grade", &wire_name(&g.grade))) } }
            dt { (page.t("Decided by")) } dd { @if g.decided_by == "override" { (page.t("set by hand")) } @else { (page.t("by the grading rules")) ": " (g.computed.rule) } }
            dt { (page.t("Figures of the months")) } dd { (g.window) }
            dt { (page.t("Orders")) } dd { (i.orders) } dt { (page.t("Amount")) } dd { (format!("{:.2}", i.amount)) }
            dt { (page.t("Return rate")) } dd { (format!("{:.1}%", i.return_rate * 100.0)) }
            dt { (page.t("Credit rating")) } dd { (i.credit.as_deref().unwrap_or("—")) }
        }
        (customer_figures(&page, &id, &g, may_record))
    };
    page.render(&format!("{} {id}", page.t("Figures by month")), body)
}

/// `GET /console/dossiers/{id}/figures.csv`: the months of the grade's
/// explanation, as CSV.
pub async fn figures_csv(page: Page, Path(id): Path<String>) -> Response {
    let g = match page.archive().customers().explain_grade(&page.ctx, &id).await {
        Ok(g) => g,
        Err(e) => return page.fail(e),
    };
    let mut w = crate::sheet::CsvOut::default();
    let mut rows = vec![["month", "orders", "amount", "returns", "on_time_rate"].map(str::to_owned).to_vec()];
    for m in &g.months {
        rows.push(vec![
            m.month.clone(),
            m.orders.to_string(),
            format!("{:.2}", m.amount),
            m.returns.to_string(),
            m.on_time_rate.map_or_else(String::new, |r| format!("{r:.4}")),
        ]);
    }
    for r in rows {
        if let Err(e) = w.write_record(&r) {
            return page.fail(crate::archive::ArchiveError::Internal(e.into()));
        }
    }
    match w.into_inner().map(String::from_utf8) {
        Ok(Ok(csv)) => download(csv, "text/csv; charset=utf-8", "figures.csv"),
        _ => page.fail(crate::archive::ArchiveError::Internal(anyhow::anyhow!("the CSV could not be written"))),
    }
}

/// `POST /console/dossiers/{id}/figures`: a month's figures, read as
/// `PUT /v1/dossiers/{id}/figures/{month}` reads its path and body (the
/// same checks, the same use case); the dossier is regraded.
pub async fn put_figures(Path(id): Path<String>, Posted(page, f): Posted) -> Response {
    let month = f.get("month").unwrap_or_default().to_owned();
    let how =
        Body { renamed: &[("month", "")], ..Body::offering(&["month", "orders", "amount", "returns", "on_time_rate"]) };
    let dto = match page.body::<FiguresDto>(&f, how) {
        Ok(d) => d,
        Err(resp) => return *resp,
    };
    let new = match MonthFigures::try_from((month, dto)) {
        Ok(n) => n,
        Err(errors) => return page.error_page(ApiError::invalid(errors)),
    };
    match page.archive().customers().put_figures(&page.ctx, &id, new).await {
        Ok(_) => see_other(&format!("/console/dossiers/{}/figures", enc(&id))),
        Err(e) => page.fail(e),
    }
}

/// `GET /console/export`: the form for the CSV export of the caller's
/// customers, in the import's columns (`GET /v1/dossiers/export`).
pub async fn export_form(page: Page) -> Response {
    let body = html! {
        p { (page.t("Your customers as a spreadsheet, in the import's columns, each dossier as you may read it.")) }
        form.filters #export-form method="post" action="/console/export" {
            (page.csrf_field())
            label { (page.t("Grade")) select name="grade" { option value="" { (page.t("Any")) }
                @for g in ["A", "B", "C"] { option value=(g) { (page.label("grade", g)) } } } }
            label { (page.t("Stage")) select name="status" { option value="" { (page.t("Any")) }
                @for s in ["prospect", "active", "closed"] { option value=(s) { (page.label("status", s)) } } } }
            label { (page.t("Region")) input type="text" name="region" maxlength="100"; }
            button #export type="submit" { (page.t("Download CSV")) }
        }
    };
    page.render(page.t("Export"), body)
}

/// `POST /console/export`: the export, posted (a filter never enters a
/// URL), checked and made by the API's use case; an attachment.
pub async fn export(Posted(page, f): Posted) -> Response {
    if f.0.iter().any(|(k, _)| !matches!(k.as_str(), "csrf" | "grade" | "status" | "region")) {
        return page.error_page(ApiError::bad_request("the form names a field this page does not offer"));
    }
    let filter = crate::archive::customers::ExportFilter {
        grade: f.get("grade").map(str::to_owned),
        region: f.get("region").map(str::to_owned),
        status: f.get("status").map(str::to_owned),
        owner: None,
    };
    if let Err(why) = filter.check() {
        return page.error_page(ApiError::bad_request(why));
    }
    match page.archive().customers().export_list(&page.ctx, &filter).await {
        Ok(csv) => download(csv, "text/csv; charset=utf-8", "customers.csv"),
        Err(e) => page.fail(e),
    }
}
