//! The incident register in the console: the list with the form that
//! records an incident (compliance), an incident's page (its level,
//! deadlines, whom each notifies and where it stands, the affected sets,
//! the notifications, the Art. 34(3)(a) exemption) with the forms that
//! update it, an affected set's persons, and the draft notice. Each form
//! is read as the API's body and goes through the API's use case.

use super::compliance::{enc, when};
use super::page::{see_other, Body, Fields, Page, Posted};
use super::people::Names;
use crate::archive::gate::Operation;
use crate::archive::registers::{AffectedCriteria, AffectedSet, IncidentView, NewIncident, NewNotification};
use crate::archive::wire_name;
use crate::domain::Classification;
use crate::web::commands::{AffectedDto, ExemptionDto, ExemptionReasoning, NewIncidentDto, NotificationDto};
use crate::web::error::ApiError;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde_json::Value;

/// Whom a notification is to (`Notify`'s wire names).
const NOTIFY: [&str; 2] = ["authority", "persons"];
/// The times the forms take, as the API writes them.
const RFC3339_EXAMPLE: &str = "2026-12-01T09:30:00+08:00";

fn keeper(page: &Page) -> bool {
    page.archive().gate().may(&page.ctx.principal, Operation::RegisterKeep)
}

fn at(id: &str) -> String {
    format!("/console/incidents/{}", enc(id))
}

/// The register, newest first; to compliance, the form that records one.
pub async fn incidents(page: Page) -> Response {
    let list = match page.archive().registers().list_incidents(&page.ctx).await {
        Ok(l) => l,
        Err(e) => return page.fail(e),
    };
    let body = html! {
        table #incidents {
            thead { tr { th { "id" } th { (page.t("Level")) } th { (page.t("Detected")) } th { (page.t("Jurisdictions")) } th { (page.t("Deadlines")) } } }
            tbody { @for i in &list {
                tr { td.mono { a href=(at(&i.id)) { (i.id) } } td { (page.value("incident_level", &i.level)) } td { (when(i.detected_at)) }
                     td { (jurisdictions(&page, &i.jurisdictions)) }
                     td { ul.plain { @for d in &i.deadlines { li { (page.value("incident_notify", &wire_name(&d.notify))) " " (when(d.due_at)) " " (status(&page, d.status)) } } } } }
            } }
        }
        @if list.is_empty() { p { (page.t("No results.")) } }
        @if keeper(&page) { (new_incident_form(&page)) }
    };
    page.render(page.t("Incidents"), body)
}

fn jurisdictions(page: &Page, js: &[String]) -> Markup {
    html! { @for (i, j) in js.iter().enumerate() { @if i > 0 { ", " } (page.value("jurisdiction", j)) } }
}

/// A deadline's status by its label, with a marker that is not colour only.
fn status(page: &Page, s: &str) -> Markup {
    let class = match s {
        "met" => "badge",
        "overdue" | "met_late" => "badge withheld",
        _ => "badge masked",
    };
    html! { span class=(class) data-status=(s) { (page.value("deadline_status", s)) } }
}

fn text_area(label: &str, name: &str, required: bool) -> Markup {
    html! { label { (label) @if required { " *" } textarea name=(name) rows="3" maxlength="8000" required[required] {} } }
}

fn time_input(label: &str, name: &str, required: bool) -> Markup {
    html! { label { (label) input type="text" name=(name) placeholder=(RFC3339_EXAMPLE) required[required]; } }
}

fn new_incident_form(page: &Page) -> Markup {
    html! {
        h2 #record { (page.t("Record an incident")) }
        form.edit #incident-form method="post" action="/console/incidents" {
            (page.csrf_field())
            fieldset {
                legend { (page.t("When and how grave")) }
                (time_input(page.t("Detected (RFC 3339)"), "detected_at", true))
                (time_input(page.t("Aware of personal data affected (RFC 3339)"), "aware_at", true))
                label { (page.t("Level")) select name="level" required {
                    @for l in page.archive().incident_levels() { option value=(l) { (crate::domain::labels::label_or_wire("incident_level", &l, page.session.lang)) } }
                } }
                label { (page.t("Jurisdictions (CN, EU or member states, comma-separated; empty: CN)")) input type="text" name="jurisdictions" maxlength="200"; }
                label { (page.t("Keys compromised")) select name="keys_compromised" {
                    option value="" { (page.t("Not stated")) }
                    option value="false" { (page.label("boolean", "false")) }
                    option value="true" { (page.label("boolean", "true")) }
                } }
            }
            fieldset {
                legend { (page.t("Data categories")) " *" }
                @for c in Classification::ALL { @let w = wire_name(&c);
                    label { input type="checkbox" name="data_categories" value=(w); " " (crate::domain::labels::label_or_wire("classification", &w, page.session.lang)) }
                }
            }
            fieldset {
                legend { (page.t("What happened")) }
                (text_area(page.t("Description"), "description", true))
                (text_area(page.t("Cause"), "cause", true))
                (text_area(page.t("Likely consequences"), "consequences", false))
                (text_area(page.t("Measures taken or proposed"), "measures", false))
                (text_area(page.t("What the persons can do"), "advice", false))
                (text_area(page.t("Contact point"), "contact", false))
            }
            button #record-incident type="submit" { (page.t("Record the incident")) }
        }
    }
}

