//! Compliance pages: the overview with its charts, the audit log (filters,
//! paging, an entry with its inclusion proof checked here), checkpoint and
//! verifier key, alerts, disposition (due, batches, four-eyes approval) and
//! certificates.

use super::charts::bars;
use super::page::{parse_opt, see_other, Page, Posted};
use crate::archive::gate::{CustomerScope, Operation};
use crate::archive::trail::transparency::ProofVerdict;
use crate::archive::Denial;
use crate::archive::{wire_name, ArchiveError};
use crate::audit::{AuditFilter, Outcome};
use crate::web::error::ApiError;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use time::format_description::well_known::Rfc3339;

pub fn when(t: time::OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// A JSON value as nested definition lists (for the records the use cases
/// return as they are: batches, certificates, exports).
pub fn json(v: &Value) -> Markup {
    html! {
        @match v {
            Value::Object(map) => dl { @for (k, v) in map { dt { (k) } dd { (json(v)) } } },
            Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
                (items.iter().map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned)).collect::<Vec<_>>().join(", "))
            },
            Value::Array(items) => ol { @for i in items { li { (json(i)) } } },
            Value::String(s) => (s),
            Value::Null => "—",
            other => (other.to_string()),
        }
    }
}

pub async fn overview(page: Page, q: Result<Query<super::analysis::ByParams>, QueryRejection>) -> Response {
    let mut charts = Vec::new();
    let mut portfolio = None;
    let a = page.archive();
    let gate = a.gate();
    let p = &page.ctx.principal;
    let scope = gate.customer_scope(p);
    let staff = scope.is_some();
    if staff {
        let by = match super::analysis::grouping(&page, q) {
            Ok(by) => by,
            Err(r) => return *r,
        };
        match a.customers().report_summary(&page.ctx, by).await {
            Ok(r) => portfolio = Some(super::analysis::portfolio(&page, &r)),
            Err(e) => return page.fail(e),
        }
    }
    if gate.may(p, Operation::AuditRead) {
        match a.audit_trail().audit_activity(&page.ctx, 14).await {
            Ok(days) => {
                let rows: Vec<_> = days
                    .iter()
                    .map(|d| {
                        (format!("{:02}-{:02}", u8::from(d.day.month()), d.day.day()), vec![d.entries, d.refusals])
                    })
                    .collect();
                charts.push(bars(
                    "activity",
                    page.t("Audit entries and refusals per day"),
                    &[page.t("entries"), page.t("refusals")],
                    &rows,
                ));
            }
            Err(e) => return page.fail(e),
        }
        match a.audit_trail().list_alerts(&page.ctx, 1000).await {
            Ok(alerts) => {
                let mut per_day: BTreeMap<String, u64> = BTreeMap::new();
                for al in &alerts {
                    *per_day.entry(al.window_end.date().to_string()).or_default() += 1;
                }
                let rows: Vec<_> = per_day.into_iter().map(|(d, n)| (d, vec![n])).collect();
                charts.push(bars("alerts", page.t("Alerts over time"), &[page.t("Alerts")], &rows));
            }
            Err(e) => return page.fail(e),
        }
    }
    if gate.may_manage_disposition(p) {
        match a.retention().disposition_due(&page.ctx).await {
            Ok(due) => {
                let blocked = due.items.iter().filter(|i| !i.blocked_by.is_empty()).count() as u64;
                let batched = due.items.iter().filter(|i| i.blocked_by.is_empty() && i.batch.is_some()).count() as u64;
                let ready = due.items.len() as u64 - blocked - batched;
                let rows = vec![
                    (page.t("ready").to_owned(), vec![ready]),
                    (page.t("in a batch").to_owned(), vec![batched]),
                    (page.t("blocked").to_owned(), vec![blocked]),
                ];
                charts.push(bars("backlog", page.t("Disposition backlog"), &[page.t("Due now")], &rows));
            }
            Err(e) => return page.fail(e),
        }
    }
    let body = html! {
        @if staff && scope != Some(CustomerScope::All) { p.hint { (page.t("Current figures only for the dossiers you may see.")) } }
        @if let Some(p) = &portfolio { (p) }
        @if !charts.is_empty() { h2 { (page.t("The audit log and disposition")) } div.charts { @for c in &charts { (c) } } }
    };
    page.render(page.t("Analysis"), body)
}

#[derive(Deserialize, Default)]
pub struct AuditParams {
    actor: Option<String>,
    resource: Option<String>,
    subject: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
}

