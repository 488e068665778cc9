//! The start page (`/console`): each person's work for the day, by role.
//! Sales, service and finance: follow-ups they promised, reviews due and
//! overdue, grade changes since their last visit, and their customers
//! (`customers::worklist`, from the marks of who works on which customer,
//! never a scan of every dossier). Compliance: open requests and incident
//! deadlines within a week, batches awaiting a second officer, the latest
//! alerts. Admins: tokens awaiting a second admin, and every principal.
//! Every list comes from the use case its own page and the API call, with
//! the same decisions and audit entries.

use super::compliance::{enc, when};
use super::page::{Page, Posted};
use super::people::Names;
use crate::archive::customers::{Worklist, MAX_CUSTOMERS};
use crate::archive::gate::Operation;
use crate::archive::registers::RequestState;
use crate::archive::wire_name;
use crate::archive::ArchiveError;
use crate::domain::Role;
use axum::extract::Path;
use axum::response::Response;
use maud::{html, Markup};

/// How far ahead the compliance lists look.
const NEAR_DAYS: i64 = 7;
/// Alerts shown on the start page (the alerts page has all).
const ALERTS_SHOWN: usize = 5;

pub async fn start(page: Page) -> Response {
    let a = page.archive();
    let p = &page.ctx.principal;
    let gate = a.gate();
    let mut sections = Vec::new();
    let works_customers = [Role::Sales, Role::Service, Role::Finance].iter().any(|r| p.has_role(*r));
    if works_customers && gate.customer_scope(p).is_some() {
        match a.customers().worklist(&page.ctx, page.session.since).await {
            Ok(w) => sections.push(work(&page, &w)),
            Err(e) => sections.push(failed(&page, e)),
        }
    }
    if gate.may(p, Operation::RegisterKeep) {
        sections.push(compliance(&page).await.unwrap_or_else(|e| failed(&page, e)));
    }
    if gate.may(p, Operation::Administer) {
        sections.push(admin(&page).await.unwrap_or_else(|e| failed(&page, e)));
    }
    let body = html! {
        @if let Some(since) = page.session.since { p.hint { (page.t("Your previous visit")) ": " (when(since)) } }
        @for s in &sections { (s) }
        @if sections.is_empty() { p { (page.t("Nothing is waiting for you.")) } }
    };
    page.render(page.t("Today"), body)
}

/// A section whose use case failed or refused: its status and the API's
/// problem detail, in place; the page's other sections still show.
fn failed(page: &Page, e: ArchiveError) -> Markup {
    let e = crate::web::error::ApiError::from(e);
    html! { div.error role="alert" { p { (page.t("This part of the page could not be shown")) ": " strong { (e.status.as_u16()) } " " (e.detail) } } }
}

fn customer_link(did: &str, name: &str) -> Markup {
    html! { a href={ "/console/dossiers/" (enc(did)) } { @if name.is_empty() { span.mono { (did) } } @else { (name) } } }
}

fn overdue(page: &Page, yes: bool) -> Markup {
    html! { @if yes { " " span.badge.overdue { (page.t("overdue")) } } }
}