/// The form's fields named `name` (checkboxes) as one list field.
fn joined(f: Fields, name: &str) -> Fields {
    let (many, mut rest): (Vec<_>, Vec<_>) = f.0.into_iter().partition(|(k, _)| k == name);
    if !many.is_empty() {
        rest.push((name.to_owned(), many.into_iter().map(|(_, v)| v).collect::<Vec<_>>().join(",")));
    }
    Fields(rest)
}

/// `POST /v1/incidents` from the register's form.
pub async fn create(Posted(page, f): Posted) -> Response {
    let f = joined(f, "data_categories");
    let offers = [
        "detected_at",
        "aware_at",
        "level",
        "jurisdictions",
        "keys_compromised",
        "data_categories",
        "description",
        "cause",
        "consequences",
        "measures",
        "advice",
        "contact",
    ];
    let new = match page.command::<NewIncidentDto, NewIncident>(&f, Body::offering(&offers)) {
        Ok(n) => n,
        Err(resp) => return *resp,
    };
    match page.archive().registers().create_incident(&page.ctx, new).await {
        Ok(i) => see_other(&at(&i.id)),
        Err(e) => page.fail(e),
    }
}

/// An incident as the register keeps it (texts only to compliance, as in
/// the API), with the forms that update it.
pub async fn incident(page: Page, Path(id): Path<String>) -> Response {
    match page.archive().registers().get_incident(&page.ctx, &id).await {
        Ok(i) => incident_page(&page, &i),
        Err(e) => page.fail(e),
    }
}