fn time_param(s: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s, &Rfc3339).ok().or_else(|| {
        // A `datetime-local` input: minutes, no zone (read as UTC).
        let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
        time::PrimitiveDateTime::parse(s, &f).ok().map(|t| t.assume_utc())
    })
}

pub async fn audit(page: Page, q: Result<Query<AuditParams>, QueryRejection>) -> Response {
    let Ok(Query(q)) = q else {
        return page.error_page(ApiError::bad_request("the filters are malformed"));
    };
    let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    let parsed = (|| {
        let outcome = parse_opt(q.outcome.as_deref(), "outcome", Outcome::parse)?;
        let from = parse_opt(q.from.as_deref(), "from", time_param)?;
        let to = parse_opt(q.to.as_deref(), "to", time_param)?;
        let cursor = parse_opt(q.cursor.as_deref(), "cursor", |c| c.parse::<u64>().ok())?;
        Ok::<_, String>((outcome, from, to, cursor))
    })();
    let (outcome, from, to, cursor) = match parsed {
        Ok(p) => p,
        Err(why) => return page.error_page(ApiError::bad_request(why)),
    };
    let filter = AuditFilter {
        actor: text(&q.actor),
        resource: text(&q.resource),
        subject: text(&q.subject),
        action: text(&q.action),
        outcome,
        from,
        to,
    };
    let result = page.archive().audit_trail().query_audit(&page.ctx, filter, cursor.unwrap_or(0), 50).await;
    let got = match result {
        Ok(got) => got,
        Err(e) => return page.fail(e),
    };
    let keep = |k: &str, v: &Option<String>| v.as_deref().filter(|v| !v.is_empty()).map(|v| format!("{k}={}", enc(v)));
    let mut next_query: Vec<String> = [
        keep("actor", &q.actor),
        keep("resource", &q.resource),
        keep("subject", &q.subject),
        keep("action", &q.action),
        keep("outcome", &q.outcome),
        keep("from", &q.from),
        keep("to", &q.to),
    ]
    .into_iter()
    .flatten()
    .collect();
    let next_link = got.next_cursor.map(|c| {
        next_query.push(format!("cursor={c}"));
        format!("/console/audit?{}", next_query.join("&"))
    });
    let input = |name: &'static str, label: &'static str, v: &Option<String>, kind: &'static str| {
        html! { label { (page.t(label)) input type=(kind) name=(name) value=(v.as_deref().unwrap_or("")); } }
    };
    let people = page.names(got.entries.iter().map(|(e, _)| e.body.actor.as_str()));
    let body = html! {
        form.filters #audit-filters method="get" action="/console/audit" {
            (input("actor", "Actor", &q.actor, "text"))
            (input("resource", "Resource", &q.resource, "text"))
            (input("subject", "Subject", &q.subject, "text"))
            (input("action", "Action", &q.action, "text"))
            label { (page.t("Outcome"))
                select name="outcome" {
                    option value="" { (page.t("Any")) }
                    @for o in ["allow", "deny", "error"] { option value=(o) selected[q.outcome.as_deref() == Some(o)] { (crate::domain::labels::label_or_wire("outcome", o, page.session.lang)) } }
                }
            }
            (input("from", "From", &q.from, "datetime-local"))
            (input("to", "To", &q.to, "datetime-local"))
            button #filter type="submit" { (page.t("Filter")) }
        }
        p { a href="/console/audit/checkpoint" { (page.t("Latest checkpoint")) } " · " a href="/console/audit/verifier-key" { (page.t("Verifier key")) } }
        table #audit-entries {
            thead { tr { th { "#" } th { (page.t("Time")) } th { (page.t("Actor")) } th { (page.t("Action")) } th { (page.t("Resource")) } th { (page.t("Purpose")) } th { (page.t("Outcome")) } th { (page.t("Reason")) } } }
            tbody {
                @for (e, _) in &got.entries {
                    tr class={ "o-" (wire_name(&e.body.outcome)) } {
                        td { a href={ "/console/audit/" (e.seq) } { (e.seq) } }
                        td { (when(e.time)) } td { (people.show(&e.body.actor)) } td { (page.value("action", &e.body.action)) } td { (e.body.resource) }
                        td { (page.value("purpose", &e.body.purpose)) } td.outcome { (page.value("outcome", &wire_name(&e.body.outcome))) } td { (e.body.reason) }
                    }
                }
            }
        }
        @if got.entries.is_empty() { p { (page.t("No results.")) } }
        @if let Some(next) = &next_link {
            p { a #next-page href=(next) { (page.t("Next page")) } }
        }
    };
    page.render(page.t("Audit log"), body)
}