/// Sales, service and finance: their customers and what is due.
fn work(page: &Page, w: &Worklist) -> Markup {
    let may_create = page.archive().gate().may_create_dossier(&page.ctx.principal);
    let names: std::collections::HashMap<&str, &str> =
        w.customers.iter().map(|c| (c.dossier.as_str(), c.customer_name.as_str())).collect();
    let changes = w.changes();
    let reviews = w.reviews();
    // A list cut at its first MAX_DUE says how many there are.
    let cut = |shown: usize, total: usize, first: &str| {
        html! { @if total > shown { p.hint { (page.t("In all")) " " (total) "; " (first) " " (shown) "." } } }
    };
    html! {
        section #work {
            @if may_create { p { a.button #new-customer href="/console/dossiers/new" { (page.t("New dossier")) } } }
            h2 { (page.t("Follow-ups I promised")) }
            @if w.follow_ups.is_empty() { p { (page.t("None open.")) } } @else {
                table #follow-ups {
                    thead { tr { th { (page.t("Customer")) } th { (page.t("Kind")) } th { (page.t("Due")) } th { } } }
                    tbody { @for f in &w.follow_ups {
                        tr class=(if f.overdue { "overdue" } else { "" }) {
                            td { (customer_link(&f.dossier, names.get(f.dossier.as_str()).copied().unwrap_or(""))) }
                            td { (page.value("interaction_kind", &wire_name(&f.kind))) }
                            td { (f.due.to_string()) (overdue(page, f.overdue)) }
                            td { a href={ "/console/dossiers/" (enc(&f.dossier)) "#new-interaction" } { (page.t("Record the follow-up")) } }
                        }
                    } }
                }
                (cut(w.follow_ups.len(), w.follow_ups_total, page.t("showing the soonest")))
            }
            h2 { (page.t("Reviews due")) }
            @if reviews.is_empty() { p { (page.t("None due in the next two weeks.")) } } @else {
                table #reviews-due {
                    thead { tr { th { (page.t("Customer")) } th { (page.t("Grade")) } th { (page.t("Due")) } } }
                    tbody { @for c in &reviews {
                        tr class=(if c.review_overdue { "overdue" } else { "" }) {
                            td { (customer_link(&c.dossier, &c.customer_name)) }
                            td { @if let Some(g) = c.grade { (page.value("grade", &wire_name(&g))) } }
                            td { @if let Some(d) = c.review_due_at { (when(d)) } (overdue(page, c.review_overdue)) }
                        }
                    } }
                }
                (cut(reviews.len(), w.reviews_total, page.t("showing the soonest")))
            }
            h2 { (page.t("Grade changes since your last visit")) }
            @if changes.is_empty() { p { (page.t("None.")) } } @else {
                table #grade-changes {
                    thead { tr { th { (page.t("Customer")) } th { (page.t("Grade")) } th { (page.t("When")) } } }
                    tbody { @for (c, g) in &changes {
                        tr { td { (customer_link(&c.dossier, &c.customer_name)) }
                             td { (page.value("grade", &wire_name(&g.from))) " → " @if let Some(now) = c.grade { (page.value("grade", &wire_name(&now))) } }
                             td { (when(g.at)) } }
                    } }
                }
                (cut(changes.len(), w.changes_total, page.t("showing the newest")))
            }
            h2 { (page.t("My customers")) }
            @if w.customers.is_empty() { p { (page.t("No customers yet.")) } } @else {
                table #my-customers {
                    thead { tr { th { (page.t("Customer")) } th { (page.t("Grade")) } th { (page.t("Stage")) } th { (page.t("Last contact")) } th { (page.t("Next review")) } } }
                    tbody { @for c in w.customers.iter().filter(|c| c.listed) {
                        tr { td { (customer_link(&c.dossier, &c.customer_name)) }
                             td { @if let Some(g) = c.grade { (page.value("grade", &wire_name(&g))) } }
                             td { @if let Some(s) = c.status { (page.value("status", &wire_name(&s))) } }
                             td { @if let Some(t) = c.last_contact { (when(t)) } @else { "—" } }
                             td { @if let Some(d) = c.review_due_at { (when(d)) (overdue(page, c.review_overdue)) } @else { "—" } } }
                    } }
                }
                @if w.more { p.hint { (page.t("Showing the most recently changed")) " " (MAX_CUSTOMERS) "; " a href="/console/search" { (page.t("search")) } " " (page.t("for the others.")) } }
            }
        }
    }
}