fn incident_page(page: &Page, i: &IncidentView) -> Response {
    let people = page.names(
        std::iter::once(i.recorded_by.as_str())
            .chain(
                i.affected
                    .iter()
                    .flat_map(|s| std::iter::once(s.derived_by.as_str()).chain(s.criteria.actor.as_deref())),
            )
            .chain(i.notifications.iter().map(|n| n.recorded_by.as_str())),
    );
    let keep = keeper(page);
    let texts = [
        (page.t("Description"), &i.description),
        (page.t("Cause"), &i.cause),
        (page.t("Likely consequences"), &i.consequences),
        (page.t("Measures taken or proposed"), &i.measures),
        (page.t("What the persons can do"), &i.advice),
        (page.t("Contact point"), &i.contact),
    ];
    let body = html! {
        dl #incident {
            dt { (page.t("Level")) } dd #incident-level { (page.value("incident_level", &i.level)) }
            dt { (page.t("Detected")) } dd { (when(i.detected_at)) }
            dt { (page.t("Aware of personal data affected")) } dd { (when(i.aware_at)) }
            dt { (page.t("Recorded")) } dd { (when(i.recorded_at)) " · " (people.show(&i.recorded_by)) }
            dt { (page.t("Jurisdictions")) } dd { (jurisdictions(page, &i.jurisdictions)) }
            dt { (page.t("Data categories")) } dd { @for (n, c) in i.data_categories.iter().enumerate() { @if n > 0 { ", " } (page.value("classification", &wire_name(c))) } }
            dt { (page.t("Keys compromised")) } dd { @match i.keys_compromised { Some(k) => (page.value("boolean", if k { "true" } else { "false" })), None => (page.t("Not stated")) } }
            @if keep { @for (label, text) in &texts { @if let Some(t) = text { dt { (label) } dd.text { (t) } } } }
        }
        @if !keep { p.muted #texts-withheld { (page.t("The incident's texts, the affected persons and the notice are shown to compliance only.")) } }
        h2 { (page.t("Deadlines")) }
        table #deadlines {
            thead { tr { th { (page.t("Deadline")) } th { (page.t("Notifies")) } th { (page.t("Due")) } th { (page.t("Met at")) } th { (page.t("Status")) } th { (page.t("Legal basis")) } } }
            tbody { @for d in &i.deadlines {
                tr data-deadline=(d.id) { td.mono { (d.id) } td { (page.value("incident_notify", &wire_name(&d.notify))) } td { (when(d.due_at)) }
                     td { @if let Some(m) = d.met_at { (when(m)) } @else { "—" } } td { (status(page, d.status)) } td { small { (d.citation) } } }
            } }
        }
        @if i.deadlines.is_empty() { p { (page.t("No deadline applies to this incident.")) } }
        (affected_section(page, i, &people, keep))
        (notifications_section(page, i, &people, keep))
        (exemption_section(page, i, keep))
        @if keep { p { a #notice-link href={ (at(&i.id)) "/notice" } { (page.t("The draft notice")) } } }
    };
    page.render(&format!("{} {}", page.t("Incident"), i.id), body)
}

fn criteria(page: &Page, c: &AffectedCriteria, people: &Names) -> Markup {
    html! {
        @if let Some(a) = &c.actor { (page.t("Shown to")) " " (people.show(a)) br; }
        @if c.from.is_some() || c.to.is_some() {
            (c.from.map(when).unwrap_or_default()) " – " (c.to.map(when).unwrap_or_default()) br;
        }
        @for d in &c.dossiers { a.mono href={ "/console/dossiers/" (enc(d)) } { (d) } " " }
    }
}

fn affected_section(page: &Page, i: &IncidentView, people: &Names, keep: bool) -> Markup {
    let sets: &[AffectedSet] = &i.affected;
    html! {
        h2 #affected { (page.t("Affected persons")) }
        @if sets.is_empty() { p { (page.t("No affected set derived yet.")) } } @else {
            table #affected-sets {
                thead { tr { th { "#" } th { (page.t("Criteria")) } th { (page.t("Persons")) } th { (page.t("Entries that showed personal data")) } th { (page.t("Entries examined")) } th { (page.t("Derived")) } } }
                tbody { @for s in sets {
                    tr { td { @if keep { a href={ (at(&i.id)) "/affected/" (s.n) } { (page.t("Set")) " " (s.n) } } @else { (s.n) } }
                         td { (criteria(page, &s.criteria, people)) } td.count { (s.count) } td { (s.records) }
                         td { (s.examined) " (" (page.t("up to entry")) " " (s.up_to_seq) ")" } td { (when(s.derived_at)) " · " (people.show(&s.derived_by)) } }
                } }
            }
        }
        @if keep {
            form.edit #affected-form method="post" action={ (at(&i.id)) "/affected" } {
                (page.csrf_field())
                fieldset {
                    legend { (page.t("Derive the persons affected from the audit log")) }
                    label { (page.t("Shown to (principal id)")) input type="text" name="actor" maxlength="40" placeholder="prn_…"; }
                    (time_input(page.t("From (RFC 3339)"), "from", false))
                    (time_input(page.t("To (RFC 3339)"), "to", false))
                    label { (page.t("Dossiers (one id a line)")) textarea name="dossiers" rows="2" {} }
                }
                button type="submit" { (page.t("Derive")) }
            }
        }
    }
}

fn notifications_section(page: &Page, i: &IncidentView, people: &Names, keep: bool) -> Markup {
    html! {
        h2 #notifications { (page.t("Notifications")) }
        @if i.notifications.is_empty() { p { (page.t("No notification recorded yet.")) } } @else {
            table #notification-list {
                thead { tr { th { (page.t("To")) } th { (page.t("Recipient")) } th { (page.t("When")) } th { (page.t("Reference")) } th { (page.t("Persons")) } th { (page.t("Recorded by")) } } }
                tbody { @for n in &i.notifications {
                    tr { td { (page.value("incident_notify", &wire_name(&n.to))) } td { (n.recipient.as_deref().unwrap_or("—")) } td { (when(n.at)) }
                         td { (n.reference.as_deref().unwrap_or("—")) } td { @if let Some(p) = n.persons { (p) } @else { "—" } } td { (people.show(&n.recorded_by)) } }
                } }
            }
        }
        @if keep {
            form.edit #notification-form method="post" action={ (at(&i.id)) "/notifications" } {
                (page.csrf_field())
                fieldset {
                    legend { (page.t("Record a notification")) }
                    label { (page.t("To")) select name="to" { @for w in NOTIFY { option value=(w) { (page.label("incident_notify", w)) } } } }
                    label { (page.t("Recipient (the authority, or how the persons were told)")) input type="text" name="recipient" maxlength="8000" required; }
                    (time_input(page.t("When (RFC 3339; empty: now)"), "at", false))
                    label { (page.t("Reference (case number, message)")) input type="text" name="reference" maxlength="8000"; }
                    label { (page.t("Persons told")) input type="number" name="persons" min="0" step="1"; }
                }
                button type="submit" { (page.t("Record the notification")) }
            }
        }
    }
}