/// Percent-encoding for a query value (ids, action names, times).
pub fn enc(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn entry(page: Page, Path(seq): Path<String>) -> Response {
    let Ok(seq) = seq.parse::<u64>() else {
        return page.error_page(ApiError::bad_request("seq must be a number"));
    };
    let a = page.archive();
    let (e, hash, raw) = match a.audit_trail().audit_entry(&page.ctx, seq).await {
        Ok(found) => found,
        Err(err) => return page.fail(err),
    };
    let verdict = match a.audit_trail().entry_proof_verdict(&page.ctx, seq, &raw).await {
        Ok(v) => v,
        Err(err) => return page.fail(err),
    };
    let b = &e.body;
    let people = page.names([b.actor.as_str()]);
    let body = html! {
        dl.entry {
            dt { "seq" } dd { (e.seq) }
            dt { (page.t("Time")) } dd { (when(e.time)) }
            dt { (page.t("Actor")) } dd { (people.show(&b.actor)) br; small { (super::people::roles(page.session.lang, b.roles.iter().map(String::as_str))) " " (page.t("at the time")) } }
            dt { (page.t("Action")) } dd { (b.action) }
            dt { (page.t("Resource")) } dd { (b.resource) }
            dt { (page.t("Subjects")) } dd { (b.subjects.join(", ")) }
            dt { (page.t("Purpose")) } dd { (page.value("purpose", &b.purpose)) }
            dt { (page.t("Outcome")) } dd { (page.value("outcome", &wire_name(&b.outcome))) }
            dt { (page.t("Reason")) } dd { (b.reason) }
            dt { "released" } dd { (b.released.join(", ")) }
            dt { (page.t("masked")) } dd { (b.masked.join(", ")) }
            dt { (page.t("withheld")) } dd { (b.withheld.join(", ")) }
            dt { "hash" } dd.mono { (hex::encode(hash)) }
            dt { "prev_hash" } dd.mono { (hex::encode(e.prev_hash)) }
            dt { "policy_hash" } dd.mono { (e.policy_hash) }
            dt { "request_id" } dd.mono { (b.request_id) }
            dt { "token_id" } dd.mono { (b.token_id) }
        }
        h2 { (page.t("Inclusion proof")) }
        @match verdict {
            ProofVerdict::Verified { tree_size, hashes } => p.ok #proof-verdict { "✓ " (page.t("verified against the signed checkpoint")) " (tree size " (tree_size) ", " (hashes) " hashes)" },
            ProofVerdict::Fails { tree_size } => p.bad #proof-verdict role="alert" { "✗ " (page.t("does not verify")) " (tree size " (tree_size) ")" },
            ProofVerdict::BadCheckpoint => p.bad #proof-verdict role="alert" { "✗ " (page.t("does not verify")) },
        }
    };
    page.render(&format!("{} {seq}", page.t("Entry")), body)
}

pub(super) fn download(body: String, content_type: &'static str, filename: &str) -> Response {
    let mut resp = body.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

pub async fn checkpoint(page: Page) -> Response {
    match page.archive().audit_trail().checkpoint(&page.ctx).await {
        Ok(note) => download(note, "text/plain; charset=utf-8", "checkpoint.txt"),
        Err(e) => page.fail(e),
    }
}

pub async fn verifier_key(page: Page) -> Response {
    // The same check as the API's: the key is public, but the console shows
    // compliance pages to compliance roles only.
    let d = page.archive().gate().decision(&page.ctx.principal, Operation::AuditRead);
    if !d.allowed {
        let told = "the audit log is open to compliance officers and auditors only".to_owned();
        return page.fail(ArchiveError::Forbidden { denial: Denial::Policy(d.basis), detail: told });
    }
    download(page.archive().audit_trail().verifier_key() + "\n", "text/plain; charset=utf-8", "verifier-key.txt")
}

pub async fn alerts(page: Page) -> Response {
    let alerts = match page.archive().audit_trail().list_alerts(&page.ctx, 200).await {
        Ok(a) => a,
        Err(e) => return page.fail(e),
    };
    let people = page.names(alerts.iter().map(|al| al.actor.as_str()));
    let body = html! {
        table #alerts {
            thead { tr { th { (page.t("Rule")) } th { (page.t("Actor")) } th { (page.t("Window")) } th { (page.t("Count")) } th { (page.t("Threshold")) } } }
            tbody { @for al in &alerts {
                tr { td { (al.rule) br; small { (al.description) } } td { a href={ "/console/audit?actor=" (enc(&al.actor)) } { (people.show(&al.actor)) } }
                     td { (when(al.window_start)) " – " (when(al.window_end)) } td { (al.count) } td { (al.threshold) } }
            } }
        }
        @if alerts.is_empty() { p { (page.t("No results.")) } }
    };
    page.render(page.t("Alerts"), body)
}

pub async fn disposition(page: Page) -> Response {
    let due = match page.archive().retention().disposition_due(&page.ctx).await {
        Ok(d) => d,
        Err(e) => return page.fail(e),
    };
    let body = html! {
        h2 { (page.t("Due now")) }
        table #due {
            thead { tr { th { (page.t("Resource")) } th { (page.t("Rule")) } th { (page.t("Action")) } th { (page.t("Due")) } th { (page.t("Blocked by")) } th { (page.t("In batch")) } } }
            tbody { @for i in &due.items {
                @let target = serde_json::to_value(&i.item.target).unwrap_or_default();
                tr {
                    td { (json(&target)) }
                    td { (i.item.rule) br; small { (i.item.citation) } }
                    td { (wire_name(&i.item.action)) }
                    td { (when(i.item.due_at)) }
                    td.blocked { (i.blocked_by.join(", ")) }
                    td { @if let Some(b) = &i.batch { a href={ "/console/disposition/batches/" (b) } { (b) } } }
                }
            } }
        }
        @if due.items.is_empty() { p { (page.t("No results.")) } }
        form method="post" action="/console/disposition/batches" {
            (page.csrf_field())
            button #propose type="submit" { (page.t("Propose batch")) }
        }
    };
    page.render(page.t("Disposition"), body)
}