/// Compliance: what is near its deadline or waits for them.
async fn compliance(page: &Page) -> Result<Markup, ArchiveError> {
    let a = page.archive();
    let now = a.now();
    let near = now + time::Duration::days(NEAR_DAYS);
    let alerts = a.audit_trail().list_alerts(&page.ctx, ALERTS_SHOWN).await?;
    // Only open requests, so the entries name no closed request's person.
    let mut requests = Vec::new();
    for state in [RequestState::Received, RequestState::Verified, RequestState::InProgress] {
        requests.extend(a.registers().list_requests(&page.ctx, Some(state), Some(near), None).await?);
    }
    requests.sort_by_key(|r| r.due_at);
    let mut deadlines = Vec::new();
    for i in a.registers().list_incidents(&page.ctx).await? {
        for d in i.deadlines.iter().filter(|d| d.met_at.is_none() && d.due_at <= near) {
            deadlines.push((i.id.clone(), i.level.clone(), d.clone()));
        }
    }
    deadlines.sort_by_key(|(_, _, d)| d.due_at);
    let mut awaiting = Vec::new();
    if a.gate().may_manage_disposition(&page.ctx.principal) {
        let me = Some(&page.ctx.principal.id);
        awaiting = a.retention().proposed_batches(&page.ctx).await?;
        awaiting.retain(|b| b.proposed_by.as_ref() != me);
    }
    let people = page.names(
        alerts
            .iter()
            .map(|al| al.actor.as_str())
            .chain(awaiting.iter().filter_map(|b| b.proposed_by.as_ref().map(|p| p.as_str()))),
    );
    Ok(html! {
        section #compliance-day {
            h2 { (page.t("Requests due within a week")) }
            @if requests.is_empty() { p { (page.t("None.")) } } @else {
                table #requests-due {
                    thead { tr { th { "id" } th { (page.t("Kind")) } th { (page.t("State")) } th { (page.t("Due")) } } }
                    tbody { @for r in &requests {
                        tr class=(if r.overdue { "overdue" } else { "" }) {
                            td.mono { a href={ "/console/requests/" (enc(&r.id)) } { (r.id) } }
                            td { (page.value("request_kind", &wire_name(&r.kind))) }
                            td { (page.value("request_state", &wire_name(&r.state))) }
                            td { (when(r.due_at)) (overdue(page, r.overdue)) }
                        }
                    } }
                }
            }
            h2 { (page.t("Incident deadlines within a week")) }
            @if deadlines.is_empty() { p { (page.t("None.")) } } @else {
                table #incident-deadlines {
                    thead { tr { th { "id" } th { (page.t("Level")) } th { (page.t("Notify")) } th { (page.t("Due")) } } }
                    tbody { @for (id, level, d) in &deadlines {
                        tr class=(if d.due_at < now { "overdue" } else { "" }) {
                            td.mono { a href={ "/console/incidents/" (enc(id)) } { (id) } }
                            td { (page.value("incident_level", level)) }
                            td { (page.value("incident_notify", &wire_name(&d.notify))) br; small { (d.citation) } }
                            td { (when(d.due_at)) (overdue(page, d.due_at < now)) }
                        }
                    } }
                }
            }
            h2 { (page.t("Batches awaiting your approval")) }
            @if awaiting.is_empty() { p { (page.t("None.")) } } @else {
                table #batches-awaiting {
                    thead { tr { th { (page.t("Batch")) } th { (page.t("Proposed by")) } th { (page.t("Items")) } } }
                    tbody { @for b in &awaiting {
                        tr { td.mono { a href={ "/console/disposition/batches/" (enc(b.batch_id.as_str())) } { (b.batch_id.as_str()) } }
                             td { @if let Some(by) = &b.proposed_by { (people.show(by.as_str())) } }
                             td { (b.items.len()) } }
                    } }
                }
            }
            p { a href="/console/disposition" { (page.t("What is due for disposition, and what legal holds keep")) } }
            h2 { (page.t("Latest alerts")) }
            @if alerts.is_empty() { p { (page.t("None.")) } } @else {
                (alert_table(page, &alerts, &people))
                p { a href="/console/alerts" { (page.t("All alerts")) } }
            }
        }
    })
}

fn alert_table(page: &Page, alerts: &[crate::policy::alerts::Alert], people: &Names) -> Markup {
    html! {
        table #latest-alerts {
            thead { tr { th { (page.t("Rule")) } th { (page.t("Actor")) } th { (page.t("Count")) } th { (page.t("When")) } } }
            tbody { @for al in alerts {
                tr { td { (al.description) } td { (people.show(&al.actor)) } td { (al.count) " / " (al.threshold) } td { (when(al.window_end)) } }
            } }
        }
    }
}