fn exemption_section(page: &Page, i: &IncidentView, keep: bool) -> Markup {
    html! {
        h2 #exemption { (page.t("Exemption from telling the persons (GDPR Art. 34(3)(a))")) }
        @if i.exempted {
            p #exempted { (page.t("Recorded: the data is unintelligible to anyone not authorised, the keys were not compromised.")) }
            @if let Some(r) = &i.exemption { p.text { (r) } }
        } @else if i.keys_compromised == Some(true) {
            p #no-exemption { (page.t("Not available: the incident records compromised keys, so the persons must be told.")) }
        } @else if keep {
            form.edit #exemption-form method="post" action={ (at(&i.id)) "/exemption" } {
                (page.csrf_field())
                fieldset {
                    legend { (page.t("Record the exemption")) }
                    label { (page.t("Why the data is unintelligible to anyone not authorised")) textarea name="reasoning" rows="3" maxlength="8000" required {} }
                    label { (page.t("Keys compromised")) select name="keys_compromised" required {
                        option value="" { (page.t("Choose")) }
                        option value="false" { (page.t("No data key nor the master key was compromised")) }
                        option value="true" { (page.t("A data key or the master key was compromised")) }
                    } }
                }
                button type="submit" { (page.t("Record the exemption")) }
            }
        } @else {
            p { (page.t("Not recorded.")) }
        }
    }
}

/// `POST /v1/incidents/{id}/affected` from the incident's page.
pub async fn derive_affected(Path(id): Path<String>, Posted(page, f): Posted) -> Response {
    let how = Body::offering(&["actor", "from", "to", "dossiers"]);
    let c = match page.command::<AffectedDto, AffectedCriteria>(&f, how) {
        Ok(c) => c,
        Err(resp) => return *resp,
    };
    match page.archive().registers().derive_affected(&page.ctx, &id, c).await {
        Ok(s) => see_other(&format!("{}/affected/{}", at(&id), s.n)),
        Err(e) => page.fail(e),
    }
}

/// `GET /v1/incidents/{id}/affected/{n}`: the persons of one set (audited,
/// naming them, as the API's).
pub async fn affected_list(page: Page, Path((id, n)): Path<(String, String)>) -> Response {
    let Ok(n) = n.parse::<u32>() else {
        return page.error_page(ApiError::bad_request("n is the number of an affected set"));
    };
    let subjects = match page.archive().registers().affected_list(&page.ctx, &id, n).await {
        Ok(s) => s,
        Err(e) => return page.fail(e),
    };
    let body = html! {
        p { a href=(at(&id)) { (page.t("Incident")) " " (id) } }
        p #affected-count { (page.t("Persons")) ": " (subjects.len()) }
        table #affected-subjects {
            thead { tr { th { "#" } th { (page.t("Subject")) } } }
            tbody { @for (k, s) in subjects.iter().enumerate() {
                tr { td { (k + 1) } td.mono { a href={ "/console/subjects/" (enc(s)) } { (s) } } }
            } }
        }
    };
    page.render(&format!("{} {} · {} {n}", page.t("Incident"), id, page.t("Set")), body)
}

/// `POST /v1/incidents/{id}/notifications` from the incident's page (made
/// now unless the form says when).
pub async fn notify(Path(id): Path<String>, Posted(page, f): Posted) -> Response {
    let how = Body {
        defaults: vec![("at", page.now_text())],
        ..Body::offering(&["to", "recipient", "at", "reference", "persons"])
    };
    let n = match page.command::<NotificationDto, NewNotification>(&f, how) {
        Ok(n) => n,
        Err(resp) => return *resp,
    };
    match page.archive().registers().record_notification(&page.ctx, &id, n).await {
        Ok(i) => see_other(&format!("{}#notifications", at(&i.id))),
        Err(e) => page.fail(e),
    }
}