pub async fn propose(Posted(page, _): Posted) -> Response {
    match page.archive().retention().propose_batch(&page.ctx).await {
        Ok(b) => see_other(&format!("/console/disposition/batches/{}", b.batch_id)),
        Err(e) => page.fail(e),
    }
}

pub async fn batch(page: Page, Path(id): Path<String>) -> Response {
    let b = match page.archive().retention().get_batch(&page.ctx, &id).await {
        Ok(b) => b,
        Err(e) => return page.fail(e),
    };
    let proposed = b.state == crate::archive::retention::BatchState::Proposed;
    let people = page.names(b.proposed_by.iter().chain(b.approved_by.iter()).map(|p| p.as_str()));
    let mine = b.proposed_by.as_ref().is_some_and(|p| *p == page.ctx.principal.id);
    let body = html! {
        dl #batch {
            dt { (page.t("State")) } dd #batch-state { (page.value("batch_state", &wire_name(&b.state))) }
            dt { (page.t("Proposed by")) } dd { @match &b.proposed_by { Some(p) => (people.show(p.as_str())), None => (page.t("the scheduler")) } " · " (when(b.proposed_at)) }
            dt { (page.t("Approved by")) } dd { @match &b.approved_by { Some(p) => (people.show(p.as_str())), None => "—" } }
            dt { (page.t("Certificate")) } dd { @if let Some(c) = &b.certificate_id { a #certificate-link href={ "/console/certificates/" (c) } { (c) } } @else { "—" } }
        }
        h2 { (page.t("Dossiers")) }
        (json(&serde_json::to_value(&b.items).unwrap_or_default()))
        @if !b.results.is_empty() { h2 { (page.t("Outcome")) } (json(&serde_json::to_value(&b.results).unwrap_or_default())) }
        @if proposed {
            form method="post" action={ "/console/disposition/batches/" (b.batch_id) "/approve" } {
                (page.csrf_field())
                // Four eyes are enforced by the use case; the button only says so.
                button #approve type="submit" disabled[mine] { (page.t("Approve")) }
            }
        }
    };
    page.render(&format!("{} {}", page.t("Batch"), b.batch_id), body)
}

pub async fn approve(Path(id): Path<String>, Posted(page, _): Posted) -> Response {
    match page.archive().retention().approve_batch(&page.ctx, &id).await {
        Ok(b) => see_other(&format!("/console/disposition/batches/{}", b.batch_id)),
        Err(e) => page.fail(e),
    }
}

pub async fn certificate(page: Page, Path(id): Path<String>) -> Response {
    match page.archive().retention().certificate(&page.ctx, &id).await {
        Ok(c) => {
            let v = serde_json::to_value(&c).unwrap_or_default();
            let body = html! { div #certificate { (json(&v)) } };
            page.render(&format!("{} {id}", page.t("Certificate")), body)
        }
        Err(e) => page.fail(e),
    }
}