/// Administrators: tokens waiting for a second admin (approve here, with
/// whom each is for shown), and every principal.
async fn admin(page: &Page) -> Result<Markup, ArchiveError> {
    let a = page.archive();
    let o = a.identity().directory().admin_overview(&page.ctx).await?;
    let me = page.ctx.principal.id.as_str();
    let people = page.names(o.awaiting.iter().filter_map(|w| w.token.requested_by.as_deref()));
    let lang = page.session.lang;
    // The last set, the next run and the failures (`backup.list`, as `GET /v1/backups`).
    let backups = super::backups::status(page).await;
    Ok(html! {
        section #admin-day {
            h2 { (page.t("Tokens awaiting your approval")) }
            @if o.awaiting.is_empty() { p { (page.t("None.")) } } @else {
                table #tokens-awaiting {
                    thead { tr { th { (page.t("For")) } th { (page.t("Asked by")) } th { (page.t("When")) } th { } } }
                    tbody { @for w in &o.awaiting {
                        @let mine = w.token.requested_by.as_deref() == Some(me) || w.principal.id == me;
                        tr { td { span title=(w.principal.id) { (w.principal.name) } br;
                                  small.muted { (super::people::roles(lang, w.principal.roles.iter().map(String::as_str))) " · " (w.principal.department) " · " (w.principal.region) } }
                             td { @if let Some(by) = &w.token.requested_by { (people.show(by)) } }
                             td { (when(w.token.created_at)) }
                             td { form method="post" action={ "/console/tokens/" (enc(&w.token.token_id)) "/approve" } {
                                    (page.csrf_field())
                                    button type="submit" disabled[mine] { (page.t("Approve")) }
                                    @if mine { " " small.muted { (page.t("a second admin approves")) } } } } }
                    } }
                }
            }
            h2 { (page.t("Principals")) }
            table #principals {
                thead { tr { th { (page.t("Name")) } th { (page.t("Roles")) } th { (page.t("Department")) } th { (page.t("Region")) } th { (page.t("State")) } } }
                tbody { @for p in &o.principals {
                    tr { td { a href={ "/console/principals/" (enc(&p.id)) } title=(p.id) { (p.name) } } td { (super::people::roles(lang, p.roles.iter().map(String::as_str))) }
                         td { (p.department) } td { (p.region) }
                         td { @if p.disabled_by.is_some() { (page.t("disabled")) } @else if p.admin_pending.is_some() { (page.t("admin awaiting approval")) } @else { (page.t("active")) } } }
                } }
            }
            h2 { a href="/console/backups" { (page.t("Backups")) } }
            @match &backups {
                Ok(b) => { (super::backups::summary(page, b)) }
                Err(e) => { p.error role="alert" { (e.detail) } }
            }
        }
    })
}

/// `POST /console/tokens/{id}/approve`: the second admin approves a token
/// asked for someone (as `POST /v1/tokens/{id}/approve`); the page shows
/// once the approving half of the enrollment code, to hand to that person.
pub async fn approve_token(Path(id): Path<String>, Posted(page, _): Posted) -> Response {
    let issued = match page.archive().identity().approve_token(&page.ctx, &id).await {
        Ok(i) => i,
        Err(e) => return page.fail(e),
    };
    let body = html! {
        div #token-approved {
            @if let Some(h) = &issued.holder { p { (page.t("Approved for")) " " strong title=(h.id) { (h.name) } " (" (h.department) ")." } }
            @if let Some(part) = &issued.code_part {
                p { (page.t("Give this half of the enrollment code to the person, in person or by a second channel; the admin who asked has the other half. It is shown once.")) }
                p.mono #code-part { (part) }
                @if let Some(until) = issued.code_expires_at { p { (page.t("Valid until")) " " (when(until)) } }
            }
            p { a href="/console" { (page.t("Back")) } }
        }
    };
    page.render(page.t("Token approved"), body)
}
