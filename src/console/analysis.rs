//! The seeds' analysis: for one customer, orders, amount, returns and the
//! on-time rate by month with the grade's inputs (`GET /v1/dossiers/{id}/grade`);
//! across the caller's customers, the same by grade, region, industry or
//! stage (`GET /v1/reports/summary`, small groups suppressed as the report
//! suppresses them). Each chart is server-side SVG with its numbers as a
//! table beside it and a CSV download; the same use cases, decisions and
//! audit entries as the API.

use super::charts::bars;
use super::compliance::{download, enc};
use super::page::Page;
use crate::archive::customers::{GradeExplanation, Report, ReportBy};
use crate::archive::wire_name;
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
pub fn customer_figures(page: &Page, did: &str, g: &GradeExplanation) -> Markup {
    let rows: Vec<_> = g.months.iter().map(|m| (m.month.clone(), vec![m.orders, m.returns])).collect();
    html! {
        h2 #tab-figures { (page.t("Figures by month")) }
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