/// `POST /v1/incidents/{id}/exemption` from the incident's page; refused
/// with compromised keys, saying why.
pub async fn exemption(Path(id): Path<String>, Posted(page, f): Posted) -> Response {
    let dto = match page.body::<ExemptionDto>(&f, Body::offering(&["reasoning", "keys_compromised"])) {
        Ok(d) => d,
        Err(resp) => return *resp,
    };
    let reasoning = match ExemptionReasoning::try_from(dto) {
        Ok(r) => r,
        Err(errors) => {
            let keys = errors.iter().any(|e| e.path == "/keys_compromised");
            let mut resp = page.error_page(ApiError::invalid(errors));
            if keys {
                let body = html! {
                    div.error role="alert" #keys-compromised {
                        p { strong { (page.t("The exemption does not apply when keys were compromised.")) } }
                        p { (page.t("GDPR Art. 34(3)(a) exempts from telling the persons only when the data is unintelligible to anyone not authorised. Tell the persons, and record the notification.")) }
                        p { a href={ (at(&id)) "#notifications" } { (page.t("Back to the incident")) } }
                    }
                };
                resp = page.render_status(StatusCode::UNPROCESSABLE_ENTITY, page.t("Error"), body);
            }
            return resp;
        }
    };
    match page.archive().registers().record_exemption(&page.ctx, &id, &reasoning.0).await {
        Ok(i) => see_other(&format!("{}#exemption", at(&i.id))),
        Err(e) => page.fail(e),
    }
}

/// `GET /v1/incidents/{id}/notice`: each element with the articles that
/// require it, and what is missing.
pub async fn notice(page: Page, Path(id): Path<String>) -> Response {
    let n = match page.archive().registers().incident_notice(&page.ctx, &id).await {
        Ok(n) => n,
        Err(e) => return page.fail(e),
    };
    let body = html! {
        p { a href=(at(&n.incident)) { (page.t("Incident")) " " (n.incident) } }
        p #notice-complete { @if n.complete { (page.t("Complete: every element the laws require is recorded.")) }
            @else { strong { (page.t("Incomplete")) } ": " (n.missing.len()) " " (page.t("element(s) missing")) } }
        @if !n.missing.is_empty() {
            h2 { (page.t("Missing")) }
            table #notice-missing {
                thead { tr { th { (page.t("Element")) } th { (page.t("Required by")) } } }
                tbody { @for m in &n.missing {
                    @let (name, law) = m.split_once(" (").map_or((m.as_str(), ""), |(a, b)| (a, b.strip_suffix(')').unwrap_or(b)));
                    tr { td { (page.value("notice_element", name)) } td { small { (law) } } }
                } }
            }
        }
        h2 { (page.t("Elements")) }
        table #notice-elements {
            thead { tr { th { (page.t("Element")) } th { (page.t("Value")) } th { (page.t("Required by")) } } }
            tbody { @for (name, e) in &n.elements {
                tr { td { (page.value("notice_element", name)) } td.text { (element(&page, name, &e["value"])) }
                     td { small { (e["required_by"].as_str().unwrap_or_default()) } } }
            } }
        }
    };
    page.render(&format!("{} {}", page.t("Draft notice"), n.incident), body)
}

/// A notice element's value, readable: labels for enumerated values,
/// deadlines as lines.
fn element(page: &Page, name: &str, v: &Value) -> Markup {
    html! {
        @match (name, v) {
            ("level", Value::String(s)) => (page.value("incident_level", s)),
            ("categories_of_personal_data", Value::Array(cs)) => {
                @for (k, c) in cs.iter().enumerate() { @if k > 0 { ", " } (page.value("classification", c.as_str().unwrap_or_default())) }
            },
            ("deadlines", Value::Array(ds)) => ul.plain { @for d in ds {
                li { span.mono { (d["id"].as_str().unwrap_or_default()) } " · " (page.value("incident_notify", d["notify"].as_str().unwrap_or_default()))
                     " · " (d["due_at"].as_str().unwrap_or_default()) " · " (status(page, d["status"].as_str().unwrap_or_default())) }
            } },
            (_, Value::String(s)) => (s),
            (_, Value::Array(items)) => (items.iter().map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned)).collect::<Vec<_>>().join(", ")),
            (_, Value::Null) => "—",
            (_, other) => (other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::registers::Notify;

    #[test]
    fn the_offered_names_parse_and_checkboxes_join() {
        NOTIFY.iter().for_each(|w| assert!(crate::archive::from_wire::<Notify>(w).is_some(), "{w}"));
        let f = Fields(vec![
            ("data_categories".into(), "personal".into()),
            ("level".into(), "general".into()),
            ("data_categories".into(), "sensitive".into()),
        ]);
        let j = joined(f, "data_categories");
        assert_eq!(j.get("data_categories"), Some("personal,sensitive"));
        assert_eq!(j.get("level"), Some("general"));
        assert_eq!(joined(Fields(vec![]), "data_categories").get("data_categories"), None);
    }
}
